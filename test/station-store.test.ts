/*
 * The station store's contract (tools/station/store.ts), the same tests against both backends:
 * SQLite (a temporary file) and PostgreSQL (a private Debian server, test/harness/postgres.ts;
 * one database per test). Exactly-once keys, counters, device rows, readings by time, heat,
 * one-minute aggregates (duplicates not counted twice), retention with an injected clock,
 * two writers on one database, and reopening. A method added to the store gets its test here.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '../firmware/store';
import { startPostgres, type PostgresHandle } from './harness/postgres';
import { DAY_MS, ERROR_TEXT_LIMIT, MINUTE_MS, PRUNE_BATCH, openStore, type Retention, type StationStore } from '../tools/station/store';
import { startPruning } from '../tools/station/main';
import { SqliteStore } from '../tools/station/store-sqlite';
import { startIngest } from '../tools/station/ingest';
import { startMosquitto } from './harness/mosquitto';
import { ReadingEncoder } from '../firmware/uplink/payload';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a minute boundary

let postgres: PostgresHandle | undefined;
let databases = 0;
const dir = mkdtempSync(join(tmpdir(), 'station-store-'));

test.before(async () => {
  postgres = await startPostgres({ fsync: false });
});
test.after.always(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Backend = 'sqlite' | 'postgres';
const BACKENDS: Backend[] = ['sqlite', 'postgres'];

/** A fresh database's address for the backend (a new file, or a new PostgreSQL database). */
async function freshDb(backend: Backend): Promise<string> {
  databases++;
  if (backend === 'sqlite') return join(dir, `db${databases}`, 'station.db');
  return postgres!.createDatabase(`t${databases}`);
}

function r(seq: number, o: Partial<Reading> = {}): Reading {
  return { seq, timeMs: T0 + seq * 10_000, synced: true, channel: 0, kind: 0, value: 60_000 + seq, alert: false, ...o };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function contract(title: string, body: (t: import('ava').ExecutionContext, open: (retention?: Retention) => Promise<StationStore>, db: string) => Promise<void>): void {
  for (const backend of BACKENDS) {
    test(`${backend}: ${title}`, async (t) => {
      const db = await freshDb(backend);
      const opened: StationStore[] = [];
      t.teardown(async () => {
        for (const s of opened) await s.close();
      });
      const open = async (retention?: Retention): Promise<StationStore> => {
        const s = await openStore(db, retention);
        opened.push(s);
        t.is(s.backend, backend);
        return s;
      };
      await body(t, open, db);
    });
  }
}

contract('each (dev, seq) once: resends dropped and counted, device row and counters in step', async (t, open) => {
  const s = await open();
  t.deepEqual(await s.storeReadings('node-001', [r(1), r(2), r(3, { alert: true })], T0 + 1000), { added: 3, duplicates: 0 });
  t.deepEqual(await s.storeReadings('node-001', [r(2), r(3, { alert: true }), r(4)], T0 + 2000), { added: 1, duplicates: 2 });
  t.deepEqual(await s.storeReadings('node-002', [r(2)], T0 + 3000), { added: 1, duplicates: 0 });
  // A message with nothing new still marks the device seen, and keeps its last reading time.
  t.deepEqual(await s.storeReadings('node-002', [r(2)], T0 + 4000), { added: 0, duplicates: 1 });
  t.deepEqual(await s.counters(), { ingested: 5, duplicates: 3, malformed: 0 });
  const [a, b] = await s.devices(T0 + 5000);
  t.like(a, { dev: 'node-001', first_seen_ms: T0 + 1000, last_seen_ms: T0 + 2000, readings: 4, alerts: 1, last_reading_ms: T0 + 2000, malformed: 0, last_hour: 4 });
  t.like(b, { dev: 'node-002', first_seen_ms: T0 + 3000, last_seen_ms: T0 + 4000, readings: 1, alerts: 0, last_reading_ms: T0 + 3000 });
  t.deepEqual(await s.readings('node-001', 0, Number.MAX_SAFE_INTEGER), [
    { seq: 1, ts: T0 + 10_000, sync: 1, ch: 0, kind: 0, value: 60_001, alert: 0, received_ms: T0 + 1000 },
    { seq: 2, ts: T0 + 20_000, sync: 1, ch: 0, kind: 0, value: 60_002, alert: 0, received_ms: T0 + 1000 },
    { seq: 3, ts: T0 + 30_000, sync: 1, ch: 0, kind: 0, value: 60_003, alert: 1, received_ms: T0 + 1000 },
    { seq: 4, ts: T0 + 40_000, sync: 1, ch: 0, kind: 0, value: 60_004, alert: 0, received_ms: T0 + 2000 },
  ]);
  t.deepEqual((await s.readings('node-001', T0 + 1500, T0 + 2000)).map((x) => x.seq), [4]);
  t.deepEqual(await s.readings('node-999', 0, Number.MAX_SAFE_INTEGER), []);
  t.like(await s.device('node-002', T0 + 5000), { dev: 'node-002', readings: 1 });
  t.is(await s.device('node-404', T0), undefined);
});

contract('the full value ranges: 48-bit seq and ts, boot-relative time, int32 values, channel 255, every kind', async (t, open) => {
  const s = await open();
  const big = 2 ** 48 - 1;
  const rows = [
    r(big, { timeMs: big, synced: false, channel: 255, kind: 2, value: 2 ** 31 - 1 }),
    r(7, { timeMs: 5, synced: false, channel: 1, kind: 1, value: -(2 ** 31) }),
  ];
  t.deepEqual(await s.storeReadings('node-001', rows, T0), { added: 2, duplicates: 0 });
  t.deepEqual(await s.readings('node-001', T0, T0), [
    { seq: 7, ts: 5, sync: 0, ch: 1, kind: 1, value: -(2 ** 31), alert: 0, received_ms: T0 },
    { seq: big, ts: big, sync: 0, ch: 255, kind: 2, value: 2 ** 31 - 1, alert: 0, received_ms: T0 },
  ]);
});

contract('malformed, status and OTA text: counted per device, cut, NUL kept visible, any device id', async (t, open) => {
  const s = await open();
  const evil = '<img src=x onerror=alert(1)>';
  await s.storeMalformed(evil, 'readings: not JSON', T0);
  await s.storeMalformed('node-009', 'x'.repeat(ERROR_TEXT_LIMIT + 50), T0 + 1);
  await s.storeMalformed('node-009', 'status: on\0line', T0 + 2);
  await s.storeStatus('node-009', 'online', T0 + 3);
  await s.storeOtaStatus('node-009', '{"state":"idle"}', T0 + 4);
  await s.storeStatus('node-010', 'offline', T0 + 5);
  t.deepEqual(await s.counters(), { ingested: 0, duplicates: 0, malformed: 3 });
  const devices = await s.devices(T0 + 10);
  // Binary order of ids, in both backends.
  t.deepEqual(devices.map((d) => d.dev), [evil, 'node-009', 'node-010']);
  t.like(devices[0], { malformed: 1, last_error: 'readings: not JSON', readings: 0, last_seen_ms: null });
  t.like(devices[1], { malformed: 2, last_error: 'status: on\\0line', status: 'online', status_ms: T0 + 3, ota_status: '{"state":"idle"}', last_seen_ms: T0 + 4, first_seen_ms: T0 + 1 });
  t.like(devices[2], { status: 'offline', status_ms: T0 + 5, malformed: 0, readings: 0 });
  await s.storeMalformed('node-011', 'y'.repeat(ERROR_TEXT_LIMIT + 50), T0);
  t.is((await s.device('node-011', T0))!.last_error!.length, ERROR_TEXT_LIMIT);
});

contract('devices: readings in the last hour by the station clock, ids in binary order', async (t, open) => {
  const s = await open();
  await s.storeReadings('b', [r(1), r(2)], T0);
  await s.storeReadings('b', [r(3)], T0 + 3_000_000);
  await s.storeReadings('B', [r(1)], T0 + 3_000_000);
  await s.storeReadings('a', [r(1)], T0);
  const at = T0 + 3_600_000 + 1;
  t.deepEqual((await s.devices(at)).map((d) => [d.dev, d.last_hour]), [['B', 1], ['a', 0], ['b', 1]]);
});

contract('heat: per temperature channel, the median of the first 30 readings and the latest', async (t, open) => {
  const s = await open();
  // Channel 0 rises 100 m°C per reading; channel 1 holds; humidity (kind 1) is no temperature.
  const rows: Reading[] = [];
  for (let i = 1; i <= 40; i++) {
    rows.push(r(i * 3, { value: 20_000 + i * 100, channel: 0 }), r(i * 3 + 1, { value: 30_000, channel: 1 }), r(i * 3 + 2, { value: 50_000, channel: 2, kind: 1 }));
  }
  for (let i = 0; i < rows.length; i += 30) await s.storeReadings('node-001', rows.slice(i, i + 30), T0);
  await s.storeMalformed('node-002', 'nothing stored', T0);
  const heat = await s.heat();
  // First 30 temperature readings by seq: 15 of channel 0 (20100..21500, median 20800), 15 of channel 1.
  t.deepEqual(heat.sort((x, y) => x.ch - y.ch), [
    { dev: 'node-001', ch: 0, latest: 24_000, baseline: 20_800 },
    { dev: 'node-001', ch: 1, latest: 30_000, baseline: 30_000 },
  ]);
});

contract('one-minute aggregates: min, sum (mean), max and count per device, channel, kind and minute; resends not counted', async (t, open) => {
  const s = await open();
  // Synced readings: minute by their own time. Readings 1..5 are at T0+10 s .. T0+50 s (minute 0),
  // 6..11 at T0+60 s .. T0+110 s (minute 1).
  await s.storeReadings('node-001', [1, 2, 3].map((q) => r(q, { value: 100 * q })), T0 + 5 * MINUTE_MS);
  await s.storeReadings('node-001', [2, 3, 4, 5, 6].map((q) => r(q, { value: 100 * q })), T0 + 6 * MINUTE_MS);
  await s.storeReadings('node-001', [r(7, { value: -50, channel: 1 }), r(8, { value: 900, kind: 1 })], T0 + 6 * MINUTE_MS);
  // Boot-relative readings: minute by the station's clock when they arrived.
  await s.storeReadings('node-001', [r(20, { synced: false, timeMs: 1234, value: 7 }), r(21, { synced: false, timeMs: 99_999, value: 9 })], T0 + 10 * MINUTE_MS + 59_999);
  await s.storeReadings('node-002', [r(1, { value: 1 })], T0);
  const agg = await s.aggregates('node-001', 0, Number.MAX_SAFE_INTEGER);
  t.deepEqual(agg, [
    { ch: 0, kind: 0, minute_ms: T0, min: 100, max: 500, sum: 1500, count: 5 },
    { ch: 0, kind: 0, minute_ms: T0 + MINUTE_MS, min: 600, max: 600, sum: 600, count: 1 },
    { ch: 0, kind: 1, minute_ms: T0 + MINUTE_MS, min: 900, max: 900, sum: 900, count: 1 },
    { ch: 1, kind: 0, minute_ms: T0 + MINUTE_MS, min: -50, max: -50, sum: -50, count: 1 },
    { ch: 0, kind: 0, minute_ms: T0 + 10 * MINUTE_MS, min: 7, max: 9, sum: 16, count: 2 },
  ]);
  t.deepEqual((await s.aggregates('node-001', T0 + MINUTE_MS, T0 + MINUTE_MS)).length, 3);
  t.deepEqual(await s.aggregates('node-002', 0, Number.MAX_SAFE_INTEGER), [{ ch: 0, kind: 0, minute_ms: T0, min: 1, max: 1, sum: 1, count: 1 }]);
});

contract('retention (injected clock): raw readings go after retainDays, aggregates after retainAggregatesDays, in batches', async (t, open) => {
  const s = await open({ readingsDays: 2, aggregatesDays: 10 });
  // Old: PRUNE_BATCH + 7 readings received on day 0 (more than one delete batch); new: 3 on day 5.
  const old = range(1, PRUNE_BATCH + 7);
  for (let i = 0; i < old.length; i += 1000) await s.storeReadings('node-001', old.slice(i, i + 1000).map((q) => r(q)), T0 + 1000);
  await s.storeReadings('node-001', [r(900_001), r(900_002), r(900_003)].map((x) => ({ ...x, timeMs: T0 + 5 * DAY_MS })), T0 + 5 * DAY_MS);
  const aggBefore = await s.aggregates('node-001', 0, Number.MAX_SAFE_INTEGER);
  t.is(aggBefore.reduce((n, a) => n + a.count, 0), old.length + 3);
  // Day 1.9: nothing is old enough.
  t.deepEqual(await s.prune(T0 + 1.9 * DAY_MS), { readings: 0, aggregates: 0 });
  // Day 6: the raw readings of day 0 go; every aggregate stays.
  t.deepEqual(await s.prune(T0 + 6 * DAY_MS), { readings: old.length, aggregates: 0 });
  t.deepEqual((await s.readings('node-001', 0, Number.MAX_SAFE_INTEGER)).map((x) => x.seq), [900_001, 900_002, 900_003]);
  t.deepEqual(await s.aggregates('node-001', 0, Number.MAX_SAFE_INTEGER), aggBefore);
  // The counters and device row count what was ingested, not what is kept.
  t.is((await s.counters()).ingested, old.length + 3);
  t.is((await s.device('node-001', T0))!.readings, old.length + 3);
  // Day 11: the aggregates of day 0 go (those of day 5 stay, their raw readings go), and pruning again finds nothing.
  const dayZeroMinutes = aggBefore.filter((a) => a.minute_ms < T0 + DAY_MS).length;
  t.deepEqual(await s.prune(T0 + 11 * DAY_MS), { readings: 3, aggregates: dayZeroMinutes });
  t.deepEqual((await s.aggregates('node-001', 0, Number.MAX_SAFE_INTEGER)).map((a) => a.minute_ms), [T0 + 5 * DAY_MS]);
  t.deepEqual(await s.prune(T0 + 11 * DAY_MS), { readings: 0, aggregates: 0 });
});

contract('the station prunes at start and on its interval, by the clock it is given', async (t, open) => {
  const s = await open({ readingsDays: 1, aggregatesDays: 1 });
  await s.storeReadings('node-001', [r(1)], T0);
  let now = T0 + 1000;
  const lines: string[] = [];
  const pruner = startPruning(s, () => now, 20, (line) => lines.push(line));
  // The run at start found nothing to remove (day 0); move the clock, and wait for a run.
  now = T0 + 2 * DAY_MS;
  const end = Date.now() + 10_000;
  while ((await s.readings('node-001', 0, Number.MAX_SAFE_INTEGER)).length > 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
  await pruner.stop();
  t.deepEqual(await s.readings('node-001', 0, Number.MAX_SAFE_INTEGER), []);
  t.true(lines.some((l) => /^station: retention removed 1 readings and 1 one-minute aggregates$/.test(l)), lines.join('\n'));
});

contract('two writers on one database, overlapping messages at once: every reading once, counters add up', async (t, open) => {
  const a = await open();
  const b = await open();
  // Each writer gets every message of three devices (as two stations would after a redelivery), interleaved.
  const messages: Array<[string, Reading[]]> = [];
  for (const dev of ['node-001', 'node-002', 'node-003']) for (let q = 1; q <= 200; q += 10) messages.push([dev, range(q, q + 9).map((x) => r(x))]);
  await Promise.all([
    (async () => {
      for (const [dev, rs] of messages) await a.storeReadings(dev, rs, T0);
    })(),
    (async () => {
      for (const [dev, rs] of [...messages].reverse()) await b.storeReadings(dev, rs, T0);
    })(),
  ]);
  const c = await a.counters();
  t.deepEqual(c, { ingested: 600, duplicates: 600, malformed: 0 });
  for (const dev of ['node-001', 'node-002', 'node-003']) {
    t.deepEqual((await b.readings(dev, 0, Number.MAX_SAFE_INTEGER)).map((x) => x.seq), range(1, 200), dev);
    t.is((await a.device(dev, T0))!.readings, 200);
    t.is((await a.aggregates(dev, 0, Number.MAX_SAFE_INTEGER)).reduce((n, x) => n + x.count, 0), 200);
  }
});

contract('heartbeats once per (dev, boot, up_ms, ts), OTA events in arrival order, the device marked seen', async (t, open) => {
  const s = await open();
  const hb = (dev: string, up: number, boot?: number) => ({ dev, boot, up_ms: up, ts: T0 + up, sync: true });
  t.true(await s.storeHeartbeat(hb('pipe-2', 1000, 3), '{"a":1}', T0 + 5));
  t.false(await s.storeHeartbeat(hb('pipe-2', 1000, 3), '{"a":1}', T0 + 6), 'a resent copy');
  t.true(await s.storeHeartbeat(hb('pipe-2', 1000), '{"b":2}', T0 + 7), 'boot unknown is its own key');
  t.true(await s.storeHeartbeat({ dev: 'pipe-1', up_ms: 5, ts: 9, sync: false }, '{"c":3}', T0 + 8));
  t.deepEqual(await s.heartbeatDevices(), ['pipe-1', 'pipe-2']);
  // Unsynced: its time is when it arrived.
  t.deepEqual(await s.heartbeats(T0 + 8, T0 + 8), [{ dev: 'pipe-1', received_ms: T0 + 8, body: '{"c":3}' }]);
  t.is((await s.heartbeats(0, Number.MAX_SAFE_INTEGER)).length, 3);
  t.like(await s.device('pipe-2', T0), { last_seen_ms: T0 + 7, readings: 0 });
  for (const [i, e] of ['progress', 'verified', 'confirmed'].entries()) await s.storeOtaEvent('pipe-2', `{"event":"${e}"}`, T0 + i);
  await s.storeOtaEvent('pipe-1', '{"event":"failed"}', T0 + 1);
  t.deepEqual((await s.otaEvents(0, Number.MAX_SAFE_INTEGER)).map((e) => [e.dev, e.seq, e.received_ms]), [
    ['pipe-1', 1, T0 + 1],
    ['pipe-2', 1, T0],
    ['pipe-2', 2, T0 + 1],
    ['pipe-2', 3, T0 + 2],
  ]);
  t.deepEqual((await s.otaEvents(T0 + 2, T0 + 2)).map((e) => e.body), ['{"event":"confirmed"}']);
  // A redelivery (DUP) of the last event is that event again; the same event sent anew, or a
  // redelivered one that is not the last, is kept.
  await s.storeOtaEvent('pipe-2', '{"event":"confirmed"}', T0 + 3, true);
  await s.storeOtaEvent('pipe-2', '{"event":"verified"}', T0 + 4, true);
  await s.storeOtaEvent('pipe-1', '{"event":"failed"}', T0 + 5);
  await s.storeOtaEvent('pipe-3', '{"event":"booted"}', T0 + 6, true);
  t.deepEqual((await s.otaEvents(T0 + 3, T0 + 6)).map((e) => [e.dev, e.seq, e.body]), [
    ['pipe-1', 2, '{"event":"failed"}'],
    ['pipe-2', 4, '{"event":"verified"}'],
    ['pipe-3', 1, '{"event":"booted"}'],
  ]);
});

contract('reopening keeps everything (tables created once, data kept)', async (t, open) => {
  const first = await open();
  await first.storeReadings('node-001', [r(1), r(2)], T0);
  await first.storeMalformed('node-001', 'bad', T0);
  await first.close();
  await first.close(); // a second close is harmless
  const second = await open();
  t.deepEqual(await second.counters(), { ingested: 2, duplicates: 0, malformed: 1 });
  t.deepEqual(await second.storeReadings('node-001', [r(2), r(3)], T0), { added: 1, duplicates: 1 });
  t.deepEqual((await second.readings('node-001', 0, Number.MAX_SAFE_INTEGER)).map((x) => x.seq), [1, 2, 3]);
});

test('postgres: an unreachable server is one clear error at open, with the password hidden', async (t) => {
  const url = postgres!.url('nosuchdb').replace('pipewatch@', 'pipewatch:secret@');
  const error = await t.throwsAsync(openStore(url));
  t.regex(error!.message, /^PostgreSQL postgres:\/\/pipewatch:\*\*\*@127\.0\.0\.1:\d+\/nosuchdb: .*nosuchdb.* does not exist/);
  t.false(error!.message.includes('secret'));
});

test('a full disk is said plainly, the acknowledgement held and the commit retried until there is room', async (t) => {
  // SQLite's own full-disk error (SQLITE_FULL), from a database capped at a few pages.
  const tiny = new Database(':memory:');
  tiny.pragma('max_page_count = 2');
  let full: Error | undefined;
  try {
    tiny.exec('CREATE TABLE x (v TEXT)');
    for (let i = 0; i < 100; i++) tiny.prepare('INSERT INTO x VALUES (?)').run('x'.repeat(4000));
  } catch (error) {
    full = error as Error;
  }
  if (!full) throw new Error('SQLite did not report the capped database full');
  tiny.close();
  t.regex(full.message, /database or disk is full/);
  const broker = await startMosquitto();
  const file = join(dir, 'full', 'station.db');
  let failures = 3;
  class FullDisk extends SqliteStore {
    override async storeReadings(dev: string, readings: readonly Reading[], nowMs: number): Promise<{ added: number; duplicates: number }> {
      if (failures-- > 0) throw full;
      return super.storeReadings(dev, readings, nowMs);
    }
  }
  const store = new FullDisk(file);
  const errors: string[] = [];
  const ingest = startIngest({ broker: `mqtt://127.0.0.1:${broker.port}`, clientId: 'station-full', store, onError: (m) => errors.push(m), retryMs: 50 });
  t.teardown(async () => {
    await ingest.close();
    await store.close();
    await broker.stop();
  });
  await ingest.ready;
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'full-publisher' });
  const enc = new ReadingEncoder('node-042', 256);
  for (const seq of [1, 2]) {
    const len = enc.encode(r(seq));
    await client.publishAsync('pipewatch/node-042/readings', Buffer.from(enc.out.bytes.subarray(0, len)), { qos: 1 });
  }
  await client.endAsync();
  const end = Date.now() + 10_000;
  while ((await store.counters()).ingested < 2 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
  t.deepEqual((await store.readings('node-042', 0, Number.MAX_SAFE_INTEGER)).map((x) => x.seq), [1, 2]);
  t.is(errors.length, 3);
  for (const e of errors) t.is(e, 'database: the disk is full (database or disk is full); free space; holding the acknowledgement, retrying in 50 ms');
  // Nothing was acknowledged before its commit, so nothing is counted twice either.
  t.deepEqual(await store.counters(), { ingested: 2, duplicates: 0, malformed: 0 });
});
