/*
 * Entry point in Moddable's desktop simulator: builds the mcsim host from the manifest's
 * `config.pipewatch` (set at build time: `mcconfig ... pipewatch.broker=...` is done by
 * `npm run sim:moddable`), starts a `PipewatchNode`, and traces one status line every
 * `statsMs` for the runner to read:  pipewatch-stats {"samples":..,"stored":..,...}
 */
import config from 'mc/config';
import { PipewatchNode, type NodeConfig } from '../../firmware/node';
import { parseBroker, parseSensors } from '../esp32/settings';
import { createSimHost } from './host';
import type { SimFlash } from '../../simulator/flash/index';
import Timer from 'timer';

interface SimConfig {
  deviceId: string;
  broker: string;
  intervalMs: number;
  sensors: string;
  seed: number;
  cacheBlocks: number;
  settingsBlocks: number;
  statsMs?: number;
}

export default function main(): void {
  try {
    run();
  } catch (error) {
    trace(`pipewatch: failed to start: ${String(error)}\n${(error as Error)?.stack ?? ''}\n`);
    throw error;
  }
}

function run(): void {
  const c = config.pipewatch as SimConfig;
  const broker = parseBroker(c.broker);
  const sensors = parseSensors(c.sensors);
  let node: PipewatchNode | undefined;
  let partitions: Record<string, SimFlash> | undefined;
  let boots = 0;

  const boot = (): void => {
    boots++;
    const host = createSimHost(
      {
        seed: Number(c.seed) >>> 0,
        sensors,
        cacheBlocks: Number(c.cacheBlocks),
        settingsBlocks: Number(c.settingsBlocks),
        onRestart() {
          node?.stop();
          node = undefined;
          boot();
        },
      },
      partitions,
    );
    partitions = host.partitions;
    const nodeConfig: NodeConfig = {
      deviceId: c.deviceId,
      broker: { address: broker.host, port: broker.port },
      intervalMs: Number(c.intervalMs),
      sensors,
    };
    node = new PipewatchNode(host, nodeConfig);
    node.start();
    host.log('info', `pipewatch ${c.deviceId} booted in mcsim (boot ${boots}), broker ${broker.host}:${broker.port}`);
  };

  boot();
  Timer.repeat(() => {
    if (node) trace(`pipewatch-stats ${JSON.stringify(node.stats())}\n`);
  }, Number(c.statsMs ?? 1000));
}
