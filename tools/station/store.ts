/*
 * The station's storage contract, one interface with two backends:
 *   - store-sqlite.ts: SQLite through better-sqlite3 (the default, `.pipewatch/station.db`, no setup);
 *   - store-pg.ts: PostgreSQL through `pg` (`--db postgres://...`, for a real deployment and for
 *     several station processes writing one database).
 * Every method returns a Promise. A write has been committed when its Promise resolves; the
 * station sends the MQTT acknowledgement after that. A write that rejects has changed nothing
 * that a retry would count twice (one transaction, or one statement, per call).
 * test/station-store.test.ts runs the same contract against both backends: a method added here
 * is added to both classes and to that test.
 *
 * Logical layout (the same tables and columns in both; docs/station.md):
 *   readings(dev, seq, ts, sync, ch, kind, value, alert, received_ms)  PRIMARY KEY (dev, seq)
 *     ts is ms since the Unix epoch when sync = 1, else ms since the node booted (kept as such);
 *     kind 0 milli-degrees Celsius, 1 milli-percent RH, 2 pascal (firmware/store.ts ReadingKind).
 *     Indexes (dev, received_ms) for a node's time range, (received_ms) for retention.
 *   aggregates(dev, ch, kind, minute_ms, min, max, sum, count)  PRIMARY KEY (dev, ch, kind, minute_ms)
 *     one-minute aggregates, updated in the transaction that adds the readings they count (so a
 *     duplicate dropped there is not counted here either); minute_ms is the reading's wall time
 *     (ts when sync = 1, else received_ms) rounded down to the minute; mean = sum / count.
 *     Kept longer than the raw readings. Index (minute_ms) for retention.
 *   devices(dev, first_seen_ms, last_seen_ms, status, status_ms, ota_status, malformed, last_error,
 *           readings, alerts, last_reading_ms)
 *     one row per device id seen on a topic, valid or not (malformed counts per device); the
 *     reading and alert counts are kept in the same transaction as the rows they count.
 *   meta(key, value): the counters kept across restarts (ingested, duplicates, malformed).
 *   incidents, device_health: the web side's tables (store-web.ts, portable SQL, the same
 *     statements in both backends through a SqlRunner).
 *   heartbeats(dev, boot, up_ms, ts, sync, t_ms, received_ms, body)  PRIMARY KEY (dev, boot, up_ms, ts)
 *     every health heartbeat once (docs/payload.md; a resent one is the same key); boot -1 when the
 *     node does not say; t_ms is its time for the fleet metrics (ts when sync, else received_ms);
 *     body the JSON as received. Index heartbeats_time (t_ms).
 *   ota_events(dev, seq, received_ms, body)  PRIMARY KEY (dev, seq)
 *     every OTA status event (docs/ota.md) in arrival order per device (seq from 1).
 */
import type { Reading } from '../../firmware/store';
import type { HealthRow, IncidentRow } from './store-web';

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

export interface AggregateRow {
  ch: number;
  kind: number;
  minute_ms: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}

export interface HeatRow {
  dev: string;
  ch: number;
  latest: number;
  baseline: number;
}

export interface Counters {
  ingested: number;
  duplicates: number;
  malformed: number;
}

export interface Pruned {
  readings: number;
  aggregates: number;
}

/** How long rows are kept (days; at least 1). */
export interface Retention {
  readingsDays: number;
  aggregatesDays: number;
}

export const DEFAULT_RETENTION: Retention = { readingsDays: 30, aggregatesDays: 365 };
export const DAY_MS = 86_400_000;
export const MINUTE_MS = 60_000;

/** Readings (per device, oldest first) whose median is a channel's baseline. */
export const BASELINE_READINGS = 30;
/** Newest readings looked at for each channel's latest value. */
export const LATEST_READINGS = 16;

/** Longest raw text of a bad message kept for display (the rest is cut). */
export const ERROR_TEXT_LIMIT = 200;

/** Rows deleted per statement by prune(), so ingest is never held behind one long delete. */
export const PRUNE_BATCH = 5000;

export interface StationStore {
  /** 'sqlite' or 'postgres'. */
  readonly backend: string;
  /** Where the data is, for the log (a file, or the URL without its password). */
  readonly where: string;
  /** Stores the readings of one message in one transaction; resolves when it is committed. */
  storeReadings(dev: string, readings: readonly Reading[], nowMs: number): Promise<{ added: number; duplicates: number }>;
  /** Counts a message that did not decode, under the device id its topic named (any text). */
  storeMalformed(dev: string, error: string, nowMs: number): Promise<void>;
  storeStatus(dev: string, status: string, nowMs: number): Promise<void>;
  storeOtaStatus(dev: string, text: string, nowMs: number): Promise<void>;
  counters(): Promise<Counters>;
  /** Every device with its reading counts; `nowMs` sets the "last hour" window. */
  devices(nowMs: number): Promise<DeviceRow[]>;
  device(dev: string, nowMs: number): Promise<DeviceRow | undefined>;
  /** Readings of one device received in [fromMs, toMs], in seq order. */
  readings(dev: string, fromMs: number, toMs: number): Promise<ReadingRow[]>;
  /** One-minute aggregates of one device with minute_ms in [fromMs, toMs], by minute then channel. */
  aggregates(dev: string, fromMs: number, toMs: number): Promise<AggregateRow[]>;
  /**
   * Per device and temperature channel: its baseline (the median of its first BASELINE_READINGS
   * readings) and its latest value. Bounded reads on the (dev, seq) key, whatever the history.
   */
  heat(): Promise<HeatRow[]>;
  /**
   * Stores one health heartbeat (checked by the ingest) once: a resent copy (same device, boot,
   * uptime and time stamp) is not added again. Resolves to whether it was new.
   */
  storeHeartbeat(hb: HeartbeatKey, body: string, nowMs: number): Promise<boolean>;
  /** Appends one OTA status event (a JSON object) to the device's event log. */
  /** Appends an OTA status event; `redelivered` (the broker's DUP): not if it equals the device's last event. */
  storeOtaEvent(dev: string, body: string, nowMs: number, redelivered?: boolean): Promise<void>;
  /** Heartbeats whose time (t_ms) is in [fromMs, toMs], oldest first (by device, then time). */
  heartbeats(fromMs: number, toMs: number): Promise<HeartbeatRow[]>;
  /** Devices with at least one heartbeat at any time. */
  heartbeatDevices(): Promise<string[]>;
  /** OTA status events received in [fromMs, toMs], per device in arrival order. */
  otaEvents(fromMs: number, toMs: number): Promise<OtaEventRow[]>;
  // The web side's queries (store-web.ts WebQueries, the same SQL in both backends).
  /** Channel 0 temperature readings of a device after `afterSeq`, in seq order, at most `limit`. */
  temperaturesAfter(dev: string, afterSeq: number, limit: number): Promise<ReadingRow[]>;
  /** The highest seq of a device's readings received before `beforeMs` (-1 when none). */
  lastSeqBefore(dev: string, beforeMs: number): Promise<number>;
  /** Stores an incident; false when one with its id is already there. */
  storeIncident(i: Omit<IncidentRow, 'acked_ms' | 'acked_by'>): Promise<boolean>;
  /** The newest incidents first, at most `limit`. */
  incidents(limit: number): Promise<IncidentRow[]>;
  /** Marks an incident acknowledged (the first acknowledgement stays); false when there is no such incident. */
  ackIncident(id: string, nowMs: number, by: string): Promise<boolean>;
  /** Keeps a device's latest health heartbeat. */
  storeHealth(dev: string, body: string, nowMs: number): Promise<void>;
  /** Every device's latest heartbeat, by device id. */
  health(): Promise<HealthRow[]>;
  /** Deletes raw readings received before nowMs - retention.readingsDays and aggregates older than nowMs - retention.aggregatesDays. */
  prune(nowMs: number): Promise<Pruned>;
  close(): Promise<void>;
}

/** Text from the wire as stored: cut to ERROR_TEXT_LIMIT, NUL shown as \0 (PostgreSQL text cannot hold NUL). */
export function storedText(text: string): string {
  return text.slice(0, ERROR_TEXT_LIMIT).replace(/\0/g, '\\0');
}

/** The minute a reading is aggregated under: its wall time (ts when synced, else when received), rounded down. */
export function minuteOf(r: Pick<Reading, 'synced' | 'timeMs'>, receivedMs: number): number {
  const wall = r.synced ? r.timeMs : receivedMs;
  return wall - (wall % MINUTE_MS);
}

/** Aggregates of readings (those a transaction added), one per (ch, kind, minute), in key order. */
export function aggregateOf(readings: readonly Reading[], receivedMs: number): AggregateRow[] {
  const groups = new Map<string, AggregateRow>();
  for (const r of readings) {
    const minute = minuteOf(r, receivedMs);
    const key = `${r.channel}/${r.kind}/${minute}`;
    const g = groups.get(key);
    if (g) {
      g.min = Math.min(g.min, r.value);
      g.max = Math.max(g.max, r.value);
      g.sum += r.value;
      g.count++;
    } else groups.set(key, { ch: r.channel, kind: r.kind, minute_ms: minute, min: r.value, max: r.value, sum: r.value, count: 1 });
  }
  return [...groups.values()].sort((a, b) => a.ch - b.ch || a.kind - b.kind || a.minute_ms - b.minute_ms);
}

/** Baseline and latest per temperature channel, from a device's first and last readings (kind 0). */
export function heatOf(dev: string, first: ReadonlyArray<{ ch: number; value: number }>, last: ReadonlyArray<{ ch: number; value: number }>): HeatRow[] {
  const out: HeatRow[] = [];
  const channels = new Map<number, number[]>();
  for (const r of first) channels.set(r.ch, [...(channels.get(r.ch) ?? []), r.value]);
  for (const [ch, values] of channels) {
    const latest = last.find((r) => r.ch === ch)?.value ?? values[values.length - 1]!;
    const sorted = values.sort((a, b) => a - b);
    out.push({ dev, ch, latest, baseline: sorted[sorted.length >> 1]! });
  }
  return out;
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** The URL with its password replaced by ***, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/**
 * Opens (and creates the tables of) a store: a postgres:// URL, or an SQLite file (`:memory:` too).
 * `log` hears what happens between calls (a PostgreSQL connection lost while idle).
 */
export async function openStore(db: string, retention: Retention = DEFAULT_RETENTION, log?: (message: string) => void): Promise<StationStore> {
  if (isPostgresUrl(db)) {
    const { PostgresStore } = await import('./store-pg');
    return PostgresStore.open(db, retention, log);
  }
  const { SqliteStore } = await import('./store-sqlite');
  return new SqliteStore(db, retention);
}
