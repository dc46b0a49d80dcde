/*
 * The station's plant page with 1,000 nodes in headless chromium (playwright-core, the browser
 * of the tests): time from navigation start to the first contentful paint (the page's shell), to
 * the plant built from /api/fleet (mark `pipewatch-plant-drawn` in client.ts) and to the frame
 * after the one that painted it (`pipewatch-plant-painted`), read from the page's own
 * performance API. The store is in memory (SQLite), filled with 1,000 nodes of 40 readings
 * each (50 lines of 20, one node alerted in ten), as the station would serve them. One cold
 * load, then the median of 5 reloads.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Reading } from '../../firmware/store';
import { SqliteStore } from '../station/store-sqlite';
import { startWeb } from '../station/web';

const NODES = 1000;
const READINGS = 40;
const RELOADS = 5;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function bench(): Promise<Record<string, number>> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM} (apt-get install chromium)`);
  const store = new SqliteStore(':memory:');
  const now = Date.now();
  for (let d = 0; d < NODES; d++) {
    const dev = `node-${String(d + 1).padStart(4, '0')}`;
    const rs: Reading[] = Array.from({ length: READINGS }, (_, i) => ({
      seq: i + 1,
      timeMs: now - (READINGS - i) * 10_000,
      synced: true,
      channel: 0,
      kind: 0 as const,
      value: 60_000 + (d % 7) * 300 + (i === READINGS - 1 ? (d % 13) * 1000 : 0),
      alert: d % 10 === 0 && i === READINGS - 1,
    }));
    await store.storeReadings(dev, rs, now);
    await store.storeStatus(dev, 'online', now);
  }
  const web = await startWeb({ store, port: 0, listen: '127.0.0.1', offlineAfterMs: 3_600_000 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const load = async (): Promise<{ fcp: number; drawn: number; painted: number; api: number; bytes: number; shown: number }> => {
      await page.goto(web.url);
      await page.waitForFunction(() => performance.getEntriesByName('pipewatch-plant-painted').length > 0, undefined, { timeout: 60_000 });
      return page.evaluate(() => {
        const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
        const api = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/fleet')) as PerformanceResourceTiming | undefined;
        return {
          fcp,
          drawn: performance.getEntriesByName('pipewatch-plant-drawn')[0]!.startTime,
          painted: performance.getEntriesByName('pipewatch-plant-painted')[0]!.startTime,
          api: api ? api.responseEnd - api.requestStart : NaN,
          bytes: api?.encodedBodySize ?? NaN,
          shown: document.querySelectorAll('#plant a.node').length,
        };
      });
    };
    const cold = await load();
    if (cold.shown !== NODES) throw new Error(`the plant shows ${cold.shown} of ${NODES} nodes`);
    const warm: Array<typeof cold> = [];
    for (let i = 0; i < RELOADS; i++) warm.push(await load());
    const median = (f: (r: typeof cold) => number) => Math.round(warm.map(f).sort((a, b) => a - b)[RELOADS >> 1]!);
    return {
      'stationPage.nodes': NODES,
      'stationPage.cold.plantPaintedMs': Math.round(cold.painted),
      'stationPage.firstContentfulPaintMs': median((r) => r.fcp),
      'stationPage.plantDrawnMs': median((r) => r.drawn),
      'stationPage.plantPaintedMs': median((r) => r.painted),
      'stationPage.apiFleetMs': median((r) => r.api),
      'stationPage.apiFleetBytes': Math.round(cold.bytes),
    };
  } finally {
    await browser.close();
    await web.close();
    await store.close();
  }
}
