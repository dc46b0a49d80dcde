/*
 * Station ingest rate: readings per second from a local mosquitto into the station's SQLite
 * store (PUBACK after commit, WAL, synchronous=FULL) and into PostgreSQL (a private Debian
 * server on loopback, fsync on, synchronous_commit on: the test harness's), against a plain
 * MQTT.js subscriber that stores nothing and acknowledges on receipt, in the same run and
 * with the same messages.
 * Two loads: live readings (one single JSON reading per message) and backlog batches (24 per
 * message, JSON). Every reading counted at the receiver; a run that loses one fails. The
 * publisher keeps at most WINDOW messages ahead of the receiver (mosquitto's queue limit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto } from '../../test/harness/mosquitto';
import { ReadingEncoder } from '../../firmware/uplink/payload';
import type { Reading } from '../../firmware/store';
import { startPostgres, type PostgresHandle } from '../../test/harness/postgres';
import { openStore } from '../station/store';
import { startIngest } from '../station/ingest';

const DEVICES = 20;
const MESSAGES_PER_DEVICE = { single: 150, batch: 15 } as const;
const BATCH = 24;

function messages(shape: 'single' | 'batch'): Array<[string, Buffer, number]> {
  const out: Array<[string, Buffer, number]> = [];
  for (let d = 0; d < DEVICES; d++) {
    const dev = `bench-${String(d).padStart(3, '0')}`;
    const enc = new ReadingEncoder(dev, 4096);
    let seq = 1;
    for (let m = 0; m < MESSAGES_PER_DEVICE[shape]; m++) {
      const n = shape === 'single' ? 1 : BATCH;
      const rs: Reading[] = Array.from({ length: n }, (_, i) => ({ seq: seq + i, timeMs: 1_767_225_600_000 + (seq + i) * 10_000, synced: true, channel: 0, kind: 0, value: 61_000 + i, alert: false }));
      const len = n === 1 ? enc.encode(rs[0]!) : enc.batch(rs, n);
      out.push([`pipewatch/${dev}/readings`, Buffer.from(enc.out.bytes.subarray(0, len)), n]);
      seq += n;
    }
  }
  return out;
}

/**
 * At most this many messages published and not yet handled by the receiver: mosquitto queues at
 * most 1000 QoS 1 messages for a client (max_queued_messages) and drops the rest, so a receiver
 * slower than the publisher would lose messages and the count would never complete.
 */
const WINDOW = 500;
/** A receiver that handles no message for this long has stalled: the bench fails, it does not hang. */
const STALL_MS = 30_000;

async function publishAll(port: number, load: Array<[string, Buffer, number]>, handled: () => number): Promise<void> {
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-publisher' });
  const sent: Array<Promise<unknown>> = [];
  let last = handled();
  let lastChange = performance.now();
  for (const [topic, payload] of load) {
    while (sent.length - handled() >= WINDOW) {
      if (handled() !== last) {
        last = handled();
        lastChange = performance.now();
      } else if (performance.now() - lastChange > STALL_MS) throw new Error(`the receiver stalled at ${last} of ${load.length} messages`);
      await new Promise((r) => setTimeout(r, 1));
    }
    sent.push(pub.publishAsync(topic, payload, { qos: 1 }));
  }
  await Promise.all(sent);
  await pub.endAsync();
}

/** Readings per second received by `counted` (which resolves after `total` readings); `handled` counts the receiver's messages. */
async function rate(port: number, load: Array<[string, Buffer, number]>, counted: Promise<number>, handled: () => number): Promise<number> {
  const started = performance.now();
  await publishAll(port, load, handled);
  const stall = new Promise<never>((_, reject) => {
    const check = setInterval(() => {
      if (handled() < load.length && performance.now() - started > STALL_MS * 4) {
        clearInterval(check);
        reject(new Error(`the receiver handled ${handled()} of ${load.length} messages`));
      }
    }, 1000);
    void counted.finally(() => clearInterval(check));
  });
  const end = await Promise.race([counted, stall]);
  const total = load.reduce((n, [, , k]) => n + k, 0);
  return Math.round(total / ((end - started) / 1000));
}

async function plain(port: number, load: Array<[string, Buffer, number]>): Promise<number> {
  const total = load.reduce((n, [, , k]) => n + k, 0);
  const sub: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-plain', protocolVersion: 5 });
  await sub.subscribeAsync('pipewatch/+/readings', { qos: 1 });
  let got = 0;
  let messages = 0;
  const counted = new Promise<number>((resolve) => {
    sub.on('message', (_t, payload) => {
      messages++;
      const text = payload.toString();
      got += text.includes('"r":[') ? (text.match(/\],?/g) ?? []).length - 1 : 1;
      if (got >= total) resolve(performance.now());
    });
  });
  const r = await rate(port, load, counted, () => messages);
  await sub.endAsync();
  return r;
}

async function station(port: number, load: Array<[string, Buffer, number]>, db: string, name: string): Promise<number> {
  const total = load.reduce((n, [, , k]) => n + k, 0);
  const store = await openStore(db);
  let resolve!: (t: number) => void;
  const counted = new Promise<number>((r) => (resolve = r));
  let got = 0;
  let messages = 0;
  const ingest = startIngest({
    broker: `mqtt://127.0.0.1:${port}`,
    clientId: `bench-station-${name}`,
    store,
    onEvent: (e) => {
      messages++;
      got += e.added ?? 0;
      if (got >= total) resolve(performance.now());
    },
  });
  await ingest.ready;
  const r = await rate(port, load, counted, () => messages);
  await ingest.close();
  const stored = (await store.counters()).ingested;
  await store.close();
  if (stored !== total) throw new Error(`station stored ${stored} of ${total} readings`);
  return r;
}

export async function bench(): Promise<Record<string, number>> {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-bench-'));
  let postgres: PostgresHandle | undefined;
  try {
    postgres = await startPostgres({ fsync: true });
    const single = messages('single');
    const batch = messages('batch');
    return {
      'station.plainSubscriber.single.readingsPerSecond': await plain(broker.port, single),
      'station.sqlite.single.readingsPerSecond': await station(broker.port, single, join(dir, 'single.db'), 'sqlite-single'),
      'station.postgres.single.readingsPerSecond': await station(broker.port, single, await postgres.createDatabase('single'), 'pg-single'),
      'station.plainSubscriber.batch24.readingsPerSecond': await plain(broker.port, batch),
      'station.sqlite.batch24.readingsPerSecond': await station(broker.port, batch, join(dir, 'batch.db'), 'sqlite-batch'),
      'station.postgres.batch24.readingsPerSecond': await station(broker.port, batch, await postgres.createDatabase('batch'), 'pg-batch'),
    };
  } finally {
    await postgres?.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
