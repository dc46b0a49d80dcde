/*
 * The simulator's embedded MQTT broker: aedes, by default on 127.0.0.1 and a free port
 * (`pipewatch sim --broker-port`, `--broker-listen`). It has no authentication.
 *
 * Configured for fleets of thousands of nodes on one broker (issue 19):
 * - No limit on concurrent deliveries (`concurrency`). Over aedes's default of 100 its emitter
 *   (mqemitter) queues each further publish, and when a delivery ends it runs the next queued one
 *   inside that delivery's callback: a run of queued publishes that complete at once (no
 *   subscriber, like the `$SYS` notices and a node's retained status) nests one call per publish,
 *   and a burst of thousands (1,000 nodes connecting or publishing at one instant while the
 *   observer's QoS 1 deliveries are in flight) overflowed the stack. Unlimited, a publish is
 *   delivered at once; the queue bounded nothing anyway (it grows without limit).
 * - Retained messages by topic (`indexRetained`): aedes's memory persistence tests every
 *   retained message against each subscription made, so with a retained status per node the
 *   fleet's subscriptions cost nodes x nodes topic matches (10,000 nodes: 3 x 10^8, minutes of
 *   the broker's time during which no node was answered).
 */
import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** The aedes instance (its 'client' and 'clientDisconnect' events are the link's record). */
  aedes: Aedes;
  close(): Promise<void>;
}

/** Loopback addresses: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost';
}

export async function startEmbeddedBroker(port = 0, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({ concurrency: UNLIMITED_DELIVERIES });
  indexRetained(broker.persistence as unknown as RetainedStore);
  // noDelay: a PUBACK goes out at once instead of waiting (Nagle) for the node's next packet.
  const server: Server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      broker.close(() => {});
      reject(error);
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('broker: no TCP address');
  // Clients on this machine reach a wildcard address through loopback.
  const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `mqtt://${local}:${address.port}`,
    port: address.port,
    aedes: broker,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close(() => {});
        // connections still open keep server.close() waiting: aedes closes its clients above
      }),
  };
}

/** aedes's `concurrency` meaning "no limit": above any number of deliveries in flight (its emitter has no 0 for that through aedes). */
export const UNLIMITED_DELIVERIES = 2 ** 30;

/** What aedes asks of its persistence about retained messages (aedes lib/handlers/subscribe.js, aedes.js storeRetained). */
interface RetainedPacket {
  topic: string;
  payload: Buffer | Uint8Array;
}
interface RetainedStore {
  storeRetained(packet: RetainedPacket): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

/**
 * Replaces the retained-message part of aedes's memory persistence (aedes-persistence
 * asyncPersistence.js) with the same store keyed by topic: a subscription without wildcards
 * (every node's own topics) finds its retained message by one lookup; one with `+` or `#` is
 * still matched against every retained message, as before. Same semantics: a message with an
 * empty payload clears the topic's retained message; each packet is stored as a copy.
 */
export function indexRetained(store: RetainedStore): void {
  const retained = new Map<string, RetainedPacket>();
  store.storeRetained = async (packet) => {
    if (packet.payload.length === 0) retained.delete(packet.topic);
    else retained.set(packet.topic, { ...packet });
  };
  function* byPattern(pattern: string): Generator<RetainedPacket> {
    if (!pattern.includes('+') && !pattern.includes('#')) {
      const packet = retained.get(pattern);
      if (packet) yield packet;
      return;
    }
    const levels = pattern.split('/');
    for (const [topic, packet] of retained) if (topicMatches(levels, topic.split('/'))) yield packet;
  }
  store.createRetainedStream = (pattern) => Readable.from(byPattern(pattern));
  store.createRetainedStreamCombi = (patterns) =>
    Readable.from(
      (function* () {
        for (const pattern of patterns) yield* byPattern(pattern);
      })(),
    );
}

/**
 * MQTT topic filter matching as aedes's matcher (qlobber, `+` one level, `#` this level and
 * every one below, empty levels matched like any other): `a/+` matches `a/b` and `a/`, `a/#`
 * matches `a`, `a/b` and `a/b/c`.
 */
export function topicMatches(filter: readonly string[], topic: readonly string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i]!;
    if (level === '#') return true;
    if (i >= topic.length) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}
