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
import { newReading, type NewReading } from '../../firmware/store';
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
export class FleetScheduler extends Scheduler {
  override awaitAnswer(token: object): void {
    this.begin(token, 50);
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

export async function bench(): Promise<Record<string, number>> {
  return {};
}
