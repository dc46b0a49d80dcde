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
});
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = createInterface({ input: child.stdout });
lines.on('line', (line) => {
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
  const rest = skipped ? `, ${skipped} skipped` : '';
  if (code !== 0 && failed === 0) failed = 1; // ava failed outside a test (uncaught error, timeout)
  process.stdout.write(`${passed} passed, ${failed} failed${rest}\n`);
  process.exit(code ?? 1);
});
