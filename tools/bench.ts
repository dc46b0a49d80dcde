/*
 * `npm run bench`: speed and memory figures, measured (never timed tests). Prints a table, and
 * with --json one JSON object. Each area contributes a `bench()` from tools/bench/<area>.ts.
 * The slice's figures come from a real simulation run: one node on the XS engine, virtual time.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startSimulation } from '../simulator/run';
import { parseOptions, UsageError } from './args';

async function sliceFigures(): Promise<Record<string, number>> {
  const sim = startSimulation({
    nodes: 1,
    engine: 'xs',
    durationMs: 3_600_000,
    virtual: true,
    seed: 1,
    intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 60_000,
    leakShare: 0,
  });
  const s = await sim.done;
  return {
    'slice.readings': s.readingsGenerated,
    'slice.xs.computronsPerReading': s.xs!.computronsPerReading,
    'slice.xs.heapBytesPerNode': s.xs!.heapBytesPerNode,
    'slice.wireBytesPerReading': s.bytesOnWirePerReading,
    'slice.simulatedSecondsPerWallSecond': Math.round(s.simulatedSeconds / s.wallSeconds),
  };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals: only } = parseOptions(argv, { json: { type: 'boolean' } }, 'npx pipewatch bench', true);
  const json = values.json === true;
  const figures: Record<string, number> = {};
  const areas: Array<[string, () => Promise<Record<string, number>>]> = [['slice', sliceFigures]];
  const dir = fileURLToPath(new URL('./bench/', import.meta.url));
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  } catch {
    files = [];
  }
  for (const file of files) {
    const name = file.replace(/\.ts$/, '');
    areas.push([name, async () => ((await import(new URL(`./bench/${file}`, import.meta.url).href)) as { bench(): Promise<Record<string, number>> }).bench()]);
  }
  const known = areas.map(([name]) => name);
  for (const name of only) {
    if (!known.includes(name)) throw new UsageError(`unknown area "${name}" (areas: ${known.join(', ')})`);
  }
  let failed = 0;
  for (const [name, run] of areas) {
    if (only.length && !only.includes(name)) continue;
    try {
      Object.assign(figures, await run());
    } catch (error) {
      failed++;
      process.stderr.write(`bench ${name} failed: ${(error as Error).stack}\n`);
    }
  }
  if (json) process.stdout.write(JSON.stringify(figures) + '\n');
  else {
    const width = Math.max(...Object.keys(figures).map((k) => k.length));
    for (const [key, value] of Object.entries(figures)) process.stdout.write(`${key.padEnd(width)}  ${value}\n`);
  }
  return failed ? 1 : 0;
}
