/*
 * An observer subscribed at the broker, as a consumer of pipewatch data would be: counts the
 * distinct readings it received per device (de-duplicating by sequence number) and the
 * duplicates, checks each payload's shape, and reports each new reading.
 */
import mqtt, { type MqttClient } from 'mqtt';

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

export class Observer {
  readonly #client: MqttClient;
  readonly #seen = new Map<string, Set<number>>();
  readonly #lastSeq = new Map<string, number>();
  delivered = 0;
  duplicates = 0;
  outOfOrder = 0;
  malformed = 0;
  bytes = 0;
  messages = 0;
  onReading: ((reading: ObservedReading) => void) | undefined;

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
  }

  static async connect(url: string): Promise<Observer> {
    const client = mqtt.connect(url, {
      clientId: `pipewatch-observer-${process.pid}-${Math.floor(Math.random() * 1e9)}`,
      clean: true,
      reconnectPeriod: 500,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const observer = new Observer(client);
    await client.subscribeAsync(['pipewatch/+/readings', 'pipewatch/+/alerts'], { qos: 1 });
    return observer;
  }

  deliveredBy(dev: string): number {
    return this.#seen.get(dev)?.size ?? 0;
  }

  #onMessage(topic: string, payload: Buffer): void {
    this.messages++;
    this.bytes += payload.length;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      this.malformed++;
      return;
    }
    const unit = ['mC', 'mRH', 'Pa'].find((k) => typeof body[k] === 'number');
    if (
      typeof body.dev !== 'string' ||
      !Number.isSafeInteger(body.seq) ||
      !Number.isSafeInteger(body.ts) ||
      typeof body.sync !== 'boolean' ||
      !Number.isInteger(body.ch) ||
      !unit ||
      topic !== `pipewatch/${body.dev}/${body.alert ? 'alerts' : 'readings'}`
    ) {
      this.malformed++;
      return;
    }
    const dev = body.dev;
    const seq = body.seq as number;
    let seen = this.#seen.get(dev);
    if (!seen) this.#seen.set(dev, (seen = new Set()));
    if (seen.has(seq)) {
      this.duplicates++;
      return;
    }
    seen.add(seq);
    this.delivered++;
    if (seq < (this.#lastSeq.get(dev) ?? 0)) this.outOfOrder++;
    this.#lastSeq.set(dev, seq);
    this.onReading?.({
      dev,
      seq,
      ts: body.ts as number,
      sync: body.sync as boolean,
      ch: body.ch as number,
      value: body[unit] as number,
      unit,
      alert: body.alert === true,
      topic,
    });
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}
