/*
 * An observer subscribed at the broker, as a consumer of pipewatch data would be: decodes every
 * message strictly (firmware/uplink/decode.ts, the documented formats), counts the distinct
 * readings it received per device (de-duplicating by sequence number), the duplicates, the
 * backlog readings that came out of order, and the malformed messages, and reports each new
 * reading. Order: backlog batches (messages carrying several readings) must arrive oldest
 * first; alerts and the newest live readings overtake a backlog on purpose (docs/payload.md),
 * so they are not held to it.
 *
 * Health heartbeats and OTA status events (not readings) go to `fleet`, the fleet metrics of
 * docs/fleet.md, when one is given, timed by `clock` (the run's wall clock); a heartbeat that
 * does not check out is counted in `healthMalformed`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { ReadingKind } from '../firmware/store';
import { decodeMessage } from '../firmware/uplink/decode';
import type { FleetMetrics } from '../tools/fleet/metrics';
import { checkHeartbeat } from '../tools/station/ingest';
import { SeqSet } from './seq-set';

const unitOf: Record<number, string> = {
  [ReadingKind.milliCelsius]: 'mC',
  [ReadingKind.milliPercentRH]: 'mRH',
  [ReadingKind.pascal]: 'Pa',
};

export interface ObservedReading {
  dev: string;
  seq: number;
  ts: number;
  sync: boolean;
  ch: number;
  value: number;
  unit: string;
  alert: boolean;
  topic: string;
}

/** Where each shard of a fleet publishes its summary at the end of its run. */
export const SHARD_TOPIC = 'pipewatch-sim/shard/';

/** The broker could not be reached at start. */
export class BrokerUnreachable extends Error {}

export class Observer {
  readonly #client: MqttClient;
  readonly #seen = new Map<string, SeqSet>();
  readonly #lastBatchSeq = new Map<string, number>();
  delivered = 0;
  alerts = 0;
  duplicates = 0;
  outOfOrder = 0;
  malformed = 0;
  bytes = 0;
  messages = 0;
  onReading: ((reading: ObservedReading) => void) | undefined;
  fleet: FleetMetrics | undefined;
  clock: () => number = () => Date.now();
  /** Heartbeats received (each copy), their bytes, and those refused. */
  healthMessages = 0;
  healthBytes = 0;
  healthMalformed = 0;
  /** Distinct heartbeats received (resent copies once). */
  heartbeatsReceived = 0;
  /** Every distinct heartbeat received, parsed (for tests and benches; off unless set to an array). */
  heartbeats: Array<Record<string, unknown>> | undefined;
  /**
   * A shard of a fleet (`pipewatch sim --shard K/N`) counts only its own nodes' messages; the
   * others' (the other shards', arriving at the same subscription) are left out of every count.
   */
  only: ReadonlySet<string> | undefined;
  /** A shard's summary (`pipewatch sim --observe-only`); `retained` ones are from an earlier run. */
  onShardSummary: ((summary: unknown, retained: boolean) => void) | undefined;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload, packet) => {
      if (topic.startsWith(SHARD_TOPIC)) this.#onShard(payload, packet.retain);
      else this.#onMessage(topic, payload);
    });
  }

  /**
   * Connects, or rejects with a one-line reason (and leaves nothing running) when the broker
   * refuses or does not answer within `timeoutMs`: a broker that is down at start is refused,
   * not waited for.
   */
  /** `tls`: the CA to check an mqtts:// broker with, and the observer's client certificate. */
  static async connect(url: string, timeoutMs = 5000, tls?: { ca: string; certificate: string; key: string }): Promise<Observer> {
    const client = mqtt.connect(url, {
      clientId: `pipewatch-observer-${process.pid}-${Math.floor(Math.random() * 1e9)}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: timeoutMs,
      ...(tls ? { ca: tls.ca, cert: tls.certificate, key: tls.key } : {}),
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
        client.once('connect', () => (clearTimeout(timer), resolve()));
        client.once('error', (error) => (clearTimeout(timer), reject(error)));
        client.once('close', () => (clearTimeout(timer), reject(new Error('connection closed'))));
      });
    } catch (error) {
      await client.endAsync(true).catch(() => {});
      const e = error as NodeJS.ErrnoException;
      const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? String(e.message).split('\n')[0];
      throw new BrokerUnreachable(`cannot reach the broker ${url} (${why}); start it first, or leave out --broker to use the embedded one`);
    }
    // Once up, reconnect after a drop (an external broker restarted during a run).
    client.options.reconnectPeriod = 500;
    const observer = new Observer(client);
    await client.subscribeAsync(['pipewatch/+/readings', 'pipewatch/+/alerts', 'pipewatch/+/readings/bin', 'pipewatch/+/health', 'pipewatch/+/ota/status'], { qos: 1 });
    return observer;
  }

  /** Receives the shards' summaries from now on (subscribed before the shards start). */
  async watchShards(): Promise<void> {
    await this.#client.subscribeAsync(`${SHARD_TOPIC}+`, { qos: 1 });
  }

  /** Publishes this shard's summary for an observer of the whole fleet (QoS 1, not retained). */
  async publishShardSummary(shard: { index: number; count: number }, summary: unknown): Promise<void> {
    await this.#client.publishAsync(`${SHARD_TOPIC}${shard.index + 1}-of-${shard.count}`, JSON.stringify(summary), { qos: 1 });
  }

  #onShard(payload: Buffer, retained: boolean): void {
    let summary: unknown;
    try {
      summary = JSON.parse(payload.toString('utf8'));
    } catch {
      this.malformed++;
      return;
    }
    this.onShardSummary?.(summary, retained);
  }

  deliveredBy(dev: string): number {
    return this.#seen.get(dev)?.size ?? 0;
  }

  /** The runs of consecutive sequence numbers held for all devices: what de-duplication costs in memory. */
  get seqRuns(): number {
    let runs = 0;
    for (const seen of this.#seen.values()) runs += seen.runs;
    return runs;
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    if (this.only && !this.only.has(parts[1] ?? '')) return;
    if (parts.length === 3 && parts[2] === 'health') return this.#onHealth(parts[1]!, payload);
    if (parts.length === 4 && parts[2] === 'ota' && parts[3] === 'status') return this.#onOtaStatus(parts[1]!, payload);
    this.messages++;
    this.bytes += payload.length;
    const decoded = decodeMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
    if (decoded.error !== undefined) {
      this.malformed++;
      return;
    }
    const dev = decoded.dev;
    for (const r of decoded.readings) {
      let seen = this.#seen.get(dev);
      if (!seen) this.#seen.set(dev, (seen = new SeqSet()));
      if (!seen.add(r.seq)) {
        this.duplicates++;
        continue;
      }
      this.delivered++;
      if (r.alert) this.alerts++;
      if (decoded.readings.length > 1) {
        if (r.seq < (this.#lastBatchSeq.get(dev) ?? 0)) this.outOfOrder++;
        else this.#lastBatchSeq.set(dev, r.seq);
      }
      this.onReading?.({
        dev,
        seq: r.seq,
        ts: r.timeMs,
        sync: r.synced,
        ch: r.channel,
        value: r.value,
        unit: unitOf[r.kind] ?? 'v',
        alert: r.alert,
        topic,
      });
    }
  }

  #onHealth(dev: string, payload: Buffer): void {
    this.healthMessages++;
    this.healthBytes += payload.length;
    const checked = checkHeartbeat(dev, payload.toString('utf8'));
    if ('error' in checked) {
      this.healthMalformed++;
      return;
    }
    // A resent copy (DUP after a reconnect) is the same period: the metrics must see it once.
    const key = `${checked.hb.boot ?? -1}/${checked.hb.up_ms}/${checked.hb.ts}`;
    if (this.#lastHealth.get(dev) === key) return;
    this.#lastHealth.set(dev, key);
    this.heartbeatsReceived++;
    this.heartbeats?.push(checked.hb);
    this.fleet?.addHeartbeat(checked.hb, this.clock());
  }

  readonly #lastHealth = new Map<string, string>();

  #onOtaStatus(dev: string, payload: Buffer): void {
    let event: unknown;
    try {
      event = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (typeof event === 'object' && event !== null && typeof (event as { event?: unknown }).event === 'string') {
      this.fleet?.addOtaStatus(dev, event as { event: string }, this.clock());
    }
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}
