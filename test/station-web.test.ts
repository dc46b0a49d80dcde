/*
 * The station's web side without a browser: the incidents and heartbeat tables (store methods
 * run against every backend in BACKENDS), the incident engine on stored readings (one incident
 * for a leak, none again on a replay after a restart), the access token off loopback, the
 * acknowledge POST, the JSON and line exports, heartbeats shown, and the station's own
 * credentials at a real mosquitto (password file and TLS).
 */
import test from 'ava';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { findMosquitto, freePort, startMosquitto } from './harness/mosquitto';
import { initCa, issueDevice, revokeDevice } from '../tools/certs';
import { ReadingEncoder } from '../firmware/uplink/payload';
import type { Reading } from '../firmware/store';
import { openStore, type StationStore } from '../tools/station/store';
import { startPostgres, type PostgresHandle } from './harness/postgres';
import { StationIncidents, incidentId } from '../tools/station/incidents';
import { startWeb, healthFields, isLoopbackAddress } from '../tools/station/web';
import { parseStationOptions, startStation } from '../tools/station/main';
import type { Plant } from '../tools/station/plant';
import { UsageError } from '../tools/args';

async function openSqlite(file: string): Promise<StationStore> {
  return openStore(file);
}

let postgres: Promise<PostgresHandle> | undefined;
let databases = 0;
test.after.always(async () => {
  if (postgres) await (await postgres).stop();
});

/**
 * Store backends the store-method tests run on. The PostgreSQL backend (station-pg) adds its
 * factory here; each factory gives a fresh, empty store and a cleanup.
 */
const BACKENDS: Array<[string, () => Promise<{ store: StationStore; done: () => Promise<void> }>]> = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'station-web-'));
      const store = await openSqlite(join(dir, 's.db'));
      return { store, done: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
    },
  ],
  [
    'postgres',
    async () => {
      postgres ??= startPostgres({ fsync: false });
      const store = await openStore(await (await postgres).createDatabase(`web${++databases}`));
      return { store, done: () => store.close() };
    },
  ],
];

const T0 = 1_767_225_600_000;

function reading(seq: number, value: number, alert = false, channel = 0): Reading {
  return { seq, timeMs: T0 + seq * 10_000, synced: true, channel, kind: 0, value, alert };
}

/** Six nodes 2 m apart on line L1; node L1-4 warms 15 K from minute 12 on. */
const PLANT: Plant = { lines: [{ name: 'L1', nodes: Array.from({ length: 6 }, (_, i) => ({ dev: `L1-${i + 1}`, position: 2 * i })) }] };
const LEAK_SEQ = 72;

async function storeRun(store: StationStore, seqs: number, onStored?: (dev: string) => Promise<void>): Promise<void> {
  for (let seq = 1; seq <= seqs; seq++) {
    for (const { dev } of PLANT.lines[0]!.nodes) {
      const rise = dev === 'L1-4' && seq >= LEAK_SEQ ? Math.min(15_000, (seq - LEAK_SEQ + 1) * 5000) : 0;
      await store.storeReadings(dev, [reading(seq, 60_000 + ((seq * 37) % 5) * 20 + rise), reading(seq + 100_000, 20_000, false, 1)], Date.now());
      await onStored?.(dev);
    }
  }
}

for (const [backend, open] of BACKENDS) {
  test(`${backend}: incidents are stored once by id, listed newest first, acknowledged once`, async (t) => {
    const { store, done } = await open();
    t.teardown(done);
    const base = { line: 'L1', node: 'L1-4', pos_m: 6.25, rule: 'alert', relative_mc: 9120, raised_ms: 5 };
    t.true(await store.storeIncident({ ...base, id: '1000-L1-4', t_ms: 1000 }));
    t.false(await store.storeIncident({ ...base, id: '1000-L1-4', t_ms: 1000 }));
    t.true(await store.storeIncident({ ...base, id: '2000-L1-4', t_ms: T0 + 2000 }));
    const listed = await store.incidents(10);
    t.deepEqual(listed.map((i) => i.id), ['2000-L1-4', '1000-L1-4']);
    t.like(listed[1], { ...base, t_ms: 1000, acked_ms: null, acked_by: null });
    t.is(listed[0]!.t_ms, T0 + 2000);
    t.is(listed[1]!.pos_m, 6.25);
    t.deepEqual((await store.incidents(1)).map((i) => i.id), ['2000-L1-4']);
    t.true(await store.ackIncident('1000-L1-4', 77, 'web 127.0.0.1'));
    t.true(await store.ackIncident('1000-L1-4', 99, 'someone else'));
    t.false(await store.ackIncident('nope', 99, 'x'));
    t.like((await store.incidents(10))[1], { acked_ms: 77, acked_by: 'web 127.0.0.1' });
  });

  test(`${backend}: the latest heartbeat per device; temperatures after a seq; the last seq before a time`, async (t) => {
    const { store, done } = await open();
    t.teardown(done);
    await store.storeHealth('pipe-7', '{"dev":"pipe-7","n":0,"fw":"1.0.0"}', 10);
    await store.storeHealth('pipe-7', '{"dev":"pipe-7","n":1,"fw":"1.1.0","pending":3}', 20);
    await store.storeHealth('pipe-8', '{"dev":"pipe-8","n":0}', 15);
    t.deepEqual(await store.health(), [
      { dev: 'pipe-7', received_ms: 20, body: '{"dev":"pipe-7","n":1,"fw":"1.1.0","pending":3}' },
      { dev: 'pipe-8', received_ms: 15, body: '{"dev":"pipe-8","n":0}' },
    ]);
    await store.storeReadings('pipe-7', [reading(1, 1), reading(2, 2), reading(3, 3, false, 1)], 100);
    await store.storeReadings('pipe-7', [reading(4, 4), { ...reading(5, 5), kind: 1 }], 200);
    t.deepEqual((await store.temperaturesAfter('pipe-7', 1, 10)).map((r) => r.seq), [2, 4]);
    t.deepEqual((await store.temperaturesAfter('pipe-7', 0, 1)).map((r) => r.seq), [1]);
    t.is(await store.lastSeqBefore('pipe-7', 150), 3);
    t.is(await store.lastSeqBefore('pipe-7', 100), -1);
  });
}

test('heartbeat fields shown are type-checked: firmware text, backlog, summed sensor faults', (t) => {
  t.deepEqual(healthFields('{"fw":"1.4.0","pending":57,"faults":[[1,"E_BUS",6],[2,"E_CRC",1]]}'), { firmware: '1.4.0', backlog: 57, sensorFaults: 7 });
  t.deepEqual(healthFields('{"fw":7,"pending":-1,"faults":"x"}'), { firmware: null, backlog: null, sensorFaults: null });
  t.deepEqual(healthFields('not json'), { firmware: null, backlog: null, sensorFaults: null });
  t.is(healthFields(`{"fw":"${'x'.repeat(100)}"}`).firmware!.length, 40);
});

test('the incident engine on stored readings: one incident at the leak, live; a restart replays and stores nothing twice', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'station-inc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 's.db');
  const store = await openSqlite(file);
  const raised: string[] = [];
  const engine = new StationIncidents({ store, plant: PLANT, onIncident: (row) => raised.push(row.id) });
  await engine.replay(0);
  // A resend is dropped by the store and never fed twice.
  await storeRun(store, 120, async (dev) => {
    await engine.pull(dev);
    if (dev === 'L1-1') await store.storeReadings(dev, [reading(1, 60_000)], Date.now());
  });
  await engine.idle();
  t.is(engine.counts.late, 0);
  t.is(engine.counts.fed, 6 * 120);
  t.is(raised.length, 1, raised.join(' '));
  const [incident] = await store.incidents(10);
  t.like(incident, { line: 'L1', node: 'L1-4' });
  t.is(incident!.id, incidentId({ tMs: incident!.t_ms, node: incident!.node }));
  t.true(incident!.t_ms >= T0 + LEAK_SEQ * 10_000 && incident!.t_ms <= T0 + (LEAK_SEQ + 6) * 10_000, String((incident!.t_ms - T0) / 10_000));
  t.true(Math.abs(incident!.pos_m - 6) <= 2, String(incident!.pos_m));
  await store.close();
  // The station restarts: the last hour is fed again in time order, the same incident is raised
  // again with the same id, and not stored or announced twice.
  const again = await openSqlite(file);
  t.teardown(async () => await again.close());
  const announced: string[] = [];
  const second = new StationIncidents({ store: again, plant: PLANT, onIncident: (row) => announced.push(row.id) });
  await second.replay(Date.now() - 3_600_000);
  t.is(second.counts.fed, 6 * 120);
  t.is(second.fleet.incidents, 1);
  t.deepEqual(announced, []);
  t.is((await again.incidents(10)).length, 1);
});

async function webOn(store: StationStore, token?: string, plant?: Plant) {
  const web = await startWeb({ store, port: 0, listen: '127.0.0.1', offlineAfterMs: 60_000, token, plant });
  return web;
}

test('--listen: loopback is open, any other address gets a token (printed in the address); --token checked', (t) => {
  const base = ['--broker', 'mqtt://127.0.0.1:1883'];
  t.is(parseStationOptions(base).token, undefined);
  t.is(parseStationOptions([...base, '--listen', '::1']).token, undefined);
  const exposed = parseStationOptions([...base, '--listen', '0.0.0.0']).token!;
  t.regex(exposed, /^[0-9a-f]{32}$/);
  t.not(parseStationOptions([...base, '--listen', '0.0.0.0']).token, exposed);
  t.is(parseStationOptions([...base, '--listen', '10.1.2.3', '--token', 'a-long-enough-token']).token, 'a-long-enough-token');
  t.is(parseStationOptions([...base, '--token', 'a-long-enough-token']).token, 'a-long-enough-token');
  t.throws(() => parseStationOptions([...base, '--token', 'short']), { instanceOf: UsageError });
  t.throws(() => parseStationOptions([...base, '--password', 'x']), { instanceOf: UsageError, message: /--username/ });
  t.throws(() => parseStationOptions([...base, '--cert', 'x']), { instanceOf: UsageError, message: /--key/ });
  t.throws(() => parseStationOptions([...base, '--ca', 'x']), { instanceOf: UsageError, message: /mqtts/ });
  for (const a of ['127.0.0.1', '127.9.9.9', '::1', 'localhost', '::ffff:127.0.0.1']) t.true(isLoopbackAddress(a), a);
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) t.false(isLoopbackAddress(a), a);
});

test('with a token every page and API answers 401 without it; Bearer, or ?token= once (cookie, sent on without it)', async (t) => {
  const store = await openSqlite(':memory:');
  const token = 'tok-0123456789abcdef';
  const web = await webOn(store, token);
  t.teardown(async () => {
    await web.close();
    await store.close();
  });
  t.true(web.url.endsWith(`/?token=${token}`));
  const base = new URL('/', web.url);
  for (const path of ['/', '/fleet', '/incidents', '/node/x', '/app.js', '/api/fleet', '/api/incidents', '/metrics', '/events', '/api/node/x/readings.csv']) {
    const res = await fetch(new URL(path, base));
    t.is(res.status, 401, path);
    t.regex(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    t.is((await fetch(new URL(path, base), { headers: { authorization: 'Bearer wrong-token-0000000' } })).status, 401, path);
  }
  t.is((await fetch(new URL('/api/incidents/x/ack', base), { method: 'POST' })).status, 401);
  const bearer = await fetch(new URL('/metrics', base), { headers: { authorization: `Bearer ${token}` } });
  t.is(bearer.status, 200);
  t.regex(await bearer.text(), /^pipewatch_incidents_open 0$/m);
  const opened = await fetch(new URL(`/fleet?token=${token}`, base), { redirect: 'manual' });
  t.is(opened.status, 303);
  t.is(opened.headers.get('location'), '/fleet');
  const cookie = opened.headers.get('set-cookie')!;
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  const page = await fetch(new URL('/fleet', base), { headers: { cookie: cookie.split(';')[0]! } });
  t.is(page.status, 200);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  t.is((await fetch(new URL(`/api/fleet?token=${token}`, base))).status, 200);
});

test('acknowledge: POST stores it once, an unknown id is 404, a cross-site request is refused; GET only elsewhere', async (t) => {
  const store = await openSqlite(':memory:');
  const web = await webOn(store);
  t.teardown(async () => {
    await web.close();
    await store.close();
  });
  await store.storeIncident({ id: '5-L1-4', line: 'L1', node: 'L1-4', t_ms: 5, pos_m: 6, rule: 'relative', relative_mc: 8000, raised_ms: 6 });
  const url = (p: string) => new URL(p, web.url);
  t.is((await fetch(url('/api/incidents/5-L1-4/ack'), { method: 'POST', headers: { origin: 'http://evil.example' } })).status, 403);
  t.is((await fetch(url('/api/incidents/5-L1-4/ack'), { method: 'POST', headers: { origin: 'null' } })).status, 403);
  t.is((await store.incidents(1))[0]!.acked_ms, null);
  t.is((await fetch(url('/api/incidents/none/ack'), { method: 'POST' })).status, 404);
  const ok = await fetch(url('/api/incidents/5-L1-4/ack'), { method: 'POST', headers: { origin: new URL(web.url).origin } });
  t.is(ok.status, 200);
  const body = (await ok.json()) as { incident: { acked_ms: number; acked_by: string } };
  t.regex(body.incident.acked_by, /^web /);
  t.true(body.incident.acked_ms > 0);
  const listed = (await (await fetch(url('/api/incidents'))).json()) as { incidents: Array<{ id: string; acked_ms: number }> };
  t.is(listed.incidents[0]!.acked_ms, body.incident.acked_ms);
  t.is((await fetch(url('/api/fleet'), { method: 'POST' })).status, 405);
});

test('exports: a node as JSON, a line as CSV and JSON for a time range, spreadsheet formulas defused', async (t) => {
  const store = await openSqlite(':memory:');
  const web = await webOn(store, undefined, PLANT);
  t.teardown(async () => {
    await web.close();
    await store.close();
  });
  await store.storeReadings('L1-1', [reading(1, 61_000), reading(2, 61_500, true)], 1000);
  await store.storeReadings('L1-2', [reading(1, 62_000)], 2000);
  await store.storeReadings('L1-2', [reading(2, 62_500)], 3000);
  await store.storeReadings('=cmd', [reading(1, 1)], 1000);
  const get = async (p: string) => fetch(new URL(p, web.url));
  const node = (await (await get('/api/node/L1-1/readings.json?from=0&to=5000')).json()) as { dev: string; readings: unknown[] };
  t.deepEqual(node, {
    dev: 'L1-1',
    from: 0,
    to: 5000,
    readings: [
      { seq: 1, ts: T0 + 10_000, sync: true, channel: 0, unit: 'mC', value: 61_000, alert: false, received_ms: 1000 },
      { seq: 2, ts: T0 + 20_000, sync: true, channel: 0, unit: 'mC', value: 61_500, alert: true, received_ms: 1000 },
    ],
  });
  const csv = await (await get('/api/line/L1/readings.csv?from=0&to=2500')).text();
  t.deepEqual(csv.trim().split('\n'), [
    'line,pos_m,dev,seq,ts,sync,channel,unit,value,alert,received_ms',
    `L1,0,L1-1,1,${T0 + 10_000},1,0,mC,61000,0,1000`,
    `L1,0,L1-1,2,${T0 + 20_000},1,0,mC,61500,1,1000`,
    `L1,2,L1-2,1,${T0 + 10_000},1,0,mC,62000,0,2000`,
  ]);
  const line = (await (await get('/api/line/L1/readings.json?from=2500&to=3000')).json()) as { line: string; nodes: Array<{ dev: string; pos_m: number; readings: unknown[] }> };
  t.is(line.line, 'L1');
  t.deepEqual(line.nodes.map((n) => [n.dev, n.pos_m, n.readings.length]), [['L1-1', 0, 0], ['L1-2', 2, 1]]);
  t.is((await get('/api/line/L9/readings.csv')).status, 404);
  t.is((await get('/api/line/L1/readings.csv?from=yesterday')).status, 400);
  t.regex(await (await get('/api/node/%3Dcmd/readings.csv?from=0')).text(), /^"'=cmd",1,/m);
});

test('the station at a broker with a password file and TLS: its own credentials; without them it stores nothing', async (t) => {
  const broker = await startMosquitto({ tls: true, users: { station: 's3cret-pässwörd', node: 'n0de' } });
  const dir = mkdtempSync(join(tmpdir(), 'station-cred-'));
  t.teardown(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'ca.pem'), broker.caPem!);
  writeFileSync(join(dir, 'pw'), 's3cret-pässwörd\n');
  const url = `mqtts://127.0.0.1:${broker.tlsPort}`;
  const errors: string[] = [];
  const refused = await startStation(parseStationOptions(['--broker', url, '--db', join(dir, 'r.db'), '--client-id', 'station-refused', '--ca', join(dir, 'ca.pem'), '--username', 'station', '--password', 'wrong']), (l) => errors.push(l));
  const station = await startStation(
    parseStationOptions(['--broker', url, '--db', join(dir, 's.db'), '--client-id', 'station-cred', '--ca', join(dir, 'ca.pem'), '--username', 'station', '--password-file', join(dir, 'pw')]),
  );
  t.teardown(async () => {
    await station.close();
    await refused.close();
  });
  await station.subscribed;
  const node = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'node-1', username: 'node', password: 'n0de' });
  const enc = new ReadingEncoder('node-001', 256);
  const len = enc.encode(reading(1, 61_000));
  await node.publishAsync('pipewatch/node-001/readings', Buffer.from(enc.out.bytes.subarray(0, len)), { qos: 1 });
  await node.publishAsync('pipewatch/node-001/health', '{"dev":"node-001","n":0,"ts":5000,"sync":false,"up_ms":5000,"conn_ms":4000,"exp_ms":5000,"fw":"1.4.0","pending":2}', { qos: 1 });
  await node.endAsync();
  const end = Date.now() + 10_000;
  while (((await station.store.counters()).ingested < 1 || (await station.store.health()).length < 1 || errors.length === 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.is((await station.store.counters()).ingested, 1);
  t.is((await station.store.health())[0]!.dev, 'node-001');
  const fleet = (await (await fetch(new URL('/api/fleet', station.url))).json()) as { nodes: Array<{ dev: string; firmware: string; backlog: number }> };
  t.like(fleet.nodes.find((n) => n.dev === 'node-001'), { firmware: '1.4.0', backlog: 2 });
  t.is((await refused.store.counters()).ingested, 0);
  t.true(errors.some((e) => /^station: broker: .*(Not authorized|Bad username or password)/i.test(e)), errors.join(' | '));
});

test('the station with its own client certificate at the mutual-TLS broker of docs/security (ACLs as documented)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'station-mtls-'));
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await initCa(dir);
  await issueDevice(dir, 'broker', { serverNames: ['127.0.0.1', 'localhost'] });
  for (const id of ['station', 'node-001', 'node-old']) await issueDevice(dir, id);
  await revokeDevice(dir, 'node-old');
  const conf = fileURLToPath(new URL('../docs/security/', import.meta.url));
  const b = join(dir, 'broker');
  mkdirSync(join(b, 'data'), { recursive: true });
  chmodSync(b, 0o755);
  for (const f of ['ca.crt', 'crl.pem', 'broker.crt', 'broker.key']) {
    copyFileSync(join(dir, f), join(b, f));
    chmodSync(join(b, f), 0o644);
  }
  copyFileSync(join(conf, 'acl'), join(b, 'acl'));
  const port = await freePort();
  writeFileSync(
    join(b, 'mosquitto.conf'),
    readFileSync(join(conf, 'mosquitto.conf'), 'utf8')
      .replaceAll('/etc/mosquitto/pipewatch/', `${b}/`)
      .replaceAll('/var/lib/mosquitto/', `${b}/data/`)
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`),
  );
  const broker = spawn(findMosquitto(), ['-c', join(b, 'mosquitto.conf')], { stdio: 'ignore' });
  t.teardown(() => void broker.kill('SIGTERM'));
  const deadline = Date.now() + 10_000;
  while (!(await new Promise<boolean>((resolve) => connect({ host: '127.0.0.1', port }).once('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false))))) {
    if (Date.now() > deadline) throw new Error('mosquitto did not start');
    await new Promise((r) => setTimeout(r, 25));
  }
  const args = ['--broker', `mqtts://127.0.0.1:${port}`, '--ca', join(dir, 'ca.crt'), '--cert', join(dir, 'station.crt'), '--key', join(dir, 'station.key')];
  const station = await startStation(parseStationOptions([...args, '--db', join(dir, 's.db'), '--client-id', 'station']));
  t.teardown(() => station.close());
  await station.subscribed;
  const node = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'node-001.crt')), key: readFileSync(join(dir, 'node-001.key')), clientId: 'node-001', reconnectPeriod: 0 });
  const enc = new ReadingEncoder('node-001', 256);
  const len = enc.encode(reading(1, 61_000));
  await node.publishAsync('pipewatch/node-001/readings', Buffer.from(enc.out.bytes.subarray(0, len)), { qos: 1 });
  await node.endAsync();
  const end = Date.now() + 10_000;
  while ((await station.store.counters()).ingested < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual((await station.store.readings('node-001', 0, Date.now())).map((r) => r.seq), [1]);
  // A client certificate is for an mqtts:// broker only.
  t.throws(() => parseStationOptions(['--broker', `mqtt://127.0.0.1:${port}`, '--cert', join(dir, 'station.crt'), '--key', join(dir, 'station.key')]), { message: /mqtts/ });
});
