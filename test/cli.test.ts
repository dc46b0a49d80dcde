/*
 * The command line: bad options get one line on stderr and exit code 2; a short virtual run
 * ends with the JSON summary as its last line.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../tools/pipewatch.mjs', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });

for (const args of [
  ['sim', '--engine', 'v8'],
  ['sim', '--nodes', '0'],
  ['sim', '--nodes', 'many'],
  ['sim', '--duration', 'soon'],
  ['sim', '--virtual'],
  ['sim', '--broker', 'http://127.0.0.1:1883'],
  ['sim', '--sensor', 'lm35'],
  ['sim', '--frobnicate'],
  ['nonsense'],
]) {
  test(`bad options exit 2 with one line: ${args.join(' ')}`, (t) => {
    const r = run(args);
    t.is(r.status, 2);
    t.is(r.stdout, '');
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /^pipewatch: /);
  });
}

test('a virtual run ends with one JSON summary line', (t) => {
  const r = run(['sim', '--engine', 'node', '--virtual', '--duration', '5m', '--json', '--nodes', '2']);
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const summary = JSON.parse(lines[lines.length - 1]!);
  for (const key of ['engine', 'nodes', 'simulatedSeconds', 'wallSeconds', 'readingsGenerated', 'readingsDelivered', 'readingsLost', 'duplicates', 'reconnects']) {
    t.true(key in summary, key);
  }
  t.is(summary.engine, 'node');
  t.is(summary.nodes, 2);
  t.is(summary.readingsGenerated, 60);
  t.is(summary.readingsDelivered, 60);
});
