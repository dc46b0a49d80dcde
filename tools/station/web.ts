/*
 * The station's web view: a thin HTTP layer over the store. The pages are small HTML shells;
 * the browser script (client.ts, bundled with uPlot by esbuild when the station starts, from
 * node_modules: no CDN) fetches JSON from /api/* and builds the DOM with textContent only, so
 * a device id or payload text can never become markup. Live updates: Server-Sent Events on
 * /events. Also /metrics (Prometheus text format) and CSV export of a node's readings.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import type { StationStore, DeviceRow } from './store';
import { layoutPlant, type Plant } from './plant';
import { isValidId } from '../../firmware/uplink/ascii';
import { fleetMetrics, parseWhen, summaryOf } from './fleet';

export interface WebOptions {
  store: StationStore;
  port: number;
  listen: string;
  plant?: Plant;
  /** A node is offline when its status says so, or when nothing came from it for this long. */
  offlineAfterMs: number;
  now?: () => number;
}

export interface Web {
  server: Server;
  url: string;
  /** Tells the open pages that a device changed. */
  notify(dev: string): void;
  close(): Promise<void>;
}

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const SSE_FLUSH_MS = 500;
const KIND_UNITS = ['mC', 'mRH', 'Pa'] as const;

async function bundleClient(): Promise<string> {
  const entry = fileURLToPath(new URL('./client.ts', import.meta.url));
  const result = await build({ entryPoints: [entry], bundle: true, write: false, format: 'iife', minify: true, target: 'es2020', logLevel: 'silent' });
  return result.outputFiles[0]!.text;
}

function uplotCss(): string {
  const require = createRequire(import.meta.url);
  return readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;gap:1.2em;align-items:baseline;padding:.6em 1em;background:#263238;color:#eee;flex-wrap:wrap}
header a{color:#cfe8ff;text-decoration:none} header b{color:#fff}
main{padding:1em;overflow-x:auto}
table{border-collapse:collapse;background:#fff} th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
th{cursor:pointer;user-select:none;background:#eceff1} td.num{text-align:right}
.offline{color:#888} .bad{color:#b00020} .chart{margin:1em 0;background:#fff;padding:.5em;border:1px solid #ddd}
button.range{margin-right:.4em} .legend{font-size:12px;color:#555;margin:.4em 0}
svg text{font:11px system-ui,sans-serif}
`;

function page(title: string, pageName: string, dev = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · pipewatch station</title><link rel="stylesheet" href="/uplot.css"><style>${STYLE}</style></head>
<body><header><b>pipewatch station</b><a href="/">plant</a><a href="/fleet">fleet</a><a href="/metrics">metrics</a><span id="live"></span></header>
<main id="app" data-page="${escapeHtml(pageName)}" data-dev="${escapeHtml(dev)}"></main><script src="/app.js"></script></body></html>`;
}

export interface FleetNode extends DeviceRow {
  online: boolean;
  /** A valid device id (docs/payload.md): drawn on the plant. Other topic segments are only listed. */
  onPlant: boolean;
  heatMilliCelsius: number | null;
  line: string;
  position: number;
}

export function fleet(store: StationStore, plant: Plant | undefined, offlineAfterMs: number, nowMs: number): FleetNode[] {
  const devices = store.devices(nowMs);
  const heat = new Map<string, number>();
  for (const h of store.heat()) {
    const rise = h.latest - h.baseline;
    if (!heat.has(h.dev) || rise > heat.get(h.dev)!) heat.set(h.dev, rise);
  }
  const layout = layoutPlant(
    devices.map((d) => d.dev).filter(isValidId),
    plant,
  );
  return devices.map((d) => {
    const seen = d.last_seen_ms ?? d.status_ms ?? 0;
    const online = d.status !== 'offline' && d.last_seen_ms !== null && nowMs - seen <= offlineAfterMs;
    const at = layout.get(d.dev) ?? { line: '', position: 0 };
    return { ...d, online, onPlant: layout.has(d.dev), heatMilliCelsius: heat.get(d.dev) ?? null, line: at.line, position: at.position };
  });
}

function csvOf(store: StationStore, dev: string, fromMs: number, toMs: number): string {
  const lines = ['dev,seq,ts,sync,channel,unit,value,alert,received_ms'];
  const safeDev = /^[A-Za-z0-9_.-]+$/.test(dev) ? dev : `"${dev.replace(/"/g, '""')}"`;
  for (const r of store.readings(dev, fromMs, toMs)) {
    lines.push(`${safeDev},${r.seq},${r.ts},${r.sync},${r.ch},${KIND_UNITS[r.kind] ?? r.kind},${r.value},${r.alert},${r.received_ms}`);
  }
  return lines.join('\n') + '\n';
}

function parseTime(text: string | null, fallback: number): number | undefined {
  if (text === null || text === '') return fallback;
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

export async function startWeb(o: WebOptions): Promise<Web> {
  const now = o.now ?? Date.now;
  const [script, css] = [await bundleClient(), uplotCss()];
  const clients = new Set<ServerResponse>();
  const pending = new Set<string>();
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    flushTimer = undefined;
    const data = JSON.stringify([...pending]);
    pending.clear();
    for (const res of clients) res.write(`event: update\ndata: ${data}\n\n`);
  };

  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.end(body);
  };
  const json = (res: ServerResponse, value: unknown): void => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value));

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://station');
    const path = url.pathname;
    const nodeMatch = /^\/node\/([^/]+)$/.exec(path);
    const apiNode = /^\/api\/node\/([^/]+)(\/readings\.csv)?$/.exec(path);
    if (req.method !== 'GET') return send(res, 405, 'text/plain; charset=utf-8', 'GET only\n');
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', page('plant', 'plant'));
    if (path === '/fleet') return send(res, 200, 'text/html; charset=utf-8', page('fleet', 'fleet'));
    if (nodeMatch) {
      const dev = decodeURIComponent(nodeMatch[1]!);
      return send(res, 200, 'text/html; charset=utf-8', page(dev, 'node', dev));
    }
    if (path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', script);
    if (path === '/uplot.css') return send(res, 200, 'text/css; charset=utf-8', css);
    if (path === '/api/fleet') return json(res, { now: now(), nodes: fleet(o.store, o.plant, o.offlineAfterMs, now()) });
    if (path === '/api/fleet/metrics') {
      // The fleet metrics (docs/fleet.md) over ?since=30d|DATE|all&until=DATE; the plant file's nodes are the registry.
      let sinceMs: number;
      let untilMs: number;
      try {
        sinceMs = parseWhen(url.searchParams.get('since') ?? '30d', '--since', now());
        untilMs = url.searchParams.has('until') ? parseWhen(url.searchParams.get('until')!, '--until', now()) : now();
      } catch (error) {
        return send(res, 400, 'text/plain; charset=utf-8', `since and until take a duration like 30d, an ISO date or all: ${(error as Error).message}\n`);
      }
      const registry = (o.plant?.lines ?? []).flatMap((l) => l.nodes.map((n) => ({ id: n.dev, line: l.name })));
      fleetMetrics(o.store, registry, sinceMs, untilMs).then(
        (report) => json(res, { now: now(), since: sinceMs, until: untilMs, ...summaryOf(report), ...report }),
        (error: Error) => send(res, 500, 'text/plain; charset=utf-8', `station error: ${error.message}\n`),
      );
      return;
    }
    if (apiNode) {
      const dev = decodeURIComponent(apiNode[1]!);
      const to = parseTime(url.searchParams.get('to'), now());
      const from = parseTime(url.searchParams.get('from'), (to ?? 0) - 3_600_000);
      if (to === undefined || from === undefined) return send(res, 400, 'text/plain; charset=utf-8', 'from and to take ms since the epoch or an ISO time\n');
      if (apiNode[2]) {
        res.setHeader('content-disposition', 'attachment; filename="readings.csv"');
        return send(res, 200, 'text/csv; charset=utf-8', csvOf(o.store, dev, from, to));
      }
      const node = fleet(o.store, o.plant, o.offlineAfterMs, now()).find((n) => n.dev === dev);
      if (!node) return send(res, 404, 'application/json; charset=utf-8', JSON.stringify({ error: 'no such device' }));
      return json(res, { now: now(), node, readings: o.store.readings(dev, from, to) });
    }
    if (path === '/metrics') {
      const c = o.store.counters();
      const nodes = fleet(o.store, o.plant, o.offlineAfterMs, now());
      const body = [
        '# HELP pipewatch_readings_ingested_total Readings stored (each (device, seq) once).',
        '# TYPE pipewatch_readings_ingested_total counter',
        `pipewatch_readings_ingested_total ${c.ingested}`,
        '# HELP pipewatch_duplicates_dropped_total Readings received again and dropped.',
        '# TYPE pipewatch_duplicates_dropped_total counter',
        `pipewatch_duplicates_dropped_total ${c.duplicates}`,
        '# HELP pipewatch_malformed_total Messages that did not decode.',
        '# TYPE pipewatch_malformed_total counter',
        `pipewatch_malformed_total ${c.malformed}`,
        '# HELP pipewatch_nodes_online Nodes online now.',
        '# TYPE pipewatch_nodes_online gauge',
        `pipewatch_nodes_online ${nodes.filter((n) => n.online).length}`,
        '# HELP pipewatch_nodes_known Nodes seen.',
        '# TYPE pipewatch_nodes_known gauge',
        `pipewatch_nodes_known ${nodes.length}`,
      ];
      return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', body.join('\n') + '\n');
    }
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(': connected\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `station error: ${(error as Error).message}\n`);
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.listen, () => resolve());
  });
  const address = server.address() as { port: number };
  const host = o.listen.includes(':') ? `[${o.listen}]` : o.listen;
  return {
    server,
    url: `http://${host}:${address.port}/`,
    notify(dev) {
      pending.add(dev);
      flushTimer ??= setTimeout(flush, SSE_FLUSH_MS);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (flushTimer) clearTimeout(flushTimer);
        for (const res of clients) res.end();
        server.close(() => resolve());
      }),
  };
}
