/*
 * The station's embedded database: SQLite through better-sqlite3, in WAL mode with
 * synchronous=FULL, so a transaction that returned is on disk (WAL fsynced) before the
 * station acknowledges the MQTT message that carried it. Calls are synchronous: a commit has
 * happened when the method returns, and the caller sends the PUBACK after that.
 *
 * Layout (one file, `.pipewatch/station.db` by default):
 *   readings(dev, seq, ts, sync, ch, kind, value, alert, received_ms)  PRIMARY KEY (dev, seq)
 *     ts is ms since the Unix epoch when sync = 1, else ms since the node booted (kept as such);
 *     kind 0 milli-degrees Celsius, 1 milli-percent RH, 2 pascal (firmware/store.ts ReadingKind).
 *     Index readings_time (dev, received_ms) for time-range queries on the station's clock.
 *   devices(dev, first_seen_ms, last_seen_ms, status, status_ms, ota_status, malformed, last_error,
 *           readings, alerts, last_reading_ms)
 *     one row per device id seen on a topic, valid or not (malformed counts per device); the
 *     reading and alert counts are kept in the same transaction as the rows they count.
 *   meta(key, value): the counters kept across restarts (ingested, duplicates, malformed).
 *   incidents, device_health: the web side's tables (store-web.ts, portable SQL shared with
 *     the PostgreSQL backend).
 *   heartbeats(dev, boot, up_ms, ts, sync, t_ms, received_ms, body)  PRIMARY KEY (dev, boot, up_ms, ts)
 *     every health heartbeat once (docs/payload.md; a resent one is the same key); boot -1 when the
 *     node does not say; t_ms is its time for the fleet metrics (ts when sync, else received_ms);
 *     body the JSON as received. Index heartbeats_time (t_ms).
 *   ota_events(dev, seq, received_ms, body)  PRIMARY KEY (dev, seq)
 *     every OTA status event (docs/ota.md) in arrival order per device (seq from 1).
 *   Both in portable SQL (no INSERT OR IGNORE, no rowid), for the fleet metrics (docs/fleet.md).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reading } from '../../firmware/store';
import { WEB_SCHEMA, WebQueries, type IncidentRow, type HealthRow } from './store-web';

export interface DeviceRow {
  dev: string;
  first_seen_ms: number;
  last_seen_ms: number | null;
  status: string | null;
  status_ms: number | null;
  ota_status: string | null;
  malformed: number;
  last_error: string | null;
  readings: number;
  alerts: number;
  last_reading_ms: number | null;
  last_hour: number;
}

export interface ReadingRow {
  seq: number;
  ts: number;
  sync: number;
  ch: number;
  kind: number;
  value: number;
  alert: number;
  received_ms: number;
}

export interface Counters {
  ingested: number;
  duplicates: number;
  malformed: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  dev TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, sync INTEGER NOT NULL,
  ch INTEGER NOT NULL, kind INTEGER NOT NULL, value INTEGER NOT NULL, alert INTEGER NOT NULL,
  received_ms INTEGER NOT NULL, PRIMARY KEY (dev, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_time ON readings (dev, received_ms);
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

/** A stored heartbeat: its JSON as received, and when the station received it. */
export interface HeartbeatRow {
  dev: string;
  received_ms: number;
  body: string;
}

/** A stored OTA status event (docs/ota.md), in arrival order per device. */
export interface OtaEventRow {
  dev: string;
  seq: number;
  received_ms: number;
  body: string;
}

/** The heartbeat keys the store indexes (the ingest checked them). */
export interface HeartbeatKey {
  dev: string;
  boot?: number;
  up_ms: number;
  ts: number;
  sync: boolean;
}

/** Readings (per device, oldest first) whose median is a channel's baseline. */
export const BASELINE_READINGS = 30;
/** Newest readings looked at for each channel's latest value. */
export const LATEST_READINGS = 16;

/** Longest raw text of a bad message kept for display (the rest is cut). */
export const ERROR_TEXT_LIMIT = 200;

export class StationStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #touch: Database.Statement;
  readonly #bump: Database.Statement;
  readonly #malformed: Database.Statement;
  readonly #status: Database.Statement;
  readonly #ota: Database.Statement;
  readonly #devs: Database.Statement;
  readonly #first: Database.Statement;
  readonly #last: Database.Statement;
  readonly #storeReadings: (dev: string, readings: readonly Reading[], nowMs: number) => { added: number; duplicates: number };
  readonly #storeMalformed: (dev: string, error: string, nowMs: number) => void;
  readonly #heartbeat: Database.Statement;
  readonly #otaEvent: Database.Statement;
  readonly #storeHeartbeat: (hb: HeartbeatKey, body: string, nowMs: number) => boolean;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
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
    this.#storeReadings = db.transaction((dev: string, readings: readonly Reading[], nowMs: number) => {
      let added = 0;
      let alerts = 0;
      for (const r of readings) {
        const changes = this.#insert.run(dev, r.seq, r.timeMs, r.synced ? 1 : 0, r.channel, r.kind, r.value, r.alert ? 1 : 0, nowMs).changes;
        added += changes;
        if (r.alert) alerts += changes;
      }
      this.#touch.run(dev, nowMs, nowMs, added, alerts, added ? nowMs : null);
      const duplicates = readings.length - added;
      if (added) this.#bump.run('ingested', added);
      if (duplicates) this.#bump.run('duplicates', duplicates);
      return { added, duplicates };
    });
    this.#heartbeat = db.prepare(
      'INSERT INTO heartbeats (dev, boot, up_ms, ts, sync, t_ms, received_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dev, boot, up_ms, ts) DO NOTHING',
    );
    this.#otaEvent = db.prepare(
      'INSERT INTO ota_events (dev, seq, received_ms, body) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM ota_events WHERE dev = ?',
    );
    this.#storeHeartbeat = db.transaction((hb: HeartbeatKey, body: string, nowMs: number) => {
      const added = this.#heartbeat.run(hb.dev, hb.boot ?? -1, hb.up_ms, hb.ts, hb.sync ? 1 : 0, hb.sync ? hb.ts : nowMs, nowMs, body).changes > 0;
      this.#touch.run(hb.dev, nowMs, nowMs, 0, 0, null);
      return added;
    });
    this.#storeMalformed = db.transaction((dev: string, error: string, nowMs: number) => {
      this.#malformed.run(dev, nowMs, error.slice(0, ERROR_TEXT_LIMIT));
      this.#bump.run('malformed', 1);
    });
  }

  /** Stores the readings of one message in one transaction; returns when it is committed. */
  storeReadings(dev: string, readings: readonly Reading[], nowMs: number): { added: number; duplicates: number } {
    return this.#storeReadings(dev, readings, nowMs);
  }

  /** Counts a message that did not decode, under the device id its topic named (any text). */
  storeMalformed(dev: string, error: string, nowMs: number): void {
    this.#storeMalformed(dev, error, nowMs);
  }

  storeStatus(dev: string, status: string, nowMs: number): void {
    this.#status.run(dev, nowMs, status.slice(0, ERROR_TEXT_LIMIT), nowMs);
  }

  storeOtaStatus(dev: string, text: string, nowMs: number): void {
    this.#ota.run(dev, nowMs, text.slice(0, ERROR_TEXT_LIMIT), nowMs);
  }

  /**
   * Stores one health heartbeat (checked by the ingest) once: a resent copy (same device, boot,
   * uptime and time stamp) is not added again. Returns whether it was new.
   */
  storeHeartbeat(hb: HeartbeatKey, body: string, nowMs: number): boolean {
    return this.#storeHeartbeat(hb, body, nowMs);
  }

  /** Appends one OTA status event (a JSON object) to the device's event log. */
  storeOtaEvent(dev: string, body: string, nowMs: number): void {
    this.#otaEvent.run(dev, nowMs, body, dev);
  }

  /** Heartbeats whose time (t_ms) is in [fromMs, toMs], oldest first (by device, then time). */
  heartbeats(fromMs: number, toMs: number): HeartbeatRow[] {
    return this.#db
      .prepare('SELECT dev, received_ms, body FROM heartbeats WHERE t_ms BETWEEN ? AND ? ORDER BY dev, t_ms, up_ms')
      .all(fromMs, toMs) as HeartbeatRow[];
  }

  /** Devices with at least one heartbeat at any time (activation is not limited by a window). */
  heartbeatDevices(): string[] {
    return (this.#db.prepare('SELECT DISTINCT dev FROM heartbeats ORDER BY dev').all() as Array<{ dev: string }>).map((r) => r.dev);
  }

  /** OTA status events received in [fromMs, toMs], per device in arrival order. */
  otaEvents(fromMs: number, toMs: number): OtaEventRow[] {
    return this.#db
      .prepare('SELECT dev, seq, received_ms, body FROM ota_events WHERE received_ms BETWEEN ? AND ? ORDER BY dev, seq')
      .all(fromMs, toMs) as OtaEventRow[];
  }

  counters(): Counters {
    const out: Counters = { ingested: 0, duplicates: 0, malformed: 0 };
    for (const row of this.#db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: number }>) {
      if (row.key in out) out[row.key as keyof Counters] = row.value;
    }
    return out;
  }

  /** Every device with its reading counts; `nowMs` sets the "last hour" window. */
  devices(nowMs: number): DeviceRow[] {
    return this.#db
      .prepare(
        `SELECT d.*, (SELECT COUNT(*) FROM readings r WHERE r.dev = d.dev AND r.received_ms > ?) AS last_hour
         FROM devices d ORDER BY d.dev`,
      )
      .all(nowMs - 3_600_000) as DeviceRow[];
  }

  device(dev: string, nowMs: number): DeviceRow | undefined {
    return this.devices(nowMs).find((d) => d.dev === dev);
  }

  /** Readings of one device received in [fromMs, toMs], in seq order. */
  readings(dev: string, fromMs: number, toMs: number): ReadingRow[] {
    return this.#db
      .prepare('SELECT seq, ts, sync, ch, kind, value, alert, received_ms FROM readings WHERE dev = ? AND received_ms BETWEEN ? AND ? ORDER BY seq')
      .all(dev, fromMs, toMs) as ReadingRow[];
  }

  /**
   * Per device and temperature channel: its baseline (the median of its first BASELINE_READINGS
   * readings) and its latest value. Bounded reads on the (dev, seq) key, whatever the history.
   */
  heat(): Array<{ dev: string; ch: number; latest: number; baseline: number }> {
    const out: Array<{ dev: string; ch: number; latest: number; baseline: number }> = [];
    for (const { dev } of this.#devs.all() as Array<{ dev: string }>) {
      const first = this.#first.all(dev, BASELINE_READINGS) as Array<{ ch: number; value: number }>;
      const last = this.#last.all(dev, LATEST_READINGS) as Array<{ ch: number; value: number }>;
      const channels = new Map<number, number[]>();
      for (const r of first) channels.set(r.ch, [...(channels.get(r.ch) ?? []), r.value]);
      for (const [ch, values] of channels) {
        const latest = last.find((r) => r.ch === ch)?.value ?? values[values.length - 1]!;
        const sorted = values.sort((a, b) => a - b);
        out.push({ dev, ch, latest, baseline: sorted[sorted.length >> 1]! });
      }
    }
    return out;
  }

  // The web side's queries (store-web.ts), on this database.
  readonly #web: WebQueries;

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

  close(): void {
    this.#db.close();
  }
}
