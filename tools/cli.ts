/*
 * The `pipewatch` command line: `pipewatch sim`, `pipewatch bench`, and the tools of the other
 * areas (drivers check, ota). Bad options print one line and exit with code 2.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SensorConfig } from '../firmware/sensors/registry';
import { partNames } from '../firmware/sensors/registry';
import { existsSync, writeFileSync } from 'node:fs';
import { startSimulation, parseBroker, type SimOptions } from '../simulator/run';
import { simImage, SIM_BOARD, SIM_FACTORY_VERSION } from '../simulator/ota/keys';

export class UsageError extends Error {}

/** Parses 500ms, 30s, 10m, 24h, 2d (a bare number is seconds). */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} takes a duration like 30s, 10m or 24h, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's']!;
  const ms = Math.round(Number(match[1]) * unit);
  if (ms <= 0) throw new UsageError(`${flag} must be positive`);
  return ms;
}

function parseInteger(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parse(argv: string[], options: ParseArgsConfig['options']): { values: Record<string, any> } {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }) as { values: Record<string, any> };
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!);
  }
}

export function parseSimOptions(argv: string[]): SimOptions & { json: boolean; quiet: boolean } {
  const { values } = parse(argv, {
    nodes: { type: 'string' },
    engine: { type: 'string' },
    duration: { type: 'string' },
    virtual: { type: 'boolean' },
    seed: { type: 'string' },
    broker: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    interval: { type: 'string' },
    sensor: { type: 'string', multiple: true },
    'leak-share': { type: 'string' },
    drain: { type: 'string' },
    outage: { type: 'string', multiple: true },
    'flash-dir': { type: 'string' },
    'ota-key': { type: 'string' },
    'no-ota': { type: 'boolean' },
    'ota-health': { type: 'string' },
  });
  const engine = values.engine ?? 'xs';
  if (engine !== 'xs' && engine !== 'node') throw new UsageError(`--engine must be xs or node, got "${engine}"`);
  if (values.broker !== undefined) {
    try {
      parseBroker(values.broker as string);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const known = partNames();
  const sensors: SensorConfig[] = ((values.sensor as string[] | undefined) ?? ['tmp117']).map((part) => {
    if (!known.includes(part)) throw new UsageError(`--sensor: unknown part "${part}" (known: ${known.join(', ')})`);
    return { part };
  });
  const virtual = values.virtual === true;
  const duration = values.duration === undefined ? Infinity : parseDuration(values.duration as string, '--duration');
  if (virtual && duration === Infinity) throw new UsageError('--virtual needs --duration (virtual time would run forever)');
  const leakShare = values['leak-share'] === undefined ? 0.1 : Number(values['leak-share']);
  if (!(leakShare >= 0 && leakShare <= 1)) throw new UsageError('--leak-share must be between 0 and 1');
  return {
    nodes: values.nodes === undefined ? 1 : parseInteger(values.nodes as string, '--nodes', 1, 10_000),
    engine,
    durationMs: duration,
    virtual,
    seed: values.seed === undefined ? 1 : parseInteger(values.seed as string, '--seed', 0, 2 ** 32 - 1),
    broker: values.broker as string | undefined,
    intervalMs: values.interval === undefined ? 10_000 : parseDuration(values.interval as string, '--interval'),
    sensors,
    drainMs: values.drain === undefined ? 120_000 : parseDuration(values.drain as string, '--drain'),
    leakShare,
    flashDir: values['flash-dir'] as string | undefined,
    outages: ((values.outage as string[] | undefined) ?? []).map((text) => {
      const [at, length, extra] = text.split('+');
      if (!at || !length || extra !== undefined) throw new UsageError(`--outage takes START+LENGTH like 1h+24h, got "${text}"`);
      return { atMs: parseDuration(at, '--outage start'), forMs: parseDuration(length, '--outage length') };
    }),
    ota:
      values['no-ota'] === true
        ? undefined
        : {
            keyPath: values['ota-key'] as string | undefined,
            healthWindowMs: values['ota-health'] === undefined ? undefined : parseDuration(values['ota-health'] as string, '--ota-health'),
          },
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

async function simCommand(argv: string[]): Promise<number> {
  const options = parseSimOptions(argv);
  const started = performance.now();
  const print = (line: string) => process.stdout.write(line + '\n');
  const info = (line: string) => (options.json ? process.stderr : process.stdout).write(line + '\n');
  if (!options.json && !options.quiet) {
    options.onReading = (r) => {
      const value = r.unit === 'mC' ? `${(r.value / 1000).toFixed(3)} °C` : r.unit === 'mRH' ? `${(r.value / 1000).toFixed(1)} %RH` : `${r.value} Pa`;
      const when = r.sync ? new Date(r.ts).toISOString() : `+${r.ts} ms`;
      print(`${when}  ${r.dev}  #${r.seq}  ch${r.ch}  ${value}${r.alert ? '  ALERT' : ''}`);
    };
  }
  options.onStatus = (message) => info(`pipewatch sim: ${message}${options.durationMs === Infinity ? ' (Ctrl-C to stop)' : ''}`);
  options.onLog = (node, level, message) => {
    if (level === 'warn' || level === 'error') info(`node ${node + 1} ${level}: ${message}`);
  };
  options.onBoot = (node, boot) => {
    if (boot.trial || boot.outcome.ok && boot.outcome.rolledBackVersion) {
      info(`pipewatch sim: node ${node + 1} booted ${boot.version}${boot.trial ? ' on trial' : ''}${boot.fault ? ` (test marker: ${boot.fault} fault)` : ''}`);
    }
  };
  const sim = startSimulation(options);
  sim.ready
    .then(({ broker, deviceIds, otaKey }) => {
      if (!otaKey) return;
      const image = '.pipewatch/sim-image-1.1.0.bin';
      if (!existsSync(image)) writeFileSync(image, simImage('1.1.0'));
      info(
        `pipewatch sim: OTA: nodes run ${SIM_FACTORY_VERSION} on board ${SIM_BOARD} and trust ${otaKey.path}${otaKey.generated ? ' (new throwaway key)' : ''}; to update ${deviceIds[0]}:\n` +
          `  pipewatch ota sign --key ${otaKey.path} --image ${image} --version 1.1.0 --board ${SIM_BOARD} --out .pipewatch/fw-1.1.0.manifest\n` +
          `  pipewatch ota publish --broker ${broker} --manifest .pipewatch/fw-1.1.0.manifest --image ${image} --node ${deviceIds[0]}`,
      );
    })
    .catch(() => {});
  const onSignal = () => {
    info('pipewatch sim: stopping (draining what the nodes hold)...');
    sim.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let summary;
    try {
      summary = await sim.done;
    } catch (error) {
      process.stderr.write(`pipewatch sim: ${(error as Error).message}\n`);
      return 1;
    }
    if (options.json) print(JSON.stringify(summary));
    else {
      info(
        `pipewatch sim: ${summary.readingsGenerated} readings generated, ${summary.readingsDelivered} delivered, ` +
          `${summary.readingsLost} lost, ${summary.duplicates} duplicates, ${summary.reconnects} reconnects, ` +
          `${summary.simulatedSeconds} s simulated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    return summary.readingsLost === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const usage = `usage: pipewatch <command> [options]
  sim     run simulated nodes: --nodes N --engine xs|node --duration 30s|10m|24h --virtual --seed S
          --broker mqtt://host:port --interval 10s --sensor <part> (repeatable) --json --quiet
          --outage START+LENGTH (e.g. 1h+24h: the network is down from 1 h for 24 h; repeatable)
          --flash-dir DIR (keep each node's flash in files there: the cache survives across runs)
          --ota-key private.pem (default: throwaway .pipewatch/sim-ota.pem) --ota-health 120s --no-ota
  drivers check --part <part> (--bus /dev/i2c-1 [--address 0x48] | --simulated) [--samples N]
          driver conformance check against a connected sensor or its simulated device
  ota     keygen | sign | verify | publish: signed firmware updates (pipewatch ota --help)
  bench   measure speed and memory figures (--json for one JSON object)`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return await simCommand(rest);
      case 'drivers': {
        const { driversCheck } = await import('./drivers-check');
        return await driversCheck(rest);
      }
      case 'ota': {
        const { otaCommand } = await import('./ota');
        return await otaCommand(rest);
      }
      case 'bench': {
        const { benchCommand } = await import('./bench');
        return await benchCommand(rest);
      }
      case undefined:
      case 'help':
      case '--help':
        process.stdout.write(usage + '\n');
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"; try pipewatch help`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pipewatch: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
