/*
 * The command line a user meets (tools/args.ts conventions): every verb and sub-verb answers
 * --help and -h with usage on stdout (exit 0) and refuses an unknown option with one line on
 * stderr (exit 2); start-up errors of the simulator end it with one line and exit 2; summaries
 * tell kept readings from lost ones. Most cases call the CLI's functions in this process
 * (serial: they capture process.stdout/stderr); a few spawn the real command, in parallel, to
 * check that the process itself ends.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import mqtt from 'mqtt';
import { main, channelLabels, otaLine, bootLine, summaryLine } from '../tools/cli';
import { otaCommand } from '../tools/ota';
import { driversCheck, busProblem } from '../tools/drivers-check';
import { moddableCommand } from '../tools/moddable';
import { startMosquitto } from './harness/mosquitto';
import type { SimBoot } from '../simulator/ota/sim-node';
import { simImage } from '../simulator/ota/keys';
import type { SimSummary } from '../simulator/run';

const root = fileURLToPath(new URL('../', import.meta.url));
const cli = join(root, 'tools', 'pipewatch.mjs');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fn` with process.stdout / process.stderr captured (serial tests only). */
async function capture(fn: () => Promise<number> | number): Promise<Result> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: unknown) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  let code: number;
  try {
    code = await fn();
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const pipewatch = (...args: string[]) => capture(() => main(args));

/** Spawns a command (asynchronously, so that several run in parallel). */
function spawnRun(file: string, args: string[], timeout = 30_000): Promise<Result & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(file, args, { cwd: root, encoding: 'utf8', timeout, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function oneLineOnStderr(t: import('ava').ExecutionContext, r: Result, code: number, pattern: RegExp): void {
  t.is(r.code, code, r.stderr);
  t.is(r.stdout, '', 'nothing on stdout');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, pattern);
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every verb and sub-verb, as a runner taking its arguments. */
const VERBS: Array<[string, (args: string[]) => Promise<Result>]> = [
  ['pipewatch sim', (a) => pipewatch('sim', ...a)],
  ['pipewatch bench', (a) => pipewatch('bench', ...a)],
  ['pipewatch detect', (a) => pipewatch('detect', ...a)],
  ['pipewatch incidents', (a) => pipewatch('incidents', ...a)],
  ['pipewatch fleet report', (a) => pipewatch('fleet', 'report', ...a)],
  ['pipewatch drivers check', (a) => pipewatch('drivers', 'check', ...a)],
  ['pipewatch ota', (a) => pipewatch('ota', ...a)],
  ['pipewatch ota keygen', (a) => pipewatch('ota', 'keygen', ...a)],
  ['pipewatch ota sign', (a) => pipewatch('ota', 'sign', ...a)],
  ['pipewatch ota verify', (a) => pipewatch('ota', 'verify', ...a)],
  ['pipewatch ota publish', (a) => pipewatch('ota', 'publish', ...a)],
  ['pipewatch ota rollout', (a) => pipewatch('ota', 'rollout', ...a)],
  ['npm run build', (a) => capture(() => moddableCommand('build', a))],
  ['npm run flash', (a) => capture(() => moddableCommand('flash', a))],
  ['npm run sim:moddable', (a) => capture(() => moddableCommand('sim', a))],
  ['npm run provision', (a) => capture(() => moddableCommand('provision', a))],
];

for (const [name, run] of VERBS) {
  for (const flag of ['--help', '-h']) {
    test.serial(`${name} ${flag}: usage on stdout, exit 0`, async (t) => {
      const r = await run([flag]);
      t.is(r.code, 0, r.stderr);
      t.regex(r.stdout, /^usage: /);
      t.is(r.stderr, '');
    });
  }
  if (name === 'pipewatch ota') continue;
  test.serial(`${name} --frobnicate: unknown option, one line on stderr, exit 2`, async (t) => {
    oneLineOnStderr(t, await run(['--frobnicate']), 2, /: unknown option --frobnicate\b/);
  });
}

test.serial('pipewatch help, --help, -h and --version', async (t) => {
  for (const flag of ['help', '--help', '-h']) {
    const r = await pipewatch(flag);
    t.is(r.code, 0);
    t.regex(r.stdout, /^usage: npx pipewatch <command>/);
  }
  const v = await pipewatch('--version');
  t.is(v.code, 0);
  t.regex(v.stdout, /^pipewatch \d+\.\d+\.\d+\n$/);
  oneLineOnStderr(t, await pipewatch('nonsense'), 2, /^pipewatch: unknown command "nonsense"/);
});

for (const [args, pattern] of [
  [['sim', '--engine', 'v8'], /--engine takes xs or node, got "v8"/],
  [['sim', '--nodes', '0'], /--nodes takes a whole number from 1 to 10000, got "0"/],
  [['sim', '--nodes', '-1'], /--nodes takes a whole number from 1 to 10000, got "-1"/],
  [['sim', '--seed', '-1'], /--seed takes a whole number from 0 to 4294967295, got "-1"/],
  [['sim', '--nodes', 'many'], /--nodes takes a whole number/],
  [['sim', '--duration', 'soon'], /--duration takes a duration like 30s/],
  [['sim', '--duration'], /--duration needs a value/],
  [['sim', '--virtual'], /--virtual needs --duration/],
  [['sim', '--broker', 'http://127.0.0.1:1883'], /--broker takes mqtt:\/\/host:port/],
  [['sim', '--broker', 'mqtt://user@127.0.0.1:1883'], /--broker: user names and passwords in the URL are not supported/],
  [['sim', '--sensor', 'lm35'], /--sensor takes one of tmp117, .*got "lm35"/],
  [['sim', '--leak-share', '2'], /--leak-share takes a fraction from 0 to 1/],
  [['sim', '--broker-port', '70000'], /--broker-port takes a whole number from 1 to 65535/],
  [['sim', '--broker-listen', 'nowhere'], /--broker-listen takes an IP address/],
  [['sim', '--broker', 'mqtt://127.0.0.1:1883', '--broker-port', '1883'], /--broker-port and --broker-listen are for the embedded broker/],
  [['bench', '--jsn'], /^pipewatch bench: unknown option --jsn/],
  [['bench', 'nosuch'], /^pipewatch bench: unknown area "nosuch"/],
  [['ota'], /^pipewatch ota: give a verb/],
  [['ota', 'frob'], /^pipewatch ota: unknown verb "frob"/],
  [['ota', 'sign', '--json'], /^pipewatch ota sign: unknown option --json/],
  [['ota', 'sign', '--key', 'k.pem', '--image', 'fw.bin', '--version', '1.2', '--board', 'b', '--out', 'm'], /--version takes MAJOR\.MINOR\.PATCH like 1\.2\.3.*got "1\.2"/],
  [['ota', 'sign', '--key', '/nonexistent.pem', '--image', 'fw.bin', '--version', '1.2.3', '--board', 'b', '--out', 'm'], /--key: cannot read \/nonexistent\.pem \(no such file\)/],
  [['ota', 'sign', '--version', '1.2.3', '--counter', '-1'], /--counter takes a whole number from 0 to 4294967295, got "-1"/],
  [['ota', 'keygen'], /^pipewatch ota keygen: --out is required/],
  [['ota', 'verify', '--pub', 'zz', '--manifest', 'm'], /--pub takes 64 hex digits/],
  [['ota', 'publish', '--broker', 'mqtt://127.0.0.1:1883', '--manifest', 'm', '--image', 'i', '--node', 'n', '--host', '0.0.0.0'], /--host takes the IP address the nodes reach/],
  [['drivers'], /give the verb check: npx pipewatch drivers check/],
  [['drivers', 'frob'], /unknown verb "frob"/],
  [['drivers', 'check', '--part', 'tmp117', '--samples'], /--samples needs a value/],
] as Array<[string[], RegExp]>) {
  test.serial(`usage error, one line naming the option and its form: ${args.join(' ')}`, async (t) => {
    oneLineOnStderr(t, await pipewatch(...args), 2, pattern);
  });
}

test.serial('bench --help prints usage without running the bench', async (t) => {
  const started = Date.now();
  const r = await pipewatch('bench', '--help');
  t.is(r.code, 0);
  t.regex(r.stdout, /^usage: npx pipewatch bench/);
  t.false(/slice\.readings/.test(r.stdout));
  t.true(Date.now() - started < 2000);
});

// ---- start-up errors of the simulator: one line, exit 2, nothing left running ----

test.serial('sim: a broker that refuses the connection at start is refused, exit 2', async (t) => {
  const port = await closedPort();
  oneLineOnStderr(t, await pipewatch('sim', '--broker', `mqtt://127.0.0.1:${port}`, '--no-ota'), 2, /^pipewatch sim: cannot reach the broker mqtt:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
});

test.serial('sim: --ota-key that does not exist, or is a public key', async (t) => {
  oneLineOnStderr(t, await pipewatch('sim', '--ota-key', '/nonexistent.pem'), 2, /^pipewatch sim: --ota-key: no such file \/nonexistent\.pem$/m);
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  const { publicKey } = generateKeyPairSync('ed25519');
  const pub = join(dir, 'pub.pem');
  writeFileSync(pub, publicKey.export({ format: 'pem', type: 'spki' }) as string);
  oneLineOnStderr(t, await pipewatch('sim', '--ota-key', pub), 2, /--ota-key .*pub\.pem: not a PEM private key; give the private half/);
});

test.serial('sim: --flash-dir under a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  oneLineOnStderr(t, await pipewatch('sim', '--flash-dir', join(file, 'flash'), '--no-ota'), 2, /--flash-dir .*: .*a-file is a file, not a folder/);
});

test.serial('sim: --broker-port already in use', async (t) => {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  oneLineOnStderr(t, await pipewatch('sim', '--broker-port', String(port), '--no-ota'), 2, /the embedded broker cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
});

test('the real command ends after start-up errors (no hang), in parallel', async (t) => {
  const port = await closedPort();
  const node = process.execPath;
  const [refused, proc, version, help, testModdableHelp, badModdable] = await Promise.all([
    spawnRun(node, [cli, 'sim', '--broker', `mqtt://127.0.0.1:${port}`, '--no-ota']),
    spawnRun(node, [cli, 'sim', '--flash-dir', '/proc/nonexistent/dir', '--no-ota']),
    spawnRun(node, [cli, '--version']),
    spawnRun(node, [cli, 'sim', '-h']),
    spawnRun(node, ['--import', 'tsx', 'tools/test-moddable.ts', '--help']),
    spawnRun(node, ['--import', 'tsx', 'tools/test-moddable.ts', '--frobnicate']),
  ]);
  oneLineOnStderr(t, refused, 2, /cannot reach the broker/);
  oneLineOnStderr(t, proc, 2, /--flash-dir \/proc\/nonexistent\/dir: cannot create \/proc\/nonexistent/);
  t.is(version.code, 0);
  t.regex(version.stdout, /^pipewatch \d/);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: npx pipewatch sim/);
  t.regex(help.stdout, /refuses the connection is an error \(exit 2\), not waited for/);
  t.is(testModdableHelp.code, 0, testModdableHelp.stderr);
  t.regex(testModdableHelp.stdout, /^usage: npm run test:moddable/);
  oneLineOnStderr(t, badModdable, 2, /^npm run test:moddable: unknown option --frobnicate \(see npm run test:moddable -- --help\)$/m);
  for (const r of [refused, proc]) t.true(r.ms < 20_000, `ended after ${r.ms} ms`);
});

// ---- summaries ----

test.serial('readings still held on the nodes at the end are pendingOnNodes, not lost; exit 0', async (t) => {
  const r = await pipewatch('sim', '--engine', 'node', '--virtual', '--duration', '5m', '--outage', '2m+1h', '--drain', '20s', '--json', '--no-ota');
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as SimSummary;
  t.is(summary.readingsGenerated, 30);
  t.true(summary.pendingOnNodes >= 17, `pending ${summary.pendingOnNodes}`);
  t.is(summary.readingsLost, 0);
  t.is(summary.readingsDelivered + summary.pendingOnNodes, summary.readingsGenerated);
});

test.serial('the human summary shows alerts and held readings; reading lines name the part and quantity; a missing channel says why', async (t) => {
  const r = await pipewatch('sim', '--engine', 'node', '--virtual', '--duration', '30s', '--sensor', 'tmp117', '--sensor', 'sht3x', '--no-ota');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /#\d+  ch0 tmp117 temperature  \d+\.\d{3} °C/);
  t.regex(r.stdout, /#\d+  ch1 sht3x temperature  /);
  t.regex(r.stdout, /#\d+  ch2 sht3x humidity  \d+\.\d %RH/);
  t.regex(r.stdout, /node-001 SHT3x: E_NOT_READY: .* \(no reading from ch1, ch2 this sample\)/);
  t.regex(r.stdout, /readings generated, \d+ delivered, 0 lost, \d+ alerts raised, \d+ delivered/);
  t.false(/npx pipewatch ota/.test(r.stdout), 'no OTA hint for a virtual run whose broker is gone at the end');
});

test('summaryLine: held readings are named as kept, with or without --flash-dir', (t) => {
  const s = { readingsGenerated: 30, readingsDelivered: 10, pendingOnNodes: 20, readingsLost: 0, alertsRaised: 2, alertsDelivered: 1, duplicates: 0, reconnects: 0, simulatedSeconds: 300 } as SimSummary;
  t.regex(summaryLine(s, 1, undefined), /10 delivered, 20 still held on the nodes \(in simulated flash, not lost; keep it across runs with --flash-dir\), 0 lost, 2 alerts raised, 1 delivered/);
  t.regex(summaryLine(s, 1, 'fl'), /kept in fl: the next run with --flash-dir fl sends them/);
});

test('channelLabels follow the node\'s channel order (a combined sensor takes one per quantity)', (t) => {
  t.deepEqual(channelLabels([{ part: 'max31855' }, { part: 'sht3x' }, { part: 'bme280' }]).map((l) => l.split(' ').slice(0, 2).join(' ')), [
    'ch0 max31855',
    'ch1 max31855',
    'ch2 sht3x',
    'ch3 sht3x',
    'ch4 bme280',
    'ch5 bme280',
    'ch6 bme280',
  ]);
});

test('OTA lines of the simulator use the node id and say confirmed, rolled back (reason)', (t) => {
  const failures = new Map<string, string>();
  t.is(otaLine('node-001', '{"event":"confirmed","running":"1.1.0","version":"1.1.0"}', failures), 'node-001 OTA: 1.1.0 confirmed');
  t.is(otaLine('node-002', '{"event":"failed","running":"1.1.0","version":"1.1.0","reason":"healthCheckTimeout"}', failures), 'node-002 OTA: 1.1.0 failed (healthCheckTimeout)');
  const rolledBack = { outcome: { ok: true, slot: 0, trial: false, rolledBackVersion: (1 << 24) | (1 << 16) }, version: '1.0.0', trial: false, fault: undefined } as unknown as SimBoot;
  t.is(bootLine('node-002', rolledBack, failures), 'node-002 OTA: 1.1.0 rolled back (healthCheckTimeout); runs 1.0.0 again');
  t.is(bootLine('node-003', rolledBack, failures), 'node-003 OTA: 1.1.0 rolled back (trial not confirmed); runs 1.0.0 again');
});

// ---- embedded broker options ----

test.serial('--broker-port and --broker-listen: the embedded broker listens there; a non-loopback address warns', async (t) => {
  const port = await closedPort();
  const r = await pipewatch('sim', '--engine', 'node', '--virtual', '--duration', '20s', '--json', '--no-ota', '--broker-port', String(port), '--broker-listen', '0.0.0.0');
  t.is(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as SimSummary;
  t.is(summary.broker, `mqtt://127.0.0.1:${port}`);
  t.is(summary.readingsDelivered, 2);
  t.regex(r.stderr, /warning: --broker-listen 0\.0\.0\.0: the embedded broker has no authentication/);
});

// ---- stale presence: offline after a clean stop, and ota publish says so ----

test.serial('nodes that stop cleanly leave a retained "offline"; ota publish says the node is offline', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const r = await pipewatch('sim', '--engine', 'node', '--virtual', '--duration', '20s', '--json', '--no-ota', '--broker', url);
  t.is(r.code, 0, r.stderr);
  const client = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  const status = await new Promise<string>((resolve) => {
    client.on('message', (_topic, payload) => resolve(payload.toString()));
    void client.subscribeAsync('pipewatch/node-001/status', { qos: 1 });
    setTimeout(() => resolve('(none)'), 2000);
  });
  await client.endAsync(true);
  t.is(status, 'offline');

  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  const key = join(dir, 'key.pem');
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(key, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  t.truthy(createPublicKey(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }))));
  writeFileSync(join(dir, 'fw.bin'), simImage('1.1.0'));
  const signed = await capture(() => otaCommand(['sign', '--key', key, '--image', join(dir, 'fw.bin'), '--version', '1.1.0', '--board', 'pipewatch-sim', '--out', join(dir, 'fw.manifest')]));
  t.is(signed.code, 0, signed.stderr);
  const published = await capture(() =>
    otaCommand(['publish', '--broker', url, '--manifest', join(dir, 'fw.manifest'), '--image', join(dir, 'fw.bin'), '--node', 'node-001', '--timeout', '1s']),
  );
  t.is(published.code, 1);
  t.regex(published.stderr, /^pipewatch ota publish: node-001: status is offline \(retained: the node stopped or lost its connection\)/m);
  t.regex(published.stdout, /node-001: timeout \(last: node offline; offer waits in its session\)/);
});

// ---- ota publish: broker refused, --host ----

test.serial('ota publish: a broker that refuses is exit 2 with one line; --host with a LAN address warns', async (t) => {
  const port = await closedPort();
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  t.is((await capture(() => otaCommand(['keygen', '--out', join(dir, 'k.pem')]))).code, 0);
  writeFileSync(join(dir, 'i'), simImage('1.0.1'));
  t.is((await capture(() => otaCommand(['sign', '--key', join(dir, 'k.pem'), '--image', join(dir, 'i'), '--version', '1.0.1', '--board', 'pipewatch-sim', '--out', join(dir, 'm')]))).code, 0);
  const base = ['ota', 'publish', '--broker', `mqtt://127.0.0.1:${port}`, '--manifest', join(dir, 'm'), '--image', join(dir, 'i'), '--node', 'node-001'];
  oneLineOnStderr(t, await pipewatch(...base), 2, /^pipewatch ota publish: cannot reach the broker mqtt:\/\/127\.0\.0\.1:\d+ \(connection refused\)$/m);
  const lan = await pipewatch(...base, '--host', '10.1.2.3');
  t.is(lan.code, 2);
  const lines = lan.stderr.trim().split('\n');
  t.is(lines.length, 2);
  t.regex(lines[0]!, /warning: --host 10\.1\.2\.3: the image is served over plain HTTP/);
  t.regex(lines[1]!, /cannot reach the broker/);
});

// ---- drivers check: missing bus, --json ----

test.serial('drivers check --bus with no such bus: says so, how to enable it, exit 2', async (t) => {
  oneLineOnStderr(t, await capture(() => driversCheck(['check', '--part', 'tmp117', '--bus', '/dev/i2c-97'])), 2, /\/dev\/i2c-97 does not exist \(no I2C bus 97 on this machine\): on a Raspberry Pi enable I2C \(sudo raspi-config/);
  oneLineOnStderr(t, await capture(() => driversCheck(['check', '--part', 'max31855', '--bus', '/dev/spidev7.1'])), 2, /\/dev\/spidev7\.1 does not exist .*enable SPI/);
});

test('busProblem: a bus this user may not open names the group', (t) => {
  const denied = busProblem('/dev/i2c-1', () => true, () => {
    throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
  });
  t.regex(denied!, /\/dev\/i2c-1 is not readable and writable by this user: sudo usermod -aG i2c \$USER/);
  t.is(busProblem('/dev/i2c-1', () => true, () => {}), undefined);
  t.regex(busProblem('iio:device3', () => false)!, /\/sys\/bus\/iio\/devices\/iio:device3 does not exist/);
});

test.serial('drivers check --json: one JSON object with every check', async (t) => {
  const r = await capture(() => driversCheck(['check', '--part', 'tmp117', '--simulated', '--samples', '3', '--json']));
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 1);
  const report = JSON.parse(lines[0]!) as { part: string; where: string; passed: boolean; checks: Array<{ name: string; ok: boolean; detail: string }>; summary: string };
  t.is(report.part, 'tmp117');
  t.regex(report.where, /^tmp117 on simulated i2c bus/);
  t.true(report.passed);
  t.regex(report.summary, /^PASS \(\d+ checks\)$/);
  t.is(report.checks.length, Number(/\((\d+) checks\)/.exec(report.summary)![1]));
  t.deepEqual(report.checks[0], { name: 'open and identify', ok: true, detail: report.checks[0]!.detail });
  t.true(report.checks.every((c) => c.ok && c.name.length > 0 && !c.name.endsWith('.')));
});

test.serial('a failed operation is one line on stderr and exit 1: ota sign of an image that is not an app image, ota verify of a tampered manifest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
  const key = join(dir, 'k.pem');
  t.is((await capture(() => otaCommand(['keygen', '--out', key]))).code, 0);
  writeFileSync(join(dir, 'junk.bin'), Buffer.alloc(4096, 1));
  const args = ['--key', key, '--version', '1.0.1', '--board', 'pipewatch-sim'];
  oneLineOnStderr(t, await pipewatch('ota', 'sign', ...args, '--image', join(dir, 'junk.bin'), '--out', join(dir, 'm')), 1, /^pipewatch ota sign: the image is not an ESP-IDF app image .*; nothing signed$/m);
  writeFileSync(join(dir, 'fw.bin'), simImage('1.0.1'));
  t.is((await pipewatch('ota', 'sign', ...args, '--image', join(dir, 'fw.bin'), '--out', join(dir, 'm'))).code, 0);
  const manifest = readFileSync(join(dir, 'm'));
  manifest[30]! ^= 1;
  writeFileSync(join(dir, 'bad'), manifest);
  oneLineOnStderr(t, await pipewatch('ota', 'verify', '--pub', `${key}.pub`, '--manifest', join(dir, 'bad')), 1, /^pipewatch ota verify: INVALID manifest: badSignature$/m);
});

test.serial('sim --discover: nodes with no broker find the embedded broker by mDNS and deliver everything, on Node and XS; not with TLS (issue 16 item 4)', async (t) => {
  for (const engine of ['node', 'xs'] as const) {
    const r = await pipewatch('sim', '--discover', '--engine', engine, '--nodes', '3', '--virtual', '--duration', '1m', '--quiet', '--json');
    t.is(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as SimSummary;
    t.is(s.engine, engine);
    t.is(s.readingsDelivered, s.readingsGenerated, engine);
    t.true(s.readingsGenerated >= 15, engine);
    t.deepEqual(s.discovery, { searches: 3, found: 3 }, engine);
    t.regex(summaryLine(s, 1, undefined), /broker found by mDNS 3 time\(s\) in 3 search\(es\)/);
  }
  oneLineOnStderr(
    t,
    await pipewatch('sim', '--discover', '--engine', 'node', '--broker', 'mqtts://127.0.0.1:8883', '--ca', 'ca.crt', '--cert-dir', 'certs', '--duration', '10s'),
    2,
    /--discover finds a plain MQTT broker/,
  );
});
