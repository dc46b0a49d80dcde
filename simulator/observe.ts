/*
 * `pipewatch sim --observe-only`: the observer of a fleet that runs as shards (`--shard K/N`),
 * in other processes or on other machines, against one broker. It runs no node: it counts what
 * every node delivered at the broker (the same strict decoder and de-duplication as a one-process
 * run) and sums what the shards report of themselves at their end (readings generated, still
 * held, reconnects, alerts raised), so the whole fleet's summary is exact. Start it before the
 * shards: its subscription is not persistent, so what is published before it subscribes is not
 * counted.
 */
import { performance } from 'node:perf_hooks';
import { BrokerUnreachable, Observer } from './observer';
import { StartupError, type SimSummary } from './run';

export interface ObserveOptions {
  /** Nodes in the whole fleet: the observation ends once shard summaries cover them all. */
  nodes: number;
  broker: string;
  /** Longest real time to wait for the shards (Infinity: until stop()). */
  timeoutMs: number;
  tls?: { ca: string; certificate: string; key: string };
  onStatus?: (message: string) => void;
}

export interface FleetSummary {
  mode: 'observe-only';
  nodes: number;
  /** Nodes covered by the shard summaries that arrived, and those summaries' "K/N". */
  nodesReported: number;
  shards: string[];
  complete: boolean;
  broker: string;
  wallSeconds: number;
  readingsGenerated: number;
  readingsDelivered: number;
  pendingOnNodes: number;
  readingsLost: number;
  duplicates: number;
  outOfOrder: number;
  malformed: number;
  reconnects: number;
  alertsRaised: number;
  alertsDelivered: number;
}

export interface Observation {
  done: Promise<FleetSummary>;
  ready: Promise<void>;
  stop(): void;
}

const SUMMED = ['readingsGenerated', 'pendingOnNodes', 'reconnects', 'alertsRaised'] as const;

export function observeFleet(o: ObserveOptions): Observation {
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = (async (): Promise<FleetSummary> => {
    const wallStart = performance.now();
    const observer = await Observer.connect(o.broker, 5000, o.tls).catch((error: Error) => {
      throw error instanceof BrokerUnreachable ? new StartupError(error.message) : error;
    });
    try {
      const shards = new Map<string, SimSummary>();
      let covered = 0;
      let wake: () => void = () => {};
      observer.onShardSummary = (raw, retained) => {
        const s = raw as Partial<SimSummary>;
        // A retained summary is an earlier run's; one that is not a shard's summary is malformed.
        if (retained) return;
        if (typeof s?.shard !== 'string' || s.fleetNodes !== o.nodes || typeof s.nodes !== 'number' || SUMMED.some((k) => typeof s[k] !== 'number')) {
          observer.malformed++;
          return;
        }
        if (!shards.has(s.shard)) covered += s.nodes;
        shards.set(s.shard, s as SimSummary);
        o.onStatus?.(`shard ${s.shard}: ${s.nodes} node(s), ${s.readingsGenerated} readings generated (${covered} of ${o.nodes} nodes reported)`);
        wake();
      };
      await observer.watchShards();
      markReady();
      const deadline = performance.now() + o.timeoutMs;
      let interrupted = false;
      void stopped.then(() => {
        interrupted = true;
        wake();
      });
      const sum = (key: (typeof SUMMED)[number]) => [...shards.values()].reduce((n, s) => n + s[key], 0);
      // Until every node is reported, then until what was generated and is not held has arrived.
      while (!interrupted && performance.now() < deadline && covered < o.nodes) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(1000, Math.max(1, deadline - performance.now())));
        });
      }
      const catchUp = performance.now() + 5000;
      while (observer.delivered < sum('readingsGenerated') - sum('pendingOnNodes') && performance.now() < catchUp) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const generated = sum('readingsGenerated');
      const pending = sum('pendingOnNodes');
      return {
        mode: 'observe-only',
        nodes: o.nodes,
        nodesReported: covered,
        shards: [...shards.keys()].sort(),
        complete: covered === o.nodes,
        broker: o.broker,
        wallSeconds: Math.round((performance.now() - wallStart) / 10) / 100,
        readingsGenerated: generated,
        readingsDelivered: observer.delivered,
        pendingOnNodes: pending,
        readingsLost: Math.max(0, generated - observer.delivered - pending),
        duplicates: observer.duplicates,
        outOfOrder: observer.outOfOrder,
        malformed: observer.malformed,
        reconnects: sum('reconnects'),
        alertsRaised: sum('alertsRaised'),
        alertsDelivered: observer.alerts,
      };
    } finally {
      await observer.close();
    }
  })();
  done.catch(() => {});
  return { done, ready, stop: () => stop() };
}
