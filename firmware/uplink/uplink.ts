/*
 * Store-and-forward uplink: takes the oldest unacknowledged readings from the store, publishes
 * them with QoS 1 within a bounded in-flight window, and acknowledges each in the store only
 * after the broker's PUBACK. After a reconnect (persistent session) the in-flight publishes are
 * sent again with DUP and the same packet ids. Reconnects wait a full-jitter backoff.
 *
 * The in-flight table, the payload buffer and the peek buffer are allocated once.
 */
import type { Host, TLSOptions } from '../host';
import { newReading, type Reading, type ReadingStore } from '../store';
import { asciiBytes } from './ascii';
import { MqttClient } from './client';
import { ReadingEncoder } from './payload';
import {
  createBackoffState,
  nextBackoffDelay,
  noteConnected,
  noteDisconnected,
  type BackoffState,
} from './backoff';

export interface UplinkOptions {
  deviceId: string;
  address: string;
  port: number;
  secure?: TLSOptions['secure'];
  username?: string;
  password?: string;
  keepaliveSec?: number;
  /** Publishes awaiting PUBACK at once. */
  window?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** A connection must stay up this long before the backoff resets. */
  stableMs?: number;
  connectTimeoutMs?: number;
}

export interface UplinkStats {
  published: number;
  acked: number;
  resent: number;
  reconnects: number;
  connectFailures: number;
  unexpectedAcks: number;
  lastCloseReason: string;
}

export class Uplink {
  readonly #host: Host;
  readonly #store: ReadingStore;
  readonly #client: MqttClient;
  readonly #encoder: ReadingEncoder;
  readonly #statusTopic: Uint8Array;
  readonly #online: Uint8Array;
  readonly #window: number;
  /** In-flight slots: packet id (0 = free) and the sequence number it carries. */
  readonly #ids: Uint16Array;
  readonly #seqs: Float64Array;
  #inflight = 0;
  #nextId = 1;
  readonly #peek: Reading[];
  readonly #backoff: BackoffState;
  readonly #stableMs: number;
  #retryTimer: number | undefined;
  #running = false;
  #everConnected = false;
  readonly stats: UplinkStats = {
    published: 0,
    acked: 0,
    resent: 0,
    reconnects: 0,
    connectFailures: 0,
    unexpectedAcks: 0,
    lastCloseReason: '',
  };

  constructor(host: Host, store: ReadingStore, o: UplinkOptions) {
    this.#host = host;
    this.#store = store;
    this.#window = o.window ?? 8;
    this.#ids = new Uint16Array(this.#window);
    this.#seqs = new Float64Array(this.#window);
    this.#peek = [];
    for (let i = 0; i < this.#window * 2; i++) this.#peek.push(newReading());
    this.#encoder = new ReadingEncoder(o.deviceId);
    this.#statusTopic = asciiBytes(`pipewatch/${o.deviceId}/status`);
    this.#online = asciiBytes('online');
    this.#backoff = createBackoffState({ baseMs: o.backoffBaseMs ?? 1000, capMs: o.backoffCapMs ?? 300_000 });
    this.#stableMs = o.stableMs ?? 60_000;
    this.#client = new MqttClient(
      host,
      {
        address: o.address,
        port: o.port,
        secure: o.secure,
        clientId: o.deviceId,
        keepaliveSec: o.keepaliveSec ?? 60,
        cleanSession: false,
        username: o.username,
        password: o.password,
        will: { topic: `pipewatch/${o.deviceId}/status`, payload: 'offline', retain: true },
        maxInboundBytes: 1024,
        txBufferBytes: 512,
        connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
      },
      {
        onConnected: () => this.#onConnected(),
        onPuback: (id) => this.#onPuback(id),
        onSuback: () => {},
        onMessage: () => {},
        onClosed: (reason) => this.#onClosed(reason),
      },
    );
  }

  get client(): MqttClient {
    return this.#client;
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  get inflight(): number {
    return this.#inflight;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#client.open();
  }

  /** Stops publishing and closes the connection; in-flight readings stay unacknowledged in the store. */
  stop(): void {
    this.#running = false;
    this.#host.timers.clear(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#client.close();
  }

  /** Called after the store received a reading: publishes if the window has room. */
  kick(): void {
    if (this.#client.connected) this.#pump();
  }

  #onConnected(): void {
    noteConnected(this.#backoff, this.#host.clock.monotonic.now());
    if (this.#everConnected) this.stats.reconnects++;
    this.#everConnected = true;
    this.#client.publish(this.#statusTopic, this.#online, this.#online.length, 0, 0, false, true);
    this.#resendInflight();
    this.#pump();
  }

  #onClosed(reason: string): void {
    this.stats.lastCloseReason = reason;
    if (!this.#running) return;
    const now = this.#host.clock.monotonic.now();
    noteDisconnected(this.#backoff, now, this.#stableMs);
    if (reason === 'socket' || reason === 'timeout' || reason.startsWith('refused')) this.stats.connectFailures++;
    const delay = nextBackoffDelay(this.#backoff, this.#host.random.next());
    this.#retryTimer = this.#host.timers.set(() => {
      this.#retryTimer = undefined;
      if (this.#running) this.#client.open();
    }, delay);
  }

  #onPuback(id: number): void {
    for (let i = 0; i < this.#window; i++) {
      if (this.#ids[i] === id) {
        this.#ids[i] = 0;
        this.#inflight--;
        this.stats.acked++;
        this.#store.acknowledge(this.#seqs[i]!);
        this.#pump();
        return;
      }
    }
    // A PUBACK for nothing in flight: counted, not fatal [MQTT-4.3.2].
    this.stats.unexpectedAcks++;
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      let used = false;
      for (let i = 0; i < this.#window; i++) if (this.#ids[i] === id) used = true;
      if (!used) return id;
    }
  }

  #isInflight(seq: number): boolean {
    for (let i = 0; i < this.#window; i++) if (this.#ids[i] !== 0 && this.#seqs[i] === seq) return true;
    return false;
  }

  #resendInflight(): void {
    if (this.#inflight === 0) return;
    const n = this.#store.peek(this.#peek, this.#peek.length);
    for (let i = 0; i < this.#window; i++) {
      if (this.#ids[i] === 0) continue;
      let reading: Reading | undefined;
      for (let k = 0; k < n; k++) if (this.#peek[k]!.seq === this.#seqs[i]) reading = this.#peek[k];
      if (!reading) {
        // Dropped from the store while in flight (store full): nothing left to resend.
        this.#ids[i] = 0;
        this.#inflight--;
        continue;
      }
      if (this.#send(reading, this.#ids[i]!, true)) this.stats.resent++;
    }
  }

  #pump(): void {
    while (this.#inflight < this.#window && this.#client.connected) {
      const n = this.#store.peek(this.#peek, Math.min(this.#peek.length, this.#inflight + 1));
      let next: Reading | undefined;
      for (let k = 0; k < n; k++) {
        if (!this.#isInflight(this.#peek[k]!.seq)) {
          next = this.#peek[k];
          break;
        }
      }
      if (!next) return;
      let slot = 0;
      while (this.#ids[slot] !== 0) slot++;
      const id = this.#allocateId();
      if (!this.#send(next, id, false)) return;
      this.#ids[slot] = id;
      this.#seqs[slot] = next.seq;
      this.#inflight++;
      this.stats.published++;
    }
  }

  #send(r: Reading, id: number, dup: boolean): boolean {
    const length = this.#encoder.encode(r);
    if (length === 0) return false;
    const topic = r.alert ? this.#encoder.alertsTopic : this.#encoder.readingsTopic;
    return this.#client.publish(topic, this.#encoder.out.bytes, length, 1, id, dup, false);
  }
}
