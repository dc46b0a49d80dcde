/*
 * The station's fleet health page (/fleet/health) in a real browser: Debian's chromium driven
 * by playwright-core, a simulated run (virtual time, a 30-minute network outage) with the
 * station attached, on mosquitto so the station outlives the run. The page's figures are the
 * API's (/api/fleet/metrics, the JSON `pipewatch fleet report --json` prints), one row per line,
 * one strip cell per line and day, updates per version with failures by reason; a hostile device
 * id in a heartbeat arrives live (SSE) and is shown as text. Screenshots (laptop and phone) go to
 * test-output/station/ (git-ignored). Skipped, saying why, only when chromium is missing.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { startMosquitto } from './harness/mosquitto';
import { startSimulation } from '../simulator/run';
import { attachStation } from '../tools/station/attach';
import type { Station } from '../tools/station/main';
import type { Plant } from '../tools/station/plant';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = new URL('../test-output/station/', import.meta.url).pathname;

const browserTest = existsSync(CHROMIUM) ? test : test.skip;
if (!existsSync(CHROMIUM)) console.log(`station fleet page test skipped: no chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

interface Metrics {
  activationRate: number | null;
  connectivityUptime: number | null;
  otaSuccessRate: number | null;
  monthlyActiveDevices: Record<string, number>;
  activation: { registered: number; activated: number; unregistered: string[] };
  uptime: { lines: Record<string, Record<string, { uptime: number | null }>> };
  ota: { rollouts: Record<string, { started: number; confirmed: number; failed: number; failures: Record<string, number> }> };
  health: Record<string, { score: number; devices: number; reporting: number; uptime: number | null }>;
}

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`);

browserTest('fleet health page: the API\'s figures after an outage, a row per line, updates by version, a hostile id as text, live; laptop and phone', async (t) => {
  t.timeout(5 * 60_000);
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-fleet-page-'));
  const ids = ['a-1', 'a-2', 'a-3', 'b-1', 'b-2', 'b-3'];
  // The registry (the station's plant): the run's six nodes on two lines, and a spare that never runs.
  const plant: Plant = {
    lines: [
      { name: 'A', nodes: ids.slice(0, 3).map((dev, i) => ({ dev, position: i })) },
      { name: 'B', nodes: [...ids.slice(3).map((dev, i) => ({ dev, position: i })), { dev: 'b-spare', position: 3 }] },
    ],
  };
  let station: Station | undefined;
  let browser: Browser | undefined;
  t.teardown(async () => {
    await browser?.close();
    await station?.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const summary = await startSimulation({
    nodes: ids.length,
    deviceIds: ids,
    engine: 'node',
    durationMs: 2 * 3_600_000 + 5 * 60_000,
    virtual: true,
    seed: 3,
    broker: `mqtt://127.0.0.1:${broker.port}`,
    intervalMs: 15 * 60_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 30_000,
    leakShare: 0,
    outages: [{ atMs: 40 * 60_000, forMs: 30 * 60_000 }],
    beforeNodes: async (url) => {
      station = await attachStation(url, dir, plant);
    },
  }).done;
  t.is(summary.readingsLost, 0);
  await station!.settled(300, 5000);
  // Updates from the wire: 1.2.0 confirmed on two nodes, failed on one (digestMismatch), rolled back on one.
  const wire = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'ota-events' });
  const ota = (dev: string, body: object) => wire.publishAsync(`pipewatch/${dev}/ota/status`, JSON.stringify({ running: '1.1.0', ...body }), { qos: 1 });
  for (const dev of ['a-1', 'a-2', 'b-1', 'b-2']) await ota(dev, { event: 'progress', version: '1.2.0', bytes: 65536, total: 400000 });
  await ota('a-1', { event: 'confirmed', version: '1.2.0' });
  await ota('a-2', { event: 'confirmed', version: '1.2.0' });
  await ota('b-1', { event: 'failed', version: '1.2.0', reason: 'digestMismatch' });
  await ota('b-2', { event: 'rolledBack', version: '1.2.0' });
  await station!.settled(300, 5000);

  const base = new URL(station!.url);
  const api = async (since: string): Promise<Metrics> => (await (await fetch(new URL(`/api/fleet/metrics?since=${since}`, base))).json()) as Metrics;
  const all = await api('all');
  t.true(all.connectivityUptime! < 0.85 && all.connectivityUptime! > 0.5, `the outage cost uptime: ${all.connectivityUptime}`);
  t.is(all.activation.activated, 6);
  t.is(all.activation.registered, 7);
  t.deepEqual(Object.keys(all.health).sort(), ['A', 'B']);
  t.deepEqual(all.ota.rollouts['1.2.0']!.failures, { digestMismatch: 1, rolledBack: 1 });

  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // Reached from the header on every page.
  await page.goto(new URL('/fleet', base).href);
  await page.click('header a[href="/fleet/health"]');
  await page.waitForSelector('#fig-uptime');
  t.is(await page.getAttribute('button[data-since="30d"]', 'aria-pressed'), 'true');
  // The run's heartbeats carry simulated time (January 2026): nothing in the last 30 days, and the page says so.
  t.regex((await page.textContent('#health-empty'))!, /choose "all"/);
  await page.click('button[data-since="all"]');
  await page.waitForSelector('button[data-since="all"][aria-pressed="true"]');
  await page.waitForSelector('#lines tr[data-line]');
  t.regex(page.url(), /\?since=all$/);

  t.is(await page.getAttribute('#fig-uptime .value', 'data-value'), String(all.connectivityUptime));
  t.is(await page.textContent('#fig-uptime .value'), pct(all.connectivityUptime));
  t.is(await page.textContent('#fig-activation .value'), pct(all.activationRate));
  t.is(await page.textContent('#fig-activation .sub'), '6 of 7 registered devices have connected');
  t.is(await page.textContent('#fig-ota .value'), pct(all.otaSuccessRate));
  t.is(await page.textContent('#fig-ota .sub'), '2 of 4 started updates confirmed');
  const [month, active] = Object.entries(all.monthlyActiveDevices).pop()!;
  t.is(await page.textContent('#fig-mad .value'), String(active));
  t.regex((await page.textContent('#fig-mad .sub'))!, new RegExp(month));

  const rows = await page.$$eval('#lines tr[data-line]', (trs) => trs.map((tr) => [tr.getAttribute('data-line'), ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]));
  t.deepEqual(
    rows,
    Object.entries(all.health).map(([line, h]) => [line, line, String(h.devices), String(h.reporting), pct(h.uptime), '0.0 %', '0.0 %', line === 'B' ? '100.0 %' : '0.0 %', String(h.score)]),
  );
  t.is(all.health.B!.devices, 4);
  t.regex((await page.getAttribute('#lines th:last-child', 'title'))!, /^score = round\(100 × \(0\.4 × uptime/);
  t.regex((await page.textContent('#score-formula'))!, /score = round/);
  // The strip: a cell per line and day that has data equals the API's day.
  const cells = await page.$$eval('#strip .cell[data-value]:not([data-value=""])', (cs) => cs.map((c) => [c.getAttribute('data-line'), c.getAttribute('data-day'), Number(c.getAttribute('data-value'))]));
  t.true(cells.length >= 2, JSON.stringify(cells));
  for (const [line, day, u] of cells) t.is(u, all.uptime.lines[line as string]![day as string]!.uptime);
  t.is(await page.$$eval('#strip .cell', (cs) => cs.length), 2 * 14);
  // Updates per version, failures by reason.
  t.deepEqual(await page.$$eval('#rollouts tr[data-version="1.2.0"] td', (tds) => tds.slice(0, 6).map((td) => td.textContent)), ['1.2.0', '4', '2', '2', '0', '50.0 %']);
  t.deepEqual(await page.$$eval('#rollouts [data-reason]', (s) => s.map((e) => e.textContent).sort()), ['digestMismatch 1', 'rolledBack 1']);
  await page.screenshot({ path: join(SHOTS, 'fleet-health.png'), fullPage: true });

  // A hostile device id in a heartbeat (its clock not synced: it counts now): arrives live over
  // SSE, without a reload, as text: in the unregistered list and under "(no line)".
  const evil = '<img src=x onerror="window.pwned=1">';
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
  const hb = { dev: evil, n: 1, ts: 60_000, sync: false, up_ms: 60_000, conn_ms: 45_000, exp_ms: 60_000, fw: '<script>window.pwned=2</script>', pending: 0 };
  await wire.publishAsync(`pipewatch/${evil}/health`, JSON.stringify(hb), { qos: 1 });
  await page.waitForFunction((e) => [...document.querySelectorAll('#unregistered code')].some((c) => c.textContent === e), evil, { timeout: 30_000 });
  t.true(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true), 'updated live, not reloaded');
  t.is(await page.textContent('#lines tr[data-line=""] td'), '(no line)');
  t.is(await page.$$eval('main img, main script, main iframe', (n) => n.length), 0);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  // A burst of heartbeats from ten more devices: shown live, with the report fetched at most once
  // per 5 s (each fetch reads every heartbeat of the window), plus the page's redraw every 15 s.
  const fetches: number[] = [];
  page.on('request', (req) => {
    if (req.url().includes('/api/fleet/metrics')) fetches.push(Date.now());
  });
  const burstAt = Date.now();
  // Paced past the station's 0.5 s SSE flush, so each would be an update of its own.
  for (let i = 0; i < 10; i++) {
    await wire.publishAsync(`pipewatch/extra-${i}/health`, JSON.stringify({ ...hb, dev: `extra-${i}` }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 700));
  }
  await page.waitForFunction(() => document.querySelectorAll('#unregistered code').length === 11, undefined, { timeout: 30_000 });
  const elapsed = Date.now() - burstAt;
  const bound = Math.floor(elapsed / 5000) + 1 + Math.floor(elapsed / 15_000) + 1;
  t.true(fetches.length >= 1 && fetches.length <= bound, `${fetches.length} fetches in ${elapsed} ms (at most ${bound})`);
  const withEvil = await api('all');
  t.is(await page.getAttribute('#fig-uptime .value', 'data-value'), String(withEvil.connectivityUptime));
  await page.screenshot({ path: join(SHOTS, 'fleet-health-hostile.png'), fullPage: true });

  // The last 7 days: only the hostile device's heartbeat (45 s of 60 s).
  await page.click('button[data-since="7d"]');
  await page.waitForSelector('button[data-since="7d"][aria-pressed="true"]');
  const week = await api('7d');
  t.is(week.connectivityUptime, 0.75, 'the eleven unsynced heartbeats, 45 s of 60 s each');
  t.is(await page.textContent('#fig-uptime .value'), '75.0 %');
  await wire.endAsync();

  // A phone: 390 px wide, nothing wider than the screen; figures two by two, a card per line.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(new URL('/fleet/health?since=all', base).href);
  await phone.waitForSelector('#lines tr[data-line]');
  t.true(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the health page fits the phone');
  const boxes = await phone.$$eval('.figure', (fs) => fs.map((f) => f.getBoundingClientRect()).map((r) => [Math.round(r.left), Math.round(r.top)]));
  t.is(new Set(boxes.map((b) => b[1])).size, 2, `two rows of figures: ${JSON.stringify(boxes)}`);
  await phone.screenshot({ path: join(SHOTS, 'phone-fleet-health.png'), fullPage: true });
});
