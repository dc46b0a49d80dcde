#!/usr/bin/env node
// `npm test`: runs the ava suite with TAP output, passes it through, and ends with the line
// `N passed, N failed` that CI reads. Exit code: ava's (non-zero when anything failed).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const child = spawn(process.execPath, [ava, '--tap', ...process.argv.slice(2)], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  // Its own process group, so a stalled run can be ended with every worker; Ctrl-C is passed on.
  detached: true,
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    try {
      process.kill(-child.pid, signal);
    } catch {}
  });
}
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: child.stdout });
// A test file that never ends (a handle left open after a failure) would hold the run until CI
// gives up: after QUIET_MS without a line from ava, its workers are ended and the run fails.
const QUIET_MS = Number(process.env.PIPEWATCH_TEST_QUIET_MS) || 10 * 60_000;
let quiet;
let stalled = false;
const arm = () => {
  clearTimeout(quiet);
  quiet = setTimeout(() => {
    stalled = true;
    process.stdout.write(`# no test output for ${QUIET_MS / 1000} s: ending the run\n`);
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  }, QUIET_MS);
};
arm();
lines.on('line', (line) => {
  arm();
  process.stdout.write(line + '\n');
  if (/^ok \d+/.test(line)) {
    if (/# SKIP/.test(line)) skipped++;
    else passed++;
  } else if (/^not ok \d+/.test(line)) {
    if (/# TODO/.test(line)) skipped++;
    else failed++;
  }
});
child.on('close', (code) => {
  clearTimeout(quiet);
  if (stalled) failed++;
  const rest = skipped ? `, ${skipped} skipped` : '';
  if (code !== 0 && failed === 0) failed = 1; // ava failed outside a test (uncaught error, timeout)
  process.stdout.write(`${passed} passed, ${failed} failed${rest}\n`);
  process.exit(code ?? 1);
});
