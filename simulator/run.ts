/*
 * The simulator runner (`pipewatch sim`): N nodes running the firmware on the XS engine or on
 * Node, each with a simulated board sensing the simulated plant, publishing to an embedded
 * aedes broker (or any broker), while an observer subscribed at the broker counts what arrived.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LogLevel } from '../firmware/host';
import { PipewatchNode, type NodeStats } from '../firmware/node';
import type { SensorConfig } from '../firmware/sensors/registry';
import { FlashStore } from '../hosts/node/flash';
import { createNodeHost, PowerDomain, VIRTUAL_EPOCH_MS } from '../hosts/node/host';
import type { OtaConfig } from '../firmware/ota/agent';
import { SimOtaHardware, type SimBoot } from './ota/sim-node';
import { loadSimKey, signImage, simImage, SIM_BOARD, SIM_FACTORY_VERSION, type SimKey } from './ota/keys';
import { Scheduler } from '../hosts/node/scheduler';
import { MDNS_ADDRESS, MDNS_PORT } from '../firmware/provision/mdns';
import { XsPool } from '../hosts/xs/pool';
import type { GuestNodeConfig } from '../hosts/xs/guest';
import { descriptorLimit, startBrokerProcess, startEmbeddedBroker, type EmbeddedBroker } from './broker';
import { createBoard } from './board';
import { FaultProxy } from './net/proxy';
import { BrokerUnreachable, Observer, type ObservedReading } from './observer';
import { PipeEnv, type WorldOptions } from './world';
import { lineSlice, type LeakEvent, type PlantSpec } from './plant/model';
import { PlantEnv, type NodePlant } from './plant/env';
import { score } from './plant/score';
import { Fleet, type Incident } from '../tools/fleet/incidents';
import { FleetMetrics } from '../tools/fleet/metrics';
import type { PowerConfig } from '../firmware/power';
import type { ReportOptions } from '../firmware/report';
import { addEnergyCounts, ESP32_POWER_MODEL, fleetEnergy, type FleetEnergy } from './energy';
import { SIM_ACCESS_POINT, startFirstRun, type FirstRunConfig, type FirstRunHooks, type SimAccessPoint } from './first-run';
import { Pty } from './pty';

export interface SimOptions {
  nodes: number;
  engine: 'xs' | 'node';
  /**
   * XS engine: how many xsnap-worker processes share the nodes (node i in worker i mod k); one
   * per core makes a large fleet use every core. Default 1.
   */
  xsWorkers?: number;
  /** Simulated run length in ms; Infinity runs until stop() (Ctrl-C). */
  durationMs: number;
  virtual: boolean;
  seed: number;
  /** mqtt://host:port of an external broker; undefined starts the embedded one. */
  broker?: string;
  /**
   * mqtts:// with per-node certificates (`pipewatch certs`): each node gets `<certDir>/<id>.crt`
   * and `.key` and checks the broker against `caPath`; the observer uses `<certDir>/station.*`.
   */
  tls?: { caPath: string; certDir: string };
  /** The embedded broker's TCP port (0 or undefined: a free one) and address (default 127.0.0.1). */
  brokerPort?: number;
  brokerListen?: string;
  intervalMs: number;
  sensors: SensorConfig[];
  /** Longest simulated time given to the nodes to drain after sampling stopped. */
  drainMs: number;
  leakShare: number;
  /**
   * The nodes sense this plant (simulator/plant/model.ts) instead of the world (leakShare is
   * then unused): node i is plant node i, so `nodes` must equal its node count. The fleet
   * incidents module (tools/fleet/incidents.ts) runs on the observer's readings and alerts,
   * each incident goes to onIncident, and the summary scores them against the plant's leaks.
   */
  plant?: PlantSpec;
  /**
   * Runs only this slice of the fleet (`--shard K/N`, index K-1 of count N): the nodes
   * `shardNodes()` gives, with the ids, world and seeds they have in the unsplit run, so N
   * shards together send what the unsplit run sends. The observer counts only the slice's nodes,
   * and the summary (publishShardSummary) goes to an observer of the whole fleet
   * (`--observe-only`). Needs an external broker.
   */
  shard?: { index: number; count: number };
  /** Device ids of the nodes (default node-001, node-002, ...). */
  deviceIds?: string[];
  /** Keep each node's flash partitions in files in this folder, across runs. */
  flashDir?: string;
  /** The nodes' flash (tests hand in one whose chips fail); default: a new FlashStore (flashDir). */
  flashStore?: FlashStore;
  /** Network outages: from `atMs` for `forMs`, nodes cannot reach the broker (connections refused, links dropped). */
  outages?: Array<{ atMs: number; forMs: number }>;
  /**
   * Signed OTA on the simulated nodes: A/B slots and a simulated bootloader per node (slot A
   * holds a signed factory image 1.0.0 for board "pipewatch-sim"), `host.update` and an "ota"
   * partition; a restart asked for by the firmware cuts the node's power (sockets reset, the
   * broker publishes the will), boots the bootloader and starts the firmware of the booted slot
   * with the same flash. Off when undefined.
   */
  ota?: {
    /** Private key (PEM) whose public half the nodes trust; default .pipewatch/sim-ota.pem (created). */
    keyPath?: string;
    /** Working directory for .pipewatch/ (default process.cwd()). */
    cwd?: string;
    healthWindowMs?: number;
    slotBlocks?: number;
    updater?: OtaConfig['updater'];
  };
  onReading?: (reading: ObservedReading) => void;
  /** A fleet incident (with a plant), as it is raised; tMs is simulated time from the start. */
  onIncident?: (incident: Incident, wallMs: number) => void;
  onLog?: (node: number, level: LogLevel, message: string) => void;
  onStatus?: (message: string) => void;
  /** A node booted (OTA on): which image, on trial or not, after a rollback or not. */
  onBoot?: (node: number, boot: SimBoot) => void;
  /** Awaited once the broker is up, before any node starts (the station attaches here). */
  beforeNodes?: (brokerUrl: string) => Promise<void>;
  /** The observer, once connected (tests read what it received). */
  onObserver?: (observer: Observer) => void;
  /**
   * The embedded broker's own record of the link: a node's MQTT session began (CONNECT
   * accepted) or ended, at simulated time `simMs` (from the run's start). For tests that count
   * uptime independently of the nodes' heartbeats.
   */
  onLink?: (clientId: string, up: boolean, simMs: number) => void;
  /** A node (index) started (each boot), at simulated time `simMs`. */
  onNodeStart?: (node: number, simMs: number) => void;
  /** Home Assistant MQTT discovery on every node (firmware/homeassistant.ts). */
  homeassistant?: boolean;
  /** Duty-cycle mode of every node (firmware/power.ts, docs/energy.md); default always-connected. */
  power?: PowerConfig;
  /** Report by exception on every node (firmware/report.ts); default every sample. */
  report?: ReportOptions;
  /** Each reading the observer received, with the simulated time (ms from the start) it arrived (the energy bench's alert delay). */
  onDelivered?: (reading: ObservedReading, simulatedMs: number) => void;
  /** The summary's `energy` has one entry per node (`perNode`). */
  perNode?: boolean;
  /**
   * Nodes power on with no Wi-Fi settings (simulator/first-run.ts): each runs Improv Wi-Fi on a
   * simulated UART whose other end is a pseudo-terminal (simulator/pty.ts; its path goes to
   * onSerialPort), joins `ap` when sent its SSID and password, and starts once provisioned.
   * In virtual time the clock runs no faster than real time while any node waits (a person or
   * an Improv client is on the port), then jumps as usual.
   */
  unprovisioned?: { ap?: SimAccessPoint; stationUrl?: string };
  onSerialPort?: (node: number, path: string) => void;
  /**
   * Nodes start with no broker and look for `_mqtt._tcp` by mDNS (firmware/provision/mdns.ts),
   * on either engine. `advertise` starts a responder for the broker the nodes reach (the caller's,
   * e.g. tools/mdns-advertise.ts) on a loopback UDP port; the nodes' datagrams to
   * 224.0.0.251:5353 go there (Linux's `lo` carries no multicast).
   */
  discover?: { advertise(broker: { address: string; port: number }): Promise<{ port: number; close(): Promise<void> }> };
}

export interface SimSummary {
  engine: 'xs' | 'node';
  /** Nodes this run ran (a shard's slice with --shard). */
  nodes: number;
  /** "K/N" with --shard: which slice of a fleet of `fleetNodes` this summary covers. */
  shard?: string;
  fleetNodes?: number;
  virtual: boolean;
  seed: number;
  broker: string;
  simulatedSeconds: number;
  wallSeconds: number;
  /**
   * Real time only: the worst lateness of a timer while the nodes sampled (from the start to
   * --duration), ms from its due time to when the scheduler fired it (scheduler.ts timerLagMaxMs).
   */
  timerLagMaxMs?: number;
  /** Real time on XS: the longest a delivery (a timer, socket data, a node to create) waited for its worker while the nodes sampled, ms. */
  xsQueueWaitMaxMs?: number;
  readingsGenerated: number;
  readingsDelivered: number;
  /**
   * Readings neither received by the observer nor still held by a node: gone. Readings a node
   * still holds in its flash at the end (an outage not over, a stop during one) are
   * `pendingOnNodes`, not lost: the node sends them once it reaches the broker (with
   * --flash-dir, in the next run).
   */
  readingsLost: number;
  pendingOnNodes: number;
  duplicates: number;
  outOfOrder: number;
  malformed: number;
  reconnects: number;
  /** With --discover: the nodes' broker searches by mDNS, and those that found one (a node boots after a reboot and searches again). */
  discovery?: { searches: number; found: number };
  /** Simulated reboots (OTA), bootloader rollbacks, and how many nodes run each firmware version at the end. */
  reboots?: number;
  rollbacks?: number;
  firmware?: Record<string, number>;
  /** Leak alerts the nodes raised, and the alerts the observer received. */
  alertsRaised: number;
  alertsDelivered: number;
  sensorFaults: number;
  droppedByStore: number;
  bytesOnWirePerReading: number;
  /** Samples the nodes took (each sample of every sensor); `readingsGenerated` counts those they decided to publish. */
  samples: number;
  /** Energy figures from the nodes' counters and the ESP32 power model (simulator/energy.ts, docs/energy.md). */
  energy?: FleetEnergy;
  /**
   * XS engine: computrons (deterministic), `heapBytesPerNode` = live slots and chunks per node
   * after a full collection, beyond the engine with the guest loaded and no node;
   * `heapReservedBytesPerNode` = slot heaps and chunk blocks the machine grew to, per node
   * (XS grows them in 4 MiB steps and keeps its peak: free space included).
   */
  xs?: {
    computronsPerReading: number;
    /** The same, split by what the crank ran: timer callbacks (sampling, the per-reading path), socket events, other (stats, stop). */
    computronsPerReadingByEvent: { timers: number; sockets: number; other: number };
    /** Deliveries into XS and synchronous calls out of it (timers, sockets, flash, log), per reading. */
    cranksPerReading: number;
    bridgeCallsPerReading: number;
    heapBytesPerNode: number;
    heapReservedBytesPerNode: number;
    computrons: number;
  };
  /**
   * With a plant (docs/leaks.md, "Scoring", at incident level): the leaks whose onset fell in
   * the run, those an incident found (within two positions, within 30 minutes), the incidents
   * raised, those matching no leak, and the median delay from onset of the found ones (null
   * when none was found).
   */
  leaksSimulated?: number;
  leaksDetected?: number;
  incidents?: number;
  falseIncidents?: number;
  medianDetectionDelayS?: number | null;
  /**
   * The fleet metrics (docs/fleet.md) from the heartbeats and OTA status events the observer
   * received, over the whole run: activation rate (the run's nodes are the registry), connectivity
   * uptime, firmware update success rate (null when no update started), monthly active devices.
   */
  fleet?: {
    activationRate: number | null;
    connectivityUptime: number | null;
    otaSuccessRate: number | null;
    monthlyActiveDevices: Record<string, number>;
    heartbeats: number;
    heartbeatsRefused: number;
  };
  /**
   * Power-on to the first reading at the broker (the observer), seconds of simulated time, of the
   * slowest node; null when a node never got one in. With `unprovisioned`, also the time from the
   * Wi-Fi settings arriving over Improv to that reading (slowest node), and how many nodes were
   * provisioned.
   */
  firstReadingS: number | null;
  /**
   * This process's memory when sampling ended, per node of the run (process.memoryUsage()):
   * resident set, the JavaScript heap in use, and array buffers (on Node mostly the simulated
   * flash chips: 484 KiB a node with OTA, every byte held). Neither an xsnap-worker's memory nor
   * the embedded broker's when it runs in its own process (`brokerInOwnProcess`) is in it.
   */
  memory?: { rssBytesPerNode: number; heapUsedBytesPerNode: number; arrayBuffersBytesPerNode: number; brokerInOwnProcess: boolean };
  settingsToReadingS?: number | null;
  provisioned?: number;
}

/** `tls`: --ca and --cert-dir were given, so mqtts:// is allowed (and required). */
export function parseBroker(url: string, tls = false): { address: string; port: number } {
  if (/^mqtts?:\/\/[^/]*@/.test(url)) {
    throw new Error(`--broker: user names and passwords in the URL are not supported by the simulator's nodes; give mqtt://host:port, got "${url}"`);
  }
  if (/^mqtts:/.test(url) && !tls) throw new Error(`--broker: mqtts:// needs --ca CA.crt and --cert-dir DIR (see pipewatch certs); plain is mqtt://host:port, got "${url}"`);
  if (/^mqtt:/.test(url) && tls) throw new Error(`--ca and --cert-dir are for an mqtts:// broker, got "${url}"`);
  const match = /^mqtts?:\/\/([^/:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(url);
  if (!match) throw new Error(`--broker takes ${tls ? 'mqtts' : 'mqtt'}://host:port, got "${url}"`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`--broker takes a port from 1 to 65535, got ${port}`);
  return { address: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A running simulation; `done` resolves with the summary. */
export interface Simulation {
  done: Promise<SimSummary>;
  /** Resolves once the broker and the nodes are up. */
  ready: Promise<{ broker: string; deviceIds: string[]; otaKey?: SimKey }>;
  /** Ends the run early (Ctrl-C): stops sampling, drains, summarises. */
  stop(): void;
  /** The run's clock (ms since it started; virtual time in a virtual run), for tools driven alongside it. */
  now(): number;
  /** Calls `fn` when the run's clock reaches `ms` (after `ready`). */
  at(ms: number, fn: () => void): void;
  /** Holds virtual time (as I/O in flight does) until the returned function is called (after `ready`). */
  hold(): () => void;
}

export function startSimulation(o: SimOptions): Simulation {
  let stopRequested = false;
  let scheduler: Scheduler | undefined;
  let markReady!: (info: { broker: string; deviceIds: string[]; otaKey?: SimKey }) => void;
  let failReady!: (error: Error) => void;
  const ready = new Promise<{ broker: string; deviceIds: string[]; otaKey?: SimKey }>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {});
  const done = run(o, (s) => (scheduler = s), () => stopRequested, markReady);
  done.catch((error: Error) => failReady(error));
  return {
    done,
    ready,
    stop() {
      stopRequested = true;
      scheduler?.interrupt();
    },
    now: () => scheduler?.now() ?? 0,
    at(ms, fn) {
      scheduler!.set(fn, Math.max(0, ms - scheduler!.now()));
    },
    hold() {
      const token = {};
      scheduler!.begin(token);
      return () => scheduler?.done(token);
    },
  };
}

/** Sums the counters of a node's earlier boots into its current stats. */
function addStats(a: NodeStats, b: NodeStats | undefined): NodeStats {
  if (!b) return a;
  return {
    ...a,
    readingsGenerated: a.readingsGenerated + b.readingsGenerated,
    alerts: a.alerts + b.alerts,
    samples: a.samples + b.samples,
    sensorFaults: a.sensorFaults + b.sensorFaults,
    stored: a.stored + b.stored,
    dropped: a.dropped + b.dropped,
    bytesOut: a.bytesOut + b.bytesOut,
    uplink: {
      ...a.uplink,
      reconnects: a.uplink.reconnects + b.uplink.reconnects,
      searches: a.uplink.searches + b.uplink.searches,
      brokersFound: a.uplink.brokersFound + b.uplink.brokersFound,
    },
    energy: addEnergyCounts(a.energy, b.energy),
    retainedFailures: (a.retainedFailures ?? 0) + (b.retainedFailures ?? 0),
  };
}

async function run(
  o: SimOptions,
  expose: (s: Scheduler) => void,
  stopRequested: () => boolean,
  ready: (info: { broker: string; deviceIds: string[]; otaKey?: SimKey }) => void,
): Promise<SimSummary> {
  const wallStart = performance.now();
  // What can be checked without starting anything is checked first (StartupError).
  if (o.flashDir) prepareFlashDir(o.flashDir);
  let otaKey: SimKey | undefined;
  try {
    otaKey = o.ota ? loadSimKey(o.ota.keyPath, o.ota.cwd) : undefined;
  } catch (error) {
    const message = oneLine(error);
    throw new StartupError(
      message.startsWith('--ota-key') ? message
        : /routines|asn1|unsupported/i.test(message) ? `--ota-key ${o.ota!.keyPath}: not a PEM private key; give the private half of the pair (like .pipewatch/sim-ota.pem), not the public key`
        : `--ota-key: ${message}`,
    );
  }
  let embedded: EmbeddedBroker | undefined;
  let proxy: FaultProxy | undefined;
  let observer: Observer | undefined;
  let brokerUrl: string;
  let broker: { address: string; port: number };
  let advertiser: { port: number; close(): Promise<void> } | undefined;
  try {
    if (o.broker === undefined) {
      try {
        const brokerOptions = { realTimeKeepalive: !o.virtual };
        embedded = brokerInItsOwnProcess(o)
          ? await startBrokerProcess(o.brokerPort ?? 0, o.brokerListen ?? '127.0.0.1', brokerOptions)
          : await startEmbeddedBroker(o.brokerPort ?? 0, o.brokerListen ?? '127.0.0.1', brokerOptions);
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        const where = `${o.brokerListen ?? '127.0.0.1'}:${o.brokerPort ?? 0}`;
        throw new StartupError(
          e.code === 'EADDRINUSE' ? `the embedded broker cannot listen on ${where}: the port is in use (--broker-port)`
            : `the embedded broker cannot listen on ${where} (${e.code ?? oneLine(e)})`,
        );
      }
    }
    brokerUrl = o.broker ?? embedded!.url;
    broker = parseBroker(brokerUrl, o.tls !== undefined);
    // With outages, the nodes reach the broker through a fault proxy; the observer does not.
    if (o.outages?.length) {
      proxy = await FaultProxy.start({ target: { host: broker.address, port: broker.port } });
      broker = { address: '127.0.0.1', port: proxy.port };
    }
    // Every node's certificate is there before anything starts (a missing one is a start-up error).
    if (o.tls) for (const i of shardNodes(o.nodes, o.shard)) certificateOf(o.tls.certDir, simDeviceId(i, o.nodes, o.deviceIds));
    observer = await Observer.connect(brokerUrl, 5000, o.tls && { ca: readPem(o.tls.caPath), ...certificateOf(o.tls.certDir, 'station') }).catch((error: Error) => {
      throw error instanceof BrokerUnreachable ? new StartupError(error.message) : error;
    });
    if (o.discover) advertiser = await o.discover.advertise(broker);
    await o.beforeNodes?.(brokerUrl);
  } catch (error) {
    await advertiser?.close();
    await proxy?.close();
    await embedded?.close();
    throw error;
  }
  try {
    o.onObserver?.(observer);
    return await simulate(o, expose, stopRequested, ready, { wallStart, otaKey, observer, brokerUrl, broker, proxy, embedded, mdnsPort: advertiser?.port });
  } finally {
    await advertiser?.close();
    await observer.close();
    await proxy?.close();
    await embedded?.close();
  }
}

/** Node engine: from this many nodes the embedded broker runs in its own process, on a core of its own. */
export const BROKER_PROCESS_FROM_NODES = 1000;

/**
 * Whether the embedded broker runs in a child process (startBrokerProcess): on the Node engine
 * from BROKER_PROCESS_FROM_NODES nodes, and on either engine when this process could not hold
 * a descriptor for both ends of every node's connection (and the fault proxy's, with outages).
 * Not when onLink asks for the broker's own record of the links (it needs aedes in this process).
 */
export function brokerInItsOwnProcess(o: Pick<SimOptions, 'nodes' | 'engine' | 'onLink' | 'outages'>, limit = descriptorLimit()): boolean {
  if (o.onLink) return false;
  const perNode = o.outages?.length ? 4 : 2;
  if (limit !== undefined && o.nodes * perNode + 256 > limit) return true;
  return o.engine === 'node' && o.nodes >= BROKER_PROCESS_FROM_NODES;
}

/** The node indices of shard `index` (from 0) of `count` in a fleet of `nodes`: a contiguous slice. */
export function shardNodes(nodes: number, shard?: { index: number; count: number }): number[] {
  if (!shard) return Array.from({ length: nodes }, (_, i) => i);
  const from = Math.floor((nodes * shard.index) / shard.count);
  const to = Math.floor((nodes * (shard.index + 1)) / shard.count);
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** The device id of node `i` (from 0) in a run of `nodes` nodes: node-001, ... */
export function simDeviceId(i: number, nodes: number, ids?: readonly string[]): string {
  if (ids?.[i] !== undefined) return ids[i]!;
  return `node-${String(i + 1).padStart(nodes > 999 ? 4 : 3, '0')}`;
}

function readPem(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new StartupError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
  }
}

/** `<dir>/<id>.crt` and `.key` as the TLS options take them; a missing one names `pipewatch certs issue`. */
function certificateOf(dir: string, id: string): { certificate: string; key: string } {
  const crt = join(dir, `${id}.crt`);
  if (!existsSync(crt)) throw new StartupError(`--cert-dir ${dir}: no ${id}.crt; make it with: npx pipewatch certs issue ${id} --dir ${dir}`);
  return { certificate: readPem(crt), key: readPem(join(dir, `${id}.key`)) };
}

/** A start-up problem the user fixes (exit code 2 in the CLI): a bad key, folder or broker. */
export class StartupError extends Error {}

function oneLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}

/**
 * Creates the --flash-dir folder, one level at a time from its deepest existing ancestor (a
 * recursive mkdir spins forever under /proc), and checks that files can be written there.
 */
export function prepareFlashDir(dir: string): void {
  const full = resolve(dir);
  const missing: string[] = [];
  let at = full;
  for (;;) {
    let stat;
    try {
      stat = statSync(at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new StartupError(`--flash-dir ${dir}: ${at}: ${(error as NodeJS.ErrnoException).code}`);
    }
    if (stat) {
      if (!stat.isDirectory()) throw new StartupError(`--flash-dir ${dir}: ${at} is a file, not a folder`);
      break;
    }
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const path of missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      throw new StartupError(`--flash-dir ${dir}: cannot create ${path} (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
    }
  }
  try {
    accessSync(full, constants.W_OK);
  } catch {
    throw new StartupError(`--flash-dir ${dir}: the folder is not writable`);
  }
}

interface Started {
  wallStart: number;
  otaKey: SimKey | undefined;
  proxy: FaultProxy | undefined;
  observer: Observer;
  brokerUrl: string;
  broker: { address: string; port: number };
  embedded: EmbeddedBroker | undefined;
  /** With `discover`: the loopback port of the mDNS responder. */
  mdnsPort: number | undefined;
}

async function simulate(
  o: SimOptions,
  expose: (s: Scheduler) => void,
  stopRequested: () => boolean,
  ready: (info: { broker: string; deviceIds: string[]; otaKey?: SimKey }) => void,
  started: Started,
): Promise<SimSummary> {
  const { wallStart, otaKey, proxy, observer, brokerUrl, broker, embedded, mdnsPort } = started;
  // --discover: no broker in the nodes' configuration; the responder the caller started answers their search.
  const udpRedirect = mdnsPort === undefined ? undefined : new Map([[`${MDNS_ADDRESS}:${MDNS_PORT}`, { address: '127.0.0.1', port: mdnsPort }]]);
  const scheduler = new Scheduler({ virtual: o.virtual });
  expose(scheduler);
  if (o.onLink && embedded?.aedes) {
    const onLink = o.onLink;
    embedded.aedes.on('client', (client) => onLink(client.id, true, scheduler.now()));
    embedded.aedes.on('clientDisconnect', (client) => onLink(client.id, false, scheduler.now()));
  }
  // The fleet metrics from what the observer receives: the run's nodes (with their plant line) are the registry.
  const wallEpoch = o.virtual ? VIRTUAL_EPOCH_MS : Date.now() - scheduler.now();
  const fleetMetrics = new FleetMetrics(
    Array.from({ length: o.nodes }, (_, i) => ({ id: simDeviceId(i, o.nodes, o.deviceIds), line: o.plant?.nodes[i]?.line })),
  );
  observer.fleet = fleetMetrics;
  observer.clock = () => wallEpoch + scheduler.now();
  const world: WorldOptions = { seed: o.seed, leakShare: o.leakShare };
  const deviceId = (i: number) => simDeviceId(i, o.nodes, o.deviceIds);
  const mine = shardNodes(o.nodes, o.shard);
  if (o.shard) observer.only = new Set(mine.map(deviceId));
  const plant = o.plant ? plantShares(o.plant, o.nodes, o.seed) : undefined;
  // A shard sees only its slice: incidents need every node's neighbours (a station on the whole fleet runs them).
  const leaks = plant && !o.shard ? watchIncidents(o, observer, scheduler, deviceId) : undefined;
  if (!leaks) observer.onReading = o.onReading;
  if (o.onDelivered) {
    const inner = observer.onReading;
    observer.onReading = (r) => {
      o.onDelivered!(r, scheduler.now());
      inner?.(r);
    };
  }
  // Power-on to first reading at the broker: every node powers on at the start of the run.
  const firstReadingAt = new Map<string, number>();
  {
    const next = observer.onReading;
    observer.onReading = (r) => {
      if (!firstReadingAt.has(r.dev)) firstReadingAt.set(r.dev, scheduler.now());
      next?.(r);
    };
  }
  const flashStore = o.flashStore ?? new FlashStore(undefined, o.flashDir);
  // OTA hardware: per node, kept across reboots (it is the node's flash chip and boot ROM).
  const hardware: SimOtaHardware[] = [];
  if (o.ota && otaKey) {
    const image = simImage(SIM_FACTORY_VERSION);
    const manifest = signImage(otaKey.privateKey, image, { version: SIM_FACTORY_VERSION });
    for (const i of mine) {
      hardware[i] = new SimOtaHardware({ publicKey: otaKey.publicKey, board: SIM_BOARD, slotBlocks: o.ota.slotBlocks, factory: { manifest, image } });
    }
  }
  const otaConfig: OtaConfig | undefined = o.ota && otaKey
    ? { publicKey: otaKey.publicKeyHex, board: SIM_BOARD, healthWindowMs: o.ota.healthWindowMs, maxImageBytes: ((o.ota.slotBlocks ?? 16) - 1) * 4096, updater: o.ota.updater }
    : undefined;
  /** Unreachable broker for an image carrying the simulator's broker fault marker. */
  const nowhere = { address: '127.0.0.1', port: 1 };
  // Boots per node in this run, for the heartbeat's boot count and reset reason (called once per boot).
  const bootCounts: number[] = [];
  const configFor = (i: number, boot?: SimBoot): GuestNodeConfig => (o.onNodeStart?.(i, scheduler.now()), {
    system: { bootCount: (bootCounts[i] = (bootCounts[i] ?? 0) + 1), resetReason: bootCounts[i] === 1 ? 'power-on' : 'software' },
    deviceId: deviceId(i),
    broker: boot?.fault === 'broker' ? nowhere : udpRedirect ? { address: '', port: 1883, discover: true } : o.tls ? { ...broker, secure: { ca: readPem(o.tls.caPath), ...certificateOf(o.tls.certDir, deviceId(i)) } } : broker,
    intervalMs: o.intervalMs,
    // A plant node that names its part carries that part (the first sensor of the run's).
    sensors: o.plant?.nodes[i]?.part ? [{ part: o.plant.nodes[i]!.part! }, ...o.sensors.slice(1)] : o.sensors,
    nodeIndex: i,
    seed: (o.seed * 1000003 + i) >>> 0,
    world,
    ...(plant ? { plant: plant[i] } : {}),
    flashPartitions: otaConfig ? [...flashStore.partitionNames, 'ota'] : flashStore.partitionNames,
    ...(o.homeassistant ? { integrations: { homeassistant: true as const } } : {}),
    ...(otaConfig ? { ota: otaConfig, update: true, simFault: boot?.fault } : {}),
    ...energyConfig(o),
  });
  const retired = new Map<string, NodeStats>();
  let reboots = 0;
  let stopping = false;
  const bootHardware = (i: number): SimBoot | undefined => {
    const hw = hardware[i];
    if (!hw) return undefined;
    const boot = hw.boot();
    if (!boot.outcome.ok) {
      o.onLog?.(i, 'error', 'simulated bootloader: no bootable image (bricked)');
      return boot;
    }
    o.onBoot?.(i, boot);
    return boot;
  };

  let fleet: XsPool | undefined;
  const first = o.unprovisioned ? await firstRuns(o, scheduler, deviceId) : undefined;
  const nodes: Array<PipewatchNode | undefined> = [];
  const power: PowerDomain[] = [];
  const startNodeOnNode = (i: number, boot: SimBoot | undefined): void => {
    if (boot && !boot.outcome.ok) {
      nodes[i] = undefined;
      return;
    }
    const config = configFor(i, boot);
    const plantEnv = config.plant ? PlantEnv.of(() => scheduler.now(), config.plant) : undefined;
    const board = createBoard(
      config.sensors,
      (position) => plantEnv ?? new PipeEnv(() => scheduler.now(), o.seed, i, position, world),
      config.seed,
    );
    // Simulator test marker: the image's sensor "driver" fails, i.e. no part answers.
    const io = boot?.fault === 'sensor' ? createBoard([], () => undefined as never, config.seed).io : board.io;
    const domain = new PowerDomain();
    power[i] = domain;
    const hw = hardware[i];
    const host = createNodeHost({
      scheduler,
      seed: config.seed,
      io,
      flash: hw ? hw.provider(flashStore.provider(i)) : flashStore.provider(i),
      update: hw?.bootloader.update,
      system: config.system,
      log: (level, message) => o.onLog?.(i, level, message),
      onRestart: hw ? () => restartSoon(i) : undefined,
      power: hw ? domain : undefined,
      radio: config.radio,
      udpRedirect,
    });
    const node = new PipewatchNode(host, { ...config, sensors: board.sensors });
    nodes[i] = node;
    node.start();
  };
  const restarting = new Set<number>();
  /** host.restart(): after the current callback, cut the node's power and boot it again. */
  const restartSoon = (i: number): void => {
    if (restarting.has(i) || stopping) return;
    restarting.add(i);
    setImmediate(() => {
      void (async () => {
        try {
          if (stopping) return;
          reboots++;
          const id = deviceId(i);
          if (fleet) {
            const last = await fleet.dropNode(i);
            if (last) retired.set(id, addStats(last, retired.get(id)));
            const boot = bootHardware(i);
            if (boot?.outcome.ok) await fleet.addNode(i, configFor(i, boot));
          } else {
            power[i]?.cut(scheduler);
            const last = nodes[i]?.stats();
            if (last) retired.set(id, addStats(last, retired.get(id)));
            nodes[i] = undefined;
            startNodeOnNode(i, bootHardware(i));
          }
        } finally {
          restarting.delete(i);
          scheduler.poke();
        }
      })().catch((error: Error) => o.onLog?.(i, 'error', `simulated reboot failed: ${error.message}`));
    });
  };
  let computronsAtStart = 0;
  let countsAtStart: XsPool['counts'] | undefined;
  let heapBytesPerNode = 0;
  let heapReservedBytesPerNode = 0;
  try {
    if (o.engine === 'xs') {
      fleet = new XsPool(o.xsWorkers ?? 1, {
        scheduler,
        wallNow: () => (o.virtual ? VIRTUAL_EPOCH_MS + scheduler.now() : Date.now()),
        log: o.onLog,
        flash: (index, path) => (path === 'ota' && hardware[index] ? hardware[index]!.otaPartition : flashStore.open(index, path)),
        update: (index) => hardware[index]?.bootloader.update,
        onRestart: (index) => restartSoon(index),
        udpRedirect,
      });
      await fleet.start();
      await fleet.reserveFor(mine);
      for (const i of mine) {
        if (first) {
          const xs = fleet;
          const boot = bootHardware(i);
          if (boot && !boot.outcome.ok) continue;
          first.start(
            i,
            (hooks) => {
              xs.onFirstRun(i, hooks);
              void xs.addNode(i, { ...configFor(i, boot), firstRun: first.config(i) });
              return { receive: (bytes) => xs.serialIn(i, bytes), close: () => {} };
            },
            () => {},
          );
          continue;
        }
        if (stopRequested()) break;
        const boot = bootHardware(i);
        if (!boot || boot.outcome.ok) await fleet.addNode(i, configFor(i, boot));
      }
      computronsAtStart = fleet.computrons;
      countsAtStart = fleet.counts;
    } else if (first) {
      for (const i of mine) {
        const host = createNodeHost({ scheduler, seed: (o.seed * 1000003 + i) >>> 0, log: (level, message) => o.onLog?.(i, level, message) });
        first.start(i, (hooks) => startFirstRun(host, first.config(i), hooks), () => startNodeOnNode(i, bootHardware(i)));
      }
    } else {
      // A large fleet takes seconds to create: let a Ctrl-C or SIGTERM in between, and stop creating then.
      let created = 0;
      for (const i of mine) {
        if (stopRequested()) break;
        startNodeOnNode(i, bootHardware(i));
        if (++created % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    for (const outage of o.outages ?? []) {
      scheduler.set(() => {
        o.onStatus?.(`network outage for ${outage.forMs / 1000} s`);
        void proxy!.refuse('reset');
        proxy!.drop();
      }, outage.atMs);
      scheduler.set(() => {
        o.onStatus?.('network back');
        void proxy!.refuse(false);
      }, outage.atMs + outage.forMs);
    }
    o.onStatus?.(
      `${o.shard ? `shard ${o.shard.index + 1}/${o.shard.count}: ${mine.length} of ${o.nodes}` : o.nodes} node(s) on ${o.engine === 'xs' ? 'the XS engine' : 'Node'}, ${o.virtual ? 'virtual' : 'real'} time, broker ${brokerUrl}`,
    );
    ready({ broker: brokerUrl, deviceIds: mine.map(deviceId), otaKey });

    const idle = () => !fleet?.busy;
    if (!stopRequested()) await scheduler.runUntil(o.durationMs, idle);
    const sampledUntil = scheduler.now();
    // This process's memory when sampling ends (the fleet at its fullest, before the drain).
    const memoryAtEnd = process.memoryUsage();
    // Keeping up is judged over the sampling time, before the end's heap snapshot and drain.
    const timerLagMaxMs = scheduler.timerLagMaxMs;
    const xsQueueWaitMaxMs = fleet ? Math.round(fleet.queueWaitMaxMs) : undefined;

    if (fleet) {
      const heap = await fleet.heapBytes();
      heapBytesPerNode = heap.live / mine.length;
      heapReservedBytesPerNode = heap.reserved / mine.length;
      for (const i of mine) await fleet.stopSampling(i);
    } else {
      for (const node of nodes) node?.stopSampling();
    }

    const stats = async (): Promise<NodeStats[]> => {
      const current = fleet ? await fleet.stats() : nodes.filter((n): n is PipewatchNode => !!n).map((n) => n.stats());
      const seen = new Set(current.map((s) => s.deviceId));
      const all = current.map((s) => addStats(s, retired.get(s.deviceId)));
      for (const [id, s] of retired) if (!seen.has(id)) all.push({ ...s, pending: 0 });
      return all;
    };
    // Drain: give the nodes simulated time to deliver what they hold, then let the observer catch up.
    const drainEnd = scheduler.now() + (stopRequested() ? Math.min(o.drainMs, 3000) : o.drainMs);
    while (scheduler.now() < drainEnd) {
      const pending = (await stats()).reduce((sum, s) => sum + s.pending, 0);
      if (pending === 0) break;
      await scheduler.runUntil(Math.min(drainEnd, scheduler.now() + 1000), idle);
    }
    let final = await stats();
    const generated = final.reduce((sum, s) => sum + s.readingsGenerated, 0);
    // What the nodes still hold is not on its way: wait only for the rest.
    const held = final.reduce((sum, s) => sum + s.pending, 0);
    const deadline = performance.now() + 5000;
    while (observer.delivered < generated - held && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    final = await stats();
    const computrons = fleet ? fleet.computrons - computronsAtStart : 0;
    const bytesOut = final.reduce((sum, s) => sum + s.bytesOut, 0);
    const pendingOnNodes = final.reduce((sum, s) => sum + s.pending, 0);
    const summary: SimSummary = {
      engine: o.engine,
      nodes: mine.length,
      ...(o.shard ? { shard: `${o.shard.index + 1}/${o.shard.count}`, fleetNodes: o.nodes } : {}),
      virtual: o.virtual,
      seed: o.seed,
      broker: brokerUrl,
      simulatedSeconds: Math.round(sampledUntil / 10) / 100,
      wallSeconds: Math.round((performance.now() - wallStart) / 10) / 100,
      ...(o.virtual ? {} : { timerLagMaxMs, ...(xsQueueWaitMaxMs !== undefined ? { xsQueueWaitMaxMs } : {}) }),
      readingsGenerated: generated,
      readingsDelivered: observer.delivered,
      readingsLost: Math.max(0, generated - observer.delivered - pendingOnNodes),
      pendingOnNodes,
      duplicates: observer.duplicates,
      outOfOrder: observer.outOfOrder,
      malformed: observer.malformed,
      reconnects: final.reduce((sum, s) => sum + s.uplink.reconnects, 0),
      ...(o.discover
        ? { discovery: { searches: final.reduce((sum, s) => sum + s.uplink.searches, 0), found: final.reduce((sum, s) => sum + s.uplink.brokersFound, 0) } }
        : {}),
      alertsRaised: final.reduce((sum, s) => sum + s.alerts, 0),
      alertsDelivered: observer.alerts,
      sensorFaults: final.reduce((sum, s) => sum + s.sensorFaults, 0),
      droppedByStore: final.reduce((sum, s) => sum + s.dropped, 0),
      bytesOnWirePerReading: generated ? Math.round((bytesOut / generated) * 10) / 10 : 0,
      samples: final.reduce((sum, s) => sum + s.samples, 0),
      energy: fleetEnergy(final, computrons, o.perNode),
      firstReadingS: slowest(Array.from({ length: o.nodes }, (_, i) => firstReadingAt.get(deviceId(i)))),
      memory: {
        rssBytesPerNode: Math.round(memoryAtEnd.rss / mine.length),
        heapUsedBytesPerNode: Math.round(memoryAtEnd.heapUsed / mine.length),
        arrayBuffersBytesPerNode: Math.round(memoryAtEnd.arrayBuffers / mine.length),
        brokerInOwnProcess: embedded !== undefined && embedded.aedes === undefined,
      },
    };
    if (first) {
      summary.provisioned = first.provisioned;
      summary.settingsToReadingS = slowest(
        Array.from({ length: o.nodes }, (_, i) => {
          const at = firstReadingAt.get(deviceId(i));
          const sent = first.joinAt(i);
          return at === undefined || sent === undefined ? undefined : at - sent;
        }),
      );
    }
    if (hardware.length) {
      summary.reboots = reboots;
      summary.rollbacks = hardware.reduce((n, hw) => n + hw.bootloader.counters.rollbacks, 0);
      const versions: Record<string, number> = {};
      for (const s of final) versions[s.firmware ?? 'unknown'] = (versions[s.firmware ?? 'unknown'] ?? 0) + 1;
      summary.firmware = versions;
    }
    if (leaks) Object.assign(summary, leaks.summary(sampledUntil));
    const fleetReport = fleetMetrics.report();
    summary.fleet = {
      activationRate: fleetReport.activation.rate,
      connectivityUptime: fleetReport.uptime.fleet,
      otaSuccessRate: fleetReport.ota.successRate,
      monthlyActiveDevices: fleetReport.monthlyActiveDevices,
      heartbeats: observer.heartbeatsReceived,
      heartbeatsRefused: observer.healthMalformed + fleetMetrics.rejected,
    };
    if (o.shard) await observer.publishShardSummary(o.shard, summary);
    if (fleet) {
      summary.xs = {
        computronsPerReading: generated ? Math.round(computrons / generated) : 0,
        ...perReading(fleet.counts, countsAtStart!, generated),
        heapBytesPerNode: Math.round(heapBytesPerNode),
        heapReservedBytesPerNode: Math.round(heapReservedBytesPerNode),
        computrons,
      };
    }
    return summary;
  } finally {
    stopping = true;
    first?.close();
    scheduler.stop();
    if (fleet) {
      for (const i of mine) await fleet.stopNode(i).catch(() => {});
      fleet.close();
    }
    for (const node of nodes) node?.stop();
  }
}

/** The node configuration of the energy options: duty cycle, report by exception, and the simulated radio the sleeping modes need. */
function energyConfig(o: SimOptions): Pick<GuestNodeConfig, 'power' | 'report' | 'radio'> {
  const sleeping = o.power?.mode !== undefined && o.power.mode !== 'always-connected';
  return {
    ...(o.power ? { power: o.power } : {}),
    ...(o.report ? { report: o.report } : {}),
    ...(sleeping ? { radio: { joinMs: ESP32_POWER_MODEL.wifiJoinMs } } : {}),
  };
}

/** Each node's share of the plant (its line), cut once per line. */
function plantShares(spec: PlantSpec, nodes: number, seed: number): NodePlant[] {
  if (spec.nodes.length !== nodes) throw new Error(`the plant has ${spec.nodes.length} nodes, the run ${nodes}`);
  const byLine = new Map<string, ReturnType<typeof lineSlice>>();
  const plantSeed = (spec.seed ?? seed) >>> 0;
  return spec.nodes.map((n, i) => {
    let slice = byLine.get(n.line);
    if (!slice) byLine.set(n.line, (slice = lineSlice(spec, i)));
    return { spec: slice.spec, seed: plantSeed, node: slice.indices.nodes.indexOf(i), indices: slice.indices };
  });
}

/**
 * The fleet incidents module on the observer's readings, as a receiving side would run it
 * (pipewatch incidents): each node's first temperature channel is its reading, a reading with
 * the alert flag its node alert. Times are the readings' own, made simulated time from the
 * start (a synced reading carries wall time). Incidents go to onIncident as they are raised.
 */
function watchIncidents(o: SimOptions, observer: Observer, scheduler: Scheduler, deviceId: (i: number) => string) {
  const spec = o.plant!;
  const fleet = new Fleet(spec.nodes);
  const index = new Map<string, number>();
  for (let i = 0; i < o.nodes; i++) index.set(deviceId(i), i);
  const epoch = o.virtual ? VIRTUAL_EPOCH_MS : Date.now() - scheduler.now();
  const raised: Array<{ node: number; tMs: number }> = [];
  fleet.onIncident = (incident) => {
    raised.push({ node: fleet.indexOf(incident.node), tMs: incident.tMs });
    o.onIncident?.(incident, epoch + incident.tMs);
  };
  observer.onReading = (r) => {
    const i = index.get(r.dev);
    if (i !== undefined && r.unit === 'mC') {
      const t = r.sync ? r.ts - epoch : r.ts;
      if (r.ch === 0) fleet.reading(i, t, r.value);
      if (r.alert) fleet.alert(i, t);
    }
    o.onReading?.(r);
  };
  return {
    summary(untilMs: number): Partial<SimSummary> {
      // The leaks of the run are those that started in it; the scoring is docs/leaks.md's.
      const events = (spec.events ?? []).filter((e) => e.kind !== 'leak' || (e as LeakEvent).atMs < untilMs);
      const s = score({ ...spec, events }, raised, untilMs);
      return {
        leaksSimulated: s.leaks,
        leaksDetected: s.found,
        incidents: fleet.incidents,
        falseIncidents: s.falseDetections,
        medianDetectionDelayS: Number.isNaN(s.medianDelayS) ? null : Math.round(s.medianDelayS * 10) / 10,
      };
    },
  };
}

/** The slowest of the nodes' times (ms) in seconds, or null when a node has none. */
function slowest(times: Array<number | undefined>): number | null {
  let max = 0;
  for (const t of times) {
    if (t === undefined) return null;
    max = Math.max(max, t);
  }
  return Math.round(max / 100) / 10;
}

/**
 * The first runs of `--unprovisioned` nodes: a pseudo-terminal per node (its path to
 * onSerialPort), the Improv service of each (in Node, or in XS through the fleet), when the
 * Wi-Fi settings arrived, and the pacing of virtual time while any node waits.
 */
async function firstRuns(o: SimOptions, scheduler: Scheduler, deviceId: (i: number) => string) {
  if (o.shard) throw new StartupError('--unprovisioned runs every node in this process; leave out --shard');
  const ptys: Pty[] = [];
  try {
    for (let i = 0; i < o.nodes; i++) ptys.push(await Pty.open());
  } catch (error) {
    for (const pty of ptys) pty.close();
    throw new StartupError(`--unprovisioned needs a pseudo-terminal per node: ${oneLine(error)}`);
  }
  const runs: Array<{ receive(bytes: Uint8Array): void; close(): void } | undefined> = [];
  const joinAt: Array<number | undefined> = [];
  let waiting = o.nodes;
  let provisioned = 0;
  // Virtual time: while a node waits for its settings, the clock keeps to real time (held while
  // it is ahead, free to catch up when a loaded machine made it fall behind), so that the person
  // or client on the port sees the node live. Checked every 100 ms of simulated time.
  const paceToken = {};
  const virtualStart = scheduler.now();
  const realStart = performance.now();
  const pace = scheduler.virtual
    ? scheduler.set(() => {
        if (waiting === 0) return scheduler.clear(pace);
        const aheadMs = scheduler.now() - virtualStart - (performance.now() - realStart);
        if (aheadMs > 0) scheduler.begin(paceToken, aheadMs);
      }, 0, 100)
    : undefined;
  for (let i = 0; i < o.nodes; i++) o.onSerialPort?.(i, ptys[i]!.path);
  return {
    get provisioned() {
      return provisioned;
    },
    config(i: number): FirstRunConfig {
      return {
        ap: o.unprovisioned?.ap ?? SIM_ACCESS_POINT,
        baud: 115200,
        name: deviceId(i),
        chip: 'pipewatch-sim',
        version: '1.0.0',
        url: o.unprovisioned?.stationUrl ? `${o.unprovisioned.stationUrl}/node/${encodeURIComponent(deviceId(i))}` : undefined,
      };
    },
    joinAt: (i: number) => joinAt[i],
    /** Starts node i's first run with `open(hooks)`; `boot()` once it is provisioned (Node engine). */
    start(
      i: number,
      open: (hooks: FirstRunHooks) => { receive(bytes: Uint8Array): void; close(): void },
      boot: () => void,
    ): void {
      const pty = ptys[i]!;
      const run = open({
        onSerialOut: (bytes) => pty.write(bytes),
        onJoin: () => {
          joinAt[i] = scheduler.now();
        },
        onProvisioned: () => {
          waiting--;
          provisioned++;
          if (waiting === 0) scheduler.done(paceToken);
          try {
            boot();
          } catch (error) {
            o.onLog?.(i, 'error', `the node did not start after provisioning: ${oneLine(error)}`);
          }
        },
      });
      runs[i] = run;
      pty.onData = (bytes) => {
        run.receive(bytes);
        scheduler.poke();
      };
    },
    close(): void {
      if (pace !== undefined) scheduler.clear(pace);
      scheduler.done(paceToken);
      for (const run of runs) run?.close();
      for (const pty of ptys) pty.close();
    },
  };
}

/** The XS cost counters of a run (after the nodes started) per reading. */
function perReading(now: XsPool['counts'], start: XsPool['counts'], readings: number) {
  const per = (a: number, b: number) => (readings ? Math.round(((a - b) / readings) * 10) / 10 : 0);
  return {
    computronsPerReadingByEvent: {
      timers: Math.round(per(now.computrons.timer, start.computrons.timer)),
      sockets: Math.round(per(now.computrons.socket, start.computrons.socket)),
      other: Math.round(per(now.computrons.other, start.computrons.other)),
    },
    cranksPerReading: per(now.cranks, start.cranks),
    bridgeCallsPerReading: per(now.calls, start.calls),
  };
}
