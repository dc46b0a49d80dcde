/*
 * The station's side of the fleet metrics: heartbeats and OTA status events ingested into the
 * store (checked, each heartbeat once), `pipewatch fleet report` (table, --json, the CLI's
 * conventions) and /api/fleet/metrics.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../tools/station/store-sqlite';
import type { StationStore } from '../tools/station/store';
import { handleMessage, TOPICS } from '../tools/station/ingest';
import { fleetMetrics, parseWhen, readRegistry } from '../tools/station/fleet';
import { FleetMetrics } from '../tools/fleet/metrics';
import { startWeb } from '../tools/station/web';

const CLI = new URL('../tools/pipewatch.mjs', import.meta.url).pathname;
const DAY0 = Date.UTC(2026, 0, 1);
const Q = 900_000;
const enc = (s: string) => new TextEncoder().encode(s);

function hb(dev: string, k: number, conn = Q, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { dev, n: k, ts: k === 0 ? DAY0 : DAY0 + k * Q - 1, sync: true, up_ms: k * Q, since_ms: (k - 1) * Q, boot: 1, reset: 'power-on', conn_ms: k === 0 ? 0 : conn, exp_ms: k === 0 ? 0 : Q, disc: 0, att: 1, pending: 0, generated: 0, dropped: 0, store_failed: 0, store_faults: 0, config_errors: 0, faults: [], ...extra };
}

function run(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

/** A database with two devices on two lines over two days, b1 offline 6 h of day 1, and an update. */
async function filled(file: string): Promise<StationStore> {
  const store = new SqliteStore(file);
  for (let k = 0; k <= 192; k++) {
    await handleMessage(store, 'pipewatch/a1/health', enc(JSON.stringify(hb('a1', k))), DAY0 + k * Q + 50);
    await handleMessage(store, 'pipewatch/b1/health', enc(JSON.stringify(hb('b1', k, k > 24 && k <= 48 ? 0 : Q))), DAY0 + k * Q + 50);
  }
  for (const e of ['{"event":"progress","running":"1.0.0","version":"1.1.0","bytes":1,"total":2}', '{"event":"verified","running":"1.0.0","version":"1.1.0"}', '{"event":"confirmed","running":"1.1.0","version":"1.1.0"}']) {
    await handleMessage(store, 'pipewatch/a1/ota/status', enc(e), DAY0 + 3 * 3_600_000);
  }
  await handleMessage(store, 'pipewatch/b1/ota/status', enc('{"event":"progress","running":"1.0.0","version":"1.1.0","bytes":1,"total":2}'), DAY0 + 3 * 3_600_000);
  await handleMessage(store, 'pipewatch/b1/ota/status', enc('{"event":"failed","running":"1.0.0","version":"1.1.0","reason":"digestMismatch"}'), DAY0 + 3 * 3_600_000 + 1);
  return store;
}

test('the station subscribes to the health topic', (t) => {
  t.true((TOPICS as readonly string[]).includes('pipewatch/+/health'));
});

test('a heartbeat is stored once (a resent copy is not added again); a bad one is malformed with its reason', async (t) => {
  const store = new SqliteStore(':memory:');
  const body = JSON.stringify(hb('pipe-7', 1));
  t.is((await handleMessage(store, 'pipewatch/pipe-7/health', enc(body), DAY0)).added, 1);
  t.is((await handleMessage(store, 'pipewatch/pipe-7/health', enc(body), DAY0 + 5)).added, 0, 'resent copy');
  t.is((await store.heartbeats(0, Number.MAX_SAFE_INTEGER)).length, 1);
  const bad: Array<[string, string]> = [
    ['not json', 'not JSON'],
    ['[1]', 'not a JSON object'],
    [JSON.stringify(hb('other', 1)), 'is not the topic'],
    [JSON.stringify(hb('pipe-7', 2, 2 * Q)), 'conn_ms exceeds exp_ms'],
    [JSON.stringify({ ...hb('pipe-7', 2), ts: -1 }), 'ts is not a count'],
    [JSON.stringify({ ...hb('pipe-7', 2), sync: 1 }), 'sync is not'],
    [JSON.stringify({ ...hb('pipe-7', 2), boot: 'x' }), 'boot is not'],
    [JSON.stringify({ ...hb('pipe-7', 2), faults: [[0, 'E_BUS']] }), 'faults is not'],
  ];
  for (const [payload, reason] of bad) {
    const e = await handleMessage(store, 'pipewatch/pipe-7/health', enc(payload), DAY0);
    t.is(e.kind, 'malformed', payload);
    t.true((await store.devices(DAY0)).find((d) => d.dev === 'pipe-7')!.last_error!.includes(reason), `${payload}: ${(await store.devices(DAY0)).find((d) => d.dev === 'pipe-7')!.last_error}`);
  }
  t.is((await handleMessage(store, 'pipewatch/pipe-7/health', new Uint8Array(5000), DAY0)).kind, 'malformed', 'oversized');
  t.is((await store.counters()).malformed, bad.length + 1);
  t.is((await store.heartbeats(0, Number.MAX_SAFE_INTEGER)).length, 1);
  await store.close();
});

test('OTA status events are kept in arrival order per device', async (t) => {
  const store = new SqliteStore(':memory:');
  for (const e of ['progress', 'verified', 'confirmed']) await handleMessage(store, 'pipewatch/x/ota/status', enc(`{"event":"${e}","version":"1.1.0"}`), DAY0);
  const rows = await store.otaEvents(0, Number.MAX_SAFE_INTEGER);
  t.deepEqual(rows.map((r) => [r.seq, JSON.parse(r.body).event]), [[1, 'progress'], [2, 'verified'], [3, 'confirmed']]);
  t.is((await store.devices(DAY0))[0]!.ota_status, '{"event":"confirmed","version":"1.1.0"}', 'the last one still shown on the device');
  await store.close();
});

test('fleetMetrics from the store is the metrics module fed directly; activation ignores the window', async (t) => {
  const store = await filled(':memory:');
  const registry = [{ id: 'a1', line: 'A' }, { id: 'b1', line: 'B' }, { id: 'c1', line: 'B' }];
  const direct = new FleetMetrics(registry);
  for (let k = 0; k <= 192; k++) {
    direct.addHeartbeat(hb('a1', k) as never);
    direct.addHeartbeat(hb('b1', k, k > 24 && k <= 48 ? 0 : Q) as never);
  }
  direct.addOtaStatus('a1', { event: 'progress', version: '1.1.0' }, DAY0 + 3 * 3_600_000);
  direct.addOtaStatus('a1', { event: 'confirmed', version: '1.1.0' }, DAY0 + 3 * 3_600_000);
  direct.addOtaStatus('b1', { event: 'progress', version: '1.1.0' }, DAY0 + 3 * 3_600_000);
  direct.addOtaStatus('b1', { event: 'failed', version: '1.1.0', reason: 'digestMismatch' }, DAY0 + 3 * 3_600_000 + 1);
  const all = await fleetMetrics(store, registry, -Infinity, Infinity);
  t.deepEqual(all, direct.report());
  t.is(all.uptime.lines.B!['2026-01-01']!.uptime, 0.75);
  t.is(all.ota.rollouts['1.1.0']!.successRate, 0.5);
  const day2 = await fleetMetrics(store, registry, DAY0 + 86_400_000, Infinity);
  t.is(day2.activation.activated, 2, 'activation is not limited by --since');
  t.is(day2.uptime.fleet, 1);
  t.deepEqual(Object.keys(day2.uptime.devices.b1!), ['2026-01-02']);
  await store.close();
});

test('--since and --until: durations back from now, ISO dates, all; anything else is a usage error', (t) => {
  const now = DAY0 + 40 * 86_400_000;
  t.is(parseWhen('30d', '--since', now), now - 30 * 86_400_000);
  t.is(parseWhen('2026-01-02', '--since', now), DAY0 + 86_400_000);
  t.is(parseWhen('2026-01-01T06:00:00Z', '--since', now), DAY0 + 6 * 3_600_000);
  t.is(parseWhen('all', '--since', now), -Infinity);
  t.throws(() => parseWhen('yesterday', '--since', now), { message: /--since takes a duration like 30d/ });
});

test('a registry is the documented list or a plant file; a bad one names the entry', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-registry-'));
  try {
    writeFileSync(join(dir, 'r.json'), '[{"id":"a1","line":"A"},{"id":"b1"}]');
    t.deepEqual(readRegistry(join(dir, 'r.json')), [{ id: 'a1', line: 'A' }, { id: 'b1', line: undefined }]);
    writeFileSync(join(dir, 'p.json'), '{"lines":[{"id":"A"}],"nodes":[{"id":"n1","line":"A","posM":0}]}');
    t.deepEqual(readRegistry(join(dir, 'p.json')), [{ id: 'n1', line: 'A' }]);
    writeFileSync(join(dir, 'bad.json'), '[{"id":"a1"},{"line":"A"}]');
    t.throws(() => readRegistry(join(dir, 'bad.json')), { message: /entry 1 has no "id"/ });
    writeFileSync(join(dir, 'dup.json'), '[{"id":"a1"},{"id":"a1"}]');
    t.throws(() => readRegistry(join(dir, 'dup.json')), { message: /"a1" is listed twice/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pipewatch fleet report: table and --json from a station database; --help; usage errors exit 2, an unreadable database 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-fleet-cli-'));
  try {
    const db = join(dir, 'station.db');
    (await filled(db)).close();
    writeFileSync(join(dir, 'registry.json'), '[{"id":"a1","line":"A"},{"id":"b1","line":"B"},{"id":"c1","line":"B"}]');
    const args = ['fleet', 'report', '--db', db, '--registry', join(dir, 'registry.json'), '--since', '2026-01-01', '--until', '2026-01-04'];
    const table = run(args);
    t.is(table.status, 0, table.stderr);
    t.regex(table.stdout, /activation: 2 of 3 registered devices have connected \(66\.7 %\)/);
    t.regex(table.stdout, /connectivity uptime: 93\.8 %/);
    t.regex(table.stdout, /firmware update success: 50\.0 %/);
    t.regex(table.stdout, /monthly active devices: 2026-01 2/);
    t.regex(table.stdout, /^B\s+2\s+1\s+87\.5 %/m);
    t.regex(table.stdout, /^1\.1\.0\s+2\s+1\s+1\s+0\s+50\.0 %\s+digestMismatch 1$/m);
    const json = run([...args, '--json']);
    t.is(json.status, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    t.is(r.activationRate, 2 / 3);
    t.is(r.otaSuccessRate, 0.5);
    t.deepEqual(r.monthlyActiveDevices, { '2026-01': 2 });
    t.is(r.since, '2026-01-01T00:00:00.000Z');
    t.is(r.uptime.lines.B['2026-01-01'].uptime, 0.75);
    for (const help of [['fleet', '--help'], ['fleet', 'report', '--help'], ['fleet', 'report', '-h']]) {
      const h = run(help);
      t.is(h.status, 0);
      t.regex(h.stdout, /usage: npx pipewatch fleet report/);
    }
    for (const bad of [['fleet'], ['fleet', 'list'], ['fleet', 'report', '--since', 'soon', '--db', db], ['fleet', 'report', '--bogus'], ['fleet', 'report', '--db', db, '--since', '2026-02-01', '--until', '2026-01-01']]) {
      const b = run(bad);
      t.is(b.status, 2, bad.join(' '));
      t.is(b.stderr.trim().split('\n').length, 1, b.stderr);
      t.regex(b.stderr, /^pipewatch fleet: /);
    }
    const missing = run(['fleet', 'report', '--db', join(dir, 'nope.db')]);
    t.is(missing.status, 1);
    t.regex(missing.stderr, /no such database/);
    const badRegistry = run(['fleet', 'report', '--db', db, '--registry', join(dir, 'none.json')]);
    t.is(badRegistry.status, 1);
    t.regex(badRegistry.stderr, /registry .*none\.json: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/api/fleet/metrics: the report as JSON, the plant file\'s nodes as the registry; a bad since is 400', async (t) => {
  const store = await filled(':memory:');
  const web = await startWeb({
    store,
    port: 0,
    listen: '127.0.0.1',
    offlineAfterMs: 60_000,
    plant: { lines: [{ name: 'A', nodes: [{ dev: 'a1', position: 0 }] }, { name: 'B', nodes: [{ dev: 'b1', position: 0 }, { dev: 'c1', position: 1 }] }] },
    now: () => DAY0 + 3 * 86_400_000,
  });
  try {
    const res = await fetch(new URL('/api/fleet/metrics?since=2026-01-02', web.url));
    t.is(res.status, 200);
    const r = await res.json() as Record<string, any>;
    t.is(r.activationRate, 2 / 3);
    t.is(r.connectivityUptime, 1);
    t.is(r.health.B.devices, 2);
    t.is((await fetch(new URL('/api/fleet/metrics?since=soon', web.url))).status, 400);
  } finally {
    await web.close();
    await store.close();
  }
});
