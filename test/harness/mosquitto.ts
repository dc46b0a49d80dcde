/*
 * Debian's mosquitto broker for interoperability tests: one private process per call, on
 * loopback ports chosen at run time, with an optional TLS listener whose throwaway CA and
 * server certificate are made here with `openssl`.
 *
 *   const broker = await startMosquitto({ tls: true });
 *   // broker.port (plain), broker.tlsPort + broker.caPem (TLS; certificate for 127.0.0.1, localhost and station.local)
 *   const auth = await startMosquitto({ users: { 'jörg': 'pässwörd' } });  // password file, no anonymous
 *   await broker.restart();   // stops our process and starts a new one on the same ports
 *   await broker.stop();      // stops it, removes the temp dir; safe to call twice
 *
 * Only the PID this module spawned is ever signalled. Persistence is off, so a restart loses
 * sessions, like a broker that crashed. Throws, naming `apt-get install mosquitto`, when the
 * binary is missing.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface MosquittoHandle {
  readonly port: number;
  readonly tlsPort?: number;
  /** PEM of the throwaway CA that signed the TLS listener's certificate. */
  readonly caPem?: string;
  /** PID of the running broker process (changes on restart). */
  readonly pid: number | undefined;
  readonly dir: string;
  /** What the broker wrote to stderr (its log), last 64 KiB. */
  log(): string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

const INSTALL_HINT = 'mosquitto is not installed: run `apt-get install mosquitto` (Debian/Ubuntu)';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;
const LOG_LIMIT = 65536;

/** Where `findMosquitto` looks: $MOSQUITTO, then $PATH, then /usr/sbin and /usr/local/sbin. */
export function mosquittoCandidates(): Array<string | undefined> {
  return [
    process.env['MOSQUITTO'],
    ...(process.env['PATH'] ?? '').split(delimiter).map((dir) => dir && join(dir, 'mosquitto')),
    '/usr/sbin/mosquitto',
    '/usr/local/sbin/mosquitto',
  ];
}

/** The first executable candidate; throws naming `apt-get install mosquitto` when there is none. */
export function findMosquitto(candidates = mosquittoCandidates()): string {
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  throw new Error(INSTALL_HINT);
}

/** A loopback port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('freePort: no TCP address');
  return address.port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Makes a CA and a server certificate (P-256) for 127.0.0.1, localhost and station.local (the name an mDNS answer gives) in `dir`. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=pipewatch test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(
      join(dir, 'server.ext'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:station.local\nbasicConstraints=CA:FALSE\n' +
        'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    );
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    throw new Error(`mosquitto harness: openssl failed (is openssl installed?): ${(error as Error).message} ${stderr}`);
  }
  // A broker started as root drops to the "mosquitto" user: it must still read these throwaway files.
  for (const name of ['ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, name), 0o644);
}

/**
 * `users`: user name -> password, written with Debian's `mosquitto_passwd -b` (the names and
 * passwords go to it as UTF-8 argv bytes); anonymous clients are then refused.
 */
export async function startMosquitto(options: { tls?: boolean; users?: Record<string, string> } = {}): Promise<MosquittoHandle> {
  const binary = findMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-mosquitto-'));
  chmodSync(dir, 0o755);
  let child: ChildProcess | undefined;
  let logText = '';
  let stopped = false;

  const spawnBroker = async (port: number, tlsPort: number | undefined): Promise<void> => {
    const process_ = spawn(binary, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = process_;
    const exited = new Promise<string>((resolve) => {
      process_.once('error', (error) => resolve((error as NodeJS.ErrnoException).code === 'ENOENT' ? INSTALL_HINT : error.message));
      process_.once('exit', (code, signal) => resolve(`mosquitto exited (code ${code}, signal ${signal})`));
    });
    process_.stderr!.on('data', (chunk: Buffer) => {
      logText = (logText + chunk.toString('utf8')).slice(-LOG_LIMIT);
    });
    let early: string | undefined;
    void exited.then((reason) => (early = reason));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (early !== undefined) throw new Error(`${early}\n${logText}`);
      const plainUp = await canConnect(port);
      const tlsUp = tlsPort === undefined || (await canConnect(tlsPort));
      if (plainUp && tlsUp) return;
      if (Date.now() > deadline) {
        process_.kill('SIGKILL');
        throw new Error(`mosquitto did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms\n${logText}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  const stopBroker = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    const port = await freePort();
    let tlsPort: number | undefined;
    let caPem: string | undefined;
    const lines = [
      'per_listener_settings false',
      `allow_anonymous ${options.users ? 'false' : 'true'}`,
      'persistence false',
      // Answer small packets (PUBACK) at once: Nagle plus delayed ACK would hold a PUBACK until
      // the next publish, which a virtual-time run cannot tell from a slow broker.
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      `listener ${port} 127.0.0.1`,
    ];
    if (options.users) {
      const file = join(dir, 'passwords');
      writeFileSync(file, '');
      const passwd = join(binary, '..', '..', 'bin', 'mosquitto_passwd');
      const tool = [passwd, '/usr/bin/mosquitto_passwd'].find((candidate) => {
        try {
          accessSync(candidate, constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
      if (!tool) throw new Error('mosquitto_passwd is not installed (Debian: part of the mosquitto package)');
      for (const [user, password] of Object.entries(options.users)) execFileSync(tool, ['-b', file, user, password], { stdio: 'pipe' });
      chmodSync(file, 0o644);
      lines.splice(1, 0, `password_file ${file}`);
    }
    if (options.tls) {
      makeCertificates(dir);
      tlsPort = await freePort();
      caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
      lines.push(
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${join(dir, 'ca.pem')}`,
        `certfile ${join(dir, 'server.pem')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'tls_version tlsv1.2',
      );
    }
    writeFileSync(join(dir, 'mosquitto.conf'), lines.join('\n') + '\n');
    await spawnBroker(port, tlsPort);
    return {
      port,
      tlsPort,
      caPem,
      dir,
      get pid() {
        return child?.pid;
      },
      log: () => logText,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopBroker();
        rmSync(dir, { recursive: true, force: true });
      },
      async restart() {
        if (stopped) throw new Error('mosquitto harness: restart() after stop()');
        await stopBroker();
        await spawnBroker(port, tlsPort);
      },
    };
  } catch (error) {
    await stopBroker();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
