/*
 * Debian's PostgreSQL for tests and the bench: one private server per call, initdb into a
 * temporary directory, listening on a free loopback port (and a Unix socket in that directory),
 * trust authentication for its one superuser `pipewatch`. PostgreSQL refuses to run as root,
 * so as root (CI) initdb and postgres run as the `postgres` user the Debian package creates
 * (else `nobody`), through spawn's uid/gid. Stopped by PID (SIGINT: fast shutdown, which ends
 * the open connections); restart() starts it again on the same port and data, for tests of
 * a database that goes away mid-stream. Missing binaries or a server that does not come up
 * throw (with the install hint and the server's log): a test never skips for want of PostgreSQL.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

const LIB = '/usr/lib/postgresql';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const LOG_LIMIT = 8000;
export const INSTALL_HINT = 'PostgreSQL is not installed: apt-get install postgresql (.ci/run does it)';

export interface PostgresHandle {
  port: number;
  dir: string;
  /** postgres://pipewatch@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** Creates a database (a fresh one per test) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** The postmaster's PID while it runs. */
  readonly pid: number | undefined;
  log(): string;
  /** Fast shutdown; the data is kept for start(). */
  halt(): Promise<void>;
  /** Starts the halted server again on the same port and data. */
  start(): Promise<void>;
  /** Halts and removes everything. */
  stop(): Promise<void>;
}

/** The bin directory of the newest PostgreSQL under /usr/lib/postgresql, or undefined. */
export function findPostgres(): string | undefined {
  if (!existsSync(LIB)) return undefined;
  const versions = readdirSync(LIB)
    .filter((v) => existsSync(join(LIB, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(LIB, versions[0]!, 'bin') : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** uid/gid to run the server as: ourselves unless root; as root the postgres user, else nobody. */
function runAs(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  for (const name of ['postgres', 'nobody']) {
    const row = passwd.find((p) => p[0] === name);
    if (row) return { uid: Number(row[2]), gid: Number(row[3]) };
  }
  throw new Error('running as root and there is neither a postgres nor a nobody user to run PostgreSQL as');
}

function run(file: string, args: string[], as: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...as, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, cwd: '/' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PostgresHandle> {
  const bin = findPostgres();
  if (!bin) throw new Error(INSTALL_HINT);
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-pg-'));
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  if (as) {
    chownSync(dir, as.uid, as.gid);
    chownSync(data, as.uid, as.gid);
  }
  let child: ChildProcess | undefined;
  let logText = '';
  let stopped = false;
  const port = await freePort();
  const onExit = (): void => void child?.kill('SIGINT');

  const spawnServer = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', `fsync=${options.fsync === false ? 'off' : 'on'}`, '-c', 'max_connections=50'];
    const proc = spawn(join(bin, 'postgres'), args, { ...as, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    child = proc;
    let early: string | undefined;
    proc.once('error', (error) => (early = error.message));
    proc.once('exit', (code, signal) => (early = `postgres exited (code ${code}, signal ${signal})`));
    proc.stderr!.on('data', (chunk: Buffer) => (logText = (logText + chunk.toString('utf8')).slice(-LOG_LIMIT)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (early !== undefined) throw new Error(`${early}\n${logText}`);
      const ready = await run(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'pipewatch', '-d', 'postgres'], undefined).then(
        () => true,
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`PostgreSQL did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms\n${logText}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const halt = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGINT');
    const timer = setTimeout(() => running.kill('SIGQUIT'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'pipewatch', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], as);
    await spawnServer();
    process.once('exit', onExit);
  } catch (error) {
    await halt();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = (database = 'postgres'): string => `postgres://pipewatch@127.0.0.1:${port}/${database}`;
  return {
    port,
    dir,
    url,
    get pid() {
      return child?.pid;
    },
    log: () => logText,
    async createDatabase(name) {
      await run(join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'pipewatch', name], undefined);
      return url(name);
    },
    halt,
    async start() {
      if (stopped) throw new Error('postgres harness: start() after stop()');
      // Already running: a second server on the same data folder would fail on its lock file,
      // and (before) took the running one's place here, which then outlived the test file.
      if (child && child.exitCode === null && child.signalCode === null) return;
      await spawnServer();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
