/*
 * The station's web view in a real browser: Debian's chromium driven by playwright-core, a
 * small simulated fleet publishing to mosquitto. The plant shows every node, a node's page
 * plots as many points as the node delivered, a node reported offline greys out. Screenshots
 * go to test-output/station/ (git-ignored). Skipped, saying why, only when chromium is missing.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { startMosquitto } from './harness/mosquitto';
import { startSimulation } from '../simulator/run';
import { startStation, parseStationOptions } from '../tools/station/main';
import { parsePlant } from '../simulator/plant/model';
import { VIRTUAL_EPOCH_MS } from '../hosts/node/host';

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
  while ((await station.store.counters()).ingested < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.is((await station.store.counters()).ingested, total);

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

  // Hostile text from a real device: its heartbeat's firmware version, its OTA status and a
  // malformed reading's text are shown as text on its page and in the fleet table, never run.
  const target = deviceIds[2]!;
  const fw = '<img src=x onerror="window.pwned=3">';
  const ota = '{"state":"<script>window.pwned=4</script>"}';
  const bad = '<svg onload=window.pwned=5>';
  const speaker = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'hostile-device' });
  await speaker.publishAsync(`pipewatch/${target}/health`, JSON.stringify({ dev: target, n: 1, ts: 5000, sync: false, up_ms: 5000, conn_ms: 4000, exp_ms: 5000, fw, pending: 3, faults: [[0, 'E_BUS', 2]] }), { qos: 1 });
  await speaker.publishAsync(`pipewatch/${target}/ota/status`, ota, { qos: 1 });
  await speaker.publishAsync(`pipewatch/${target}/status`, bad, { qos: 1 });
  await speaker.endAsync();
  await page.goto(new URL(`/node/${target}`, station.url).href);
  await page.waitForFunction((b) => document.querySelector('dd[data-fact="last malformed"]')?.textContent === `status: ${b}`, bad, { timeout: 10_000 });
  t.is(await page.textContent('dd[data-fact="firmware"]'), fw);
  t.is(await page.textContent('dd[data-fact="OTA"]'), ota);
  t.is(await page.textContent('dd[data-fact="cache backlog"]'), '3 readings not yet acknowledged');
  t.is(await page.textContent('dd[data-fact="sensor faults"]'), '2');
  t.is(await page.$$eval('main img, main script, main svg, main iframe', (nodes) => nodes.length), 0);
  await page.screenshot({ path: join(SHOTS, 'node-hostile.png'), fullPage: true });
  // Live: a new reading of this node is added to its plot over SSE, the plot kept (no reload, no rebuild).
  const plotted = delivered.get(target)!.size;
  t.is(await page.getAttribute('.chart', 'data-points'), String(plotted));
  await page.evaluate(() => ((window as unknown as { plotCanvas: Element }).plotCanvas = document.querySelector('.chart canvas')!));
  const more = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'live-reading' });
  await more.publishAsync(`pipewatch/${target}/readings`, `{"dev":"${target}","seq":${Math.max(...delivered.get(target)!) + 1},"ts":${Date.now()},"sync":true,"ch":0,"mC":61000}`, { qos: 1 });
  await more.endAsync();
  await page.waitForSelector(`.chart[data-points="${plotted + 1}"]`, { timeout: 10_000 });
  t.true(await page.evaluate(() => document.querySelector('.chart canvas') === (window as unknown as { plotCanvas: Element }).plotCanvas));
  await page.goto(new URL('/fleet', station.url).href);
  await page.waitForSelector(`#fleet tr[data-dev="${target}"] td.firmware`);
  t.is(await page.textContent(`#fleet tr[data-dev="${target}"] td.firmware`), fw);
  t.is(await page.$$eval('main img, main script, main svg, main iframe', (nodes) => nodes.length), 0);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);

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
  const baseline = (await station.store.heat()).find((h) => h.dev === hot)!.baseline;
  const seq = Math.max(...delivered.get(hot)!) + 1;
  const alert = `{"dev":"${hot}","seq":${seq},"ts":${Date.now()},"sync":true,"ch":0,"mC":${baseline + 15_000},"alert":true}`;
  await link.publishAsync(`pipewatch/${hot}/alerts`, alert, { qos: 1 });
  await page.waitForFunction((d) => document.querySelector(`#plant a.node[data-dev="${d}"] circle`)?.getAttribute('stroke-width') === '3', hot, { timeout: 10_000 });
  t.is(await page.$eval(`#plant a.node[data-dev="${hot}"] circle`, (c) => c.getAttribute('fill')), 'hsl(0,75%,45%)');
  t.is(await page.$eval(`#plant a.node[data-dev="${hot}"] text`, (e) => e.textContent), '!');
  await link.endAsync();
  // One node's broker link is cut (its socket destroyed, no DISCONNECT): the broker publishes
  // the node's will, a retained "offline", and the page greys it out live.
  const cut = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
    clientId: `link-${deviceIds[0]}`,
    will: { topic: `pipewatch/${deviceIds[0]}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
  });
  await cut.publishAsync(`pipewatch/${deviceIds[0]}/status`, 'online', { qos: 1, retain: true });
  cut.stream.destroy();
  cut.end(true);
  await page.waitForSelector(`#plant a.node[data-dev="${deviceIds[0]}"][data-online="false"]`, { timeout: 10_000 });
  const fill = await page.$eval(`#plant a.node[data-dev="${deviceIds[0]}"] circle`, (c) => c.getAttribute('fill'));
  t.is(fill, '#9e9e9e');
  t.deepEqual(await page.$$eval('#plant a.node[data-online="false"]', (nodes) => nodes.map((n) => n.getAttribute('data-dev'))), [deviceIds[0]]);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  await page.screenshot({ path: join(SHOTS, 'plant-offline.png'), fullPage: true });
});

const PLANT_FILE = new URL('./fixtures/plant-leak.json', import.meta.url).pathname;
// Six nodes 1.5 m apart on L1; a large leak at 4.6 m (nearest L1-N04) 11 min into the run.
const LEAK_AT_MS = 660_000;

browserTest('a simulated leak colours its node and shows an incident, live; acknowledged on the incidents page; readable on a phone', async (t) => {
  const broker = await startMosquitto();
  const dir = mkdtempSync(join(tmpdir(), 'station-leak-'));
  const station = await startStation(
    parseStationOptions(['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', join(dir, 's.db'), '--client-id', 'station-leak', '--offline-after', '1h', '--plant', PLANT_FILE]),
  );
  let browser: Browser | undefined;
  t.teardown(async () => {
    await browser?.close();
    await station.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await station.subscribed;
  const plant = parsePlant(JSON.parse(readFileSync(PLANT_FILE, 'utf8')));
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
  await page.goto(station.url);
  await page.waitForSelector('#summary');
  // Every drawing of the plant is recorded in the page (a node's colour while online, when the
  // first incident marker appeared), so the test waits on what the page did, not on sleeps.
  await page.evaluate(() => {
    const w = window as unknown as { seen: Record<string, string[]>; incidentShownAt?: number };
    w.seen = {};
    new MutationObserver(() => {
      for (const a of document.querySelectorAll('#plant a.node[data-online="true"]')) {
        const dev = a.getAttribute('data-dev')!;
        (w.seen[dev] ??= []).push(a.querySelector('circle')!.getAttribute('fill')!);
      }
      if (w.incidentShownAt === undefined && document.querySelector('#plant a.incident')) w.incidentShownAt = Date.now();
    }).observe(document.getElementById('app')!, { childList: true, subtree: true });
  });

  const sim = startSimulation({
    nodes: plant.nodes.length,
    engine: 'node',
    durationMs: 15 * 60_000,
    virtual: true,
    seed: 1,
    broker: `mqtt://127.0.0.1:${broker.port}`,
    intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 30_000,
    leakShare: 0,
    plant,
    deviceIds: plant.nodes.map((n) => n.id),
  });
  // The incident is on the page, live over SSE (no reload), while the run goes on.
  const marker = await page.waitForSelector('#plant a.incident', { timeout: 60_000 });
  const node = (await marker.getAttribute('data-node'))!;
  await page.screenshot({ path: join(SHOTS, 'plant-leak-live.png'), fullPage: true });
  const summary = await sim.done;
  t.is(summary.readingsLost, 0);
  await station.incidents!.idle();
  const incidents = await station.store.incidents(10);
  t.is(incidents.length, 1, JSON.stringify(incidents));
  const incident = incidents[0]!;
  t.is(incident.node, node);
  t.is(incident.line, 'L1');
  t.true(['L1-N03', 'L1-N04', 'L1-N05'].includes(node), node);
  t.true(Math.abs(incident.pos_m - 4.6) < 1.5, String(incident.pos_m));
  // Bounded: raised within a minute of the leak's onset (simulated time), shown within 5 s of being stored.
  const onset = VIRTUAL_EPOCH_MS + LEAK_AT_MS;
  t.true(incident.t_ms >= onset && incident.t_ms <= onset + 60_000, `${incident.t_ms - onset} ms after onset`);
  const shownAt = await page.evaluate(() => (window as unknown as { incidentShownAt: number }).incidentShownAt);
  t.true(shownAt - incident.raised_ms < 5000, `shown ${shownAt - incident.raised_ms} ms after it was stored`);
  // The leak coloured its node while it was online: from blue (0 K) to red (10 K and more).
  const seen = await page.evaluate(() => (window as unknown as { seen: Record<string, string[]> }).seen);
  const hue = (fill: string) => Number(/^hsl\((\d+),/.exec(fill)?.[1] ?? 999);
  t.true(seen[node]!.some((f) => hue(f) <= 30), `${node}: ${[...new Set(seen[node])].join(' ')}`);
  t.true(seen['L1-N01']!.every((f) => hue(f) >= 150), `L1-N01 stays blue: ${[...new Set(seen['L1-N01'])].join(' ')}`);
  await page.waitForSelector(`#plant a.node[data-dev="${node}"][data-incident="true"]`);
  await page.screenshot({ path: join(SHOTS, 'plant-leak.png'), fullPage: true });

  // The incidents page: time, line, position, evidence; acknowledged with its button, stored, shown.
  await page.click('header a[href="/incidents"]');
  const row = await page.waitForSelector(`#incidents tr[data-id="${incident.id}"]`);
  const cells = await row.$$eval('td', (tds) => tds.map((td) => td.textContent));
  t.is(cells[1], 'L1');
  t.is(cells[2], `${incident.pos_m} m`);
  t.is(cells[3], node);
  t.regex(cells[4]!, /over the neighbours' median/);
  t.is(await page.textContent('#open-incidents'), '1 open incident');
  await page.screenshot({ path: join(SHOTS, 'incidents.png'), fullPage: true });
  await page.click(`#incidents tr[data-id="${incident.id}"] button.ack`);
  await page.waitForSelector(`#incidents tr.acked[data-id="${incident.id}"]`);
  t.regex((await page.textContent(`#incidents tr[data-id="${incident.id}"] td:last-child`))!, / by web /);
  const stored = (await station.store.incidents(10))[0]!;
  t.true(stored.acked_ms !== null && stored.acked_ms >= incident.raised_ms);
  t.is(await page.textContent('#open-incidents'), '');
  // Acknowledged, the plant keeps the marker, greyed.
  await page.goto(station.url);
  await page.waitForSelector(`#plant a.incident[data-acked="true"]`);

  // A phone: the plant, the incidents list and a node's plot on a 390 px wide screen.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(station.url);
  await phone.waitForSelector('#plant a.node');
  await phone.screenshot({ path: join(SHOTS, 'phone-plant.png') });
  await phone.goto(new URL('/incidents', station.url).href);
  await phone.waitForSelector('#incidents tr.acked');
  t.true(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the incidents page fits the phone');
  await phone.screenshot({ path: join(SHOTS, 'phone-incidents.png') });
  await phone.goto(new URL(`/node/${node}`, station.url).href);
  await phone.waitForSelector('.chart canvas');
  // Nothing wider than the screen but the plant itself (which scrolls sideways in its box).
  t.true(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the node page fits the phone');
  await phone.screenshot({ path: join(SHOTS, 'phone-node.png'), fullPage: true });
});
