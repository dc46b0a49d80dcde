/*
 * Uplink figures for `npm run bench`, and the fleet harness the soak, interop and storm tests
 * share (`runFleet`): N real nodes (PipewatchNode, on Node or inside XS) in virtual time, their
 * flash cache on simulated NOR, reaching a real broker through the fault proxy, and a strict
 * consumer (test/portable/uplink-consumer.ts) subscribed at the broker directly.
 *
 * Figures (all measured in one run, nothing hard-coded):
 *   uplink.wireBytesPerReading.steady       bytes the node sends per reading, one sample at a time
 *   uplink.wireBytesPerReading.drainJson    ... while draining a backlog, JSON batches
 *   uplink.wireBytesPerReading.drainBinary  ... binary batches
 *   uplink.wireBytesPerReading.baseline     one JSON PUBLISH (QoS 1) per reading, ESPHome style,
 *                                           sent by MQTT.js: PUBLISH bytes from the client
 *   uplink.drain.readingsPerSecond          cache -> local mosquitto, Uplink on Node, real time
 *   uplink.drain.mqttjsReadingsPerSecond    MQTT.js publishing the same records, QoS 1, one per PUBLISH
 *   uplink.drain.ratio                      the first over the second
 *   uplink.xs.computronsPerReading          XS computrons per reading, sample -> flash -> PUBACK
 */
import mqtt, { type MqttClient } from 'mqtt';
import { performance } from 'node:perf_hooks';
import type { LogLevel } from '../../firmware/host';
import { PipewatchNode, type NodeStats } from '../../firmware/node';
import { FlashCache } from '../../firmware/cache/index';
import type { NewReading } from '../../firmware/store';
import { Uplink, type UplinkTuning } from '../../firmware/uplink/uplink';
import { createNodeHost, VIRTUAL_EPOCH_MS } from '../../hosts/node/host';
import { FlashStore } from '../../hosts/node/flash';
import { Scheduler } from '../../hosts/node/scheduler';
import { XsFleet } from '../../hosts/xs/parent';
import type { GuestNodeConfig } from '../../hosts/xs/guest';
import { createBoard } from '../../simulator/board';
import { FaultProxy } from '../../simulator/net/proxy';
import { PipeEnv } from '../../simulator/world';
import { Xoshiro128 } from '../../firmware/util/prng';
import { SimFlash } from '../../simulator/flash/index';
import { Consumer } from '../../test/portable/uplink-consumer';
import { startMosquitto } from '../../test/harness/mosquitto';

export const CONSUMER_TOPICS = ['pipewatch/+/readings', 'pipewatch/+/alerts', 'pipewatch/+/readings/bin'];

/** An MQTT.js subscriber feeding a Consumer; `ready()` resolves once it is subscribed again. */
export class ConsumerClient {
  readonly consumer = new Consumer();
  readonly #client: MqttClient;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload) => this.consumer.ingest(topic, new Uint8Array(payload)));
  }

  static async connect(url: string, options: mqtt.IClientOptions = {}): Promise<ConsumerClient> {
    const client = await mqtt.connectAsync(url, {
      clientId: `pipewatch-consumer-${process.pid}-${Math.floor(Math.random() * 1e9)}`,
      clean: true,
      reconnectPeriod: 100,
      ...options,
    });
    const c = new ConsumerClient(client);
    await client.subscribeAsync(CONSUMER_TOPICS, { qos: 1 });
    return c;
  }

  async ready(): Promise<void> {
    const client = this.#client;
    if (!client.connected) await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(CONSUMER_TOPICS, { qos: 1 });
  }

  /** Waits until no message arrived for `quietMs` (real time), at most `limitMs`. */
  async quiesce(quietMs = 150, limitMs = 5000): Promise<void> {
    const end = performance.now() + limitMs;
    let last = -1;
    while (performance.now() < end) {
      if (this.consumer.messages === last) return;
      last = this.consumer.messages;
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}

/**
 * The virtual-time scheduler with a shorter wait for answers (50 ms of real time instead of 250):
 * loopback brokers answer in a few ms, and a stalled link answers never, so the long grace only
 * slows stalls down. An answer later than that still arrives and is handled; only its virtual
 * timestamp moves.
 */
/** The fleet harness's scheduler: stalls and outages are frequent, so unanswered writes hold virtual time 50 ms. */
export class FleetScheduler extends Scheduler {
  constructor(options: { virtual: boolean }) {
    super({ ...options, answerGraceMs: 50 });
  }
}

export type FaultKind = 'drop' | 'reset' | 'stall' | 'outage' | 'restart';

export interface FleetOptions {
  engine: 'node' | 'xs';
  nodes: number;
  seed: number;
  durationMs: number;
  intervalMs?: number;
  /** Broker port on 127.0.0.1, and how to restart it (for 'restart' faults). */
  brokerPort: number;
  restartBroker?: () => Promise<void>;
  /** Faults at random times, chosen from `faultKinds`, gaps uniform in [minGapMs, maxGapMs]. */
  faults?: {
    kinds: FaultKind[];
    minGapMs: number;
    maxGapMs: number;
    /** Longest outage. */
    maxLengthMs: number;
    /**
     * Longest stall (default 4 min): long enough for the keepalive to find the link half-open;
     * in virtual time every write into a stalled link holds the clock for 250 ms of real time.
     */
    maxStallMs?: number;
  };
  /** Outages at fixed times (links dropped, connections reset), besides the random faults. */
  outages?: Array<{ atMs: number; forMs: number }>;
  /** Longest simulated time to drain after sampling stopped. */
  drainMs?: number;
  uplink?: UplinkTuning;
  keepaliveSec?: number;
}

export interface FleetResult {
  generated: number;
  stats: NodeStats[];
  consumer: Consumer;
  faults: Array<{ atMs: number; kind: FaultKind; lengthMs: number }>;
  simulatedMs: number;
  wallMs: number;
  computrons: number;
  resentReadings: number;
  reconnects: number;
  pending: number;
  bytesOut: number;
}

/** Runs a fleet through scripted faults in virtual time and returns what the consumer saw. */
export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  const wallStart = performance.now();
  const proxy = await FaultProxy.start({ target: { port: o.brokerPort } });
  const consumerClient = await ConsumerClient.connect(`mqtt://127.0.0.1:${o.brokerPort}`);
  const scheduler = new FleetScheduler({ virtual: true });
  const flashStore = new FlashStore();
  const world = { seed: o.seed, leakShare: 0 };
  const configFor = (i: number): GuestNodeConfig => ({
    deviceId: `soak-${o.seed}-${i + 1}`,
    broker: { address: '127.0.0.1', port: proxy.port, keepaliveSec: o.keepaliveSec ?? 60 },
    intervalMs: o.intervalMs ?? 10_000,
    sensors: [{ part: 'tmp117' }],
    nodeIndex: i,
    seed: (o.seed * 1000003 + i) >>> 0,
    world,
    flashPartitions: flashStore.partitionNames,
    uplink: o.uplink as GuestNodeConfig['uplink'],
  });
  let busy = 0;
  let fleet: XsFleet | undefined;
  const nodes: PipewatchNode[] = [];
  const faults: FleetResult['faults'] = [];
  let computronsAtStart = 0;
  try {
    if (o.engine === 'xs') {
      fleet = new XsFleet({
        scheduler,
        wallNow: () => VIRTUAL_EPOCH_MS + scheduler.now(),
        flash: (index, path) => flashStore.open(index, path),
      });
      await fleet.start();
      for (let i = 0; i < o.nodes; i++) await fleet.addNode(i, configFor(i));
      computronsAtStart = fleet.computrons;
    } else {
      for (let i = 0; i < o.nodes; i++) {
        const config = configFor(i);
        const board = createBoard(config.sensors, (position) => new PipeEnv(() => scheduler.now(), o.seed, i, position, world), config.seed);
        const host = createNodeHost({ scheduler, seed: config.seed, io: board.io, flash: flashStore.provider(i), log: (_l: LogLevel) => {} });
        const node = new PipewatchNode(host, config);
        node.start();
        nodes.push(node);
      }
    }
    if (o.faults) {
      const random = new Xoshiro128(o.seed ^ 0x5eed);
      const f = o.faults;
      let at = f.minGapMs + random.next() * (f.maxGapMs - f.minGapMs);
      // Every fault is over half an hour before sampling stops.
      while (at + f.maxLengthMs < o.durationMs - 1_800_000) {
        const kind = f.kinds[Math.floor(random.next() * f.kinds.length)]!;
        const longest = kind === 'stall' ? Math.min(f.maxStallMs ?? 240_000, f.maxLengthMs) : f.maxLengthMs;
        const lengthMs = kind === 'stall' || kind === 'outage' ? Math.round(30_000 + random.next() * (longest - 30_000)) : 0;
        faults.push({ atMs: Math.round(at), kind, lengthMs });
        at += lengthMs + f.minGapMs + random.next() * (f.maxGapMs - f.minGapMs);
      }
      for (const fault of faults) {
        scheduler.set(() => {
          switch (fault.kind) {
            case 'drop':
              proxy.drop();
              break;
            case 'reset':
              proxy.reset();
              break;
            case 'stall':
              proxy.stall();
              scheduler.set(() => proxy.unstall(), fault.lengthMs);
              break;
            case 'outage':
              busy++;
              void proxy.refuse('reset').finally(() => {
                proxy.drop();
                busy--;
              });
              scheduler.set(() => {
                busy++;
                void proxy.refuse(false).finally(() => busy--);
              }, fault.lengthMs);
              break;
            case 'restart':
              // Time stands still while the broker restarts; what it acknowledged reaches the
              // consumer first (a broker's own durability is not the node's to test).
              busy++;
              void (async () => {
                await consumerClient.quiesce();
                await o.restartBroker!();
                await consumerClient.ready();
              })().finally(() => busy--);
              break;
          }
        }, fault.atMs);
      }
    }
    for (const outage of o.outages ?? []) {
      faults.push({ atMs: outage.atMs, kind: 'outage', lengthMs: outage.forMs });
      scheduler.set(() => {
        busy++;
        void proxy.refuse('reset').finally(() => {
          proxy.drop();
          busy--;
        });
      }, outage.atMs);
      scheduler.set(() => {
        busy++;
        void proxy.refuse(false).finally(() => busy--);
      }, outage.atMs + outage.forMs);
    }
    const idle = () => busy === 0 && !fleet?.busy;
    await scheduler.runUntil(o.durationMs, idle);
    const stats = async (): Promise<NodeStats[]> => (fleet ? fleet.stats() : nodes.map((n) => n.stats()));
    if (fleet) for (let i = 0; i < o.nodes; i++) await fleet.stopSampling(i);
    else for (const node of nodes) node.stopSampling();
    const drainEnd = scheduler.now() + (o.drainMs ?? 3_600_000);
    while (scheduler.now() < drainEnd) {
      if ((await stats()).every((s) => s.pending === 0)) break;
      await scheduler.runUntil(scheduler.now() + 5000, idle);
    }
    const final = await stats();
    const generated = final.reduce((sum, s) => sum + s.readingsGenerated, 0);
    const deadline = performance.now() + 10_000;
    while (consumerClient.consumer.delivered < generated && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await consumerClient.quiesce(100);
    return {
      generated,
      stats: final,
      consumer: consumerClient.consumer,
      faults,
      simulatedMs: scheduler.now(),
      wallMs: performance.now() - wallStart,
      computrons: fleet ? fleet.computrons - computronsAtStart : 0,
      resentReadings: final.reduce((sum, s) => sum + (s.uplink.resentReadings ?? 0), 0),
      reconnects: final.reduce((sum, s) => sum + s.uplink.reconnects, 0),
      pending: final.reduce((sum, s) => sum + s.pending, 0),
      bytesOut: final.reduce((sum, s) => sum + s.bytesOut, 0),
    };
  } finally {
    scheduler.stop();
    if (fleet) {
      for (let i = 0; i < o.nodes; i++) await fleet.stopNode(i).catch(() => {});
      fleet.close();
    }
    for (const node of nodes) node.stop();
    await consumerClient.close();
    await proxy.close();
  }
}

function reading(i: number): NewReading {
  return { timeMs: VIRTUAL_EPOCH_MS + i * 10_000, synced: true, channel: 0, kind: 0, value: 61_234 + ((i * 37) % 900), alert: false };
}

function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A FlashCache on a fresh simulated NOR partition (the node's default geometry). */
function flashCache(): FlashCache {
  return new FlashCache(new SimFlash({ blockLength: 4096, blocks: 80, writeAlign: 4, eraseValue: 0xff }));
}

/** Bytes the node sends per reading: steady (one sample at a time) and draining a backlog. */
async function wireBytes(port: number): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const N = 600;
  /** Bytes the node sent in the run beyond those of connecting (CONNECT, online, SUBSCRIBE x2). */
  const run = async (format: 'json' | 'binary', backlog: boolean, count = N): Promise<number> => {
    const scheduler = new Scheduler({ virtual: true });
    const host = createNodeHost({ scheduler, seed: 1 });
    const store = flashCache();
    const uplink = new Uplink(host, store, { deviceId: 'bench-0001', address: '127.0.0.1', port, format });
    try {
      if (backlog) for (let i = 0; i < count; i++) store.append(reading(i));
      uplink.start();
      await scheduler.runUntil(scheduler.now() + 1000);
      if (backlog) {
        await scheduler.runUntil(scheduler.now() + 60_000);
      } else {
        for (let i = 0; i < count; i++) {
          const r = reading(i);
          uplink.noteStored(store.append(r), r);
          await scheduler.runUntil(scheduler.now() + 10_000);
        }
      }
      if (store.pending !== 0) throw new Error(`bench: ${store.pending} readings not delivered`);
      return uplink.client.stats.bytesOut;
    } finally {
      uplink.stop();
      scheduler.stop();
    }
  };
  const connectBytes = await run('json', true, 0);
  const perReading = async (format: 'json' | 'binary', backlog: boolean) => ((await run(format, backlog)) - connectBytes) / N;
  figures['uplink.wireBytesPerReading.steady'] = round(await perReading('json', false));
  figures['uplink.wireBytesPerReading.steadyBinary'] = round(await perReading('binary', false));
  figures['uplink.wireBytesPerReading.drainJson'] = round(await perReading('json', true));
  figures['uplink.wireBytesPerReading.drainBinary'] = round(await perReading('binary', true));
  // Baseline: one JSON PUBLISH per reading, QoS 1, from MQTT.js (as ESPHome does), counted at a proxy.
  const proxy = await FaultProxy.start({ target: { port } });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${proxy.port}`, { clientId: 'bench-baseline', clean: true, reconnectPeriod: 0 });
  try {
    const link = proxy.links()[0]!;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = link.bytesUp;
    for (let i = 0; i < N; i++) {
      const r = reading(i);
      const body = `{"dev":"bench-0001","seq":${i + 1},"ts":${r.timeMs},"sync":true,"ch":0,"mC":${r.value}}`;
      await client.publishAsync('pipewatch/bench-0001/readings', body, { qos: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    figures['uplink.wireBytesPerReading.baseline'] = round((link.bytesUp - start) / N);
  } finally {
    await client.endAsync(true);
    await proxy.close();
  }
  figures['uplink.wireBytesPerReading.drainJsonVsBaseline'] = round(
    figures['uplink.wireBytesPerReading.drainJson']! / figures['uplink.wireBytesPerReading.baseline']!,
    3,
  );
  figures['uplink.wireBytesPerReading.drainBinaryVsBaseline'] = round(
    figures['uplink.wireBytesPerReading.drainBinary']! / figures['uplink.wireBytesPerReading.baseline']!,
    3,
  );
  return figures;
}

/** Drain throughput in real time, from a flash cache to mosquitto, against MQTT.js with the same records. */
async function drainThroughput(port: number): Promise<Record<string, number>> {
  const N = 5000;
  const figures: Record<string, number> = {};
  const best = (key: string, value: number) => (figures[key] = Math.max(figures[key] ?? 0, value));
  // Best of three runs each (the first ones also warm up the JIT).
  for (const format of ['json', 'binary', 'json', 'binary', 'json', 'binary'] as const) {
    const scheduler = new Scheduler({ virtual: false });
    const host = createNodeHost({ scheduler, seed: 2 });
    const store = flashCache();
    for (let i = 0; i < N; i++) store.append(reading(i));
    const uplink = new Uplink(host, store, { deviceId: `bench-drain-${format}`, address: '127.0.0.1', port, format });
    const running = scheduler.runUntil(Number.MAX_SAFE_INTEGER);
    try {
      uplink.start();
      while (!uplink.connected) await new Promise((resolve) => setTimeout(resolve, 1));
      const t0 = performance.now();
      while (store.pending > 0) await new Promise((resolve) => setImmediate(resolve));
      const seconds = (performance.now() - t0) / 1000;
      best(`uplink.drain.${format}.readingsPerSecond`, Math.round(N / seconds));
    } finally {
      uplink.stop();
      scheduler.stop();
      await running;
    }
  }
  const records = Array.from({ length: N }, (_, i) => {
    const r = reading(i);
    return `{"dev":"bench-mqttjs","seq":${i + 1},"ts":${r.timeMs},"sync":true,"ch":0,"mC":${r.value}}`;
  });
  for (let round = 0; round < 3; round++) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-mqttjs', clean: true, reconnectPeriod: 0 });
    try {
      const t0 = performance.now();
      await Promise.all(records.map((body) => client.publishAsync('pipewatch/bench-mqttjs/readings', body, { qos: 1 })));
      best('uplink.drain.mqttjsReadingsPerSecond', Math.round(N / ((performance.now() - t0) / 1000)));
    } finally {
      await client.endAsync(true);
    }
  }
  figures['uplink.drain.ratio'] = round(figures['uplink.drain.json.readingsPerSecond']! / figures['uplink.drain.mqttjsReadingsPerSecond']!, 2);
  figures['uplink.drain.binaryRatio'] = round(figures['uplink.drain.binary.readingsPerSecond']! / figures['uplink.drain.mqttjsReadingsPerSecond']!, 2);
  return figures;
}

/** XS computrons per reading through the whole path (sample, flash cache, encode, MQTT, PUBACK, acknowledge). */
async function xsComputrons(port: number): Promise<Record<string, number>> {
  const steady = await runFleet({ engine: 'xs', nodes: 1, seed: 21, durationMs: 2 * 3_600_000, intervalMs: 10_000, brokerPort: port });
  const drain = await runFleet({
    engine: 'xs',
    nodes: 1,
    seed: 22,
    durationMs: 4 * 3_600_000,
    intervalMs: 10_000,
    brokerPort: port,
    outages: [{ atMs: 600_000, forMs: 3 * 3_600_000 }],
  });
  for (const r of [steady, drain]) {
    if (r.consumer.delivered !== r.generated) throw new Error(`bench: XS run lost ${r.generated - r.consumer.delivered} readings`);
  }
  return {
    'uplink.xs.computronsPerReading.steady': Math.round(steady.computrons / steady.generated),
    'uplink.xs.computronsPerReading.withOutage': Math.round(drain.computrons / drain.generated),
    'uplink.xs.wireBytesPerReading.withOutage': round(drain.bytesOut / drain.generated),
  };
}

export async function bench(): Promise<Record<string, number>> {
  const broker = await startMosquitto();
  try {
    return {
      ...(await wireBytes(broker.port)),
      ...(await drainThroughput(broker.port)),
      ...(await xsComputrons(broker.port)),
    };
  } finally {
    await broker.stop();
  }
}
