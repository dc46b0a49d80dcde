/*
 * Leak detection (issue 13): the same alerts and incidents from the same code on Node and in XS,
 * and `pipewatch detect`. The plant model and the fleet module have their portable tests
 * (test/plant.test.ts, test/fleet.test.ts).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../hosts/xs/bundle';
import { XsWorker } from '../hosts/xs/worker';
import { evaluate } from '../simulator/plant/evaluate';
import { parsePlant, type PlantSpec } from '../simulator/plant/model';
import { TRACE_HEADER, traceChunks } from '../simulator/plant/trace';
import { replay, TraceError } from '../tools/detect';


const root = fileURLToPath(new URL('..', import.meta.url));
const HOUR = 3_600_000;

/** Ten nodes, eight hours: a large and a small leak, a restart and a leak right after it, a glitch. */
const spec: PlantSpec = parsePlant({
  seed: 11,
  lines: [{ id: 'L1' }],
  nodes: Array.from({ length: 10 }, (_, i) => ({ id: `N${i}`, line: 'L1', posM: i * 1.5 })),
  events: [
    { kind: 'leak', size: 'large', line: 'L1', posM: 3.2, atMs: HOUR, endMs: 2 * HOUR },
    { kind: 'leak', size: 'small', line: 'L1', posM: 12, atMs: 1.5 * HOUR, riseC: 4.5, endMs: 3 * HOUR },
    { kind: 'shutdown', line: 'L1', atMs: 3.5 * HOUR, restartMs: 6 * HOUR },
    { kind: 'leak', size: 'medium', line: 'L1', posM: 7.5, atMs: 6 * HOUR + 240_000 },
    { kind: 'glitch', node: 'N8', atMs: 5 * HOUR, deltaC: 25 },
  ],
});
const DURATION = 8 * HOUR;

test('the same alerts and incidents on Node and in XS (edge detector, fleet, plant model)', async (t) => {
  const onNode = evaluate(spec, DURATION);
  const code = await bundleForXs({
    contents: `
import { evaluate } from './simulator/plant/evaluate';
const spec = ${JSON.stringify(spec)};
globalThis.handleCommand = () => new TextEncoder().encode(JSON.stringify(evaluate(spec, ${DURATION}))).buffer;
`,
    resolveDir: root,
  });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    const inXs = JSON.parse(new TextDecoder().decode((await worker.deliver(new Uint8Array([1]))).result));
    t.deepEqual(inXs, JSON.parse(JSON.stringify(onNode)));
  } finally {
    worker.close();
  }
  // Not an empty agreement: each leak raised node alerts near it, the glitch none.
  t.true(onNode.edge.some((d) => d.node >= 1 && d.node <= 3 && d.tMs > HOUR && d.tMs < HOUR + 60_000));
  t.true(onNode.edge.some((d) => d.node >= 3 && d.node <= 7 && d.tMs > 6 * HOUR + 240_000 && d.tMs < 6 * HOUR + 900_000));
  t.true(onNode.incidents.length >= 3, JSON.stringify(onNode.incidents));
  t.false(onNode.edge.some((d) => d.node === 8 && d.tMs >= 5 * HOUR && d.tMs < 5 * HOUR + 60_000));
});

const dir = mkdtempSync(join(tmpdir(), 'pipewatch-detect-'));

function traceFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function detect(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'tools', 'pipewatch.mjs'), 'detect', ...args], { encoding: 'utf8' });
}

let full = '';
traceChunks(spec, DURATION, 10_000, (c) => (full += c));

test('pipewatch detect: the replay gives exactly the evaluation of the same samples, as JSON lines', (t) => {
  const file = traceFile('trace.csv', full);
  const r = detect('--trace', file, '--json');
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const expected = evaluate(spec, DURATION, 10_000, false);
  t.deepEqual(lines.filter((l) => l.kind === undefined), expected.edge.map((d) => ({ line: 'L1', node: spec.nodes[d.node]!.id, t_ms: d.tMs })));
  t.deepEqual(lines.filter((l) => l.kind === 'incident'), expected.incidents.map((d) => ({ kind: 'incident', line: 'L1', node: spec.nodes[d.node]!.id, t_ms: d.tMs, pos_m: d.posM })));
});

test('pipewatch detect: a trace node after node (not interleaved) gives the same alerts and incidents', async (t) => {
  const rows = full.trim().split('\n').slice(1);
  const byNode = rows.map((r) => [r.split(',')[2]!, r] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((x) => x[1]);
  const inOrder: string[] = [];
  const apart: string[] = [];
  const a = await replay(traceFile('t1.csv', full), { onAlert: (l, n, tt) => inOrder.push(`${n}@${tt}`), onIncident: (i) => inOrder.push(`I${i.node}@${i.tMs}`) });
  const b = await replay(traceFile('t2.csv', [TRACE_HEADER, ...byNode].join('\n') + '\n'), { onAlert: (l, n, tt) => apart.push(`${n}@${tt}`), onIncident: (i) => apart.push(`I${i.node}@${i.tMs}`) });
  t.false(a.buffered);
  t.true(b.buffered);
  t.deepEqual(apart.sort(), inOrder.sort());
  t.true(inOrder.some((x) => x.startsWith('I')));
});

test('pipewatch detect: a bad row is one error line naming its row, exit 2', async (t) => {
  const ok = `${TRACE_HEADER}\n0,L1,a,0,60000\n10000,L1,a,0,60010\n`;
  const cases: Array<[string, RegExp]> = [
    [ok + '20000,L1,a,0,60.5\n', /row 3 \(line 4\): milli_c must be a whole number/],
    [ok + '20000,L1,a,0\n', /row 3 \(line 4\): expected 5 fields/],
    [ok + '5000,L1,a,0,60000\n', /row 3 \(line 4\): node a: t_ms 5000 is not after its previous row/],
    [ok + '20000,L 1,b,0,60000\n', /row 3 \(line 4\): line must be/],
    [ok + '20000,L1,b,x,60000\n', /row 3 \(line 4\): pos_m must be a number/],
    ['t,line,node,pos,value\n', /line 1: the header must be t_ms,line,node,pos_m,milli_c/],
    ['', /line 1: the header must be/],
  ];
  for (const [text, pattern] of cases) {
    const error = await t.throwsAsync(replay(traceFile('bad.csv', text)), { instanceOf: TraceError }, text);
    t.regex(error!.message, pattern);
  }
  // The command: that message as one line on stderr, exit 2.
  const r = detect('--trace', traceFile('bad.csv', cases[0]![0]));
  t.is(r.status, 2);
  t.regex(r.stderr, /^pipewatch detect: .*bad\.csv: row 3 \(line 4\): milli_c must be a whole number[^\n]*\n$/);
});

test('pipewatch detect: --plant gives lines and positions; a node not in the plant is refused', (t) => {
  const plantFile = traceFile('plant.json', JSON.stringify({ lines: [{ id: 'L1' }], nodes: [{ id: 'a', line: 'L1', posM: 4 }] }));
  const ok = detect('--trace', traceFile('p.csv', `${TRACE_HEADER}\n0,L1,a,0,60000\n`), '--plant', plantFile);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /1 rows, 1 nodes: 0 node alerts, 0 incidents/);
  const r = detect('--trace', traceFile('p2.csv', `${TRACE_HEADER}\n0,L1,b,0,60000\n`), '--plant', plantFile);
  t.is(r.status, 2);
  t.regex(r.stderr, /row 1 \(line 2\): node "b" is not in the plant/);
  const badPlant = detect('--trace', traceFile('p3.csv', `${TRACE_HEADER}\n`), '--plant', traceFile('bad.json', '{"lines":[]}'));
  t.is(badPlant.status, 2);
  t.regex(badPlant.stderr, /lines must be a non-empty array/);
});

test('pipewatch detect: --help on stdout exit 0; usage errors one line on stderr exit 2; unreadable file exit 1', (t) => {
  const help = detect('--help');
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: npx pipewatch detect --trace FILE.csv/);
  const missing = detect();
  t.is(missing.status, 2);
  t.regex(missing.stderr, /--trace FILE.csv is required/);
  const unknown = detect('--trace', 'x.csv', '--frobnicate');
  t.is(unknown.status, 2);
  t.regex(unknown.stderr, /--frobnicate/);
  const absent = detect('--trace', join(dir, 'absent.csv'));
  t.is(absent.status, 1);
  t.regex(absent.stderr, /cannot read --trace/);
});
