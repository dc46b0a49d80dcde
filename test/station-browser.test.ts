/*
 * The station's web view in a real browser: Debian's chromium driven by playwright-core, a
 * small simulated fleet publishing to mosquitto. The plant shows every node, a node's page
 * plots as many points as the node delivered, a node reported offline greys out. Screenshots
 * go to test-output/station/ (git-ignored). Skipped, saying why, only when chromium is missing.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { startMosquitto } from './harness/mosquitto';
import { startSimulation } from '../simulator/run';
import { startStation, parseStationOptions } from '../tools/station/main';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = new URL('../test-output/station/', import.meta.url).pathname;

const browserTest = existsSync(CHROMIUM) ? test : test.skip;
if (!existsSync(CHROMIUM)) console.log(`station browser test skipped: no chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

browserTest('plant shows every node, a node plots its readings, nodes grey out when they go offline and back when they return', async (t) => {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-web-'));
  const station = await startStation(
    parseStationOptions(['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', join(dir, 's.db'), '--client-id', 'station-web', '--offline-after', '1h']),
  );
  let browser: Browser | undefined;
  t.teardown(async () => {
    await browser?.close();
    await station.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await station.subscribed;

  const delivered = new Map<string, Set<number>>();
  const sim = startSimulation({
    nodes: 24,
    engine: 'node',
    durationMs: 120_000,
    virtual: true,
    seed: 7,
    broker: `mqtt://127.0.0.1:${broker.port}`,
    intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 30_000,
    leakShare: 0.2,
    onReading: (r) => {
      if (!delivered.has(r.dev)) delivered.set(r.dev, new Set());
      delivered.get(r.dev)!.add(r.seq);
    },
  });
  const { deviceIds } = await sim.ready;
  const summary = await sim.done;
  t.is(summary.readingsLost, 0);
  const total = [...delivered.values()].reduce((n, s) => n + s.size, 0);
  const deadline = Date.now() + 20_000;
  while (station.store.counters().ingested < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.is(station.store.counters().ingested, total);

  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
  await page.goto(station.url);
  await page.waitForSelector('#plant a.node');
  const shown = await page.$$eval('#plant a.node', (nodes) => nodes.map((n) => n.getAttribute('data-dev')));
  t.deepEqual([...shown].sort(), [...deviceIds].sort());
  await page.screenshot({ path: join(SHOTS, 'plant.png'), fullPage: true });

  const dev = deviceIds[3]!;
  await page.click(`#plant a.node[data-dev="${dev}"] circle`);
  await page.waitForSelector('.chart canvas');
  const points = await page.$$eval('.chart', (charts) => charts.map((c) => Number(c.getAttribute('data-points'))));
  t.deepEqual(points, [delivered.get(dev)!.size]);
  await page.screenshot({ path: join(SHOTS, 'node.png'), fullPage: true });

  // A hostile device id on a topic: counted, listed as text, never markup or script.
  const evil = '<img src=x onerror="window.pwned=1">';
  const hostile = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'hostile' });
  await hostile.publishAsync(`pipewatch/${evil}/readings`, '<script>window.pwned=2</script>', { qos: 1 });
  await hostile.endAsync();
  await page.goto(new URL('/fleet', station.url).href);
  await page.waitForSelector('#fleet tr td');
  t.is(await page.$$eval('#fleet tr', (rows) => rows.length - 1), deviceIds.length + 1);
  t.true(await page.$$eval('#fleet td a', (links, e) => links.some((a) => a.textContent === e), evil));
  t.is(await page.$$eval('main img, main script', (nodes) => nodes.length), 0);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  await page.screenshot({ path: join(SHOTS, 'fleet.png'), fullPage: true });

  // The run has ended: every node said "offline" (retained) before its DISCONNECT, and shows grey.
  await page.goto(station.url);
  await page.waitForSelector('#plant a.node');
  // The hostile id is no device id: listed in the fleet table, not drawn on the plant.
  t.is(await page.$$eval('#plant a.node', (nodes) => nodes.length), deviceIds.length);
  t.is(await page.$$eval('#plant a.node[data-online="false"]', (nodes) => nodes.length), deviceIds.length);
  await page.screenshot({ path: join(SHOTS, 'plant-after-run.png'), fullPage: true });
  // The nodes come back ("online" after each CONNACK): live over SSE, without a reload.
  const link = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'node-stand-in' });
  for (const d of deviceIds) await link.publishAsync(`pipewatch/${d}/status`, 'online', { qos: 1, retain: true });
  await page.waitForFunction((n) => document.querySelectorAll('#plant a.node[data-online="true"]').length === n, deviceIds.length, { timeout: 10_000 });
  // A hot alert reading, 15 K above the node's baseline: red, ringed and marked, live (SSE, no reload).
  const hot = deviceIds[5]!;
  const baseline = station.store.heat().find((h) => h.dev === hot)!.baseline;
  const seq = Math.max(...delivered.get(hot)!) + 1;
  const alert = `{"dev":"${hot}","seq":${seq},"ts":${Date.now()},"sync":true,"ch":0,"mC":${baseline + 15_000},"alert":true}`;
  await link.publishAsync(`pipewatch/${hot}/alerts`, alert, { qos: 1 });
  await page.waitForFunction((d) => document.querySelector(`#plant a.node[data-dev="${d}"] circle`)?.getAttribute('stroke-width') === '3', hot, { timeout: 10_000 });
  t.is(await page.$eval(`#plant a.node[data-dev="${hot}"] circle`, (c) => c.getAttribute('fill')), 'hsl(0,75%,45%)');
  t.is(await page.$eval(`#plant a.node[data-dev="${hot}"] text`, (e) => e.textContent), '!');
  // One node's broker link is gone: the broker publishes its will, a retained "offline".
  await link.publishAsync(`pipewatch/${deviceIds[0]}/status`, 'offline', { qos: 1, retain: true });
  await link.endAsync();
  await page.waitForSelector(`#plant a.node[data-dev="${deviceIds[0]}"][data-online="false"]`, { timeout: 10_000 });
  const fill = await page.$eval(`#plant a.node[data-dev="${deviceIds[0]}"] circle`, (c) => c.getAttribute('fill'));
  t.is(fill, '#9e9e9e');
  t.deepEqual(await page.$$eval('#plant a.node[data-online="false"]', (nodes) => nodes.map((n) => n.getAttribute('data-dev'))), [deviceIds[0]]);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  await page.screenshot({ path: join(SHOTS, 'plant-offline.png'), fullPage: true });
});
