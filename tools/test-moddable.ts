/*
 * `npm run test:moddable`: the Moddable toolchain lane.
 *
 * With $MODDABLE set: `build --check` for every ESP32 board (the JavaScript side of the device
 * build: manifest, TypeScript, xsc, xsl; the ESP-IDF part too when $IDF_PATH is set; a "not
 * frozen" warning from the project's own modules fails it), then every board's memory budget
 * in mcsim (tools/budget.ts: the node built for lin with the board's exact `creation`, all
 * boards at once for --budget-duration, default 5 min) against a mosquitto started here on a
 * free loopback port: no abort, readings delivered, connected at the end, every peak under
 * 75 % of the board's budget. `--sim` also runs `sim:moddable` for --duration (default 30 s).
 * Without $MODDABLE every check is reported skipped and the lane exits 0.
 *
 *   node --import tsx tools/test-moddable.ts [--budget-duration 5m] [--boards esp32/nodemcu,...]
 *     [--no-budget] [--no-check] [--sim] [--duration 30s]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { usageError } from './args';
import { ownNotFrozen, runBudgets } from './budget';
import { BOARDS, findSdk, moddableCommand, parseDuration } from './moddable';

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function mosquittoPath(): string | undefined {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto']) {
    if (!spawnSync(candidate, ['-h']).error) return candidate;
  }
  return spawnSync('mosquitto', ['-h']).error ? undefined : 'mosquitto';
}

async function waitForPort(port: number, ms: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const up = await new Promise<boolean>((done) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.on('connect', () => {
        s.destroy();
        done(true);
      });
      s.on('error', () => done(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export const TEST_MODDABLE_USAGE = `usage: npm run test:moddable -- [--budget-duration 5m] [--boards esp32/nodemcu,...] [--no-check] [--no-budget] [--sim] [--duration 30s] [--interval-ms 2000]
  build --check for each board (no xsl "not frozen" warning from pipewatch modules), then each board's memory budget in mcsim
  against a broker (no abort, delivery, peaks under 75 %), --sim adds a sim:moddable run; skips what has no SDK (docs/moddable.md)`;

export async function testModdable(argv: string[], log: (line: string) => void = (l) => console.log(l)): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(TEST_MODDABLE_USAGE + '\n');
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '30s' },
      'budget-duration': { type: 'string', default: '5m' },
      'interval-ms': { type: 'string', default: '2000' },
      boards: { type: 'string' },
      sim: { type: 'boolean', default: false },
      'no-budget': { type: 'boolean', default: false },
      'no-check': { type: 'boolean', default: false },
    },
  });
  const boards = values.boards ? values.boards.split(',') : [...BOARDS];
  const results: { name: string; result: 'pass' | 'fail' | 'skip'; note?: string }[] = [];
  const sdk = findSdk();
  if (typeof sdk === 'string') {
    const reason = sdk.split('\n')[0];
    for (const board of boards) results.push({ name: `build --check ${board}`, result: 'skip', note: reason });
    for (const board of boards) results.push({ name: `budget ${board}`, result: 'skip', note: reason });
    results.push({ name: 'sim:moddable', result: 'skip', note: reason });
    log(sdk);
  } else {
    for (const board of values['no-check'] ? [] : boards) {
      log(`== build --target ${board} --check`);
      let notFrozen = 0;
      const code = await moddableCommand('build', ['--target', board, '--check'], (line) => {
        if (ownNotFrozen(line)) notFrozen++;
        log(line);
      });
      results.push({
        name: `build --check ${board}`,
        result: code === 0 && notFrozen === 0 ? 'pass' : 'fail',
        note: notFrozen > 0 ? `${notFrozen} "not frozen" warning(s) from pipewatch modules` : undefined,
      });
    }
    const mosquitto = mosquittoPath();
    const wantBudget = !values['no-budget'];
    if (!mosquitto) {
      if (wantBudget) for (const board of boards) results.push({ name: `budget ${board}`, result: 'skip', note: 'mosquitto is not installed' });
      if (values.sim) results.push({ name: 'sim:moddable', result: 'skip', note: 'mosquitto is not installed' });
    } else if (wantBudget || values.sim) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'pipewatch-mosquitto-'));
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
      const broker = spawn(mosquitto, ['-c', conf], { stdio: 'ignore' });
      try {
        if (!(await waitForPort(port, 5000))) {
          results.push({ name: 'mosquitto', result: 'fail', note: `mosquitto did not listen on ${port}` });
        } else {
          if (wantBudget) {
            const started = Date.now();
            const budgets = await runBudgets({
              boards,
              durationMs: parseDuration(values['budget-duration']!),
              broker: { host: '127.0.0.1', port },
              intervalMs: Number(values['interval-ms']),
              log,
            });
            for (const b of budgets) {
              for (const failure of b.failures) log(`FAIL budget ${b.board}: ${failure}`);
              results.push({ name: `budget ${b.board}`, result: b.failures.length === 0 ? 'pass' : 'fail' });
            }
            log(`budget: ${((Date.now() - started) / 1000).toFixed(0)} s for ${boards.length} board(s), builds included`);
          }
          if (values.sim) {
            log(`== sim:moddable --duration ${values.duration} --broker mqtt://127.0.0.1:${port}`);
            const code = await moddableCommand('sim', ['--duration', values.duration!, '--broker', `mqtt://127.0.0.1:${port}`], (line) => log(line));
            results.push({ name: 'sim:moddable', result: code === 0 ? 'pass' : 'fail' });
          }
        }
      } finally {
        if (broker.pid !== undefined && broker.exitCode === null) process.kill(broker.pid, 'SIGTERM');
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const r of results) {
    log(`${r.result === 'pass' ? 'ok  ' : r.result === 'fail' ? 'FAIL' : 'skip'} ${r.name}${r.note ? ` (${r.note})` : ''}`);
    if (r.result === 'pass') passed++;
    else if (r.result === 'fail') failed++;
    else skipped++;
  }
  log(`test:moddable: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await testModdable(process.argv.slice(2)).catch((error: Error & { code?: string }) => {
  if (!error.code?.startsWith('ERR_PARSE_ARGS_')) throw error;
  process.stderr.write(`npm run test:moddable: ${usageError(error, 'npm run test:moddable --').message}\n`);
  return 2;
});
