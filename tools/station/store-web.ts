/*
 * The web side's tables and queries, written once for both store backends (SQLite and
 * PostgreSQL): portable SQL only (BIGINT times, DOUBLE PRECISION positions, INSERT ... ON
 * CONFLICT, no rowid, no SQLite- or PostgreSQL-only function), `?` placeholders that a
 * PostgreSQL runner numbers ($1, $2, ...; `numbered()`).
 *
 *   incidents(id, line, node, t_ms, pos_m, rule, relative_mc, raised_ms, acked_ms, acked_by)
 *     the fleet incidents the station raised (tools/station/incidents.ts); id is
 *     "<t_ms>-<node>", so raising the same incident again (a replay after a restart) is a no-op.
 *     Index incidents_time (t_ms).
 *   device_health(dev, received_ms, body): the latest health heartbeat of each device as
 *     received (JSON text, docs/payload.md): firmware version, cache backlog, sensor faults.
 *
 * A backend gives a SqlRunner over its connection; its store methods call these functions.
 */
import type { ReadingRow } from './store';

export const WEB_SCHEMA = `
CREATE TABLE IF NOT EXISTS incidents (
  id TEXT PRIMARY KEY, line TEXT NOT NULL, node TEXT NOT NULL, t_ms BIGINT NOT NULL, pos_m DOUBLE PRECISION NOT NULL,
  rule TEXT NOT NULL, relative_mc BIGINT NOT NULL, raised_ms BIGINT NOT NULL, acked_ms BIGINT, acked_by TEXT);
CREATE INDEX IF NOT EXISTS incidents_time ON incidents (t_ms);
CREATE TABLE IF NOT EXISTS device_health (dev TEXT PRIMARY KEY, received_ms BIGINT NOT NULL, body TEXT NOT NULL);
`;

/** What a backend runs the statements below with (`?` placeholders, values in order). */
export interface SqlRunner {
  all<R>(sql: string, values: readonly unknown[]): Promise<R[]>;
  /** Runs a write; resolves to the number of rows it changed. */
  run(sql: string, values: readonly unknown[]): Promise<number>;
}

/** `?` placeholders numbered for PostgreSQL ($1, $2, ...); the statements here hold no `?` in literals. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

export interface IncidentRow {
  id: string;
  line: string;
  node: string;
  t_ms: number;
  pos_m: number;
  rule: string;
  relative_mc: number;
  raised_ms: number;
  acked_ms: number | null;
  acked_by: string | null;
}

export interface HealthRow {
  dev: string;
  received_ms: number;
  body: string;
}

/** Longest heartbeat kept (docs/payload.md: up to 1 KiB). */
export const HEALTH_TEXT_LIMIT = 4096;
/** Longest "acknowledged by" text kept. */
export const ACKED_BY_LIMIT = 200;

/**
 * The methods the web side adds to a store (both backends), each a portable statement or two.
 * Times are ms since the epoch; nothing here holds a transaction open across calls.
 */
export class WebQueries {
  constructor(readonly sql: SqlRunner) {}

  /** Channel 0 temperature readings of a device after `afterSeq`, in seq order, at most `limit`. */
  temperaturesAfter(dev: string, afterSeq: number, limit: number): Promise<ReadingRow[]> {
    return this.sql.all<ReadingRow>(
      'SELECT seq, ts, sync, ch, kind, value, alert, received_ms FROM readings WHERE dev = ? AND seq > ? AND ch = 0 AND kind = 0 ORDER BY seq LIMIT ?',
      [dev, afterSeq, limit],
    );
  }

  /** The highest seq of a device's readings received before `beforeMs` (-1 when none). */
  async lastSeqBefore(dev: string, beforeMs: number): Promise<number> {
    const [row] = await this.sql.all<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM readings WHERE dev = ? AND received_ms < ?', [dev, beforeMs]);
    return row?.seq ?? -1;
  }

  /** Stores an incident; false when one with its id is already there. */
  async storeIncident(i: Omit<IncidentRow, 'acked_ms' | 'acked_by'>): Promise<boolean> {
    const changed = await this.sql.run(
      'INSERT INTO incidents (id, line, node, t_ms, pos_m, rule, relative_mc, raised_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      [i.id, i.line, i.node, i.t_ms, i.pos_m, i.rule, i.relative_mc, i.raised_ms],
    );
    return changed > 0;
  }

  /** The newest incidents first (by t_ms, then id), at most `limit`. */
  incidents(limit: number): Promise<IncidentRow[]> {
    return this.sql.all<IncidentRow>(
      'SELECT id, line, node, t_ms, pos_m, rule, relative_mc, raised_ms, acked_ms, acked_by FROM incidents ORDER BY t_ms DESC, id LIMIT ?',
      [limit],
    );
  }

  /** Marks an incident acknowledged (the first acknowledgement stays); false when there is no such incident. */
  async ackIncident(id: string, nowMs: number, by: string): Promise<boolean> {
    const found = (await this.sql.all('SELECT id FROM incidents WHERE id = ?', [id])).length > 0;
    if (found) await this.sql.run('UPDATE incidents SET acked_ms = ?, acked_by = ? WHERE id = ? AND acked_ms IS NULL', [nowMs, by.slice(0, ACKED_BY_LIMIT), id]);
    return found;
  }

  /** Keeps a device's latest health heartbeat (JSON text as received, cut to HEALTH_TEXT_LIMIT). */
  async storeHealth(dev: string, body: string, nowMs: number): Promise<void> {
    await this.sql.run(
      'INSERT INTO device_health (dev, received_ms, body) VALUES (?, ?, ?) ON CONFLICT (dev) DO UPDATE SET received_ms = excluded.received_ms, body = excluded.body',
      [dev, nowMs, body.slice(0, HEALTH_TEXT_LIMIT)],
    );
  }

  /** Every device's latest heartbeat, by device id. */
  health(): Promise<HealthRow[]> {
    return this.sql.all<HealthRow>('SELECT dev, received_ms, body FROM device_health ORDER BY dev', []);
  }
}
