/*
 * Entry point in Moddable's desktop simulator: builds the mcsim host from the manifest config
 * (manifests/sim; `npm run sim:moddable` overrides `broker`, `deviceId` and `intervalMs` on the
 * mcconfig command line), starts a `PipewatchNode`, and traces one status line every `statsMs`
 * for the runner to read:  pipewatch-stats {"samples":..,"stored":..,...}
 * An uncaught exception is traced as `pipewatch-abort ...` (XS abort hook) before mcsim stops.
 */
import config from 'mc/config';
import Timer from 'timer';
import { PipewatchNode } from '../../firmware/node';
import type { SimFlash } from '../../simulator/flash/index';
import { parseBroker, parseSensors } from '../esp32/settings';
import { createSimHost } from './host';

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}

export default function main(): void {
  startSim({});
}

/** What a build around this entry point (manifests/budget) can change. */
export interface SimStart {
  /** Memory for the simulated partitions' cells (see SimHostOptions.storage). */
  storage?: (byteLength: number) => Uint8Array;
}

export function startSim(start: SimStart): void {
  globalThis.abort = (why: string, exception?: unknown) => {
    trace(`pipewatch-abort ${why}: ${describe(exception)}\n`);
  };
  try {
    run(start);
  } catch (error) {
    trace(`pipewatch-abort failed to start: ${describe(error)}\n`);
    throw error;
  }
}

function run(start: SimStart): void {
  const deviceId = String(config.deviceId);
  const broker = parseBroker(String(config.broker));
  const sensors = parseSensors(String(config.sensors));
  const intervalMs = Number(config.intervalMs);
  let node: PipewatchNode | undefined;
  let partitions: Record<string, SimFlash> | undefined;
  let boots = 0;

  const boot = (): void => {
    boots++;
    const host = createSimHost(
      {
        seed: Number(config.seed) >>> 0,
        sensors,
        cacheBlocks: Number(config.cacheBlocks),
        settingsBlocks: Number(config.settingsBlocks),
        storage: start.storage,
        onRestart() {
          node?.stop();
          node = undefined;
          boot();
        },
      },
      partitions,
    );
    partitions = host.partitions;
    node = new PipewatchNode(host, {
      deviceId,
      broker: { address: broker.host, port: broker.port },
      intervalMs,
      sensors,
    });
    node.start();
    host.log('info', `pipewatch ${deviceId} booted in mcsim (boot ${boots}), broker ${broker.host}:${broker.port}`);
  };

  boot();
  Timer.repeat(() => {
    if (node) trace(`pipewatch-stats ${JSON.stringify(node.stats())}\n`);
  }, Number(config.statsMs ?? 1000));
}
