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
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /**
   * The aedes instance (its 'client' and 'clientDisconnect' events are the link's record);
   * absent when the broker runs in its own process (startBrokerProcess).
   */
  aedes?: Aedes;
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  /**
   * false: the broker does not end a connection that was silent for 1.5 keep-alive periods of
   * real time ([MQTT-3.1.2-24]). For virtual-time runs, whose nodes keep their keep-alive in
   * virtual time: a slow start (10,000 nodes booting) left early nodes silent for over 90 real
   * seconds and the broker cut them ("keep alive timeout"). The nodes' own half-open detection
   * (no PINGRESP) is unchanged. Default true.
   */
  realTimeKeepalive?: boolean;
}

/** Loopback addresses: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost';
}

export async function startEmbeddedBroker(port = 0, host = '127.0.0.1', options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({
    concurrency: UNLIMITED_DELIVERIES,
    ...(options.realTimeKeepalive === false
      ? {
          // aedes arms its keep-alive timer from the CONNECT's keepalive (handlers/connect.js setKeepAlive).
          preConnect: (_client: unknown, packet: { keepalive?: number }, done: (error: Error | null, ok: boolean) => void) => {
            packet.keepalive = 0;
            done(null, true);
          },
        }
      : {}),
  });
  indexRetained((broker as unknown as { persistence: RetainedStore }).persistence);
  // noDelay: a PUBACK goes out at once instead of waiting (Nagle) for the node's next packet.
  const server: Server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      broker.close(() => {});
      reject(error);
    });
    // A listen queue for a fleet connecting at once (the kernel caps it at net.core.somaxconn).
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
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

/** Connections waiting to be accepted: every node of the largest fleet (10,000) may connect at one instant. */
const LISTEN_BACKLOG = 10_000;

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

/**
 * The embedded broker in a child process of its own (simulator/broker-process.ts), for fleets
 * too large for one process: every node's connection takes a descriptor at each end, and 10,000
 * nodes with the broker in the simulator's process need more than 20,000 (the limit here: the
 * broker's accept failed with EMFILE and reset connections). It also puts the broker on a core
 * of its own. The same aedes, options and TCP; no `aedes` instance in this process.
 */
export async function startBrokerProcess(port = 0, host = '127.0.0.1', options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const child = fork(new URL('./broker-process.ts', import.meta.url), [String(port), host, options.realTimeKeepalive === false ? 'virtual' : 'real'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    child.once('message', (m: { url?: string; port?: number; error?: string; code?: string }) => {
      if (m.url && m.port) resolve({ url: m.url, port: m.port });
      else reject(Object.assign(new Error(m.error ?? 'the broker process did not start'), { code: m.code }));
    });
    child.once('exit', (code) => reject(new Error(`the broker process ended (exit ${code}) before it listened`)));
  });
  return {
    ...started,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.send('close');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** This process's limit on open descriptors (Linux: /proc/self/limits), or undefined. */
export function descriptorLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!line) return undefined;
    return line[1] === 'unlimited' ? Infinity : Number(line[1]);
  } catch {
    return undefined;
  }
}
