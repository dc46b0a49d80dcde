/*
 * Samples a plant the way its nodes would (every node every `intervalMs`, node i offset by
 * 37 ms x i within the round so rows interleave in time order), as `pipewatch detect` trace
 * rows `t_ms,line,node,pos_m,milli_c`. Portable; used by the benchmark, the tests and
 * `pipewatch sim --trace-out`-style exports.
 */
import { Plant, type PlantSpec } from './model';

export const TRACE_HEADER = 't_ms,line,node,pos_m,milli_c';

/** Calls `row(t, nodeIndex, milliCelsius)` for every sample of the run, in time order. */
export function samplePlant(spec: PlantSpec, durationMs: number, intervalMs: number, row: (tMs: number, node: number, milliCelsius: number) => void, plant = new Plant(spec)): void {
  const n = spec.nodes.length;
  for (let t = 0; t < durationMs; t += intervalMs) {
    for (let i = 0; i < n; i++) {
      const at = t + ((i * 37) % intervalMs);
      row(at, i, plant.sampleMilliCelsius(i, at));
    }
  }
}

/** The trace as CSV text in chunks of about `chunkChars` (header first). */
export function traceChunks(spec: PlantSpec, durationMs: number, intervalMs: number, chunk: (text: string) => void, chunkChars = 1 << 16): void {
  let out = TRACE_HEADER + '\n';
  const prefix = spec.nodes.map((n) => `,${n.line},${n.id},${n.posM},`);
  samplePlant(spec, durationMs, intervalMs, (t, i, v) => {
    out += t + prefix[i]! + v + '\n';
    if (out.length >= chunkChars) {
      chunk(out);
      out = '';
    }
  });
  if (out) chunk(out);
}
