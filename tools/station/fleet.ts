/*
 * `pipewatch fleet report`: the fleet metrics of docs/fleet.md from the station's database. The
 * heartbeats and OTA status events the station stored (tools/station/store.ts) are fed to the
 * portable metrics module (tools/fleet/metrics.ts) and its report is printed as a table, or as
 * JSON with --json. The station's /api/fleet/metrics serves the same JSON (fleetMetrics below).
 *
 * Window: --since DUR (back from now) or an ISO date, or `all`; --until likewise (default now).
 * Activation counts every device ever heard from, whatever the window (docs/fleet.md). The
 * heartbeats of the day before the window are fed too, so a device's sensor fault totals have a
 * starting point (faults are totals since boot); the report leaves that day out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { FleetMetrics, type FleetReport, type RegistryEntry } from '../fleet/metrics';
import type { StationStore } from './store';
import { Failure, oneLine, parseDuration, parseOptions, UsageError } from '../args';

export const FLEET_USAGE = `usage: npx pipewatch fleet report [--db FILE] [--registry FILE] [--since 30d] [--until DATE] [--json]
The fleet metrics (docs/fleet.md) from the station's database: activation rate, connectivity
uptime per line and day, firmware update success rate per version, monthly active devices and
a health score per line.
  --db FILE          the station's SQLite database (default .pipewatch/station.db)
  --registry FILE    the devices the plant installed: [{"id":"pipe-7","line":"L1"}, ...], or a
                     plant file (docs/leaks.md; its nodes and their lines). Without it, no
                     activation rate, and every device reports under its line ""
  --since DUR|DATE   start of the window: a duration back from now (30d, 12h), an ISO date
                     (2026-01-01 or 2026-01-01T06:00:00Z), or all (default 30d)
  --until DATE       end of the window: an ISO date or a duration back from now (default now)
  --json             the whole report as one JSON object (with the summary the simulator prints)
  -h, --help         this text
Exit codes: 0 report printed, 1 the database or registry cannot be read, 2 bad options.`;

const DAY_MS = 86_400_000;

/** The four headline figures (the simulator's `fleet` summary has the same keys). */
export interface FleetSummary {
  activationRate: number | null;
  connectivityUptime: number | null;
  otaSuccessRate: number | null;
  monthlyActiveDevices: Record<string, number>;
}

export function summaryOf(r: FleetReport): FleetSummary {
  return {
    activationRate: r.activation.rate,
    connectivityUptime: r.uptime.fleet,
    otaSuccessRate: r.ota.successRate,
    monthlyActiveDevices: r.monthlyActiveDevices,
  };
}

/** Reads a registry: the documented array of {id, line}, or a plant file's nodes. Throws with the file and the entry at fault. */
export function readRegistry(file: string): RegistryEntry[] {
  let body: unknown;
  try {
    body = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`registry ${file}: ${(error as NodeJS.ErrnoException).code ?? oneLine(error)}`);
  }
  const list = Array.isArray(body) ? body : typeof body === 'object' && body !== null && Array.isArray((body as { nodes?: unknown }).nodes) ? (body as { nodes: unknown[] }).nodes : undefined;
  if (!list) throw new Error(`registry ${file}: expected [{"id":"...","line":"..."}, ...] or a plant file with "nodes"`);
  const seen = new Set<string>();
  return list.map((e, i) => {
    const entry = e as { id?: unknown; line?: unknown };
    if (typeof entry !== 'object' || entry === null || typeof entry.id !== 'string' || entry.id === '') throw new Error(`registry ${file}: entry ${i} has no "id"`);
    if (entry.line !== undefined && typeof entry.line !== 'string') throw new Error(`registry ${file}: entry ${i} ("${entry.id}"): "line" is not text`);
    if (seen.has(entry.id)) throw new Error(`registry ${file}: "${entry.id}" is listed twice`);
    seen.add(entry.id);
    return { id: entry.id, line: entry.line as string | undefined };
  });
}

/** The report over [sinceMs, untilMs] from what the store holds. */
export async function fleetMetrics(store: StationStore, registry: readonly RegistryEntry[], sinceMs: number, untilMs: number): Promise<FleetReport> {
  const m = new FleetMetrics(registry);
  for (const dev of await store.heartbeatDevices()) m.addSeen(dev);
  const from = Number.isFinite(sinceMs) ? Math.floor(sinceMs / DAY_MS) * DAY_MS - DAY_MS : Number.MIN_SAFE_INTEGER;
  for (const row of await store.heartbeats(from, Number.isFinite(untilMs) ? untilMs : Number.MAX_SAFE_INTEGER)) {
    let hb;
    try {
      hb = JSON.parse(row.body);
    } catch {
      continue;
    }
    m.addHeartbeat(hb, row.received_ms);
  }
  for (const row of await store.otaEvents(Number.isFinite(sinceMs) ? sinceMs : Number.MIN_SAFE_INTEGER, Number.isFinite(untilMs) ? untilMs : Number.MAX_SAFE_INTEGER)) {
    let event;
    try {
      event = JSON.parse(row.body);
    } catch {
      continue;
    }
    if (typeof event === 'object' && event !== null && typeof event.event === 'string') m.addOtaStatus(row.dev, event, row.received_ms);
  }
  return m.report({ sinceMs, untilMs });
}

/** A --since / --until value: a duration back from `nowMs`, an ISO date (UTC unless it says), or `all`. */
export function parseWhen(text: string, flag: string, nowMs: number): number {
  if (text === 'all') return flag === '--since' ? -Infinity : Infinity;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
    if (Number.isNaN(t)) throw new UsageError(`${flag} takes a duration like 30d, an ISO date like 2026-01-01, or all; got "${text}"`);
    return t;
  }
  try {
    return nowMs - parseDuration(text, flag);
  } catch {
    throw new UsageError(`${flag} takes a duration like 30d, an ISO date like 2026-01-01, or all; got "${text}"`);
  }
}

const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)} %`);

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
}

/** The readable report. */
export function reportText(r: FleetReport, window: string): string {
  const out: string[] = [`fleet report, ${window}`];
  const a = r.activation;
  out.push(
    a.registered > 0
      ? `activation: ${a.activated} of ${a.registered} registered devices have connected (${pct(a.rate)})${a.unregistered.length ? `; ${a.unregistered.length} not in the registry` : ''}`
      : `activation: no registry (--registry FILE); ${a.unregistered.length} device(s) heard from`,
  );
  out.push(`connectivity uptime: ${pct(r.uptime.fleet)} over the window`);
  out.push(`firmware update success: ${pct(r.ota.successRate)}${Object.keys(r.ota.rollouts).length ? '' : ' (no update started in the window)'}`);
  const months = Object.entries(r.monthlyActiveDevices);
  out.push(`monthly active devices: ${months.length ? months.map(([m, n]) => `${m} ${n}`).join(', ') : 'none'}`);
  const lines = Object.entries(r.health);
  if (lines.length) {
    out.push('', 'per line:');
    const rows = [['line', 'devices', 'reporting', 'uptime', 'faulty', 'backlog', 'update failures', 'score']];
    for (const [line, h] of lines) {
      rows.push([line === '' ? '(none)' : line, String(h.devices), String(h.reporting), pct(h.uptime), pct(h.faultyShare), pct(h.backlogShare), pct(h.updateFailureRate), String(h.score)]);
    }
    out.push(...table(rows));
    const days = new Set<string>();
    for (const perDay of Object.values(r.uptime.lines)) for (const d of Object.keys(perDay)) days.add(d);
    const sorted = [...days].sort();
    if (sorted.length) {
      out.push('', 'connectivity uptime per line and day:');
      const shown = sorted.slice(-14);
      const rows2 = [['line', ...shown.map((d) => d.slice(5))]];
      for (const [line, perDay] of Object.entries(r.uptime.lines)) rows2.push([line === '' ? '(none)' : line, ...shown.map((d) => pct(perDay[d]?.uptime ?? null))]);
      out.push(...table(rows2));
      if (sorted.length > shown.length) out.push(`(the last ${shown.length} of ${sorted.length} days; --json has them all)`);
    }
  }
  const rollouts = Object.entries(r.ota.rollouts);
  if (rollouts.length) {
    out.push('', 'firmware updates per version:');
    const rows = [['version', 'started', 'confirmed', 'failed', 'pending', 'success', 'failures by reason']];
    for (const [v, m] of rollouts) {
      rows.push([v, String(m.started), String(m.confirmed), String(m.failed), String(m.pending), pct(m.successRate), Object.entries(m.failures).map(([k, n]) => `${k} ${n}`).join(', ') || '-']);
    }
    out.push(...table(rows));
  }
  return out.join('\n');
}

/** `pipewatch fleet <verb>`; tools/cli.ts runs it under runVerb (help, exit codes). */
export async function fleetCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb !== 'report') throw new UsageError(verb === undefined ? 'a verb is required: fleet report (see npx pipewatch fleet --help)' : `unknown verb "${verb}" (see npx pipewatch fleet --help)`);
  const { values } = parseOptions(
    rest,
    { db: { type: 'string' }, registry: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, json: { type: 'boolean' } },
    'npx pipewatch fleet report',
  );
  const nowMs = Date.now();
  const sinceMs = parseWhen((values.since as string | undefined) ?? '30d', '--since', nowMs);
  const untilMs = values.until === undefined ? nowMs : parseWhen(values.until as string, '--until', nowMs);
  if (sinceMs > untilMs) throw new UsageError('--since is after --until');
  const db = (values.db as string | undefined) ?? '.pipewatch/station.db';
  if (/^postgres(ql)?:/.test(db)) throw new UsageError('--db postgres:// is not supported yet; give the station\'s SQLite file');
  if (!/^postgres(ql)?:\/\//.test(db) && !existsSync(db)) throw new Failure(`--db ${db}: no such database (the station writes .pipewatch/station.db by default; --db FILE)`);
  let registry: RegistryEntry[] = [];
  if (values.registry !== undefined) {
    try {
      registry = readRegistry(values.registry as string);
    } catch (error) {
      throw new Failure(oneLine(error));
    }
  }
  const { openStore } = await import('./store');
  let store: StationStore;
  try {
    store = await openStore(db);
  } catch (error) {
    throw new Failure(`--db ${db}: ${oneLine(error)}`);
  }
  try {
    const report = await fleetMetrics(store, registry, sinceMs, untilMs);
    const iso = (t: number) => (Number.isFinite(t) ? new Date(t).toISOString() : 'all');
    if (values.json) {
      process.stdout.write(JSON.stringify({ since: iso(sinceMs), until: iso(untilMs), ...summaryOf(report), ...report }) + '\n');
    } else {
      process.stdout.write(reportText(report, `${iso(sinceMs)} to ${iso(untilMs)} (database ${db})`) + '\n');
    }
  } finally {
    await store.close();
  }
  return 0;
}
