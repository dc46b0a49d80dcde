/*
 * Where the nodes sit. The plant file is the project's one plant format (simulator/plant/model.ts,
 * docs/leaks.md; the same file `pipewatch incidents --plant` reads): lines by id, and nodes with
 * their device id, line and position in metres:
 *
 *   {"lines":[{"id":"A"}],"nodes":[{"id":"node-001","line":"A","posM":0},{"id":"node-002","line":"A","posM":12.5}]}
 *
 * Without one (or for a device the file does not name), devices are laid out by id in lines of
 * NODES_PER_LINE, one metre apart.
 */
import { readFileSync } from 'node:fs';
import { parsePlant, type PlantSpec } from '../../simulator/plant/model';

export interface Plant {
  lines: Array<{ name: string; nodes: Array<{ dev: string; position: number }> }>;
}

export const NODES_PER_LINE = 20;

/** Reads and checks a plant file; throws with the file and the field at fault. */
export function readPlant(file: string): Plant {
  let spec;
  try {
    spec = parsePlant(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new Error(`plant file ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  return {
    lines: spec.lines.map((l) => ({
      name: l.id,
      nodes: spec.nodes.filter((n) => n.line === l.id).map((n) => ({ dev: n.id, position: n.posM })),
    })),
  };
}

export function layoutPlant(devices: readonly string[], plant?: Plant): Map<string, { line: string; position: number }> {
  const out = new Map<string, { line: string; position: number }>();
  for (const line of plant?.lines ?? []) for (const n of line.nodes) out.set(n.dev, { line: line.name, position: n.position });
  const rest = devices.filter((d) => !out.has(d)).sort();
  rest.forEach((dev, i) => out.set(dev, { line: `line ${Math.floor(i / NODES_PER_LINE) + 1}`, position: i % NODES_PER_LINE }));
  return out;
}

/** A simulator run's plant as the station sees it: plant node i is the run's device `deviceId(i)`. */
export function plantOfRun(spec: PlantSpec, deviceId: (i: number) => string): Plant {
  return {
    lines: spec.lines.map((l) => ({
      name: l.id,
      nodes: spec.nodes.flatMap((n, i) => (n.line === l.id ? [{ dev: deviceId(i), position: n.posM }] : [])),
    })),
  };
}
