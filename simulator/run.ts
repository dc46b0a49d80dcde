/*
 * The simulator runner (`pipewatch sim`): N nodes running the firmware on the XS engine or on
 * Node, each with a simulated board sensing the simulated plant, publishing to an embedded
 * aedes broker (or any broker), while an observer subscribed at the broker counts what arrived.
 */
import { performance } from 'node:perf_hooks';
import type { LogLevel } from '../firmware/host';
import { PipewatchNode, type NodeStats } from '../firmware/node';
import type { SensorConfig } from '../firmware/sensors/registry';
import { FlashStore } from '../hosts/node/flash';
import { createNodeHost, VIRTUAL_EPOCH_MS } from '../hosts/node/host';
import { Scheduler } from '../hosts/node/scheduler';
import { XsFleet } from '../hosts/xs/parent';
import type { GuestNodeConfig } from '../hosts/xs/guest';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker';
import { createBoard } from './board';
import { FaultProxy } from './net/proxy';
import { Observer, type ObservedReading } from './observer';
import { PipeEnv, type WorldOptions } from './world';

export interface SimOptions {
  nodes: number;
  engine: 'xs' | 'node';
  /** Simulated run length in ms; Infinity runs until stop() (Ctrl-C). */
  durationMs: number;
  virtual: boolean;
  seed: number;
  /** mqtt://host:port of an external broker; undefined starts the embedded one. */
  broker?: string;
  intervalMs: number;
  sensors: SensorConfig[];
  /** Longest simulated time given to the nodes to drain after sampling stopped. */
  drainMs: number;
  leakShare: number;
  /** Network outages: from `atMs` for `forMs`, nodes cannot reach the broker (connections refused, links dropped). */
  outages?: Array<{ atMs: number; forMs: number }>;
  onReading?: (reading: ObservedReading) => void;
  onLog?: (node: number, level: LogLevel, message: string) => void;
  onStatus?: (message: string) => void;
}

export interface SimSummary {
  engine: 'xs' | 'node';
  nodes: number;
  virtual: boolean;
  seed: number;
  broker: string;
  simulatedSeconds: number;
  wallSeconds: number;
  readingsGenerated: number;
  readingsDelivered: number;
  readingsLost: number;
  duplicates: number;
  outOfOrder: number;
  malformed: number;
  reconnects: number;
  /** Leak alerts the nodes raised, and the alerts the observer received. */
  alertsRaised: number;
  alertsDelivered: number;
  sensorFaults: number;
  droppedByStore: number;
  bytesOnWirePerReading: number;
  xs?: { computronsPerReading: number; heapBytesPerNode: number; computrons: number };
}

export function parseBroker(url: string): { address: string; port: number } {
  const match = /^mqtt:\/\/([^/:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(url);
  if (!match) throw new Error(`--broker must look like mqtt://host:port, got "${url}"`);
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`--broker port out of range: ${port}`);
  return { address: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A running simulation; `done` resolves with the summary. */
export interface Simulation {
  done: Promise<SimSummary>;
  /** Ends the run early (Ctrl-C): stops sampling, drains, summarises. */
  stop(): void;
}

export function startSimulation(o: SimOptions): Simulation {
  let stopRequested = false;
  let scheduler: Scheduler | undefined;
  const done = run(o, (s) => (scheduler = s), () => stopRequested);
  return {
    done,
    stop() {
      stopRequested = true;
      scheduler?.interrupt();
    },
  };
}

async function run(o: SimOptions, expose: (s: Scheduler) => void, stopRequested: () => boolean): Promise<SimSummary> {
  const wallStart = performance.now();
  let embedded: EmbeddedBroker | undefined;
  const brokerUrl = o.broker ?? (embedded = await startEmbeddedBroker()).url;
  let broker = parseBroker(brokerUrl);
  // With outages, the nodes reach the broker through a fault proxy; the observer does not.
  let proxy: FaultProxy | undefined;
  if (o.outages?.length) {
    proxy = await FaultProxy.start({ target: { host: broker.address, port: broker.port } });
    broker = { address: '127.0.0.1', port: proxy.port };
  }
  const observer = await Observer.connect(brokerUrl);
  observer.onReading = o.onReading;
  const scheduler = new Scheduler({ virtual: o.virtual });
  expose(scheduler);
  const world: WorldOptions = { seed: o.seed, leakShare: o.leakShare };
  const deviceId = (i: number) => `node-${String(i + 1).padStart(o.nodes > 999 ? 4 : 3, '0')}`;
  const configFor = (i: number): GuestNodeConfig => ({
    deviceId: deviceId(i),
    broker,
    intervalMs: o.intervalMs,
    sensors: o.sensors,
    nodeIndex: i,
    seed: (o.seed * 1000003 + i) >>> 0,
    world,
    flashPartitions: flashStore.partitionNames,
  });
  const flashStore = new FlashStore();

  let fleet: XsFleet | undefined;
  const nodes: PipewatchNode[] = [];
  let computronsAtStart = 0;
  let heapBytesPerNode = 0;
  try {
    if (o.engine === 'xs') {
      fleet = new XsFleet({
        scheduler,
        wallNow: () => (o.virtual ? VIRTUAL_EPOCH_MS + scheduler.now() : Date.now()),
        log: o.onLog,
        flash: (index, path) => flashStore.open(index, path),
      });
      await fleet.start();
      for (let i = 0; i < o.nodes; i++) await fleet.addNode(i, configFor(i));
      computronsAtStart = fleet.computrons;
    } else {
      for (let i = 0; i < o.nodes; i++) {
        const config = configFor(i);
        const board = createBoard(
          config.sensors,
          (position) => new PipeEnv(() => scheduler.now(), o.seed, i, position, world),
          config.seed,
        );
        const host = createNodeHost({
          scheduler,
          seed: config.seed,
          io: board.io,
          flash: flashStore.provider(i),
          log: (level, message) => o.onLog?.(i, level, message),
        });
        const node = new PipewatchNode(host, { ...config, sensors: board.sensors });
        node.start();
        nodes.push(node);
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
      `${o.nodes} node(s) on ${o.engine === 'xs' ? 'the XS engine' : 'Node'}, ${o.virtual ? 'virtual' : 'real'} time, broker ${brokerUrl}`,
    );

    const idle = () => !fleet?.busy;
    if (!stopRequested()) await scheduler.runUntil(o.durationMs, idle);
    const sampledUntil = scheduler.now();

    if (fleet) {
      heapBytesPerNode = XsFleet.heapBytes(await fleet.measure(), fleet.baseline!) / o.nodes;
      for (let i = 0; i < o.nodes; i++) await fleet.stopSampling(i);
    } else {
      for (const node of nodes) node.stopSampling();
    }

    const stats = async (): Promise<NodeStats[]> => (fleet ? fleet.stats() : nodes.map((n) => n.stats()));
    // Drain: give the nodes simulated time to deliver what they hold, then let the observer catch up.
    const drainEnd = scheduler.now() + (stopRequested() ? Math.min(o.drainMs, 3000) : o.drainMs);
    while (scheduler.now() < drainEnd) {
      const pending = (await stats()).reduce((sum, s) => sum + s.pending, 0);
      if (pending === 0) break;
      await scheduler.runUntil(Math.min(drainEnd, scheduler.now() + 1000), idle);
    }
    let final = await stats();
    const generated = final.reduce((sum, s) => sum + s.readingsGenerated, 0);
    const deadline = performance.now() + 5000;
    while (observer.delivered < generated && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    final = await stats();
    const computrons = fleet ? fleet.computrons - computronsAtStart : 0;
    const bytesOut = final.reduce((sum, s) => sum + s.bytesOut, 0);
    const summary: SimSummary = {
      engine: o.engine,
      nodes: o.nodes,
      virtual: o.virtual,
      seed: o.seed,
      broker: brokerUrl,
      simulatedSeconds: Math.round(sampledUntil / 10) / 100,
      wallSeconds: Math.round((performance.now() - wallStart) / 10) / 100,
      readingsGenerated: generated,
      readingsDelivered: observer.delivered,
      readingsLost: Math.max(0, generated - observer.delivered),
      duplicates: observer.duplicates,
      outOfOrder: observer.outOfOrder,
      malformed: observer.malformed,
      reconnects: final.reduce((sum, s) => sum + s.uplink.reconnects, 0),
      alertsRaised: final.reduce((sum, s) => sum + s.alerts, 0),
      alertsDelivered: observer.alerts,
      sensorFaults: final.reduce((sum, s) => sum + s.sensorFaults, 0),
      droppedByStore: final.reduce((sum, s) => sum + s.dropped, 0),
      bytesOnWirePerReading: generated ? Math.round((bytesOut / generated) * 10) / 10 : 0,
    };
    if (fleet) {
      summary.xs = {
        computronsPerReading: generated ? Math.round(computrons / generated) : 0,
        heapBytesPerNode: Math.round(heapBytesPerNode),
        computrons,
      };
    }
    return summary;
  } finally {
    scheduler.stop();
    if (fleet) {
      for (let i = 0; i < o.nodes; i++) await fleet.stopNode(i).catch(() => {});
      fleet.close();
    }
    for (const node of nodes) node.stop();
    await observer.close();
    await proxy?.close();
    await embedded?.close();
  }
}
