/*
 * Broker ACLs and per-device identities against Debian's mosquitto, with the configuration
 * shipped in docs/security/ (mosquitto.conf, mosquitto-passwords.conf, acl) used as it is: only
 * the /etc/mosquitto/pipewatch/ and /var/lib/mosquitto/ paths and the port are replaced. The
 * certificates come from tools/certs.ts (`pipewatch certs`). Each node is the real firmware
 * uplink over the Node host's TLS sockets in virtual time; what counts as delivered is what the
 * station (a subscriber holding the station's certificate) receives, never a PUBACK: mosquitto
 * 2.x acknowledges a QoS 1 PUBLISH that the ACL denies and drops it.
 */
import test from 'ava';
import mqtt from 'mqtt';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RamStore } from '../firmware/outbox';
import type { TLSOptions } from '../firmware/host';
import { Uplink, type UplinkOptions } from '../firmware/uplink/uplink';
import { createNodeHost, VIRTUAL_EPOCH_MS } from '../hosts/node/host';
import { FlashStore } from '../hosts/node/flash';
import { XsFleet } from '../hosts/xs/parent';
import type { GuestNodeConfig } from '../hosts/xs/guest';
import { ConsumerClient, FleetScheduler } from '../tools/bench/uplink';
import { initCa, issueDevice, revokeDevice } from '../tools/certs';
import { simDeviceId, startSimulation, StartupError } from '../simulator/run';
import { parseSimOptions, UsageError } from '../tools/cli';
import { findMosquitto, freePort } from './harness/mosquitto';

const docs = fileURLToPath(new URL('../docs/security/', import.meta.url));
const DAY_MS = 86_400_000;

interface Pki {
  dir: string;
  foreign: string;
}

let pki: Pki;

test.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-security-'));
  chmodSync(dir, 0o755);
  await initCa(dir);
  await issueDevice(dir, 'broker', { serverNames: ['127.0.0.1', 'localhost'] });
  for (const id of ['station', 'node-a', 'node-b', 'node-r']) await issueDevice(dir, id);
  await issueDevice(dir, 'node-x', { now: new Date(Date.now() - 3 * DAY_MS), days: 1 });
  await revokeDevice(dir, 'node-r');
  const foreign = join(dir, 'foreign');
  await initCa(foreign, { name: 'somebody else' });
  await issueDevice(foreign, 'node-a');
  pki = { dir, foreign };
});

test.after.always(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

function pem(dir: string, id: string): { certificate: string; key: string } {
  return { certificate: readFileSync(join(dir, `${id}.crt`), 'utf8'), key: readFileSync(join(dir, `${id}.key`), 'utf8') };
}

interface Broker {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

/** mosquitto with docs/security/<conf> as it is: paths and port replaced; `users` go to a password file. */
async function startBroker(t: import('ava').ExecutionContext, conf: string, users?: Record<string, string>): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-security-broker-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'data'));
  for (const f of ['ca.crt', 'crl.pem', 'broker.crt', 'broker.key']) {
    copyFileSync(join(pki.dir, f), join(dir, f));
    chmodSync(join(dir, f), 0o644);
  }
  copyFileSync(join(docs, 'acl'), join(dir, 'acl'));
  if (users) {
    writeFileSync(join(dir, 'passwords'), '');
    for (const [user, password] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', join(dir, 'passwords'), user, password], { stdio: 'pipe' });
    chmodSync(join(dir, 'passwords'), 0o644);
  }
  const port = await freePort();
  const text = readFileSync(join(docs, conf), 'utf8')
    .replaceAll('/etc/mosquitto/pipewatch/', `${dir}/`)
    .replaceAll('/var/lib/mosquitto/', `${dir}/data/`)
    .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`);
  writeFileSync(join(dir, 'mosquitto.conf'), text);
  const child: ChildProcess = spawn(findMosquitto(), ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-65536)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`mosquitto did not start: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { port, log: () => log, stop };
}

function reading(i: number) {
  return { timeMs: 1767225600000 + i * 10_000, synced: true, channel: 0, kind: 0 as const, value: 50_000 + i, alert: false };
}

/** A node: the real uplink over the Node host's TLS socket, in virtual time, with `count` readings stored. */
function node(t: import('ava').ExecutionContext, port: number, deviceId: string, secure: TLSOptions['secure'], count: number, extra: Partial<UplinkOptions> = {}) {
  const scheduler = new FleetScheduler({ virtual: true });
  const host = createNodeHost({ scheduler, seed: 7 });
  const store = new RamStore(500);
  for (let i = 0; i < count; i++) store.append(reading(i));
  const make = (s: TLSOptions['secure'], more: Partial<UplinkOptions>) =>
    new Uplink(host, store, { deviceId, address: '127.0.0.1', port, secure: s, onCommand: () => {}, backoffBaseMs: 2000, ...extra, ...more });
  const n = {
    store,
    uplink: make(secure, {}),
    async run(ms: number) {
      // Virtual time, in steps, with real time between them for the TLS handshakes on the wire.
      for (let left = ms; left > 0; left -= 1000) {
        await scheduler.runUntil(scheduler.now() + Math.min(1000, left));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    /** A new uplink over the same stored readings, e.g. after a new certificate is installed. */
    replace(s: TLSOptions['secure'], more: Partial<UplinkOptions> = {}) {
      n.uplink.stop();
      n.uplink = make(s, more);
      n.uplink.start();
    },
  };
  t.teardown(() => {
    n.uplink.stop();
    scheduler.stop();
  });
  n.uplink.start();
  return n;
}

async function station(t: import('ava').ExecutionContext, port: number, login: mqtt.IClientOptions): Promise<ConsumerClient> {
  const c = await ConsumerClient.connect(`mqtts://127.0.0.1:${port}`, { ca: readFileSync(join(pki.dir, 'ca.crt')), reconnectPeriod: 0, ...login });
  t.teardown(() => c.close());
  return c;
}

const stationCert = () => ({ cert: readFileSync(join(pki.dir, 'station.crt')), key: readFileSync(join(pki.dir, 'station.key')) });
const ca = () => readFileSync(join(pki.dir, 'ca.crt'), 'utf8');

function seenFrom(c: ConsumerClient, dev: string): number {
  return c.consumer.devices.get(dev)?.seen.size ?? 0;
}

test('mutual TLS: a node with its own certificate delivers every reading', async (t) => {
  const broker = await startBroker(t, 'mosquitto.conf');
  const s = await station(t, broker.port, stationCert());
  const n = node(t, broker.port, 'node-a', { ca: ca(), ...pem(pki.dir, 'node-a'), serverName: 'localhost' }, 120);
  await n.run(30_000);
  t.true(n.uplink.connected, `connected (${n.uplink.stats.lastCloseReason}) ${broker.log()}`);
  await s.quiesce();
  t.deepEqual(s.consumer.errors, []);
  t.is(seenFrom(s, 'node-a'), 120);
  t.is(n.store.pending, 0);
});

test('mutual TLS: a node holding another node\'s certificate cannot publish as the first', async (t) => {
  const broker = await startBroker(t, 'mosquitto.conf');
  const s = await station(t, broker.port, stationCert());
  // The real node-a, connected and delivering.
  const a = node(t, broker.port, 'node-a', { ca: ca(), ...pem(pki.dir, 'node-a') }, 5);
  await a.run(10_000);
  t.true(a.uplink.connected);
  // node-b's certificate in a node that calls itself node-a (client id node-a, topics pipewatch/node-a/…).
  const impostor = node(t, broker.port, 'node-a', { ca: ca(), ...pem(pki.dir, 'node-b') }, 40);
  await impostor.run(30_000);
  await a.run(10_000);
  await s.quiesce();
  t.log(`impostor: connected ${impostor.uplink.connected}, failures ${impostor.uplink.stats.connectFailures}, last close "${impostor.uplink.stats.lastCloseReason}"; node-a connected ${a.uplink.connected}`);
  t.is(seenFrom(s, 'node-a'), 5, 'only the real node-a\'s readings arrive under node-a');
  t.is(s.consumer.duplicates, 0, 'not even the impostor\'s readings with node-a\'s sequence numbers');
  t.is(a.uplink.stats.reconnects, 0, 'the real node-a was not knocked off (use_username_as_clientid)');
  t.true(a.uplink.connected);
  t.regex(broker.log(), /as node-b \(p2, c0, k60, u'node-b'\)/, 'the impostor got the client id of its certificate');
  // What the impostor sees: mosquitto 2.x PUBACKs each denied publish, so under MQTT 3.1.1 the
  // node cannot tell delivery from an ACL drop and discards its readings (docs/security.md).
  t.is(impostor.uplink.stats.acked, 40);
  t.is(impostor.store.pending, 0);

  // A plain MQTT client with node-b's certificate: its QoS 1 publish under node-a is acknowledged
  // by mosquitto and dropped by the ACL; its own topic goes through.
  const b = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, {
    ca: ca(), cert: readFileSync(join(pki.dir, 'node-b.crt')), key: readFileSync(join(pki.dir, 'node-b.key')), clientId: 'node-b', reconnectPeriod: 0,
  });
  t.teardown(() => b.endAsync(true));
  const probe = '{"dev":"node-a","seq":9999,"ts":1767225600000,"sync":true,"ch":0,"mC":1,"alert":false}';
  const ack = await b.publishAsync('pipewatch/node-a/readings', probe, { qos: 1 });
  t.truthy(ack, 'mosquitto acknowledged the denied publish');
  // mosquitto 2.0.11 grants the subscription in its SUBACK, then delivers nothing the ACL denies.
  const heard: string[] = [];
  b.on('message', (topic) => heard.push(topic));
  await b.subscribeAsync(['pipewatch/node-a/cmd', 'pipewatch/node-b/cmd'], { qos: 1 });
  const commander = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: ca(), ...stationCert(), reconnectPeriod: 0 });
  t.teardown(() => commander.endAsync(true));
  await commander.publishAsync('pipewatch/node-a/cmd', 'reboot', { qos: 1 });
  await commander.publishAsync('pipewatch/node-b/cmd', 'ping', { qos: 1 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.deepEqual(heard, ['pipewatch/node-b/cmd'], 'node-b hears its own commands, not node-a\'s');
  t.false(s.consumer.devices.get('node-a')?.seen.has(9999) ?? false, 'the denied publish never reached the station');
});

for (const [name, certDir, id] of [
  ['a certificate from another CA', 'foreign', 'node-a'],
  ['an expired certificate', 'dir', 'node-x'],
  ['a revoked certificate', 'dir', 'node-r'],
] as const) {
  test(`mutual TLS: ${name} is refused; the node keeps its readings, backs off, and delivers them all with a valid certificate`, async (t) => {
    const broker = await startBroker(t, 'mosquitto.conf');
    const s = await station(t, broker.port, stationCert());
    const n = node(t, broker.port, id, { ca: ca(), ...pem(pki[certDir], id) }, 30);
    await n.run(120_000);
    t.false(n.uplink.connected, broker.log());
    const failures = n.uplink.stats.connectFailures;
    t.true(failures >= 2, `refusals counted (${failures})`);
    t.true(failures <= 12, `backing off, not hammering: ${failures} attempts in 120 s`);
    t.is(n.store.pending, 30, 'every reading still stored');
    t.is(seenFrom(s, id), 0);
    // A valid certificate for the same id: everything goes.
    const fresh = mkdtempSync(join(tmpdir(), 'pipewatch-security-fresh-'));
    t.teardown(() => rmSync(fresh, { recursive: true, force: true }));
    for (const f of ['ca.crt', 'ca.key']) copyFileSync(join(pki.dir, f), join(fresh, f));
    await issueDevice(fresh, id);
    n.replace({ ca: ca(), ...pem(fresh, id) });
    await n.run(30_000);
    t.true(n.uplink.connected, n.uplink.stats.lastCloseReason);
    await s.quiesce();
    t.is(seenFrom(s, id), 30, 'all kept readings delivered');
    t.is(n.store.pending, 0);
  });
}

const users = { 'node-a': 'pw-a-1', 'node-b': 'pw-b-2', station: 'pw-station' };

test('password file: own login delivers; another node\'s login cannot publish as it; a wrong password is refused, then all delivered', async (t) => {
  const broker = await startBroker(t, 'mosquitto-passwords.conf', users);
  const s = await station(t, broker.port, { username: 'station', password: users.station });
  const a = node(t, broker.port, 'node-a', { ca: ca() }, 20, { username: 'node-a', password: users['node-a'] });
  await a.run(20_000);
  t.true(a.uplink.connected, a.uplink.stats.lastCloseReason);

  const impostor = node(t, broker.port, 'node-a', { ca: ca() }, 30, { username: 'node-b', password: users['node-b'] });
  await impostor.run(20_000);
  await a.run(10_000);

  const wrong = node(t, broker.port, 'node-b', { ca: ca() }, 25, { username: 'node-b', password: 'guess' });
  await wrong.run(120_000);
  t.false(wrong.uplink.connected);
  t.true(wrong.uplink.stats.connectFailures >= 2 && wrong.uplink.stats.connectFailures <= 12, `${wrong.uplink.stats.connectFailures} refusals`);
  t.regex(wrong.uplink.stats.lastCloseReason, /^refused/);
  t.is(wrong.store.pending, 25);
  wrong.replace({ ca: ca() }, { username: 'node-b', password: users['node-b'] });
  await wrong.run(30_000);
  await s.quiesce();

  t.is(seenFrom(s, 'node-a'), 20, 'only node-a\'s own readings under node-a');
  t.is(s.consumer.duplicates, 0, 'no reading of the impostor arrived, not even a sequence number node-a also used');
  t.is(a.uplink.stats.reconnects, 0, 'the real node-a was not knocked off');
  t.is(impostor.store.pending, 0, 'PUBACKed by mosquitto, dropped by the ACL');
  t.is(seenFrom(s, 'node-b'), 25, 'every kept reading delivered once the password is right');
  t.is(wrong.store.pending, 0);
});

test('XS through the bridge: the node with its own certificate delivers every reading; one holding another node\'s certificate cannot publish as it', async (t) => {
  const broker = await startBroker(t, 'mosquitto.conf');
  const s = await station(t, broker.port, stationCert());
  const scheduler = new FleetScheduler({ virtual: true });
  const flashStore = new FlashStore();
  const fleet = new XsFleet({ scheduler, wallNow: () => VIRTUAL_EPOCH_MS + scheduler.now(), flash: (index, path) => flashStore.open(index, path) });
  t.teardown(async () => {
    fleet.close();
    scheduler.stop();
  });
  await fleet.start();
  const configFor = (i: number, deviceId: string, holder: string): GuestNodeConfig => ({
    deviceId,
    broker: { address: '127.0.0.1', port: broker.port, keepaliveSec: 60, secure: { ca: ca(), ...pem(pki.dir, holder), serverName: 'localhost' } },
    intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }],
    nodeIndex: i,
    seed: 11 + i,
    world: { seed: 5, leakShare: 0 },
    flashPartitions: flashStore.partitionNames,
  });
  await fleet.addNode(0, configFor(0, 'node-a', 'node-a'));
  await fleet.addNode(1, configFor(1, 'node-a', 'node-b'));
  const run = async (ms: number) => {
    for (let left = ms; left > 0; left -= 1000) {
      await scheduler.runUntil(scheduler.now() + 1000, () => !fleet.busy);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  await run(120_000);
  for (const i of [0, 1]) await fleet.stopSampling(i);
  await run(30_000);
  await s.quiesce();
  const [real, impostor] = await fleet.stats();
  t.true(real!.readingsGenerated >= 10, `${real!.readingsGenerated} readings`);
  t.is(real!.pending, 0);
  t.is(seenFrom(s, 'node-a'), real!.readingsGenerated, 'every reading of the real node-a, and nothing else under node-a');
  t.is(s.consumer.duplicates, 0, 'none of the impostor\'s readings (they reuse node-a\'s sequence numbers)');
  t.true(impostor!.readingsGenerated >= 10);
  t.is(real!.uplink.reconnects, 0, 'the real node-a was not knocked off');
});

test('pipewatch sim --broker mqtts:// --ca --cert-dir: each simulated node shows its own certificate; a missing one is a start-up error', async (t) => {
  const broker = await startBroker(t, 'mosquitto.conf');
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-security-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ['ca.crt', 'ca.key', 'station.crt', 'station.key']) copyFileSync(join(pki.dir, f), join(dir, f));
  const options = {
    engine: 'xs' as const, nodes: 2, durationMs: 300_000, virtual: true, seed: 9, intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }], drainMs: 60_000, leakShare: 0,
    broker: `mqtts://127.0.0.1:${broker.port}`, tls: { caPath: join(dir, 'ca.crt'), certDir: dir },
  };
  await issueDevice(dir, simDeviceId(0, 2));
  const missing = await startSimulation(options).done.then(() => 'ran', (error: Error) => error);
  t.true(missing instanceof StartupError);
  t.regex(String((missing as Error).message), new RegExp(`no ${simDeviceId(1, 2)}\\.crt; make it with: npx pipewatch certs issue ${simDeviceId(1, 2)} --dir`));
  await issueDevice(dir, simDeviceId(1, 2));
  const s = await startSimulation(options).done;
  t.true(s.readingsGenerated >= 50, `${s.readingsGenerated} readings`);
  t.is(s.readingsDelivered, s.readingsGenerated, broker.log());
  t.is(s.readingsLost, 0);
  t.regex(broker.log(), new RegExp(`as ${simDeviceId(1, 2)} \\(p2, c0, k\\d+, u'${simDeviceId(1, 2)}'\\)`));
});

test('pipewatch sim: --ca and --cert-dir come together, with an mqtts:// broker', (t) => {
  const usage = (argv: string[]) => t.throws(() => parseSimOptions(argv), { instanceOf: UsageError });
  t.regex(usage(['--ca', 'pki/ca.crt']).message, /--ca and --cert-dir: give both or neither/);
  t.regex(usage(['--ca', 'pki/ca.crt', '--cert-dir', 'pki']).message, /need --broker mqtts:/);
  t.regex(usage(['--broker', 'mqtts://127.0.0.1:8883']).message, /mqtts:\/\/ needs --ca CA\.crt and --cert-dir DIR/);
  t.regex(usage(['--broker', 'mqtt://127.0.0.1:1883', '--ca', 'pki/ca.crt', '--cert-dir', 'pki']).message, /are for an mqtts:\/\/ broker/);
  t.deepEqual(parseSimOptions(['--broker', 'mqtts://127.0.0.1:8883', '--ca', 'pki/ca.crt', '--cert-dir', 'pki']).tls, { caPath: 'pki/ca.crt', certDir: 'pki' });
});
