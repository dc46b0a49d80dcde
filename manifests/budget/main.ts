/*
 * Entry point of the budget build (manifests/budget): the node in the desktop simulator, as
 * `hosts/moddable-sim/main` runs it, linked with one board's `creation` (the lane writes a
 * manifest per board around this one), with the simulated flash cells outside the XS heap.
 * Every `memoryMs` it collects garbage and traces the live memory for the lane to read:
 *   pipewatch-memory {"slots":..,"chunk":..,"slotBytes":..}
 */
import config from 'mc/config';
import Timer from 'timer';
import { startSim } from '../../hosts/moddable-sim/main';

interface LiveMemory {
  slots: number;
  chunk: number;
  slotBytes: number;
}

function memory(): LiveMemory {
  return native('xs_pipewatch_memory').call(undefined) as LiveMemory;
}

function storage(byteLength: number): Uint8Array {
  return new Uint8Array(native('xs_pipewatch_storage').call(undefined, byteLength) as ArrayBuffer);
}

export default function main(): void {
  startSim({ storage });
  const sample = (): void => {
    const m = memory();
    trace(`pipewatch-memory {"slots":${m.slots},"chunk":${m.chunk},"slotBytes":${m.slotBytes}}\n`);
  };
  sample();
  Timer.repeat(sample, Number(config.memoryMs ?? 1000));
}
