/*
 * Loaded into every ava worker (package.json "ava.require"). Once a test file's tests have all
 * ended, ava waits for its process to exit by itself; a socket, timer or child process left open
 * holds the whole run until tools/run-tests.mjs gives up after ten silent minutes (a CI run once
 * ended that way, with no word of which file). Here, a worker still alive GRACE_MS after its tests
 * ended names its file and what is still open on stderr, ends the child processes it started
 * (by PID, from /proc) and exits with code 1, which ava reports as a failure of that file ("exited
 * with a non-zero exit code"); the run goes on.
 */
import test, { registerCompletionHandler } from 'ava';
import { readdirSync, readFileSync } from 'node:fs';

const GRACE_MS = 10_000;

/** PIDs whose parent is this process (Linux /proc; empty elsewhere). */
export function childPids(parent = process.pid): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses; the last ')' ends it.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === parent) out.push(Number(e));
    } catch {}
  }
  return out;
}

function command(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ').slice(0, 160);
  } catch {
    return '?';
  }
}

export default function exitWhenDone(): void {
  registerCompletionHandler(() => {
    const timer = setTimeout(() => {
      const file = test.meta.file.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
      const open = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap');
      // tsx's esbuild service is a child of every worker and ends with it: not a leak.
      const children = childPids()
        .map((pid) => ({ pid, command: command(pid) }))
        .filter((c) => !/esbuild.*--service/.test(c.command));
      process.stderr.write(
        `# ${file}: still running ${GRACE_MS / 1000} s after its last test: open ${open.join(', ') || 'nothing listed'}` +
          (children.length ? `; child processes ${children.map((c) => `${c.pid} (${c.command})`).join(', ')}` : '') +
          '; ending them and exiting\n',
      );
      for (const { pid } of children) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      process.exit(1);
    }, GRACE_MS);
    // Only fires if something else keeps the process alive.
    timer.unref();
  });
}
