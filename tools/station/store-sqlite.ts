/*
 * The station's embedded database: SQLite through better-sqlite3, in WAL mode with
 * synchronous=FULL, so a transaction that returned is on disk (WAL fsynced) before the
 * station acknowledges the MQTT message that carried it. better-sqlite3 is synchronous; the
 * methods wrap its results in Promises to keep the one contract of store.ts. Write
 * transactions are BEGIN IMMEDIATE, so two station processes on one file wait for each other
 * (busy_timeout) instead of failing on a lock upgrade. Layout: store.ts.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reading } from '../../firmware/store';
import {
  aggregateOf,
  BASELINE_READINGS,
  DAY_MS,
  DEFAULT_RETENTION,
  heatOf,
  LATEST_READINGS,
  PRUNE_BATCH,
  storedText,
  type AggregateRow,
  type Counters,
  type DeviceRow,
  type HeatRow,
  type Pruned,
  type ReadingRow,
  type Retention,
  type StationStore,
  type HeartbeatKey,
  type HeartbeatRow,
  type OtaEventRow,
} from './store';
import { WEB_SCHEMA, WebQueries, type HealthRow, type IncidentRow } from './store-web';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  dev TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, sync INTEGER NOT NULL,
  ch INTEGER NOT NULL, kind INTEGER NOT NULL, value INTEGER NOT NULL, alert INTEGER NOT NULL,
  received_ms INTEGER NOT NULL, PRIMARY KEY (dev, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_time ON readings (dev, received_ms);
CREATE INDEX IF NOT EXISTS readings_received ON readings (received_ms);
CREATE TABLE IF NOT EXISTS aggregates (
  dev TEXT NOT NULL, ch INTEGER NOT NULL, kind INTEGER NOT NULL, minute_ms INTEGER NOT NULL,
  min INTEGER NOT NULL, max INTEGER NOT NULL, sum INTEGER NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (dev, ch, kind, minute_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aggregates_time ON aggregates (minute_ms);
CREATE TABLE IF NOT EXISTS devices (
  dev TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER, status TEXT,
  status_ms INTEGER, ota_status TEXT, malformed INTEGER NOT NULL DEFAULT 0, last_error TEXT,
  readings INTEGER NOT NULL DEFAULT 0, alerts INTEGER NOT NULL DEFAULT 0, last_reading_ms INTEGER);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (
  dev TEXT NOT NULL, boot INTEGER NOT NULL, up_ms INTEGER NOT NULL, ts INTEGER NOT NULL, sync INTEGER NOT NULL,
  t_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (dev, boot, up_ms, ts));
CREATE INDEX IF NOT EXISTS heartbeats_time ON heartbeats (t_ms);
CREATE TABLE IF NOT EXISTS ota_events (
  dev TEXT NOT NULL, seq INTEGER NOT NULL, received_ms INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (dev, seq));
`;

export class SqliteStore implements StationStore {
  readonly backend = 'sqlite';
  readonly where: string;
  readonly #db: Database.Database;
  readonly #retention: Retention;
  readonly #insert: Database.Statement;
  readonly #aggregate: Database.Statement;
  readonly #touch: Database.Statement;
  readonly #bump: Database.Statement;
  readonly #malformed: Database.Statement;
  readonly #status: Database.Statement;
  readonly #ota: Database.Statement;
  readonly #devs: Database.Statement;
  readonly #first: Database.Statement;
  readonly #last: Database.Statement;
  readonly #pruneReadings: Database.Statement;
  readonly #pruneAggregates: Database.Statement;
  readonly #storeReadings: Database.Transaction<(dev: string, readings: readonly Reading[], nowMs: number) => { added: number; duplicates: number }>;
  readonly #storeMalformed: Database.Transaction<(dev: string, error: string, nowMs: number) => void>;
  readonly #heartbeat: Database.Statement;
  readonly #otaEvent: Database.Statement;
  readonly #storeHeartbeat: Database.Transaction<(hb: HeartbeatKey, body: string, nowMs: number) => boolean>;
  readonly #web: WebQueries;

  constructor(file: string, retention: Retention = DEFAULT_RETENTION) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.where = file;
    this.#retention = retention;
    const db = new Database(file);
    this.#db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    db.exec(WEB_SCHEMA);
    this.#web = new WebQueries({
      all: async <R>(sql: string, values: readonly unknown[]) => db.prepare(sql).all(...values) as R[],
      run: async (sql: string, values: readonly unknown[]) => db.prepare(sql).run(...values).changes,
    });
    this.#insert = db.prepare(
      'INSERT OR IGNORE INTO readings (dev, seq, ts, sync, ch, kind, value, alert, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#aggregate = db.prepare(
      `INSERT INTO aggregates (dev, ch, kind, minute_ms, min, max, sum, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (dev, ch, kind, minute_ms) DO UPDATE SET min = MIN(min, excluded.min), max = MAX(max, excluded.max),
         sum = sum + excluded.sum, count = count + excluded.count`,
    );
    this.#touch = db.prepare(
      `INSERT INTO devices (dev, first_seen_ms, last_seen_ms, readings, alerts, last_reading_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (dev) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, readings = readings + excluded.readings,
         alerts = alerts + excluded.alerts, last_reading_ms = COALESCE(excluded.last_reading_ms, last_reading_ms)`,
    );
    this.#bump = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value');
    this.#malformed = db.prepare(
      'INSERT INTO devices (dev, first_seen_ms, malformed, last_error) VALUES (?, ?, 1, ?) ON CONFLICT (dev) DO UPDATE SET malformed = malformed + 1, last_error = excluded.last_error',
    );
    this.#status = db.prepare(
      'INSERT INTO devices (dev, first_seen_ms, status, status_ms) VALUES (?, ?, ?, ?) ON CONFLICT (dev) DO UPDATE SET status = excluded.status, status_ms = excluded.status_ms',
    );
    this.#ota = db.prepare(
      'INSERT INTO devices (dev, first_seen_ms, ota_status, last_seen_ms) VALUES (?, ?, ?, ?) ON CONFLICT (dev) DO UPDATE SET ota_status = excluded.ota_status, last_seen_ms = excluded.last_seen_ms',
    );
    this.#devs = db.prepare('SELECT dev FROM devices WHERE readings > 0 ORDER BY dev');
    this.#first = db.prepare('SELECT ch, value FROM readings WHERE dev = ? AND kind = 0 ORDER BY seq LIMIT ?');
    this.#last = db.prepare('SELECT ch, value FROM readings WHERE dev = ? AND kind = 0 ORDER BY seq DESC LIMIT ?');
    this.#pruneReadings = db.prepare('DELETE FROM readings WHERE (dev, seq) IN (SELECT dev, seq FROM readings WHERE received_ms < ? LIMIT ?)');
    this.#pruneAggregates = db.prepare(
      'DELETE FROM aggregates WHERE (dev, ch, kind, minute_ms) IN (SELECT dev, ch, kind, minute_ms FROM aggregates WHERE minute_ms < ? LIMIT ?)',
    );
    this.#storeReadings = db.transaction((dev: string, readings: readonly Reading[], nowMs: number) => {
      const added: Reading[] = [];
      let alerts = 0;
      for (const r of readings) {
        if (this.#insert.run(dev, r.seq, r.timeMs, r.synced ? 1 : 0, r.channel, r.kind, r.value, r.alert ? 1 : 0, nowMs).changes === 0) continue;
        added.push(r);
        if (r.alert) alerts++;
      }
      for (const a of aggregateOf(added, nowMs)) this.#aggregate.run(dev, a.ch, a.kind, a.minute_ms, a.min, a.max, a.sum, a.count);
      this.#touch.run(dev, nowMs, nowMs, added.length, alerts, added.length ? nowMs : null);
      const duplicates = readings.length - added.length;
      if (added.length) this.#bump.run('ingested', added.length);
      if (duplicates) this.#bump.run('duplicates', duplicates);
      return { added: added.length, duplicates };
    });
    this.#heartbeat = db.prepare(
      'INSERT INTO heartbeats (dev, boot, up_ms, ts, sync, t_ms, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dev, boot, up_ms, ts) DO NOTHING',
    );
    this.#otaEvent = db.prepare(
      'INSERT INTO ota_events (dev, seq, received_ms, body) SELECT @dev, COALESCE(MAX(seq), 0) + 1, @now, @body FROM ota_events WHERE dev = @dev ' +
        'HAVING NOT (@redelivered AND EXISTS (SELECT 1 FROM ota_events l WHERE l.dev = @dev AND l.body = @body AND l.seq = (SELECT MAX(seq) FROM ota_events WHERE dev = @dev)))',
    );
    this.#storeHeartbeat = db.transaction((hb: HeartbeatKey, body: string, nowMs: number) => {
      const added = this.#heartbeat.run(hb.dev, hb.boot ?? -1, hb.up_ms, hb.ts, hb.sync ? 1 : 0, hb.sync ? hb.ts : nowMs, nowMs, body).changes > 0;
      this.#touch.run(hb.dev, nowMs, nowMs, 0, 0, null);
      return added;
    });
    this.#storeMalformed = db.transaction((dev: string, error: string, nowMs: number) => {
      this.#malformed.run(dev, nowMs, storedText(error));
      this.#bump.run('malformed', 1);
    });
  }

  async storeReadings(dev: string, readings: readonly Reading[], nowMs: number): Promise<{ added: number; duplicates: number }> {
    return this.#storeReadings.immediate(dev, readings, nowMs);
  }

  async storeMalformed(dev: string, error: string, nowMs: number): Promise<void> {
    this.#storeMalformed.immediate(dev, error, nowMs);
  }

  async storeStatus(dev: string, status: string, nowMs: number): Promise<void> {
    this.#status.run(dev, nowMs, storedText(status), nowMs);
  }

  async storeOtaStatus(dev: string, text: string, nowMs: number): Promise<void> {
    this.#ota.run(dev, nowMs, storedText(text), nowMs);
  }

  async storeHeartbeat(hb: HeartbeatKey, body: string, nowMs: number): Promise<boolean> {
    return this.#storeHeartbeat.immediate(hb, body, nowMs);
  }

  async storeOtaEvent(dev: string, body: string, nowMs: number, redelivered = false): Promise<void> {
    this.#otaEvent.run({ dev, now: nowMs, body, redelivered: redelivered ? 1 : 0 });
  }

  async heartbeats(fromMs: number, toMs: number): Promise<HeartbeatRow[]> {
    return this.#db.prepare('SELECT dev, received_ms, body FROM heartbeats WHERE t_ms BETWEEN ? AND ? ORDER BY dev, t_ms, up_ms').all(fromMs, toMs) as HeartbeatRow[];
  }

  async heartbeatDevices(): Promise<string[]> {
    return (this.#db.prepare('SELECT DISTINCT dev FROM heartbeats ORDER BY dev').all() as Array<{ dev: string }>).map((r) => r.dev);
  }

  async otaEvents(fromMs: number, toMs: number): Promise<OtaEventRow[]> {
    return this.#db.prepare('SELECT dev, seq, received_ms, body FROM ota_events WHERE received_ms BETWEEN ? AND ? ORDER BY dev, seq').all(fromMs, toMs) as OtaEventRow[];
  }

  temperaturesAfter(dev: string, afterSeq: number, limit: number): Promise<ReadingRow[]> {
    return this.#web.temperaturesAfter(dev, afterSeq, limit);
  }

  lastSeqBefore(dev: string, beforeMs: number): Promise<number> {
    return this.#web.lastSeqBefore(dev, beforeMs);
  }

  storeIncident(i: Omit<IncidentRow, 'acked_ms' | 'acked_by'>): Promise<boolean> {
    return this.#web.storeIncident(i);
  }

  incidents(limit: number): Promise<IncidentRow[]> {
    return this.#web.incidents(limit);
  }

  ackIncident(id: string, nowMs: number, by: string): Promise<boolean> {
    return this.#web.ackIncident(id, nowMs, by);
  }

  storeHealth(dev: string, body: string, nowMs: number): Promise<void> {
    return this.#web.storeHealth(dev, body, nowMs);
  }

  health(): Promise<HealthRow[]> {
    return this.#web.health();
  }

  async counters(): Promise<Counters> {
    const out: Counters = { ingested: 0, duplicates: 0, malformed: 0 };
    for (const row of this.#db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: number }>) {
      if (row.key in out) out[row.key as keyof Counters] = row.value;
    }
    return out;
  }

  async devices(nowMs: number): Promise<DeviceRow[]> {
    return this.#db
      .prepare(
        `SELECT d.*, (SELECT COUNT(*) FROM readings r WHERE r.dev = d.dev AND r.received_ms > ?) AS last_hour
         FROM devices d ORDER BY d.dev`,
      )
      .all(nowMs - 3_600_000) as DeviceRow[];
  }

  async device(dev: string, nowMs: number): Promise<DeviceRow | undefined> {
    return (await this.devices(nowMs)).find((d) => d.dev === dev);
  }

  async readings(dev: string, fromMs: number, toMs: number): Promise<ReadingRow[]> {
    return this.#db
      .prepare('SELECT seq, ts, sync, ch, kind, value, alert, received_ms FROM readings WHERE dev = ? AND received_ms BETWEEN ? AND ? ORDER BY seq')
      .all(dev, fromMs, toMs) as ReadingRow[];
  }

  async aggregates(dev: string, fromMs: number, toMs: number): Promise<AggregateRow[]> {
    return this.#db
      .prepare('SELECT ch, kind, minute_ms, min, max, sum, count FROM aggregates WHERE dev = ? AND minute_ms BETWEEN ? AND ? ORDER BY minute_ms, ch, kind')
      .all(dev, fromMs, toMs) as AggregateRow[];
  }

  async heat(): Promise<HeatRow[]> {
    const out: HeatRow[] = [];
    for (const { dev } of this.#devs.all() as Array<{ dev: string }>) {
      const first = this.#first.all(dev, BASELINE_READINGS) as Array<{ ch: number; value: number }>;
      const last = this.#last.all(dev, LATEST_READINGS) as Array<{ ch: number; value: number }>;
      out.push(...heatOf(dev, first, last));
    }
    return out;
  }

  async prune(nowMs: number): Promise<Pruned> {
    const out: Pruned = { readings: 0, aggregates: 0 };
    const rawBefore = nowMs - this.#retention.readingsDays * DAY_MS;
    const aggBefore = nowMs - this.#retention.aggregatesDays * DAY_MS;
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; out.readings += n) n = this.#pruneReadings.run(rawBefore, PRUNE_BATCH).changes;
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; out.aggregates += n) n = this.#pruneAggregates.run(aggBefore, PRUNE_BATCH).changes;
    return out;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
