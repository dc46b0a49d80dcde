/*
 * Leak detection in the simulator (issue 13 item 6): nodes sensing a plant file with a scripted
 * leak, on Node and on the real XS engine, the fleet incidents module fed by the observer's
 * readings, incidents reported as they are raised, and the summary's scoring (docs/leaks.md).
 */
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulation, type SimOptions, type SimSummary } from '../simulator/run';
import { VIRTUAL_EPOCH_MS } from '../hosts/node/host';
import { defaultPlant, lineSlice, parsePlant, Plant } from '../simulator/plant/model';
import type { Incident } from '../tools/fleet/incidents';
import { main } from '../tools/cli';

const file = fileURLToPath(new URL('./fixtures/plant-leak.json', import.meta.url));
// Six nodes 1.5 m apart; a large leak at 4.6 m (nearest L1-N04) at 11 min; a glitch on L1-N02
// at 10 min (no incident); a second leak scripted at 2 h, after the run (not simulated).
const plant = parsePlant(JSON.parse(readFileSync(file, 'utf8')));
const LEAK_AT_MS = 660_000;

const base: SimOptions = {
  nodes: plant.nodes.length,
  engine: 'node',
  durationMs: 15 * 60_000,
  virtual: true,
  seed: 1,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 30_000,
  leakShare: 0,
  plant,
  deviceIds: plant.nodes.map((n) => n.id),
};

/** One run per engine, shared by the tests below (the XS one takes seconds). */
const runs = new Map<string, Promise<{ incidents: Array<{ incident: Incident; wallMs: number; readingsBefore: number }>; summary: SimSummary }>>();
function runOn(engine: 'node' | 'xs') {
  let run = runs.get(engine);
  if (!run) {
    const incidents: Array<{ incident: Incident; wallMs: number; readingsBefore: number }> = [];
    let readings = 0;
    const sim = startSimulation({
      ...base,
      engine,
      onReading: () => readings++,
      onIncident: (incident, wallMs) => incidents.push({ incident, wallMs, readingsBefore: readings }),
    });
    run = sim.done.then((summary) => ({ incidents, summary }));
    runs.set(engine, run);
  }
  return run;
}

for (const engine of ['node', 'xs'] as const) {
  test(`${engine}: a scripted leak in a plant file is detected, its incident raised as it happens, the summary scores it`, async (t) => {
    const { incidents, summary: s } = await runOn(engine);
    t.is(s.readingsLost, 0);
    t.is(incidents.length, 1);
    const { incident, wallMs, readingsBefore } = incidents[0]!;
    t.is(incident.line, 'L1');
    // Within two positions of the nearest node (L1-N04), within a minute of onset.
    t.true(['L1-N03', 'L1-N04', 'L1-N05'].includes(incident.node), incident.node);
    t.true(incident.tMs >= LEAK_AT_MS && incident.tMs <= LEAK_AT_MS + 60_000, String(incident.tMs));
    t.true(Math.abs(incident.posM - 4.6) < 1.5, String(incident.posM));
    t.is(wallMs, VIRTUAL_EPOCH_MS + incident.tMs);
    // Raised while the run went on (readings kept arriving after it), not at the end.
    t.true(readingsBefore < s.readingsDelivered - 100, `${readingsBefore} of ${s.readingsDelivered}`);
    t.like(s, { leaksSimulated: 1, leaksDetected: 1, incidents: 1, falseIncidents: 0 });
    t.is(s.medianDetectionDelayS, (incident.tMs - LEAK_AT_MS) / 1000);
    t.true(s.alertsRaised >= 1);
  });
}

test('the same plant run gives the same incident and figures on Node and XS (same detector, same plant slice)', async (t) => {
  const [a, b] = [await runOn('node'), await runOn('xs')];
  const figures = (r: Awaited<ReturnType<typeof runOn>>) => ({
    incidents: r.incidents.map((i) => i.incident),
    s: [r.summary.leaksDetected, r.summary.incidents, r.summary.medianDetectionDelayS, r.summary.readingsGenerated, r.summary.alertsRaised],
  });
  t.deepEqual(figures(a), figures(b));
});

test('a line slice of a plant reads exactly what the whole plant reads at its nodes', (t) => {
  const spec = defaultPlant(45, 7, 86_400_000);
  const whole = new Plant(spec, 7);
  for (const i of [0, 19, 20, 33, 44]) {
    const slice = lineSlice(spec, i);
    const part = new Plant(slice.spec, 7, slice.indices);
    t.is(slice.spec.nodes[slice.node]!.id, spec.nodes[i]!.id);
    for (let k = 0; k < 200; k++) {
      const at = k * 431_000;
      t.is(part.sampleMilliCelsius(slice.node, at), whole.sampleMilliCelsius(i, at));
    }
  }
});

interface Captured { code: number; stdout: string; stderr: string }
async function pipewatch(...args: string[]): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: unknown) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test.serial('pipewatch sim --plant FILE --json: the incident line on stderr, the scored summary last on stdout, plant node ids as device ids', async (t) => {
  const r = await pipewatch('sim', '--plant', file, '--engine', 'node', '--virtual', '--duration', '15m', '--drain', '30s', '--json', '--no-ota');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^pipewatch sim: 2026-01-01T00:11:\d\d\.\d{3}Z {2}INCIDENT {2}line L1, leak near \d+(\.\d+)? m \(node L1-N0[345], .*, \+\d+\.\d °C over its neighbours\)$/m);
  t.regex(r.stderr, /^L1-N0\d warn: leak alert/m);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.like(summary, { nodes: 6, leaksSimulated: 1, leaksDetected: 1, incidents: 1, falseIncidents: 0 });
  t.true(summary.medianDetectionDelayS > 0 && summary.medianDetectionDelayS <= 60);
});

test.serial('pipewatch sim without --plant: the built-in plant in lines of 20 (summary scored); --leak-share keeps the old world', async (t) => {
  const r = await pipewatch('sim', '--nodes', '3', '--engine', 'node', '--virtual', '--duration', '2m', '--drain', '10s', '--json', '--no-ota');
  t.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.like(s, { nodes: 3, falseIncidents: 0 });
  t.is(typeof s.leaksSimulated, 'number');
  const old = await pipewatch('sim', '--nodes', '3', '--engine', 'node', '--virtual', '--duration', '2m', '--drain', '10s', '--json', '--no-ota', '--leak-share', '0');
  t.is(old.code, 0, old.stderr);
  t.false('leaksSimulated' in JSON.parse(old.stdout.trim().split('\n').pop()!));
});

test.serial('pipewatch sim --plant: a bad plant file exits 2 naming the field, an unreadable one 1, --nodes or --leak-share with it 2', async (t) => {
  const bad = fileURLToPath(new URL('./fixtures/plant-leak.json', import.meta.url)).replace(/plant-leak\.json$/, 'no-such-plant.json');
  const unreadable = await pipewatch('sim', '--plant', bad);
  t.is(unreadable.code, 1);
  t.regex(unreadable.stderr, /^pipewatch sim: cannot read --plant .*no-such-plant\.json/);
  t.is((await pipewatch('sim', '--plant', file, '--nodes', '3')).code, 2);
  t.is((await pipewatch('sim', '--plant', file, '--leak-share', '0.1')).code, 2);
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/plant-`);
  writeFileSync(`${dir}/p.json`, JSON.stringify({ lines: [{ id: 'L1' }], nodes: [{ id: 'a', line: 'L1', posM: -1 }] }));
  const r = await pipewatch('sim', '--plant', `${dir}/p.json`);
  t.is(r.code, 2);
  t.regex(r.stderr, /^pipewatch sim: --plant .*p\.json: plant: nodes\[0\]\.posM must be a number in 0\.\.100000$/m);
});

// The OTA agent and the leak events share the uplink's side channel. The PUBACK of a leak event
// used to retire one of the agent's status messages (its count went below zero), and the agent
// then published its ring again at every PUBACK: a virtual run with OTA on spun at 100 % CPU
// after the first alert and never ended, and a real node would have flooded its broker.
for (const engine of ['node', 'xs'] as const) {
  test(`${engine}: with OTA on, a leak alert's evidence does not take the OTA status channel with it (the run ends, nothing lost)`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pipewatch-sim-leaks-ota-'));
    const statuses: string[] = [];
    const sim = startSimulation({ ...base, engine, ota: { cwd: dir }, onLog: (_node, level, message) => level !== 'info' && statuses.push(message) });
    const timeout = new Promise<'stalled'>((resolve) => setTimeout(() => resolve('stalled'), 60_000).unref());
    const summary = await Promise.race([sim.done, timeout]);
    if (summary === 'stalled') {
      sim.stop();
      t.fail(`the run did not end within 60 s of wall time after: ${statuses.slice(-3).join(' | ')}`);
      return;
    }
    t.is(summary.readingsLost, 0);
    t.is(summary.pendingOnNodes, 0);
    t.true(summary.alertsRaised >= 1);
    t.is(summary.incidents, 1);
  });
}
