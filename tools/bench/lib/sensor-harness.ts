/*
 * The record/replay harness of the sensor driver benches (sensors-i2c.ts, sensors-other.ts),
 * measured in the real XS engine (@agoric/xsnap).
 *
 * A bench module builds, per part, a source that records a tape from the driver running
 * against its simulated part (`recorder`), then constructs `driver` on a trivial IO class that
 * replays the tape, with `clock` as its `now`. `replaySource` appends the command handler;
 * `measureDriver` runs it and returns computrons per `read()` / `sample()` and heap growth per
 * call in steady state: XS slots in use after a crank of calls minus before it, less the same
 * for an empty crank, × 32 bytes, per call. (A module without `bench()`: not a bench area.)
 */
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../../hosts/xs/bundle';
import { XsWorker, XS_SLOT_BYTES } from '../../../hosts/xs/worker';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Calls per measured crank. */
export const CALLS = 100;
/** Readings recorded on the tape (the replay wraps around). */
export const TAPE_SAMPLES = 2 + CALLS * 8;

/**
 * The recording loop and the command handler, appended to a part's set-up, which defines
 * `recorder`, `env` and `out`, and then (from `driverLine`) `driver` on the replaying IO class
 * with `now: () => clock`.
 */
export function replaySource(label: string, intervalMs: number, vary: string, driverLine: string): string {
  return `
let valid = 0;
for (let i = 0; i < ${TAPE_SAMPLES}; i++) {
  env.time += ${intervalMs};
  ${vary}
  if (recorder.read(out)) valid++;
}
if (valid < ${TAPE_SAMPLES} - 2) throw new Error('${label}: only ' + valid + ' valid samples while recording');
let clock = 1000;
${driverLine}
let failures = 0;
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes)[0];
  if (c === 1) for (let i = 0; i < ${CALLS}; i++) { clock += ${intervalMs}; if (!driver.read(out)) failures++; }
  if (c === 2) for (let i = 0; i < ${CALLS}; i++) { clock += ${intervalMs}; if (!driver.sample()) failures++; }
  if (c === 3) return new Uint8Array([failures]).buffer;
  if (c === 4) failures = 0;
  return new ArrayBuffer(0);
};
`;
}

/** Bundles `source` for XS, runs it, and adds `sensors.<part>.{read,sample}{Computrons,HeapBytes}` to `figures`. */
export async function measureDriver(part: string, source: string, figures: Record<string, number>): Promise<void> {
  const code = await bundleForXs({ contents: source, resolveDir: root });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    await worker.deliver(new Uint8Array([0]));
    const heapBefore = worker.lastMeter.currentHeapCount;
    const baseline = (await worker.deliver(new Uint8Array([0]))).meter.compute;
    const baselineSlots = worker.lastMeter.currentHeapCount - heapBefore;
    const measure = async (command: number) => {
      await worker.deliver(new Uint8Array([command]));
      await worker.deliver(new Uint8Array([4]));
      const before = worker.lastMeter.currentHeapCount;
      const run = await worker.deliver(new Uint8Array([command]));
      return {
        computrons: (run.meter.compute - baseline) / CALLS,
        bytes: ((run.meter.currentHeapCount - before - baselineSlots) * XS_SLOT_BYTES) / CALLS,
      };
    };
    const read = await measure(1);
    let failures = new Uint8Array((await worker.deliver(new Uint8Array([3]))).result)[0]!;
    const sample = await measure(2);
    failures += new Uint8Array((await worker.deliver(new Uint8Array([3]))).result)[0]!;
    if (failures) throw new Error(`${part}: ${failures} calls failed while replaying`);
    figures[`sensors.${part}.readComputrons`] = Math.round(read.computrons);
    figures[`sensors.${part}.readHeapBytes`] = Math.round(read.bytes * 10) / 10;
    figures[`sensors.${part}.sampleComputrons`] = Math.round(sample.computrons);
    figures[`sensors.${part}.sampleHeapBytes`] = Math.round(sample.bytes * 10) / 10;
  } finally {
    worker.close();
  }
}
