/*
 * The test run itself: a test file that leaves a child process and a timer open once its tests
 * have ended must not hold the run (CI once waited ten silent minutes with no word of which file).
 * test/harness/exit-when-done.ts names the file and what is open, ends the child and fails the file.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids } from './harness/exit-when-done';

const root = new URL('..', import.meta.url).pathname;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

test('a test file that leaves a child process and a timer open: named and failed, its child ended, the run goes on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-runner-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(root, 'test', 'fixtures', 'leaky', 'ava.config.mjs');
  const pidFile = join(dir, 'pid');
  const ava = spawn(process.execPath, [join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'), '--tap', '--config', config], {
    cwd: root,
    env: { ...process.env, LEAKY_PID_FILE: pidFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  ava.stdout.on('data', (d) => (out += d));
  ava.stderr.on('data', (d) => (out += d));
  const ended = await new Promise<boolean>((resolve) => {
    const limit = setTimeout(() => {
      ava.kill('SIGKILL');
      resolve(false);
    }, 45_000);
    ava.on('close', () => {
      clearTimeout(limit);
      resolve(true);
    });
  });
  const leaked = Number(readFileSync(pidFile, 'utf8'));
  const survived = alive(leaked);
  if (survived) process.kill(leaked, 'SIGKILL');
  t.true(ended, `ava ended by itself: ${out}`);
  t.regex(out, /^ok 1 - leaves a child process and a timer open$/m);
  t.regex(out, /# test\/fixtures\/leaky\/leaky\.fixture\.ts: still running 10 s after its last test: open [^;]*ProcessWrap[^;]*Timeout; child processes \d+ \(sleep 300\)/);
  t.false(survived, 'the leaked child was ended');
  // The leak is a failure of that file, not a pass.
  t.regex(out, /^not ok \d+ - test\/fixtures\/leaky\/leaky\.fixture\.ts exited with a non-zero exit code: 1$/m);
});

test('childPids lists the children of a process and nothing else', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  t.true(childPids().includes(child.pid!));
  t.deepEqual(childPids(child.pid!), []);
});
