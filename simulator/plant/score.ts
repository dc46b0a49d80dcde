/*
 * Scoring detections against a plant's scripted leaks (the rules of docs/leaks.md, "Scoring"):
 *
 * - A leak is found when a node within two positions of the node nearest to it (same line,
 *   counting positions in order along the line) raises a detection within 30 minutes of onset;
 *   its delay is the first such detection's time minus the onset.
 * - A detection is a true one when it is within two positions of a leak that has started and has
 *   not been over for more than 30 minutes (later alerts of an intermittent leak are not false);
 *   every other detection is false. A false detection within an hour after a steam-line restart
 *   is also counted in `falseAfterRestart`.
 *
 * Portable (no Node API): used by the benchmark, the tests and the simulator's summary.
 */
import { LEAK_SIZES, type LeakEvent, type LeakSize, type PlantSpec } from './model';

export const FOUND_WITHIN_MS = 1_800_000;
export const POSITIONS = 2;

export interface Detection {
  /** Index into spec.nodes. */
  node: number;
  tMs: number;
}

export interface KindScore {
  leaks: number;
  found: number;
  recall: number;
  medianDelayS: number;
  worstDelayS: number;
}

export interface Score {
  perSize: Record<LeakSize, KindScore>;
  leaks: number;
  found: number;
  detections: number;
  falseDetections: number;
  falseAfterRestart: number;
  nodeDays: number;
  falsePer1000NodeDays: number;
  /** Median delay of all found leaks, s (NaN when none was found). */
  medianDelayS: number;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const v = values.slice().sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Position index of every node along its line (0 = smallest posM). */
export function positionsOf(spec: PlantSpec): Int32Array {
  const rank = new Int32Array(spec.nodes.length);
  for (const line of spec.lines) {
    const members = spec.nodes.map((n, i) => i).filter((i) => spec.nodes[i]!.line === line.id);
    members.sort((a, b) => spec.nodes[a]!.posM - spec.nodes[b]!.posM);
    members.forEach((i, k) => (rank[i] = k));
  }
  return rank;
}

/** The node nearest to a leak (index into spec.nodes). */
export function nearestNode(spec: PlantSpec, e: { line: string; posM: number }): number {
  let best = -1;
  let d = Infinity;
  spec.nodes.forEach((n, i) => {
    if (n.line === e.line && Math.abs(n.posM - e.posM) < d) {
      d = Math.abs(n.posM - e.posM);
      best = i;
    }
  });
  return best;
}

export function score(spec: PlantSpec, detections: readonly Detection[], durationMs: number): Score {
  const rank = positionsOf(spec);
  const events = spec.events ?? [];
  const leaks = events.filter((e): e is LeakEvent => e.kind === 'leak');
  const near = leaks.map((e) => nearestNode(spec, e));
  const restarts = events.flatMap((e) => (e.kind === 'shutdown' ? [{ line: e.line, t: e.restartMs }] : []));
  const firstDelay = leaks.map(() => Infinity);
  let falseDetections = 0;
  let falseAfterRestart = 0;
  for (const d of detections) {
    const node = spec.nodes[d.node]!;
    let matched = false;
    leaks.forEach((e, k) => {
      const n = near[k]!;
      if (n < 0 || e.line !== node.line || Math.abs(rank[n]! - rank[d.node]!) > POSITIONS) return;
      if (d.tMs < e.atMs || d.tMs > (e.endMs ?? Infinity) + FOUND_WITHIN_MS) return;
      matched = true;
      const delay = d.tMs - e.atMs;
      if (delay <= FOUND_WITHIN_MS && delay < firstDelay[k]!) firstDelay[k] = delay;
    });
    if (matched) continue;
    falseDetections++;
    if (restarts.some((r) => r.line === node.line && d.tMs >= r.t && d.tMs <= r.t + 3_600_000)) falseAfterRestart++;
  }
  const perSize = {} as Record<LeakSize, KindScore>;
  const all: number[] = [];
  for (const size of LEAK_SIZES) {
    const delays: number[] = [];
    let count = 0;
    leaks.forEach((e, k) => {
      if (e.size !== size) return;
      count++;
      if (Number.isFinite(firstDelay[k]!)) delays.push(firstDelay[k]! / 1000);
    });
    all.push(...delays);
    perSize[size] = {
      leaks: count,
      found: delays.length,
      recall: count ? delays.length / count : NaN,
      medianDelayS: median(delays),
      worstDelayS: delays.length ? Math.max(...delays) : NaN,
    };
  }
  const nodeDays = (spec.nodes.length * durationMs) / 86_400_000;
  return {
    perSize,
    leaks: leaks.length,
    found: all.length,
    detections: detections.length,
    falseDetections,
    falseAfterRestart,
    nodeDays,
    falsePer1000NodeDays: (falseDetections / nodeDays) * 1000,
    medianDelayS: median(all),
  };
}
