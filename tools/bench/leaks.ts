/*
 * Leak detection figures (docs/leaks.md, "Benchmark"), all measured:
 * - the scenario set: plants generated from fixed seeds by simulator/plant/model.ts (4 plants of
 *   4 lines x 20 nodes, one day each, 10 s sampling: 320 node-days, every leak size 8 times,
 *   steam-line restarts, sun patches, draughts, exhausts, glitches), scored by
 *   simulator/plant/score.ts;
 * - per leak size: recall, median and worst delay from onset, for the edge detector (node
 *   alerts), the fleet incidents and the former single rule; false detections per 1,000
 *   node-days of each, and how many of them followed a steam-line restart;
 * - XS computrons per edge detector update (the real engine, @agoric/xsnap; mean over a day of
 *   one channel at 10 s, leak included);
 * - replay rows per second: `pipewatch detect`'s replay of a generated 2-line, 1-day trace file.
 */
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker } from '../../hosts/xs/worker';
import { evaluate } from '../../simulator/plant/evaluate';
import { generatePlant, LEAK_SIZES, type PlantSpec } from '../../simulator/plant/model';
import { score, type Detection } from '../../simulator/plant/score';
import { traceChunks } from '../../simulator/plant/trace';
import { replay } from '../detect';

const root = fileURLToPath(new URL('../../', import.meta.url));
const DAY_MS = 86_400_000;
export const SCENARIO_SEEDS = Object.freeze([1301, 1302, 1303, 1304]);

export function scenario(seed: number): PlantSpec {
  return generatePlant({ seed, lines: 4, nodesPerLine: 20, durationMs: DAY_MS, leaksPerLineDay: 2, shutdownsPerLineDay: 0.5 });
}

function merge(plants: PlantSpec[], detections: Detection[][]): { spec: PlantSpec; detections: Detection[] } {
  // One plant of all scenarios, lines renamed apart, so one scoring covers the whole set.
  const spec: PlantSpec = { lines: [], nodes: [], events: [] };
  const out: Detection[] = [];
  plants.forEach((p, k) => {
    const offset = spec.nodes.length;
    const rename = (line: string) => `S${k}-${line}`;
    spec.lines.push(...p.lines.map((l) => ({ ...l, id: rename(l.id) })));
    spec.nodes.push(...p.nodes.map((n) => ({ ...n, id: `S${k}-${n.id}`, line: rename(n.line) })));
    spec.events!.push(...(p.events ?? []).map((e) => (e.kind === 'glitch' ? { ...e, node: `S${k}-${e.node}` } : { ...e, line: rename(e.line) })));
    out.push(...detections[k]!.map((d) => ({ node: d.node + offset, tMs: d.tMs })));
  });
  return { spec, detections: out };
}

function figures(prefix: string, plants: PlantSpec[], detections: Detection[][]): Record<string, number> {
  const { spec, detections: all } = merge(plants, detections);
  const s = score(spec, all, DAY_MS);
  const f: Record<string, number> = {};
  for (const size of LEAK_SIZES) {
    const k = s.perSize[size];
    f[`${prefix}.${size}.recall`] = Math.round(k.recall * 1000) / 1000;
    f[`${prefix}.${size}.medianDelayS`] = Math.round(k.medianDelayS);
    f[`${prefix}.${size}.worstDelayS`] = Math.round(k.worstDelayS);
  }
  f[`${prefix}.falsePer1000NodeDays`] = Math.round(s.falsePer1000NodeDays * 10) / 10;
  f[`${prefix}.falseAfterRestart`] = s.falseAfterRestart;
  return f;
}

async function computronsPerUpdate(): Promise<number> {
  const source = `
import { LeakDetector } from './firmware/detect';
const d = new LeakDetector(1);
let t = 0;
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes)[0];
  if (c === 1) {
    for (let i = 0; i < 8640; i++, t += 10000) {
      const leak = i > 4000 ? 20000 * (1 - Math.exp(-(i - 4000) / 4)) : 0;
      d.update(0, t, 60000 + ((i * 37) % 90) + Math.round(leak));
    }
  }
  return new ArrayBuffer(0);
};
`;
  const code = await bundleForXs({ contents: source, resolveDir: root });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    const base = (await worker.deliver(new Uint8Array([0]))).meter.compute;
    await worker.deliver(new Uint8Array([1]));
    const day = (await worker.deliver(new Uint8Array([1]))).meter.compute;
    return Math.round((day - base) / 8640);
  } finally {
    worker.close();
  }
}

async function replayRowsPerSecond(): Promise<{ rows: number; rowsPerSecond: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-bench-'));
  try {
    const file = join(dir, 'trace.csv');
    writeFileSync(file, '');
    traceChunks(generatePlant({ seed: 1399, lines: 2, durationMs: DAY_MS }), DAY_MS, 10_000, (c) => appendFileSync(file, c), 1 << 20);
    const start = performance.now();
    const r = await replay(file);
    const seconds = (performance.now() - start) / 1000;
    return { rows: r.rows, rowsPerSecond: Math.round(r.rows / seconds) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function bench(): Promise<Record<string, number>> {
  const plants = SCENARIO_SEEDS.map(scenario);
  const runs = plants.map((p) => evaluate(p, DAY_MS));
  const nodeDays = plants.reduce((n, p) => n + p.nodes.length, 0);
  const f: Record<string, number> = { 'leaks.nodeDays': nodeDays };
  for (const size of LEAK_SIZES) f[`leaks.scenario.${size}Leaks`] = plants.reduce((n, p) => n + (p.events ?? []).filter((e) => e.kind === 'leak' && e.size === size).length, 0);
  for (const kind of ['shutdown', 'sun', 'draught', 'exhaust', 'glitch'] as const) f[`leaks.scenario.${kind}Events`] = plants.reduce((n, p) => n + (p.events ?? []).filter((e) => e.kind === kind).length, 0);
  Object.assign(f, figures('leaks.edge', plants, runs.map((r) => r.edge)));
  Object.assign(f, figures('leaks.incident', plants, runs.map((r) => r.incidents)));
  Object.assign(f, figures('leaks.oldRule', plants, runs.map((r) => r.oldRule)));
  f['leaks.xs.computronsPerUpdate'] = await computronsPerUpdate();
  const r = await replayRowsPerSecond();
  f['leaks.replay.rows'] = r.rows;
  f['leaks.replay.rowsPerSecond'] = r.rowsPerSecond;
  return f;
}
