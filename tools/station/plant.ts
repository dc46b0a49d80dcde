/*
 * Where the nodes sit. A plant file (JSON, `--plant FILE`) names the lines and puts each
 * device at a position along one, in metres:
 *
 *   {"lines":[{"name":"steam A","nodes":[{"dev":"node-001","position":0},{"dev":"node-002","position":12.5}]}]}
 *
 * Without one (or for a device the file does not name), devices are laid out by id in lines
 * of NODES_PER_LINE, one metre apart.
 */
import { readFileSync } from 'node:fs';

export interface Plant {
  lines: Array<{ name: string; nodes: Array<{ dev: string; position: number }> }>;
}

export const NODES_PER_LINE = 20;

export function readPlant(file: string): Plant {
  const body = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const fail = (what: string): never => {
    throw new Error(`plant file ${file}: ${what}`);
  };
  if (typeof body !== 'object' || body === null || !Array.isArray((body as Plant).lines)) fail('needs {"lines":[...]}');
  for (const line of (body as Plant).lines) {
    if (typeof line?.name !== 'string' || !Array.isArray(line.nodes)) fail('each line needs a "name" and "nodes"');
    for (const n of line.nodes) {
      if (typeof n?.dev !== 'string' || typeof n.position !== 'number' || !Number.isFinite(n.position)) {
        fail(`line "${line.name}": each node needs "dev" (text) and "position" (metres)`);
      }
    }
  }
  return body as Plant;
}

export function layoutPlant(devices: readonly string[], plant?: Plant): Map<string, { line: string; position: number }> {
  const out = new Map<string, { line: string; position: number }>();
  for (const line of plant?.lines ?? []) for (const n of line.nodes) out.set(n.dev, { line: line.name, position: n.position });
  const rest = devices.filter((d) => !out.has(d)).sort();
  rest.forEach((dev, i) => out.set(dev, { line: `line ${Math.floor(i / NODES_PER_LINE) + 1}`, position: i % NODES_PER_LINE }));
  return out;
}
