/*
 * The station's PostgreSQL backend (`--db postgres://user:password@host:port/database`), through
 * the `pg` client. The same tables and columns as the SQLite store (store.ts), with 64-bit
 * integers where the values need them. Each write is one SQL statement: the readings insert
 * (ON CONFLICT (dev, seq) DO NOTHING) and, in data-modifying CTEs of the same statement, the
 * aggregates, the device row and the counters, computed from exactly the rows the insert added.
 * One statement is one transaction (autocommit), so a commit that fails changed nothing, and a
 * retry after a lost connection cannot count a reading twice. Several stations may write one
 * database at once: two inserts of one (dev, seq) serialise on the key and the second does
 * nothing; the aggregate rows are upserted in key order (no deadlock between two messages).
 *
 * PostgreSQL's default synchronous_commit = on: a statement has returned when its WAL is
 * flushed, so a commit is on disk before the station acknowledges the message.
 * Connection errors reject the call (the caller holds the acknowledgement and retries); the
 * pool replaces broken connections; an idle connection the server drops is logged, not thrown.
 */
import pg from 'pg';
import type { Reading } from '../../firmware/store';
import {
  BASELINE_READINGS,
  DAY_MS,
  DEFAULT_RETENTION,
  heatOf,
  LATEST_READINGS,
  MINUTE_MS,
  PRUNE_BATCH,
  redactUrl,
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
import { numbered, WEB_SCHEMA, WebQueries, type HealthRow, type IncidentRow } from './store-web';

/** Taken by the one process that creates the tables, so two stations starting at once do not race. */
const SCHEMA_LOCK = 0x70697065; // 'pipe'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  dev TEXT NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, sync SMALLINT NOT NULL,
  ch SMALLINT NOT NULL, kind SMALLINT NOT NULL, value INTEGER NOT NULL, alert SMALLINT NOT NULL,
  received_ms BIGINT NOT NULL, PRIMARY KEY (dev, seq));
CREATE INDEX IF NOT EXISTS readings_time ON readings (dev, received_ms);
CREATE INDEX IF NOT EXISTS readings_received ON readings (received_ms);
CREATE TABLE IF NOT EXISTS aggregates (
  dev TEXT NOT NULL, ch SMALLINT NOT NULL, kind SMALLINT NOT NULL, minute_ms BIGINT NOT NULL,
  min INTEGER NOT NULL, max INTEGER NOT NULL, sum BIGINT NOT NULL, count BIGINT NOT NULL,
  PRIMARY KEY (dev, ch, kind, minute_ms));
CREATE INDEX IF NOT EXISTS aggregates_time ON aggregates (minute_ms);
CREATE TABLE IF NOT EXISTS devices (
  dev TEXT PRIMARY KEY, first_seen_ms BIGINT NOT NULL, last_seen_ms BIGINT, status TEXT,
  status_ms BIGINT, ota_status TEXT, malformed BIGINT NOT NULL DEFAULT 0, last_error TEXT,
  readings BIGINT NOT NULL DEFAULT 0, alerts BIGINT NOT NULL DEFAULT 0, last_reading_ms BIGINT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (
  dev TEXT NOT NULL, boot BIGINT NOT NULL, up_ms BIGINT NOT NULL, ts BIGINT NOT NULL, sync SMALLINT NOT NULL,
  t_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (dev, boot, up_ms, ts));
CREATE INDEX IF NOT EXISTS heartbeats_time ON heartbeats (t_ms);
CREATE TABLE IF NOT EXISTS ota_events (
  dev TEXT NOT NULL, seq BIGINT NOT NULL, received_ms BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (dev, seq));
${WEB_SCHEMA}`;

// $1 dev, $2 boot, $3 up_ms, $4 ts, $5 sync, $6 t_ms, $7 now, $8 body: the heartbeat once, and the device seen.
const STORE_HEARTBEAT = `
WITH h AS (
  INSERT INTO heartbeats (dev, boot, up_ms, ts, sync, t_ms, received_ms, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (dev, boot, up_ms, ts) DO NOTHING RETURNING 1
), d AS (
  INSERT INTO devices (dev, first_seen_ms, last_seen_ms) VALUES ($1, $7, $7)
  ON CONFLICT (dev) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
)
SELECT count(*) AS added FROM h`;

// $1 dev, $2 now, $3 count of readings in the message, $4.. one array per column.
const STORE_READINGS = `
WITH ins AS (
  INSERT INTO readings (dev, seq, ts, sync, ch, kind, value, alert, received_ms)
  SELECT $1, r.seq, r.ts, r.sync, r.ch, r.kind, r.value, r.alert, $2
  FROM unnest($4::bigint[], $5::bigint[], $6::smallint[], $7::smallint[], $8::smallint[], $9::integer[], $10::smallint[])
    AS r (seq, ts, sync, ch, kind, value, alert)
  ORDER BY r.seq
  ON CONFLICT (dev, seq) DO NOTHING
  RETURNING ch, kind, value, alert, (CASE WHEN sync = 1 THEN ts ELSE received_ms END) / ${MINUTE_MS} * ${MINUTE_MS} AS minute_ms
), n AS (
  SELECT count(*) AS added, count(*) FILTER (WHERE alert = 1) AS alerts FROM ins
), agg AS (
  INSERT INTO aggregates (dev, ch, kind, minute_ms, min, max, sum, count)
  SELECT $1, ch, kind, minute_ms, min(value), max(value), sum(value), count(*) FROM ins
  GROUP BY ch, kind, minute_ms ORDER BY ch, kind, minute_ms
  ON CONFLICT (dev, ch, kind, minute_ms) DO UPDATE SET min = LEAST(aggregates.min, excluded.min),
    max = GREATEST(aggregates.max, excluded.max), sum = aggregates.sum + excluded.sum, count = aggregates.count + excluded.count
), dev AS (
  INSERT INTO devices (dev, first_seen_ms, last_seen_ms, readings, alerts, last_reading_ms)
  SELECT $1, $2, $2, n.added, n.alerts, CASE WHEN n.added > 0 THEN $2::bigint END FROM n
  ON CONFLICT (dev) DO UPDATE SET last_seen_ms = excluded.last_seen_ms, readings = devices.readings + excluded.readings,
    alerts = devices.alerts + excluded.alerts, last_reading_ms = COALESCE(excluded.last_reading_ms, devices.last_reading_ms)
), bump AS (
  INSERT INTO meta (key, value)
  SELECT k, v FROM n, LATERAL (VALUES ('duplicates', $3::bigint - n.added), ('ingested', n.added)) AS c (k, v) WHERE v > 0 ORDER BY k
  ON CONFLICT (key) DO UPDATE SET value = meta.value + excluded.value
)
SELECT added FROM n`;

const STORE_MALFORMED = `
WITH d AS (
  INSERT INTO devices (dev, first_seen_ms, malformed, last_error) VALUES ($1, $2, 1, $3)
  ON CONFLICT (dev) DO UPDATE SET malformed = devices.malformed + 1, last_error = excluded.last_error
)
INSERT INTO meta (key, value) VALUES ('malformed', 1) ON CONFLICT (key) DO UPDATE SET value = meta.value + 1`;

/** BIGINT, COUNT(*) and SUM() come back as numbers (every value here is below 2^53). */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

export class PostgresStore implements StationStore {
  readonly backend = 'postgres';
  readonly where: string;
  readonly #pool: pg.Pool;
  readonly #retention: Retention;
  readonly #web: WebQueries;
  #closed = false;

  private constructor(pool: pg.Pool, where: string, retention: Retention) {
    this.#pool = pool;
    this.#web = new WebQueries({
      all: async <R>(sql: string, values: readonly unknown[]) => (await pool.query(numbered(sql), [...values])).rows as R[],
      run: async (sql: string, values: readonly unknown[]) => (await pool.query(numbered(sql), [...values])).rowCount ?? 0,
    });
    this.where = where;
    this.#retention = retention;
  }

  /** Connects, creates the tables if they are missing, and returns the store. Rejects if the server cannot be reached. */
  static async open(url: string, retention: Retention = DEFAULT_RETENTION, onIdleError?: (message: string) => void): Promise<PostgresStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      types: TYPES,
      application_name: 'pipewatch-station',
    });
    // A pooled connection the server closes while idle (restart, failover) is dropped by the
    // pool; without a listener the error would end the process.
    pool.on('error', (error) => onIdleError?.(`database connection lost: ${error.message}`));
    try {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => {});
      throw new Error(`PostgreSQL ${redactUrl(url)}: ${(error as Error).message}`);
    }
    return new PostgresStore(pool, redactUrl(url), retention);
  }

  async #query<R extends pg.QueryResultRow>(name: string | undefined, text: string, values: unknown[]): Promise<R[]> {
    const result = await this.#pool.query<R>(name ? { name, text, values } : { text, values });
    return result.rows;
  }

  async storeReadings(dev: string, readings: readonly Reading[], nowMs: number): Promise<{ added: number; duplicates: number }> {
    const col = <T>(f: (r: Reading) => T): T[] => readings.map(f);
    const [row] = await this.#query<{ added: number }>('store-readings', STORE_READINGS, [
      dev,
      nowMs,
      readings.length,
      col((r) => r.seq),
      col((r) => r.timeMs),
      col((r) => (r.synced ? 1 : 0)),
      col((r) => r.channel),
      col((r) => r.kind),
      col((r) => r.value),
      col((r) => (r.alert ? 1 : 0)),
    ]);
    const added = row!.added;
    return { added, duplicates: readings.length - added };
  }

  async storeMalformed(dev: string, error: string, nowMs: number): Promise<void> {
    await this.#query('store-malformed', STORE_MALFORMED, [dev, nowMs, storedText(error)]);
  }

  async storeStatus(dev: string, status: string, nowMs: number): Promise<void> {
    await this.#query(
      'store-status',
      'INSERT INTO devices (dev, first_seen_ms, status, status_ms) VALUES ($1, $2, $3, $2) ON CONFLICT (dev) DO UPDATE SET status = excluded.status, status_ms = excluded.status_ms',
      [dev, nowMs, storedText(status)],
    );
  }

  async storeOtaStatus(dev: string, text: string, nowMs: number): Promise<void> {
    await this.#query(
      'store-ota',
      'INSERT INTO devices (dev, first_seen_ms, ota_status, last_seen_ms) VALUES ($1, $2, $3, $2) ON CONFLICT (dev) DO UPDATE SET ota_status = excluded.ota_status, last_seen_ms = excluded.last_seen_ms',
      [dev, nowMs, storedText(text)],
    );
  }

  async storeHeartbeat(hb: HeartbeatKey, body: string, nowMs: number): Promise<boolean> {
    const [row] = await this.#query<{ added: number }>('store-heartbeat', STORE_HEARTBEAT, [
      hb.dev, hb.boot ?? -1, hb.up_ms, hb.ts, hb.sync ? 1 : 0, hb.sync ? hb.ts : nowMs, nowMs, body.replace(/\0/g, '\\0'),
    ]);
    return row!.added > 0;
  }

  async storeOtaEvent(dev: string, body: string, nowMs: number, redelivered = false): Promise<void> {
    await this.#query(
      'store-ota-event',
      'INSERT INTO ota_events (dev, seq, received_ms, body) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM ota_events WHERE dev = $1 ' +
        'HAVING NOT ($4::boolean AND EXISTS (SELECT 1 FROM ota_events l WHERE l.dev = $1 AND l.body = $3 AND l.seq = (SELECT MAX(seq) FROM ota_events WHERE dev = $1)))',
      [dev, nowMs, body.replace(/\0/g, '\\0'), redelivered],
    );
  }

  async heartbeats(fromMs: number, toMs: number): Promise<HeartbeatRow[]> {
    return this.#query<HeartbeatRow>('heartbeats', 'SELECT dev, received_ms, body FROM heartbeats WHERE t_ms BETWEEN $1 AND $2 ORDER BY dev COLLATE "C", t_ms, up_ms', [fromMs, toMs]);
  }

  async heartbeatDevices(): Promise<string[]> {
    return (await this.#query<{ dev: string }>('heartbeat-devices', 'SELECT DISTINCT dev COLLATE "C" AS dev FROM heartbeats ORDER BY 1', [])).map((r) => r.dev);
  }

  async otaEvents(fromMs: number, toMs: number): Promise<OtaEventRow[]> {
    return this.#query<OtaEventRow>('ota-events', 'SELECT dev, seq, received_ms, body FROM ota_events WHERE received_ms BETWEEN $1 AND $2 ORDER BY dev COLLATE "C", seq', [fromMs, toMs]);
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
    return this.#web.storeHealth(dev, body.replace(/\0/g, '\\0'), nowMs);
  }

  health(): Promise<HealthRow[]> {
    return this.#web.health();
  }

  async counters(): Promise<Counters> {
    const out: Counters = { ingested: 0, duplicates: 0, malformed: 0 };
    for (const row of await this.#query<{ key: string; value: number }>('counters', 'SELECT key, value FROM meta', [])) {
      if (row.key in out) out[row.key as keyof Counters] = row.value;
    }
    return out;
  }

  async devices(nowMs: number): Promise<DeviceRow[]> {
    return this.#query<DeviceRow>(
      'devices',
      `SELECT d.*, (SELECT COUNT(*) FROM readings r WHERE r.dev = d.dev AND r.received_ms > $1) AS last_hour
       FROM devices d ORDER BY d.dev COLLATE "C"`,
      [nowMs - 3_600_000],
    );
  }

  async device(dev: string, nowMs: number): Promise<DeviceRow | undefined> {
    return (await this.devices(nowMs)).find((d) => d.dev === dev);
  }

  async readings(dev: string, fromMs: number, toMs: number): Promise<ReadingRow[]> {
    return this.#query<ReadingRow>(
      'readings',
      'SELECT seq, ts, sync, ch, kind, value, alert, received_ms FROM readings WHERE dev = $1 AND received_ms BETWEEN $2 AND $3 ORDER BY seq',
      [dev, fromMs, toMs],
    );
  }

  async aggregates(dev: string, fromMs: number, toMs: number): Promise<AggregateRow[]> {
    return this.#query<AggregateRow>(
      'aggregates',
      'SELECT ch, kind, minute_ms, min, max, sum, count FROM aggregates WHERE dev = $1 AND minute_ms BETWEEN $2 AND $3 ORDER BY minute_ms, ch, kind',
      [dev, fromMs, toMs],
    );
  }

  async heat(): Promise<HeatRow[]> {
    const out: HeatRow[] = [];
    const devs = await this.#query<{ dev: string }>('heat-devs', 'SELECT dev FROM devices WHERE readings > 0 ORDER BY dev COLLATE "C"', []);
    for (const { dev } of devs) {
      const first = await this.#query<{ ch: number; value: number }>('heat-first', 'SELECT ch, value FROM readings WHERE dev = $1 AND kind = 0 ORDER BY seq LIMIT $2', [dev, BASELINE_READINGS]);
      const last = await this.#query<{ ch: number; value: number }>('heat-last', 'SELECT ch, value FROM readings WHERE dev = $1 AND kind = 0 ORDER BY seq DESC LIMIT $2', [dev, LATEST_READINGS]);
      out.push(...heatOf(dev, first, last));
    }
    return out;
  }

  async prune(nowMs: number): Promise<Pruned> {
    const out: Pruned = { readings: 0, aggregates: 0 };
    const rawBefore = nowMs - this.#retention.readingsDays * DAY_MS;
    const aggBefore = nowMs - this.#retention.aggregatesDays * DAY_MS;
    const batch = async (name: string, text: string, before: number): Promise<number> => (await this.#pool.query({ name, text, values: [before, PRUNE_BATCH] })).rowCount ?? 0;
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; out.readings += n) {
      n = await batch('prune-readings', 'DELETE FROM readings WHERE ctid = ANY (ARRAY(SELECT ctid FROM readings WHERE received_ms < $1 LIMIT $2))', rawBefore);
    }
    for (let n = PRUNE_BATCH; n === PRUNE_BATCH; out.aggregates += n) {
      n = await batch('prune-aggregates', 'DELETE FROM aggregates WHERE ctid = ANY (ARRAY(SELECT ctid FROM aggregates WHERE minute_ms < $1 LIMIT $2))', aggBefore);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
