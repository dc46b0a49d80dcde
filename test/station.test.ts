/*
 * `pipewatch station` against a real mosquitto: every reading stored exactly once across a
 * SIGKILL of the station mid-stream, duplicates dropped, malformed and hostile messages counted
 * and shown escaped, the CLI's conventions, /metrics and the CSV export.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import Database from 'better-sqlite3';
import { startMosquitto } from './harness/mosquitto';
import { ReadingEncoder } from '../firmware/uplink/payload';
import type { Reading } from '../firmware/store';
import { escapeHtml } from '../tools/station/web';
import { startStation, parseStationOptions } from '../tools/station/main';
import { SqliteStore } from '../tools/station/store-sqlite';
import { startIngest } from '../tools/station/ingest';
import { layoutPlant, readPlant } from '../tools/station/plant';
import { writeFileSync } from 'node:fs';
import { publishFleet, reading } from './harness/station-cli';

const CLI = new URL('../tools/pipewatch.mjs', import.meta.url).pathname;

function spawnStation(args: string[]): { child: ChildProcess; url: Promise<string>; subscribed: Promise<void> } {
  const child = spawn(process.execPath, [CLI, 'station', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /station: (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`station exited ${code}: ${err}`)));
  });
  const subscribed = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', () => /station: subscribed/.test(out) && resolve());
    child.once('exit', (code) => reject(new Error(`station exited ${code}: ${err}`)));
  });
  url.catch(() => {});
  subscribed.catch(() => {});
  return { child, url, subscribed };
}

async function connect(port: number, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 200 });
}


function countRows(file: string): { rows: number; distinct: number; perDev: Map<string, number[]> } {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT dev, seq FROM readings ORDER BY dev, seq').all() as Array<{ dev: string; seq: number }>;
  db.close();
  const perDev = new Map<string, number[]>();
  for (const r of rows) perDev.set(r.dev, [...(perDev.get(r.dev) ?? []), r.seq]);
  return { rows: rows.length, distinct: new Set(rows.map((r) => `${r.dev}/${r.seq}`)).size, perDev };
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const mqttVersion of ['5', '3.1.1']) test(`MQTT ${mqttVersion}: SIGKILL mid-stream and restart, every reading in the database exactly once`, async (t) => {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-'));
  const db = join(dir, 'station.db');
  const args = ['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', db, '--client-id', 'station-kill-test', '--mqtt', mqttVersion];
  const first = spawnStation(args);
  t.teardown(async () => {
    first.child.kill('SIGKILL');
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await first.subscribed;
  const devs = Array.from({ length: 6 }, (_, i) => `node-${String(i + 1).padStart(3, '0')}`);
  const perDev = 400;
  const publisher = await connect(broker.port, 'fleet-publisher');
  // Kill the station once it has stored some but not all: half the fleet publishes before the
  // kill, the other half after it, so the kill lands mid-stream however fast the first half went.
  const publishing = publishFleet(publisher, devs.slice(0, devs.length / 2), perDev, 4);
  await waitFor(() => countRows(db).rows > 300, 30_000, 'the first readings');
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  const atKill = countRows(db).rows;
  t.true(atKill < devs.length * perDev, `killed mid-stream (${atKill} stored)`);
  await publishing;
  await publishFleet(publisher, devs.slice(devs.length / 2), perDev, 4);
  await publisher.endAsync();
  const second = spawnStation(args);
  t.teardown(() => void second.child.kill('SIGKILL'));
  await second.url;
  await waitFor(() => countRows(db).rows >= devs.length * perDev, 30_000, 'every reading after the restart').catch((e: Error) => {
    const c = countRows(db);
    const missing = [...c.perDev].map(([dev, seqs]) => `${dev}: ${seqs.length} missing ${Array.from({ length: perDev }, (_, i) => i + 1).filter((q) => !seqs.includes(q)).join(' ')}`).join(', ');
    throw new Error(`${e.message}: ${c.rows} rows (${atKill} at the kill; ${missing})`);
  });
  await new Promise((r) => setTimeout(r, 500));
  const final = countRows(db);
  t.is(final.rows, devs.length * perDev);
  t.is(final.distinct, final.rows);
  for (const dev of devs) t.deepEqual(final.perDev.get(dev), Array.from({ length: perDev }, (_, i) => i + 1), dev);
  const metrics = await (await fetch(new URL('/metrics', await second.url))).text();
  t.regex(metrics, /^pipewatch_duplicates_dropped_total [1-9]\d*$/m);
  t.regex(metrics, /^pipewatch_malformed_total 0$/m);
});

test('hostile device ids and payloads are counted per device, stored nowhere else, and shown escaped', async (t) => {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-'));
  const station = await startStation(
    parseStationOptions(['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', join(dir, 's.db'), '--client-id', 'station-hostile']),
  );
  t.teardown(async () => {
    await station.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await station.subscribed;
  const evil = '<img src=x onerror=alert(1)>';
  const client = await connect(broker.port, 'hostile');
  await client.publishAsync(`pipewatch/${evil}/readings`, '{"dev":"x"}', { qos: 1 });
  await client.publishAsync('pipewatch/node-009/readings', `{"dev":"node-009","seq":1,"ts":5,"sync":false,"ch":0,"mC":"</script><script>alert(2)</script>"}`, { qos: 1 });
  await client.publishAsync('pipewatch/node-009/ota/status', `<b>${evil}</b>`, { qos: 1 });
  await client.publishAsync('pipewatch/node-009/readings/bin', Buffer.from([1, 1, 0, 0, 0, 0, 0, 1]), { qos: 1 });
  await client.publishAsync('pipewatch/node-009/status', 'online', { qos: 1 });
  const enc = new ReadingEncoder('node-009', 256);
  const len = enc.encode(reading(7));
  await client.publishAsync('pipewatch/node-009/readings', Buffer.from(enc.out.bytes.subarray(0, len)), { qos: 1 });
  await client.endAsync();
  await waitFor(async () => {
    const c = await station.store.counters();
    return c.ingested === 1 && c.malformed === 4;
  }, 10_000, 'the messages');
  const devices = await station.store.devices(Date.now());
  const hostile = devices.find((d) => d.dev === evil)!;
  t.is(hostile.malformed, 1);
  t.is(hostile.readings, 0);
  const node = devices.find((d) => d.dev === 'node-009')!;
  t.is(node.malformed, 3);
  t.is(node.readings, 1);
  t.is(node.status, 'online');
  t.regex(node.last_error ?? '', /binary header/);
  // The pages are shells filled by textContent; what the server itself writes into HTML is escaped.
  const html = await (await fetch(new URL(`/node/${encodeURIComponent(evil)}`, station.url))).text();
  t.false(html.includes(evil));
  t.true(html.includes(escapeHtml(evil)));
  const api = await (await fetch(new URL('/api/fleet', station.url))).json() as { nodes: Array<{ dev: string }> };
  t.true(api.nodes.some((n) => n.dev === evil));
  const csv = await (await fetch(new URL(`/api/node/node-009/readings.csv?from=0`, station.url))).text();
  t.is(csv.trim().split('\n').length, 2);
  t.regex(csv, /^node-009,7,1767225670000,1,0,mC,60000,0,\d+$/m);
  const metrics = await (await fetch(new URL('/metrics', station.url))).text();
  t.regex(metrics, /^pipewatch_malformed_total 4$/m);
  t.regex(metrics, /^pipewatch_readings_ingested_total 1$/m);
});

test('command line: --help on stdout exit 0, usage errors one line exit 2, a failure one line exit 1', async (t) => {
  const run = async (args: string[]): Promise<{ code: number | null; out: string; err: string }> => {
    const child = spawn(process.execPath, [CLI, 'station', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, out, err };
  };
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /^usage: npx pipewatch station --broker/);
  for (const args of [['--broker', 'http://x'], ['--broker', 'mqtt://127.0.0.1:1', '--bogus']]) {
    const r = await run(args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.err, /^pipewatch station: [^\n]+\n$/, args.join(' '));
  }
  const failed = await run(['--broker', 'mqtt://127.0.0.1:1', '--plant', '/nonexistent/plant.json']);
  t.is(failed.code, 1);
  t.regex(failed.err, /^pipewatch station: [^\n]*plant\.json[^\n]*\n$/);
});

test('a database that fails holds the PUBACK: the broker delivers the message again to the next station', async (t) => {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-'));
  t.teardown(async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  class FailingStore extends SqliteStore {
    override async storeReadings(): Promise<{ added: number; duplicates: number }> {
      throw new Error('database is locked');
    }
  }
  const broken = new FailingStore(join(dir, 'broken.db'));
  const errors: string[] = [];
  const first = startIngest({ broker: `mqtt://127.0.0.1:${broker.port}`, clientId: 'station-held', store: broken, onError: (m) => errors.push(m) });
  await first.ready;
  const client = await connect(broker.port, 'held-publisher');
  const enc = new ReadingEncoder('node-042', 256);
  const len = enc.encode(reading(1));
  await client.publishAsync('pipewatch/node-042/readings', Buffer.from(enc.out.bytes.subarray(0, len)), { qos: 1 });
  await client.endAsync();
  await waitFor(() => errors.length >= 2, 5000, 'the failed commits');
  t.regex(errors[0]!, /^database: database is locked; holding the acknowledgement/);
  // The station dies with the message unacknowledged.
  first.client.stream.destroy();
  first.client.end(true);
  await first.close();
  await broken.close();
  const store = new SqliteStore(join(dir, 'good.db'));
  const second = startIngest({ broker: `mqtt://127.0.0.1:${broker.port}`, clientId: 'station-held', store });
  t.teardown(async () => {
    await second.close();
    await store.close();
  });
  await second.ready;
  await waitFor(async () => (await store.counters()).ingested === 1, 5000, 'the message delivered again');
  t.deepEqual((await store.readings('node-042', 0, Date.now())).map((r) => r.seq), [1]);
});

test('pipewatch sim --station (npm start) prints the web view address and stores the run', async (t) => {
  const flash = mkdtempSync(join(tmpdir(), 'station-sim-'));
  t.teardown(() => rmSync(flash, { recursive: true, force: true }));
  const child = spawn(process.execPath, [CLI, 'sim', '--station', '--nodes', '2', '--engine', 'node', '--virtual', '--duration', '60s', '--quiet', '--flash-dir', flash], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  let page = '';
  child.stdout.on('data', () => {
    const m = /the plant's live view: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m && !page) page = m[1]!;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 0, err);
  t.regex(out, /^pipewatch sim: the plant's live view: http:\/\/127\.0\.0\.1:\d+\/$/m);
  const delivered = Number(/pipewatch sim: \d+ readings generated, (\d+) delivered.*, 0 lost/.exec(out)?.[1]);
  t.true(delivered > 0, out);
  t.truthy(page);
  // With --flash-dir the station's database lives beside the nodes' flash.
  t.is(countRows(join(flash, 'station.db')).rows, delivered);
});

test('plant layout: the project plant file places its nodes; the rest go by id in lines of 20', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'station-plant-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'plant.json');
  writeFileSync(file, JSON.stringify({ lines: [{ id: 'A' }, { id: 'B' }], nodes: [{ id: 'n-1', line: 'A', posM: 0 }, { id: 'n-2', line: 'A', posM: 12.5 }, { id: 'n-3', line: 'B', posM: 4 }] }));
  const at = layoutPlant(['n-3', 'n-1', 'x-2', 'n-2', ...Array.from({ length: 20 }, (_, i) => `z-${String(i).padStart(2, '0')}`)], readPlant(file));
  t.deepEqual(at.get('n-2'), { line: 'A', position: 12.5 });
  t.deepEqual(at.get('n-3'), { line: 'B', position: 4 });
  t.deepEqual(at.get('x-2'), { line: 'line 1', position: 0 });
  t.deepEqual(at.get('z-18'), { line: 'line 1', position: 19 });
  t.deepEqual(at.get('z-19'), { line: 'line 2', position: 0 });
  writeFileSync(file, JSON.stringify({ lines: [{ id: 'A' }], nodes: [{ id: 'n-1', line: 'A' }] }));
  t.throws(() => readPlant(file), { message: new RegExp(`^plant file ${file}: .*posM`) });
});
