/*
 * Fleet-level leak incidents: a portable module (no Node API; ES2022 only, checked by
 * test/portability.test.ts) used by the receiving-side tools (`pipewatch detect`,
 * `pipewatch incidents`) and the simulator. It sits in tools/ because it runs on the receiving
 * side, never on a node; it is portable so the same code runs under Node, XS and in tests.
 *
 * It is fed every node's readings (time order across the fleet) and node alerts, and knows the
 * plant map (line, position). It raises an incident only when the evidence is local:
 *
 * - Each node's excess q = max(0, reading - baseline), the baseline of the firmware's own edge detector
 *   (firmware/detect.ts, defaults) run here per node: it follows the daily swing, and across a
 *   shutdown it remembers the operating level, so a restart is not an excess.
 * - Relative excess r = q - median(q of the nodes up to 4 positions either side, at their last
 *   readings, at most a minute old). A rise shared by most of a line within minutes (a restart,
 *   a process change) has r near 0 everywhere; a leak is one node or two adjacent ones with r
 *   well above 0.
 * - Local: of the nodes up to 3 positions either side, at most one has r at least half of this
 *   node's r, and it is adjacent. A wide sun patch warms several nodes alike and is not local.
 * - An incident is raised (a) when a node alert is followed within 5 minutes by r >= 3 °C and
 *   local; (b) when r >= 5 °C on two consecutive readings and local (the edge was blind, e.g.
 *   in its recovery after a restart); (c) for small slow rises the edge missed: a one-sided
 *   CUSUM of r (slack 2 °C, limit 10 °C x min) with r >= 2 °C and local. Each holds on
 *   two consecutive readings of the node (a glitch raises nothing).
 * - Position: the centroid of the positions of the node and its two neighbours, weighted by
 *   their positive r. Further incidents within 2 positions are merged until the node's r has
 *   stayed under 1 °C for 30 minutes.
 *
 * Memory: typed arrays per node sized at construction; one reading allocates nothing (an
 * incident allocates its record).
 */
import { LeakDetector, type LeakOptions } from '../../firmware/detect';

export interface FleetNode {
  id: string;
  line: string;
  posM: number;
}

export interface Incident {
  line: string;
  node: string;
  tMs: number;
  /** Estimated leak position along the line, m. */
  posM: number;
  /** What raised it: a node alert confirmed as local, a fast relative rise, or the relative CUSUM. */
  rule: 'alert' | 'relative' | 'cusum';
  /** Relative excess of the node over its neighbours when raised, m°C. */
  relativeMilliCelsius: number;
}

export interface FleetOptions {
  /** Options of the per-node baseline detector (default: the firmware's defaults). */
  baseline?: LeakOptions;
  neighbours?: number;
  alertRelativeMilliCelsius?: number;
  alertWindowMs?: number;
  fastRelativeMilliCelsius?: number;
  cusumSlackMilliCelsius?: number;
  cusumLimitMilliCelsiusMinutes?: number;
  closeMs?: number;
  /** No incident from a node's first readings, ms (its baseline settles). */
  warmupMs?: number;
  /** Nodes the fleet can hold (the map's nodes plus those `add()` brings; default: the map's). */
  capacity?: number;
}
const STALE_MS = 60_000;

export class Fleet {
  readonly nodes: FleetNode[] = [];
  readonly #index = new Map<string, number>();
  /** Per line, node indices in position order. */
  readonly #lines: number[][] = [];
  readonly #lineOf: Int32Array;
  readonly #rank: Int32Array;
  readonly #t: Float64Array;
  readonly #q: Float64Array;
  readonly #first: Float64Array;
  readonly #baseline: LeakDetector[] = [];
  readonly #baselineOptions: LeakOptions | undefined;
  readonly #r: Float64Array;
  readonly #cusum: Float64Array;
  readonly #fastRun: Uint8Array;
  readonly #localRun: Uint8Array;
  readonly #pendingAlert: Float64Array;
  readonly #openUntil: Float64Array;
  readonly #quietSince: Float64Array;
  readonly #scratch: Float64Array;
  readonly #o: Required<Omit<FleetOptions, 'baseline' | 'capacity'>>;
  readonly lineIds: string[] = [];
  incidents = 0;
  /** Node alerts that were not local within the window (a warm-up, a sun patch, ...). */
  alertsSuppressed = 0;
  onIncident: (incident: Incident) => void = () => {};

  constructor(nodes: readonly FleetNode[], options: FleetOptions = {}) {
    this.#o = {
      neighbours: options.neighbours ?? 4,
      alertRelativeMilliCelsius: options.alertRelativeMilliCelsius ?? 3000,
      alertWindowMs: options.alertWindowMs ?? 300_000,
      fastRelativeMilliCelsius: options.fastRelativeMilliCelsius ?? 5000,
      cusumSlackMilliCelsius: options.cusumSlackMilliCelsius ?? 2000,
      cusumLimitMilliCelsiusMinutes: options.cusumLimitMilliCelsiusMinutes ?? 10_000,
      closeMs: options.closeMs ?? 1_800_000,
      warmupMs: options.warmupMs ?? 600_000,
    };
    const n = Math.max(nodes.length, options.capacity ?? 0);
    this.#baselineOptions = options.baseline;
    this.#lineOf = new Int32Array(n);
    this.#rank = new Int32Array(n);
    this.#t = new Float64Array(n).fill(NaN);
    this.#q = new Float64Array(n);
    this.#first = new Float64Array(n).fill(NaN);
    this.#r = new Float64Array(n);
    this.#cusum = new Float64Array(n);
    this.#fastRun = new Uint8Array(n);
    this.#localRun = new Uint8Array(n);
    this.#pendingAlert = new Float64Array(n).fill(-Infinity);
    this.#openUntil = new Float64Array(n).fill(-Infinity);
    this.#quietSince = new Float64Array(n);
    this.#scratch = new Float64Array(2 * this.#o.neighbours + 1);
    for (const node of nodes) if (this.add(node) < 0) throw new Error(`fleet: node ${node.id} appears twice`);
  }

  /** Adds a node to the map; returns its index, or -1 when the id is taken or the fleet is full. */
  add(node: FleetNode): number {
    if (this.#index.has(node.id) || this.nodes.length >= this.#t.length) return -1;
    const i = this.nodes.length;
    this.nodes.push(node);
    this.#index.set(node.id, i);
    this.#baseline.push(new LeakDetector(1, this.#baselineOptions));
    let l = this.lineIds.indexOf(node.line);
    if (l < 0) {
      l = this.lineIds.length;
      this.lineIds.push(node.line);
      this.#lines.push([]);
    }
    this.#lineOf[i] = l;
    const line = this.#lines[l]!;
    line.push(i);
    line.sort((a, b) => this.nodes[a]!.posM - this.nodes[b]!.posM);
    line.forEach((j, k) => (this.#rank[j] = k));
    return i;
  }

  indexOf(id: string): number {
    return this.#index.get(id) ?? -1;
  }

  /** A node alert (its edge detector fired) at tMs. */
  alert(node: number, tMs: number): void {
    if (node < 0 || node >= this.nodes.length) return;
    if (this.#open(node, tMs)) return;
    this.#pendingAlert[node] = tMs;
    this.#check(node, tMs, false);
  }

  /** A reading of a node, m°C, at tMs (readings across the fleet in time order). */
  reading(node: number, tMs: number, milliCelsius: number): void {
    if (node < 0 || node >= this.nodes.length || !Number.isFinite(tMs) || !Number.isFinite(milliCelsius)) return;
    const last = this.#t[node]!;
    if (!(tMs > last) && !Number.isNaN(last)) return;
    if (Number.isNaN(last) || tMs - last > 10 * STALE_MS) {
      this.#first[node] = tMs;
      this.#cusum[node] = 0;
      this.#fastRun[node] = 0;
    }
    const baseline = this.#baseline[node]!;
    baseline.update(0, tMs, milliCelsius);
    this.#t[node] = tMs;
    // One-sided: a line cooling down (nodes of higher base cool by more) is no evidence.
    const q = milliCelsius - baseline.baseline(0);
    this.#q[node] = q > 0 ? q : 0;
    const dt = Number.isNaN(last) ? 0 : Math.min(tMs - last, STALE_MS);
    const r = this.#relative(node, tMs);
    this.#r[node] = r;
    const o = this.#o;
    const c = this.#cusum[node]! + ((r < 8000 ? r : 8000) - o.cusumSlackMilliCelsius) * (dt / 60_000);
    this.#cusum[node] = c > 0 ? c : 0;
    this.#fastRun[node] = r >= o.fastRelativeMilliCelsius ? Math.min(255, this.#fastRun[node]! + 1) : 0;
    // An open incident closes once its node has been quiet long enough (checked before the
    // quiet spell this reading may end).
    const quiet = this.#quietSince[node]!;
    if (this.#openUntil[node] === Infinity && quiet > 0 && tMs - quiet >= o.closeMs) this.#openUntil[node] = -Infinity;
    if (r < 1000) {
      if (quiet <= 0) this.#quietSince[node] = tMs;
    } else this.#quietSince[node] = 0;
    this.#check(node, tMs, true);
  }

  /** The relative excess of a node over its neighbours at its last reading, m°C. */
  relative(node: number): number {
    return this.#r[node]!;
  }

  #excessAt(j: number, tMs: number): number {
    const t = this.#t[j]!;
    return Number.isNaN(t) || tMs - t > STALE_MS ? NaN : this.#q[j]!;
  }

  #relative(node: number, tMs: number): number {
    const line = this.#lines[this.#lineOf[node]!]!;
    const rank = this.#rank[node]!;
    const k = this.#o.neighbours;
    const s = this.#scratch;
    let n = 0;
    for (let p = Math.max(0, rank - k); p <= Math.min(line.length - 1, rank + k); p++) {
      if (p === rank) continue;
      const q = this.#excessAt(line[p]!, tMs);
      if (Number.isNaN(q)) continue;
      // Insertion into the sorted scratch: at most 2k values.
      let i = n++;
      while (i > 0 && s[i - 1]! > q) {
        s[i] = s[i - 1]!;
        i--;
      }
      s[i] = q;
    }
    if (n < 2) return 0;
    const median = n % 2 ? s[n >> 1]! : (s[(n >> 1) - 1]! + s[n >> 1]!) / 2;
    return this.#q[node]! - median;
  }

  #local(node: number): boolean {
    const line = this.#lines[this.#lineOf[node]!]!;
    const rank = this.#rank[node]!;
    const half = this.#r[node]! / 2;
    let others = 0;
    for (let p = Math.max(0, rank - 3); p <= Math.min(line.length - 1, rank + 3); p++) {
      if (p === rank) continue;
      if (this.#r[line[p]!]! >= half) {
        if (p < rank - 1 || p > rank + 1) return false;
        others++;
      }
    }
    return others <= 1;
  }

  /** An incident is open within 2 positions of the node. */
  #open(node: number, tMs: number): boolean {
    const line = this.#lines[this.#lineOf[node]!]!;
    const rank = this.#rank[node]!;
    for (let p = Math.max(0, rank - 2); p <= Math.min(line.length - 1, rank + 2); p++) {
      const j = line[p]!;
      if (this.#openUntil[j]! === Infinity) {
        const quiet = this.#quietSince[j]!;
        if (quiet > 0 && tMs - quiet >= this.#o.closeMs) this.#openUntil[j] = -Infinity;
        else return true;
      }
    }
    return false;
  }

  #check(node: number, tMs: number, reading: boolean): void {
    const o = this.#o;
    const r = this.#r[node]!;
    const pending = tMs - this.#pendingAlert[node]! <= o.alertWindowMs;
    if (!pending && this.#pendingAlert[node]! > -Infinity) {
      this.#pendingAlert[node] = -Infinity;
      this.alertsSuppressed++;
    }
    // Two consecutive readings of the node must be local and up (one glitch raises nothing).
    if (reading) this.#localRun[node] = r >= o.cusumSlackMilliCelsius && this.#local(node) ? Math.min(255, this.#localRun[node]! + 1) : 0;
    if (tMs - this.#first[node]! < o.warmupMs || this.#localRun[node]! < 2) return;
    let rule: Incident['rule'] | undefined;
    if (pending && r >= o.alertRelativeMilliCelsius) rule = 'alert';
    else if (this.#fastRun[node]! >= 2) rule = 'relative';
    else if (this.#cusum[node]! >= o.cusumLimitMilliCelsiusMinutes && r >= o.cusumSlackMilliCelsius) rule = 'cusum';
    if (!rule || this.#open(node, tMs)) return;
    this.#pendingAlert[node] = -Infinity;
    this.#openUntil[node] = Infinity;
    this.#quietSince[node] = 0;
    this.#cusum[node] = 0;
    this.incidents++;
    this.onIncident({
      line: this.lineIds[this.#lineOf[node]!]!,
      node: this.nodes[node]!.id,
      tMs,
      posM: this.#position(node),
      rule,
      relativeMilliCelsius: Math.round(r),
    });
  }

  #position(node: number): number {
    const line = this.#lines[this.#lineOf[node]!]!;
    const rank = this.#rank[node]!;
    let w = 0;
    let x = 0;
    for (let p = Math.max(0, rank - 1); p <= Math.min(line.length - 1, rank + 1); p++) {
      const j = line[p]!;
      const r = this.#r[j]! > 0 ? this.#r[j]! : 0;
      w += r;
      x += r * this.nodes[j]!.posM;
    }
    return w > 0 ? Math.round((x / w) * 100) / 100 : this.nodes[node]!.posM;
  }
}
