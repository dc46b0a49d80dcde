/*
 * Fleet metrics from the nodes' health heartbeats (pipewatch/<dev>/health, docs/payload.md) and
 * OTA status events (pipewatch/<dev>/ota/status, docs/ota.md), each defined in docs/fleet.md:
 * activation rate, connectivity uptime per device and per line per day, firmware update success
 * rate per version, monthly active devices, and a health score per line.
 *
 * A portable module (no Node API; checked by test/portability.test.ts) for the receiving side:
 * the station and the simulator feed it messages as they arrive and ask for a report. Memory:
 * one record per device and day, per device and OTA version; a heartbeat adds to sums.
 */

export interface RegistryEntry {
  id: string;
  /** The line (pipe run) the device is installed on; devices without one report under "". */
  line?: string;
}

/** The heartbeat keys the metrics read (the rest of docs/payload.md's shape may be there too). */
export interface FleetHeartbeat {
  dev: string;
  n?: number;
  ts: number;
  sync: boolean;
  up_ms: number;
  conn_ms: number;
  exp_ms: number;
  boot?: number;
  pending?: number;
  oldest_age_ms?: number;
  faults?: Array<[number, string, number]>;
}

export interface OtaStatus {
  event: string;
  version?: string;
  reason?: string;
}

export interface DaySums {
  connectedMs: number;
  expectedMs: number;
  /** connectedMs / expectedMs, or null when nothing was expected. */
  uptime: number | null;
}

export interface RolloutMetrics {
  /** Devices that started downloading this version (any event of it but `refused`). */
  started: number;
  /** Of those, confirmed after the health gate. */
  confirmed: number;
  /** Of those, failed or rolled back (their last outcome). */
  failed: number;
  /** Still under way (no outcome yet). */
  pending: number;
  /** confirmed / started, or null when none started. */
  successRate: number | null;
  /** Failures by reason (`rolledBack` for a rollback). */
  failures: Record<string, number>;
}

export interface LineHealth {
  /** 0..100, see docs/fleet.md. */
  score: number;
  devices: number;
  reporting: number;
  uptime: number | null;
  faultyShare: number;
  backlogShare: number;
  updateFailureRate: number;
}

export interface FleetReport {
  activation: { registered: number; activated: number; rate: number | null; unregistered: string[] };
  uptime: {
    fleet: number | null;
    devices: Record<string, Record<string, DaySums>>;
    lines: Record<string, Record<string, DaySums>>;
  };
  ota: { successRate: number | null; rollouts: Record<string, RolloutMetrics> };
  monthlyActiveDevices: Record<string, number>;
  health: Record<string, LineHealth>;
}

export interface ReportOptions {
  /** Only heartbeats (and their days) at or after this time, ms since 1970. */
  sinceMs?: number;
  untilMs?: number;
  /** A device whose oldest unacknowledged reading is older than this is backlogged (default 1 h). */
  backlogAgeMs?: number;
}

/** Health score weights (docs/fleet.md): uptime, no faults, no backlog, no update failures. */
export const SCORE_WEIGHTS = { uptime: 0.4, faults: 0.2, backlog: 0.2, updates: 0.2 } as const;

const DAY_MS = 86_400_000;

/** UTC calendar day of `ms` as YYYY-MM-DD (civil-from-days, no Date object). */
export function dayOf(ms: number): string {
  const z = Math.floor(ms / DAY_MS) + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

interface DeviceDay {
  day: string;
  tMs: number;
  connectedMs: number;
  expectedMs: number;
  faults: number;
}

interface DeviceState {
  id: string;
  days: Map<string, DeviceDay>;
  /** Cumulative fault total of the last heartbeat, and its uptime and boot (to tell a reboot). */
  lastFaults: number;
  lastUp: number;
  lastBoot: number | undefined;
  latestMs: number;
  latest: FleetHeartbeat | undefined;
}

export class FleetMetrics {
  readonly #line = new Map<string, string>();
  readonly #devices = new Map<string, DeviceState>();
  /** Per version, per device: 'started' | 'confirmed' | 'failed:<reason>'; and the time of the outcome. */
  readonly #ota = new Map<string, Map<string, { state: string; tMs: number }>>();
  /** Per device, the version it is downloading (for events without a version). */
  readonly #current = new Map<string, string>();
  /** Heartbeats refused (no usable time or numbers). */
  rejected = 0;

  constructor(registry: readonly RegistryEntry[]) {
    for (const e of registry) this.#line.set(e.id, e.line ?? '');
  }

  /**
   * One heartbeat as received. Its time is `ts` when the node's clock was synchronised, else
   * `rxMs` (when the station received it); without either it is refused (counted).
   */
  addHeartbeat(hb: FleetHeartbeat, rxMs?: number): void {
    const t = hb.sync ? hb.ts : rxMs;
    if (typeof hb.dev !== 'string' || typeof t !== 'number' || !Number.isFinite(t) || !(hb.conn_ms >= 0) || !(hb.exp_ms >= 0) || hb.conn_ms > hb.exp_ms + 1000) {
      this.rejected++;
      return;
    }
    let d = this.#devices.get(hb.dev);
    if (!d) {
      d = { id: hb.dev, days: new Map(), lastFaults: 0, lastUp: -1, lastBoot: undefined, latestMs: -Infinity, latest: undefined };
      this.#devices.set(hb.dev, d);
    }
    const day = dayOf(t);
    let dd = d.days.get(day);
    if (!dd) {
      dd = { day, tMs: Math.floor(t / DAY_MS) * DAY_MS, connectedMs: 0, expectedMs: 0, faults: 0 };
      d.days.set(day, dd);
    }
    dd.connectedMs += Math.min(hb.conn_ms, hb.exp_ms);
    dd.expectedMs += hb.exp_ms;
    let total = 0;
    for (const f of hb.faults ?? []) if (Array.isArray(f) && typeof f[2] === 'number' && f[2] > 0) total += f[2];
    // Fault counts are totals since boot: a new boot (uptime went back, or another boot count) starts again from 0.
    const sameBoot = hb.up_ms >= d.lastUp && (hb.boot === undefined || hb.boot === d.lastBoot);
    dd.faults += sameBoot ? Math.max(0, total - d.lastFaults) : total;
    d.lastFaults = total;
    d.lastUp = hb.up_ms;
    d.lastBoot = hb.boot;
    if (t >= d.latestMs) {
      d.latestMs = t;
      d.latest = hb;
    }
  }

  /**
   * `dev` sent a heartbeat at some time outside the data fed (for activation, which is not
   * limited by a report's window): a station that feeds only a window's heartbeats names the
   * devices ever heard from here. Adds no time to any sum.
   */
  addSeen(dev: string): void {
    if (typeof dev !== 'string' || this.#devices.has(dev)) return;
    this.#devices.set(dev, { id: dev, days: new Map(), lastFaults: 0, lastUp: -1, lastBoot: undefined, latestMs: -Infinity, latest: undefined });
  }

  /** One OTA status event of `dev` at `tMs`. */
  addOtaStatus(dev: string, status: OtaStatus, tMs: number): void {
    const version = status.version ?? this.#current.get(dev);
    if (version === undefined || status.event === 'refused' || status.event === 'booted') return;
    this.#current.set(dev, version);
    let devices = this.#ota.get(version);
    if (!devices) {
      devices = new Map();
      this.#ota.set(version, devices);
    }
    const prev = devices.get(dev);
    let state = prev?.state ?? 'started';
    if (status.event === 'confirmed') state = 'confirmed';
    else if (status.event === 'rolledBack') state = 'failed:rolledBack';
    else if (status.event === 'failed') state = `failed:${status.reason ?? 'unknown'}`;
    // A new download of a version that failed before is under way again.
    else if (state.startsWith('failed:')) state = 'started';
    devices.set(dev, { state, tMs });
  }

  report(o: ReportOptions = {}): FleetReport {
    const since = o.sinceMs ?? -Infinity;
    const until = o.untilMs ?? Infinity;
    const backlogAge = o.backlogAgeMs ?? 3_600_000;
    const inWindow = (dayStart: number) => dayStart + DAY_MS > since && dayStart <= until;
    const lineOf = (id: string) => this.#line.get(id) ?? '';

    let activated = 0;
    for (const id of this.#line.keys()) if (this.#devices.has(id)) activated++;
    const unregistered = [...this.#devices.keys()].filter((id) => !this.#line.has(id)).sort();

    const devices: Record<string, Record<string, DaySums>> = {};
    const lines: Record<string, Record<string, DaySums>> = {};
    const months = new Map<string, Set<string>>();
    const lineSums = new Map<string, { conn: number; exp: number; faulty: Set<string>; reporting: Set<string>; backlogged: Set<string> }>();
    let fleetConn = 0;
    let fleetExp = 0;
    const sumsOf = (line: string) => {
      let s = lineSums.get(line);
      if (!s) {
        s = { conn: 0, exp: 0, faulty: new Set(), reporting: new Set(), backlogged: new Set() };
        lineSums.set(line, s);
      }
      return s;
    };
    for (const id of [...this.#devices.keys()].sort()) {
      const d = this.#devices.get(id)!;
      const line = lineOf(id);
      const ls = sumsOf(line);
      for (const dd of [...d.days.values()].sort((a, b) => a.tMs - b.tMs)) {
        if (!inWindow(dd.tMs)) continue;
        (devices[id] ??= {})[dd.day] = sums(dd.connectedMs, dd.expectedMs);
        const perLine = (lines[line] ??= {});
        const prev = perLine[dd.day];
        perLine[dd.day] = sums((prev?.connectedMs ?? 0) + dd.connectedMs, (prev?.expectedMs ?? 0) + dd.expectedMs);
        fleetConn += dd.connectedMs;
        fleetExp += dd.expectedMs;
        ls.conn += dd.connectedMs;
        ls.exp += dd.expectedMs;
        ls.reporting.add(id);
        if (dd.faults > 0) ls.faulty.add(id);
        const month = dd.day.slice(0, 7);
        let set = months.get(month);
        if (!set) months.set(month, (set = new Set()));
        set.add(id);
      }
      const latest = d.latest;
      if (latest && d.latestMs >= since && d.latestMs <= until && latest.oldest_age_ms !== undefined && latest.oldest_age_ms > backlogAge) ls.backlogged.add(id);
    }
    const monthlyActiveDevices: Record<string, number> = {};
    for (const m of [...months.keys()].sort()) monthlyActiveDevices[m] = months.get(m)!.size;

    const rollouts: Record<string, RolloutMetrics> = {};
    const lineOta = new Map<string, { started: number; failed: number }>();
    let allStarted = 0;
    let allConfirmed = 0;
    for (const version of [...this.#ota.keys()].sort()) {
      const r: RolloutMetrics = { started: 0, confirmed: 0, failed: 0, pending: 0, successRate: null, failures: {} };
      for (const [dev, { state, tMs }] of this.#ota.get(version)!) {
        if (tMs < since || tMs > until) continue;
        r.started++;
        const lo = lineOta.get(lineOf(dev)) ?? { started: 0, failed: 0 };
        lo.started++;
        if (state === 'confirmed') r.confirmed++;
        else if (state.startsWith('failed:')) {
          r.failed++;
          lo.failed++;
          const reason = state.slice('failed:'.length);
          r.failures[reason] = (r.failures[reason] ?? 0) + 1;
        } else r.pending++;
        lineOta.set(lineOf(dev), lo);
      }
      if (r.started === 0) continue;
      r.successRate = r.confirmed / r.started;
      allStarted += r.started;
      allConfirmed += r.confirmed;
      rollouts[version] = r;
    }

    const health: Record<string, LineHealth> = {};
    const lineNames = new Set<string>([...this.#line.values(), ...lineSums.keys()]);
    for (const line of [...lineNames].sort()) {
      const s = sumsOf(line);
      let registered = 0;
      for (const l of this.#line.values()) if (l === line) registered++;
      const reporting = s.reporting.size;
      const uptime = s.exp > 0 ? s.conn / s.exp : null;
      const faultyShare = reporting > 0 ? s.faulty.size / reporting : 0;
      const backlogShare = reporting > 0 ? s.backlogged.size / reporting : 0;
      const lo = lineOta.get(line);
      const updateFailureRate = lo && lo.started > 0 ? lo.failed / lo.started : 0;
      const w = SCORE_WEIGHTS;
      const score = Math.round(100 * (w.uptime * (uptime ?? 0) + w.faults * (1 - faultyShare) + w.backlog * (1 - backlogShare) + w.updates * (1 - updateFailureRate)));
      health[line] = { score, devices: Math.max(registered, reporting), reporting, uptime, faultyShare, backlogShare, updateFailureRate };
    }

    const registered = this.#line.size;
    return {
      activation: { registered, activated, rate: registered > 0 ? activated / registered : null, unregistered },
      uptime: { fleet: fleetExp > 0 ? fleetConn / fleetExp : null, devices, lines },
      ota: { successRate: allStarted > 0 ? allConfirmed / allStarted : null, rollouts },
      monthlyActiveDevices,
      health,
    };
  }
}

function sums(connectedMs: number, expectedMs: number): DaySums {
  return { connectedMs, expectedMs, uptime: expectedMs > 0 ? connectedMs / expectedMs : null };
}
