/*
 * The `pipewatch` command line: `pipewatch sim`, `pipewatch bench`, and the tools of the other
 * areas (drivers check, ota). Conventions (tools/args.ts): `--help`/`-h` print usage on stdout,
 * exit 0; a usage error is one line on stderr, exit 2; a failed operation one line, exit 1.
 * Run it as `npx pipewatch ...` in the project folder (or `npm link` once to put `pipewatch`
 * on PATH).
 */
import { performance } from 'node:perf_hooks';
import type { SensorConfig } from '../firmware/sensors/registry';
import { channelsOf, partNames } from '../firmware/sensors/registry';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPlant, type PlantSpec } from '../simulator/plant/model';
import { readPlantFile } from './plant-file';
import type { Incident } from './fleet/incidents';
import { SIM_ACCESS_POINT } from '../simulator/first-run';
import { startSimulation, parseBroker, simDeviceId, StartupError, type SimOptions, type SimSummary } from '../simulator/run';
import { isLoopback } from '../simulator/broker';
import { observeFleet } from '../simulator/observe';
import { POWER_MODES, type PowerMode } from '../firmware/power';
import type { ObservedReading } from '../simulator/observer';
import type { SimBoot } from '../simulator/ota/sim-node';
import { simImage, SIM_BOARD, SIM_FACTORY_VERSION } from '../simulator/ota/keys';
import { parseDuration, parseInteger, parseOptions, runVerb, UsageError, version } from './args';
import { versionText } from '../firmware/ota/manifest';
import { parseRolloutSpec, rolloutAlongside, type SimRolloutSpec } from '../simulator/rollout';
import { parsePercent, parseWaves } from './fleet/rollout';

export { parseDuration, UsageError };

/** `--rollout VERSION[:FAULT]` and its rules (simulator/rollout.ts); the rules alone are a usage error. */
function simRolloutOption(values: Record<string, unknown>): SimRolloutSpec | undefined {
  const rules = ['rollout-at', 'waves', 'abort-above', 'min-nodes', 'max-concurrent'].filter((k) => values[k] !== undefined);
  if (values.rollout === undefined) {
    if (rules.length) throw new UsageError(`--${rules[0]} is a rule of --rollout VERSION; give --rollout too`);
    return undefined;
  }
  const spec = parseRolloutSpec(values.rollout as string);
  if (typeof spec === 'string') throw new UsageError(spec);
  const waves = parseWaves((values.waves as string | undefined) ?? '1%,10%,50%,100%');
  if (typeof waves === 'string') throw new UsageError(`--waves: ${waves}`);
  const abortText = (values['abort-above'] as string | undefined) ?? '5%';
  const abortAbovePct = parsePercent(abortText);
  if (abortAbovePct === undefined) throw new UsageError(`--abort-above takes a percentage from 0% to 100%, like 5%, got "${abortText}"`);
  return {
    ...spec,
    atMs: values['rollout-at'] === undefined ? 120_000 : parseDuration(values['rollout-at'] as string, '--rollout-at'),
    rules: {
      waves,
      abortAbovePct,
      minNodes: values['min-nodes'] === undefined ? 10 : parseInteger(values['min-nodes'] as string, '--min-nodes', 1, 10_000_000),
      maxConcurrent: values['max-concurrent'] === undefined ? 50 : parseInteger(values['max-concurrent'] as string, '--max-concurrent', 1, 100_000),
      nodeTimeoutMs: 30 * 60_000,
      // Offline nodes are waited for until the run ends.
      offlineWaitMs: 30 * 86_400_000,
    },
  };
}

export function parseSimOptions(argv: string[]): SimOptions & { json: boolean; quiet: boolean; station: boolean; observeOnly: boolean; rollout?: SimRolloutSpec } {
  const { values } = parseOptions(argv, {
    nodes: { type: 'string' },
    engine: { type: 'string' },
    'xs-workers': { type: 'string' },
    shard: { type: 'string' },
    'observe-only': { type: 'boolean' },
    duration: { type: 'string' },
    virtual: { type: 'boolean' },
    seed: { type: 'string' },
    broker: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    interval: { type: 'string' },
    sensor: { type: 'string', multiple: true },
    'leak-share': { type: 'string' },
    plant: { type: 'string' },
    drain: { type: 'string' },
    outage: { type: 'string', multiple: true },
    'flash-dir': { type: 'string' },
    'ota-key': { type: 'string' },
    'no-ota': { type: 'boolean' },
    station: { type: 'boolean' },
    homeassistant: { type: 'boolean' },
    'ota-health': { type: 'string' },
    'broker-port': { type: 'string' },
    'broker-listen': { type: 'string' },
    ca: { type: 'string' },
    'cert-dir': { type: 'string' },
    power: { type: 'string' },
    'report-interval': { type: 'string' },
    deadband: { type: 'string' },
    'max-interval': { type: 'string' },
    'per-node': { type: 'boolean' },
    rollout: { type: 'string' },
    'rollout-at': { type: 'string' },
    waves: { type: 'string' },
    'abort-above': { type: 'string' },
    'min-nodes': { type: 'string' },
    'max-concurrent': { type: 'string' },
    unprovisioned: { type: 'boolean' },
    discover: { type: 'boolean' },
  }, 'npx pipewatch sim');
  const rollout = simRolloutOption(values);
  if (rollout && values['no-ota'] === true) throw new UsageError('--rollout needs OTA on the nodes; leave out --no-ota');
  const energy = parseEnergyOptions(values);
  const caPath = values.ca as string | undefined;
  const certDir = values['cert-dir'] as string | undefined;
  if ((caPath === undefined) !== (certDir === undefined)) throw new UsageError('--ca and --cert-dir: give both or neither (see npx pipewatch sim --help)');
  if (caPath !== undefined && values.broker === undefined) throw new UsageError('--ca and --cert-dir need --broker mqtts://host:port (the embedded broker is plain MQTT)');
  const engine = values.engine ?? 'xs';
  if (engine !== 'xs' && engine !== 'node') throw new UsageError(`--engine takes xs or node, got "${engine}"`);
  if (values['xs-workers'] !== undefined && engine !== 'xs') throw new UsageError('--xs-workers is for --engine xs');
  if (values.discover === true && caPath !== undefined) throw new UsageError('--discover finds a plain MQTT broker in the simulator; leave out --ca and --cert-dir');
  if (values.broker !== undefined) {
    try {
      parseBroker(values.broker as string, caPath !== undefined);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  let shard: SimOptions['shard'];
  if (values.shard !== undefined) {
    const m = /^(\d{1,5})\/(\d{1,5})$/.exec(values.shard as string);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new UsageError(`--shard takes K/N with 1 <= K <= N, like 1/2, got "${values.shard}"`);
    shard = { index: Number(m[1]) - 1, count: Number(m[2]) };
  }
  const observeOnly = values['observe-only'] === true;
  if (values.unprovisioned === true && (shard || observeOnly)) throw new UsageError('--unprovisioned runs every node in this process (a pseudo-terminal each); leave out --shard and --observe-only');
  if ((shard || observeOnly) && values.broker === undefined) {
    throw new UsageError(`${shard ? '--shard' : '--observe-only'} needs --broker mqtt://host:port: the shards and the observer of one fleet meet at one broker`);
  }
  if (shard && observeOnly) throw new UsageError('--shard runs nodes, --observe-only runs none: give one of them');
  if (shard && values.station === true) throw new UsageError('--station sees one shard only; run `npx pipewatch station --broker URL` for the whole fleet');
  const known = partNames();
  const sensors: SensorConfig[] = ((values.sensor as string[] | undefined) ?? ['tmp117']).map((part) => {
    if (!known.includes(part)) throw new UsageError(`--sensor takes one of ${known.join(', ')}, got "${part}"`);
    return { part };
  });
  const virtual = values.virtual === true;
  const duration = values.duration === undefined ? Infinity : parseDuration(values.duration as string, '--duration');
  if (virtual && duration === Infinity) throw new UsageError('--virtual needs --duration, e.g. --duration 24h (virtual time would run forever)');
  const leakText = values['leak-share'] as string | undefined;
  const leakShare = leakText === undefined ? 0.1 : /^\d+(\.\d+)?$/.test(leakText) ? Number(leakText) : NaN;
  if (!(leakShare >= 0 && leakShare <= 1)) throw new UsageError(`--leak-share takes a fraction from 0 to 1 (e.g. 0.1), got "${leakText}"`);
  const plantFile = values.plant as string | undefined;
  if (plantFile !== undefined && values.nodes !== undefined) throw new UsageError('--plant FILE gives the nodes; leave out --nodes');
  if (plantFile !== undefined && leakText !== undefined) throw new UsageError('--leak-share is for the old world; the plant file scripts its leaks (leave out one of them)');
  const nodes = values.nodes === undefined ? 1 : parseInteger(values.nodes as string, '--nodes', 1, 10_000);
  const seed = values.seed === undefined ? 1 : parseInteger(values.seed as string, '--seed', 0, 2 ** 32 - 1);
  let plant: PlantSpec | undefined;
  if (plantFile !== undefined) {
    plant = readPlantFile(plantFile);
    if (plant.nodes.length > 10_000) throw new UsageError(`--plant ${plantFile}: ${plant.nodes.length} nodes; the simulator runs 1 to 10000`);
  } else if (leakText === undefined) {
    // The built-in plant: lines of 20, events drawn from the seed over the run (a week when it
    // runs until Ctrl-C). --leak-share keeps the old world of independent positions.
    plant = defaultPlant(nodes, seed, duration === Infinity ? 7 * 86_400_000 : Math.max(duration, 60_000));
  }
  if (values.broker !== undefined && (values['broker-port'] !== undefined || values['broker-listen'] !== undefined)) {
    throw new UsageError('--broker-port and --broker-listen are for the embedded broker; leave them out with --broker');
  }
  const listen = values['broker-listen'] as string | undefined;
  if (listen !== undefined && !/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+|localhost)$/.test(listen)) {
    throw new UsageError(`--broker-listen takes an IP address like 127.0.0.1 or 0.0.0.0, got "${listen}"`);
  }
  return {
    nodes: plant ? plant.nodes.length : nodes,
    engine,
    xsWorkers: values['xs-workers'] === undefined ? undefined : parseInteger(values['xs-workers'] as string, '--xs-workers', 1, 64),
    durationMs: duration,
    virtual,
    seed,
    plant,
    deviceIds: plantFile !== undefined ? plant!.nodes.map((n) => n.id) : undefined,
    broker: values.broker as string | undefined,
    tls: caPath !== undefined && certDir !== undefined ? { caPath, certDir } : undefined,
    brokerPort: values['broker-port'] === undefined ? undefined : parseInteger(values['broker-port'] as string, '--broker-port', 1, 65535),
    brokerListen: listen,
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
    shard,
    ...energy,
    unprovisioned: values.unprovisioned === true ? {} : undefined,
    discover: values.discover === true ? { advertise: advertiseOnLoopback } : undefined,
    json: values.json === true,
    quiet: values.quiet === true,
    station: values.station === true,
    homeassistant: values.homeassistant === true,
    observeOnly,
    ...(rollout ? { rollout } : {}),
  };
}

/** --power, --report-interval, --deadband, --max-interval, --per-node (docs/energy.md). */
function parseEnergyOptions(values: Record<string, unknown>): Pick<SimOptions, 'power' | 'report' | 'perNode'> {
  const mode = values.power as string | undefined;
  if (mode !== undefined && !(POWER_MODES as readonly string[]).includes(mode)) throw new UsageError(`--power takes ${POWER_MODES.join(', ')}, got "${mode}"`);
  const interval = values['report-interval'] === undefined ? undefined : parseDuration(values['report-interval'] as string, '--report-interval');
  if (interval !== undefined && (mode === undefined || mode === 'always-connected')) throw new UsageError('--report-interval is for --power light-sleep or wake-cycle (always-connected publishes at once)');
  if (interval !== undefined && (interval < 1000 || interval > 86_400_000)) throw new UsageError(`--report-interval takes 1s to 24h, got "${values['report-interval'] as string}"`);
  const deadband = values.deadband === undefined ? undefined : parseInteger(values.deadband as string, '--deadband', 0, 1_000_000_000);
  const maxInterval = values['max-interval'] === undefined ? undefined : parseDuration(values['max-interval'] as string, '--max-interval');
  if (maxInterval !== undefined && deadband === undefined) throw new UsageError('--max-interval is for report by exception: give --deadband too');
  if (maxInterval !== undefined && (maxInterval < 1000 || maxInterval > 7 * 86_400_000)) throw new UsageError(`--max-interval takes 1s to 7d, got "${values['max-interval'] as string}"`);
  return {
    power: mode === undefined ? undefined : { mode: mode as PowerMode, ...(interval !== undefined ? { reportIntervalMs: interval } : {}) },
    report: deadband === undefined ? undefined : { deadband, ...(maxInterval !== undefined ? { maxIntervalMs: maxInterval } : {}) },
    perNode: values['per-node'] === true,
  };
}

/** The line printed for a fleet incident as it is raised. */
export function incidentLine(i: Incident, wallMs: number): string {
  const rule = i.rule === 'alert' ? 'node alert confirmed' : i.rule === 'relative' ? 'fast local rise' : 'slow local rise';
  return `${new Date(wallMs).toISOString()}  INCIDENT  line ${i.line}, leak near ${i.posM} m (node ${i.node}, ${rule}, +${(i.relativeMilliCelsius / 1000).toFixed(1)} °C over its neighbours)`;
}

/** "ch2 sht3x temperature" for each channel of a node configured with `sensors`. */
export function channelLabels(sensors: SensorConfig[]): string[] {
  const labels: string[] = [];
  for (const sensor of sensors) for (const channel of channelsOf(sensor.part)) labels.push(`ch${labels.length} ${sensor.part} ${channel.name}`);
  return labels;
}

export function readingLine(r: ObservedReading, labels: string[]): string {
  const value = r.unit === 'mC' ? `${(r.value / 1000).toFixed(3)} °C` : r.unit === 'mRH' ? `${(r.value / 1000).toFixed(1)} %RH` : `${r.value} Pa`;
  const when = r.sync ? new Date(r.ts).toISOString() : `+${r.ts} ms`;
  return `${when}  ${r.dev}  #${r.seq}  ${labels[r.ch] ?? `ch${r.ch}`}  ${value}${r.alert ? '  ALERT' : ''}`;
}

/** The human summary of a run: what arrived, what the nodes still hold, what is gone, the alerts. */
export function summaryLine(s: SimSummary, wallSeconds: number, flashDir: string | undefined): string {
  const held = s.pendingOnNodes
    ? `, ${s.pendingOnNodes} still held on the nodes (${flashDir ? `kept in ${flashDir}: the next run with --flash-dir ${flashDir} sends them` : 'in simulated flash, not lost; keep it across runs with --flash-dir'})`
    : '';
  return (
    `pipewatch sim: ${s.readingsGenerated} readings generated, ${s.readingsDelivered} delivered${held}, ${s.readingsLost} lost, ` +
    `${s.alertsRaised} alerts raised, ${s.alertsDelivered} delivered, ${s.duplicates} duplicates, ${s.reconnects} reconnects, ` +
    `${s.simulatedSeconds} s simulated in ${wallSeconds.toFixed(1)} s` +
    `; first reading ${s.firstReadingS === null ? 'never arrived' : `${s.firstReadingS} s after power-on`}` +
    (s.settingsToReadingS === undefined ? '' : s.settingsToReadingS === null ? '' : ` (${s.settingsToReadingS} s after the Wi-Fi settings; ${s.provisioned} node(s) provisioned)`) +
    (s.discovery ? `; broker found by mDNS ${s.discovery.found} time(s) in ${s.discovery.searches} search(es)` : '') +
    (s.incidents === undefined ? ''
      : `; leaks: ${s.leaksDetected} of ${s.leaksSimulated} detected${s.medianDetectionDelayS === null ? '' : ` (median ${s.medianDetectionDelayS} s after onset)`}, ${s.incidents} incidents, ${s.falseIncidents} false`) +
    (s.fleet?.connectivityUptime == null ? '' : `; connectivity uptime ${(s.fleet.connectivityUptime * 100).toFixed(1)} % (${s.fleet.heartbeats} heartbeats)`)
  );
}

/** `pipewatch sim --observe-only`: the summary of a fleet run as shards, counted at the broker. */
async function observeCommand(options: ReturnType<typeof parseSimOptions>): Promise<number> {
  const info = (line: string) => (options.json ? process.stderr : process.stdout).write(line + '\n');
  const tls = options.tls ? { ca: readFileSync(options.tls.caPath, 'utf8'), certificate: readFileSync(join(options.tls.certDir, 'station.crt'), 'utf8'), key: readFileSync(join(options.tls.certDir, 'station.key'), 'utf8') } : undefined;
  const run = observeFleet({
    nodes: options.nodes,
    broker: options.broker!,
    // Virtual-time shards finish far sooner than their simulated duration; real-time ones after it.
    timeoutMs: options.durationMs === Infinity ? Infinity : options.durationMs + options.drainMs + 60_000,
    tls,
    onStatus: (message) => info(`pipewatch sim: ${message}`),
  });
  const onSignal = () => run.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    try {
      await run.ready;
    } catch (error) {
      process.stderr.write(`pipewatch sim: ${String((error as Error).message).split('\n')[0]}\n`);
      return error instanceof StartupError ? 2 : 1;
    }
    info(`pipewatch sim: observing ${options.nodes} node(s) at ${options.broker}; start the shards now (--shard K/N with the same --nodes and --seed)`);
    const s = await run.done;
    if (options.json) process.stdout.write(JSON.stringify(s) + '\n');
    else {
      info(
        `pipewatch sim: fleet of ${s.nodes}${s.complete ? '' : ` (only ${s.nodesReported} reported, shards ${s.shards.join(', ') || 'none'})`}: ` +
          `${s.readingsGenerated} readings generated, ${s.readingsDelivered} delivered, ${s.pendingOnNodes} still held on the nodes, ${s.readingsLost} lost, ` +
          `${s.duplicates} duplicates, ${s.reconnects} reconnects`,
      );
    }
    return s.complete && s.readingsLost === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A line for an OTA event a simulated node logged (`ota {json}`), or undefined for none. */
export function otaLine(dev: string, json: string, lastFailure: Map<string, string>): string | undefined {
  let e: { event?: string; version?: string; running?: string; reason?: string };
  try {
    e = JSON.parse(json);
  } catch {
    return undefined;
  }
  const v = e.version ?? '';
  const why = e.reason ? ` (${e.reason})` : '';
  switch (e.event) {
    case 'verified': return `${dev} OTA: ${v} downloaded and verified`;
    case 'rebooting': return `${dev} OTA: rebooting into ${v} on trial`;
    case 'confirmed': return `${dev} OTA: ${v} confirmed`;
    case 'refused': return `${dev} OTA: ${v} refused${why}`;
    case 'interrupted': return `${dev} OTA: download of ${v} interrupted${why}; resuming`;
    case 'failed':
      if (e.reason) lastFailure.set(dev, e.reason);
      return `${dev} OTA: ${v} failed${why}`;
    // rolledBack: the bootloader's line (onBoot) says it first, with the reason.
    default: return undefined;
  }
}

/** A line for a simulated node's boot worth telling (on trial, after a rollback), or undefined. */
export function bootLine(dev: string, boot: SimBoot, lastFailure: Map<string, string>): string | undefined {
  if (boot.outcome.ok && boot.outcome.rolledBackVersion) {
    return `${dev} OTA: ${versionText(boot.outcome.rolledBackVersion)} rolled back (${lastFailure.get(dev) ?? 'trial not confirmed'}); runs ${boot.version} again`;
  }
  if (boot.trial) return `${dev} booted ${boot.version} on trial${boot.fault ? ` (test marker: ${boot.fault} fault)` : ''}`;
  return undefined;
}

async function simCommand(argv: string[]): Promise<number> {
  const options = parseSimOptions(argv);
  if (options.observeOnly) return observeCommand(options);
  const started = performance.now();
  const print = (line: string) => process.stdout.write(line + '\n');
  const info = (line: string) => (options.json ? process.stderr : process.stdout).write(line + '\n');
  const dev = (node: number) => simDeviceId(node, options.nodes, options.deviceIds);
  const labels = channelLabels(options.sensors);
  const readings = !options.json && !options.quiet;
  if (readings) options.onReading = (r) => print(readingLine(r, labels));
  /** The channels a sensor error leaves without a reading this sample. */
  const missing = (message: string): string => {
    const part = /^([A-Za-z0-9]+): /.exec(message)?.[1]?.toLowerCase();
    const chs = labels.filter((l) => l.split(' ')[1] === part).map((l) => l.split(' ')[0]);
    return chs.length ? ` (no reading from ${chs.join(', ')} this sample)` : '';
  };
  const lastFailure = new Map<string, string>();
  if (options.brokerListen && !isLoopback(options.brokerListen)) {
    info(`pipewatch sim: warning: --broker-listen ${options.brokerListen}: the embedded broker has no authentication; anyone who reaches this address can read and publish`);
  }
  options.onStatus = (message) => info(`pipewatch sim: ${message}${options.durationMs === Infinity ? ' (Ctrl-C to stop)' : ''}`);
  options.onLog = (node, level, message) => {
    if (level === 'warn' || level === 'error') info(`${dev(node)} ${level}: ${message}${/: E_[A-Z_]+: /.test(message) ? missing(message) : ''}`);
    else if (message.startsWith('ota {')) {
      const line = otaLine(dev(node), message.slice(4), lastFailure);
      if (line) info(`pipewatch sim: ${line}`);
    } else if (readings && /: E_NOT_READY: /.test(message)) info(`${dev(node)} ${message}${missing(message)}`);
  };
  options.onIncident = (incident, wallMs) => info(`pipewatch sim: ${incidentLine(incident, wallMs)}`);
  options.onBoot = (node, boot) => {
    const line = bootLine(dev(node), boot, lastFailure);
    if (line) info(`pipewatch sim: ${line}`);
  };
  let station: { url: string; close(): Promise<void> } | undefined;
  if (options.station) {
    options.beforeNodes = async (broker) => {
      const { attachStation } = await import('./station/attach');
      const { plantOfRun } = await import('./station/plant');
      station = await attachStation(broker, options.flashDir, options.plant && plantOfRun(options.plant, dev));
      info(`pipewatch sim: the plant's live view: ${station.url}`);
      if (options.unprovisioned) options.unprovisioned.stationUrl = station.url;
    };
  }
  if (options.unprovisioned) {
    const ap = SIM_ACCESS_POINT;
    options.onSerialPort = (node, path) => {
      info(`serial ${dev(node)}: ${path}`);
      if (node === 0) {
        info(
          `pipewatch sim: the nodes wait for Wi-Fi settings over Improv (simulated network "${ap.ssid}", password "${ap.password}"); in another terminal:\n` +
            `  npx pipewatch provision --port ${path} --ssid ${ap.ssid} --password ${ap.password}`,
        );
      }
    };
  }
  const sim = startSimulation(options);
  // --rollout: the run ends when the rollout has (or at --duration, which ends the rollout where it is).
  const rollout = options.rollout ? rolloutAlongside(sim, options.rollout, { out: (l) => info(`pipewatch sim: rollout: ${l}`), warn: (l) => info(l) }) : undefined;
  rollout?.done.then(() => sim.stop(), (error: Error) => {
    info(`pipewatch sim: rollout: ${String(error.message).split('\n')[0]}`);
    sim.stop();
  });
  const onSignal = () => {
    info('pipewatch sim: stopping (draining what the nodes hold)...');
    sim.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    try {
      const { broker, deviceIds, otaKey } = await sim.ready;
      // The update commands are worth printing only while the broker stays up for them: a
      // real-time run with a human reading along.
      if (otaKey && !options.virtual && !options.json) {
        const image = '.pipewatch/sim-image-1.1.0.bin';
        mkdirSync('.pipewatch', { recursive: true });
        writeFileSync(image, simImage('1.1.0'));
        info(
          `pipewatch sim: OTA: nodes run ${SIM_FACTORY_VERSION} on board ${SIM_BOARD} and trust the public half of ${otaKey.path}${otaKey.generated ? ' (new throwaway key)' : ''}; to update ${deviceIds[0]}, in another terminal:\n` +
            `  npx pipewatch ota sign --key ${otaKey.path} --image ${image} --version 1.1.0 --board ${SIM_BOARD} --out .pipewatch/fw-1.1.0.manifest\n` +
            `  npx pipewatch ota publish --broker ${broker} --manifest .pipewatch/fw-1.1.0.manifest --image ${image} --node ${deviceIds[0]}`,
        );
      }
    } catch (error) {
      process.stderr.write(`pipewatch sim: ${String((error as Error).message).split('\n')[0]}\n`);
      return error instanceof StartupError ? 2 : 1;
    }
    let summary: SimSummary;
    try {
      summary = await sim.done;
    } catch (error) {
      process.stderr.write(`pipewatch sim: ${String((error as Error).message).split('\n')[0]}\n`);
      return 1;
    }
    if (rollout) {
      rollout.abort();
      const result = await rollout.done.catch(() => undefined);
      if (result) Object.assign(summary, { rollout: result.summary });
    }
    if (options.json) print(JSON.stringify(summary));
    else info(summaryLine(summary, (performance.now() - started) / 1000, options.flashDir));
    return summary.readingsLost === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await station?.close();
  }
}

export const SIM_USAGE = `usage: npx pipewatch sim [options]   (npm start -- [options] is the same, with --station)
Runs simulated nodes on a simulated steam plant, publishing to an MQTT broker; prints each reading,
each leak incident as it is raised, and a summary.
  --nodes N                 nodes in the run, 1..10000 (default 1)
  --engine xs|node          run the firmware in the XS engine or in Node (default xs)
  --xs-workers K            XS engine: K xsnap-worker processes share the nodes (node i in worker
                            i mod K); one per core for large fleets (default 1)
  --shard K/N               run only the K-th of N slices of the fleet (the same node ids, world and
                            seeds as the whole run); needs --broker; its summary covers its slice
  --observe-only            run no node: count at --broker what a fleet of --nodes N run as shards
                            delivers, and print the whole fleet's summary (start it before the shards)
  --duration 30s|10m|24h    simulated run length (default: until Ctrl-C)
  --virtual                 virtual time: the clock jumps ahead when the nodes are idle (needs --duration)
  --seed S                  world and node randomness, 0..4294967295 (default 1)
  --interval 10s            sampling period (default 10s)
  --sensor PART             a sensor on every node, repeatable (default tmp117): ${partNames().join(', ')}
  --plant FILE              plant JSON (lines, nodes with positions, scripted leaks and events, docs/leaks.md);
                            its nodes are the run's nodes (device id = plant node id). Without it, the
                            built-in plant: --nodes N laid out in lines of 20, events drawn from --seed
  --leak-share F            the old world instead of a plant: this share of positions leaks, 0..1
  --outage START+LENGTH     the network is down from START for LENGTH (e.g. 1h+24h), repeatable
  --drain 120s              longest simulated time the nodes get to deliver what they hold at the end
  --flash-dir DIR           keep each node's flash in files in DIR: readings and updates survive across runs
  --json                    print one JSON summary as the last line of stdout (messages go to stderr);
                            with a plant it scores the incidents: leaksSimulated, leaksDetected,
                            incidents, falseIncidents, medianDetectionDelayS
  --quiet                   do not print each reading
energy (docs/energy.md):
  --power MODE              always-connected (default), light-sleep or wake-cycle; the summary's energy
                            object gives mJ per reading, mean current and battery days (ESP32 model)
  --report-interval 5m      light-sleep and wake-cycle: time between report windows (default 5m)
  --deadband N              report by exception: publish a channel when it moved by more than N of its
                            unit (m°C, m%RH, Pa) since the last published reading (default: every sample)
  --max-interval 15m        with --deadband: publish at least this often (default 15m)
  --per-node                the summary's energy object lists every node (perNode)
  --station                 attach the station (docs/station.md): its web view's address is printed first
  --homeassistant           the nodes announce their channels to Home Assistant (MQTT discovery under
                            homeassistant/, state on pipewatch/<dev>/ha; docs/payload.md)
  --discover                nodes start with no broker set and find it by mDNS (_mqtt._tcp), answered by
                            an advertiser on a loopback port (docs/moddable.md, 3a)
  --unprovisioned           nodes start with no Wi-Fi settings and wait for them over Improv Wi-Fi on a
                            pseudo-terminal each, printed as "serial node-001: /dev/pts/N"
                            (npx pipewatch provision --port /dev/pts/N); the summary gives
                            firstReadingS and settingsToReadingS
broker:
  --broker mqtt://host:port an external broker instead of the embedded one. It must be up at start:
                            a broker that refuses the connection is an error (exit 2), not waited for;
                            once running, the nodes ride out its outages (they reconnect)
  --broker-port N           the embedded broker's port (default: a free one)
  --broker-listen ADDR      the embedded broker's address (default 127.0.0.1; 0.0.0.0 lets other
                            machines attach, with a warning: it has no authentication)
  --ca DIR/ca.crt --cert-dir DIR
                            with --broker mqtts://host:port: each node shows DIR/<its id>.crt and .key,
                            the observer DIR/station.crt and .key (pipewatch certs; docs/security.md)
updates (docs/ota.md):
  --ota-key PEM             the Ed25519 private key that signs updates; the nodes trust its public half
                            (default: a throwaway .pipewatch/sim-ota.pem, created)
  --ota-health 120s         health window of a trial image
  --no-ota                  no A/B slots and no updates
  --rollout 1.1.0[:sensor|:broker]
                            a staged rollout of a simulated image of that version (with a simulated
                            fault: its sensors do not answer, or it cannot reach the broker) to every
                            node, as npx pipewatch ota rollout does it; the run ends when the rollout
                            has (or at --duration); the summary gains "rollout"
  --rollout-at 2m           when the rollout starts (default 2m of run time)
  --waves 1%,10%,50%,100% --abort-above 5% --min-nodes 10 --max-concurrent 50
                            the rollout's rules (as for ota rollout)
Exit codes: 0 nothing lost, 1 readings lost, 2 bad options or a start-up error (one line on stderr).`;

const BENCH_USAGE = `usage: npx pipewatch bench [--json] [AREA ...]   (npm run bench -- ... is the same)
Measures speed and memory figures: the slice (one node on XS, a simulated hour) and tools/bench/<area>.ts.
  --json     one JSON object on stdout
  AREA       only these areas (slice, or a file name in tools/bench/ without .ts)`;

const usage = `usage: npx pipewatch <command> [options]     (npm link once puts pipewatch on PATH)
  sim              run simulated nodes (npm start is npx pipewatch sim)
  drivers check    driver conformance check against a connected sensor or its simulated device
  ota keygen|sign|verify|publish|rollout   signed firmware updates, staged rollouts
  provision --port /dev/ttyUSB0   Wi-Fi settings over USB serial (Improv Wi-Fi); prints the node's URL
  bench            speed and memory figures
  detect           replay a trace through the leak detector and the fleet incidents (--trace FILE.csv)
  incidents        leak incidents from every node's readings at a broker (--broker URL --plant FILE)
  station          store the fleet's readings (SQLite) and serve the plant's web view
  fleet report     fleet metrics from the station's database: activation, uptime, update success, active devices
  certs init|issue|revoke|list   the plant CA and one TLS client certificate per node
  help, --help, -h this text;  --version the version
Each command answers --help. Build, flash and the Moddable simulator: npm run build|flash|sim:moddable -- --help`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return await runVerb('pipewatch sim', SIM_USAGE, rest, () => simCommand(rest));
      case 'drivers': {
        const { driversCheck } = await import('./drivers-check');
        return await driversCheck(rest);
      }
      case 'ota': {
        const { otaCommand } = await import('./ota');
        return await otaCommand(rest);
      }
      case 'provision': {
        const { provisionCommand, PROVISION_IMPROV_USAGE } = await import('./improv');
        return await runVerb('pipewatch provision', PROVISION_IMPROV_USAGE, rest, () => provisionCommand(rest));
      }
      case 'bench': {
        const { benchCommand } = await import('./bench');
        return await runVerb('pipewatch bench', BENCH_USAGE, rest, () => benchCommand(rest));
      }
      case 'detect': {
        const { detectCommand } = await import('./detect');
        return await detectCommand(rest);
      }
      case 'incidents': {
        const { incidentsCommand } = await import('./incidents');
        return await incidentsCommand(rest);
      }
      case 'station': {
        const { stationCommand, STATION_USAGE } = await import('./station/main');
        return await runVerb('pipewatch station', STATION_USAGE, rest, () => stationCommand(rest));
      }
      case 'fleet': {
        const { fleetCommand, FLEET_USAGE } = await import('./station/fleet');
        return await runVerb('pipewatch fleet', FLEET_USAGE, rest, () => fleetCommand(rest));
      }
      case 'certs': {
        const { certsMain } = await import('./certs');
        return await certsMain(rest);
      }
      case '--version':
        process.stdout.write(`pipewatch ${version()}\n`);
        return 0;
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(usage + '\n');
        return 0;
      case undefined:
        process.stderr.write(usage + '\n');
        return 2;
      default:
        throw new UsageError(command.startsWith('-') ? `unknown option ${command} (see npx pipewatch --help)` : `unknown command "${command}" (see npx pipewatch --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`pipewatch: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * `sim --discover`: answers the nodes' `_mqtt._tcp` search for `broker` (tools/mdns-advertise.ts)
 * on a free loopback UDP port, where their datagrams to the mDNS group are sent.
 */
async function advertiseOnLoopback(broker: { address: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(broker.address)) {
    throw new StartupError(`--discover: the broker's address must be an IPv4 address for the mDNS answer, got "${broker.address}"`);
  }
  const { createSocket } = await import('node:dgram');
  const { advertiseBroker } = await import('./mdns-advertise');
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const ad = advertiseBroker({ instance: 'pipewatch-sim', host: 'pipewatch-sim', address: broker.address, port: broker.port, socket: { multicast: false, port, bind: '127.0.0.1', ip: '127.0.0.1' } });
  await ad.ready;
  return { port, close: () => ad.close() };
}
