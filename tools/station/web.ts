/*
 * The station's web view: a thin HTTP layer over the store. The pages are small HTML shells;
 * the browser script (client.ts, bundled with uPlot by esbuild when the station starts, from
 * node_modules: no CDN) fetches JSON from /api/* and builds the DOM with textContent only, so
 * a device id or payload text can never become markup. Live updates: Server-Sent Events on
 * /events. Also /metrics (Prometheus text format), CSV and JSON export of a node's or a line's
 * readings, the incidents list with its acknowledge button (POST), and access control: on a
 * loopback address open, on any other (or whenever a token is set) every request needs the
 * token (`Authorization: Bearer T`, or `?token=T` once, which sets an HttpOnly cookie).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import type { StationStore, DeviceRow, ReadingRow } from './store';
import type { IncidentRow } from './store-web';
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
  /** Required on every request when set (main.ts sets one for any address but loopback). */
  token?: string;
  now?: () => number;
}

export interface Web {
  server: Server;
  /** The page's address (with `?token=` when a token is required: printed once, at start). */
  url: string;
  /** Tells the open pages that a device changed. */
  notify(dev: string): void;
  /** Tells the open pages of a new incident. */
  notifyIncident(row: IncidentRow): void;
  close(): Promise<void>;
}

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Loopback addresses, where the page is served without a token unless one is given. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost' || /^::ffff:127\.\d+\.\d+\.\d+$/.test(address);
}

const SSE_FLUSH_MS = 500;
const KIND_UNITS = ['mC', 'mRH', 'Pa'] as const;
/** Incidents listed (newest first). */
export const INCIDENTS_LISTED = 500;
const COOKIE = 'pipewatch_station';

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
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f7f8}
header{display:flex;gap:.4em 1.1em;align-items:baseline;padding:.55em 1em;background:#263238;color:#eceff1;flex-wrap:wrap}
header a{color:#cfe8ff;text-decoration:none} header a[aria-current]{color:#fff;text-decoration:underline} header b{color:#fff}
#open-incidents{background:#b00020;color:#fff;border-radius:1em;padding:0 .6em;font-weight:600}
#open-incidents:empty{display:none}
main{padding:.8em 1em;overflow-x:auto}
h2{margin:.2em 0 .4em;font-size:1.25em;word-break:break-all}
table{border-collapse:collapse;background:#fff;font-size:14px}
th,td{padding:.35em .7em;border-bottom:1px solid #dde1e4;text-align:left;white-space:nowrap}
td.wrap{white-space:normal;max-width:28em;overflow-wrap:anywhere}
th{cursor:pointer;user-select:none;background:#eceff1;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.offline td{color:#80868b} .bad{color:#b00020} .ok{color:#1b5e20}
.chart{margin:.8em 0;background:#fff;padding:.5em;border:1px solid #dde1e4;width:fit-content;max-width:100%;overflow:hidden}
button{font:inherit;padding:.25em .8em;border:1px solid #90a4ae;border-radius:4px;background:#fff;cursor:pointer}
button:disabled{background:#cfd8dc;color:#37474f;cursor:default} button.ack{border-color:#b00020;color:#b00020}
.bar{display:flex;flex-wrap:wrap;gap:.4em .6em;align-items:center;margin:.4em 0}
.legend{font-size:13px;color:#4a5258;margin:.3em 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.4em 0;font-size:14px}
dl.facts dt{color:#5f6b73} dl.facts dd{margin:0;overflow-wrap:anywhere}
svg text{font:12px system-ui,sans-serif}
#plant{display:block;background:#fff;border:1px solid #dde1e4}
@media (max-width:600px){main{padding:.5em} th,td{padding:.3em .45em} body{font-size:14px}
 #incidents,#incidents tbody,#incidents tr,#incidents td{display:block;width:100%} #incidents tr:first-child{display:none}
 #incidents tr{border:1px solid #dde1e4;margin:0 0 .6em;background:#fff} #incidents td{border:0;white-space:normal;text-align:left;max-width:none}
 #incidents td::before{content:attr(data-label);display:inline-block;min-width:5.5em;color:#5f6b73}}
`;

/** The fleet health page (/fleet/health): headline figures, the lines' table (a card per line on a phone), the uptime strip. */
const HEALTH_STYLE = `
h3{margin:1.1em 0 .35em;font-size:1.05em}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(13.5em,1fr));gap:.6em;margin:.5em 0 .6em;max-width:66em}
.figure{background:#fff;border:1px solid #dde1e4;border-radius:6px;padding:.5em .8em;min-width:0}
.figure .label{font-size:13px;color:#5f6b73}
.figure .value{font-size:1.9em;font-weight:600;font-variant-numeric:tabular-nums;line-height:1.25}
.figure .sub{font-size:13px;color:#4a5258;overflow-wrap:anywhere}
.since button[aria-pressed="true"]{background:#263238;color:#fff;border-color:#263238;cursor:default}
.note{background:#fff8e1;border:1px solid #ffe082;padding:.4em .7em;max-width:50em}
.strip{display:grid;grid-template-columns:minmax(3.5em,max-content) repeat(var(--days),minmax(11px,28px)) max-content;gap:3px 3px;align-items:center;font-size:13px;background:#fff;border:1px solid #dde1e4;padding:.5em .6em;width:fit-content;max-width:100%}
.strip .name{padding-right:.4em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:9em}
.strip .cell{height:20px;border-radius:3px}
.nodata{background:repeating-linear-gradient(45deg,#dfe3e6 0 3px,#fff 3px 6px);border:1px solid #cfd8dc}
.swatch-cell{display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:-2px}
.strip .total{padding-left:.5em;font-variant-numeric:tabular-nums}
.strip .axis{font-size:11px;color:#5f6b73;white-space:nowrap}
.ids{overflow-wrap:anywhere;font-size:13px}
.ids code{background:#eceff1;padding:0 .3em;margin:0 .25em .2em 0;display:inline-block;border-radius:3px}
@media (max-width:600px){.figures{grid-template-columns:1fr 1fr;gap:.45em} .figure{padding:.4em .55em} .figure .value{font-size:1.45em}
 table.cards,table.cards tbody{display:block;width:100%} table.cards tr:first-child{display:none}
 table.cards tr{display:grid;grid-template-columns:1fr 1fr 1fr;gap:.1em .5em;border:1px solid #dde1e4;margin:0 0 .6em;background:#fff;padding:.3em .6em .4em}
 table.cards td{display:block;border:0;white-space:normal;text-align:left;max-width:none;padding:0;min-width:0;overflow-wrap:anywhere}
 table.cards td:first-child{grid-column:1/-1;font-weight:600;border-bottom:1px solid #eceff1;padding-bottom:.15em;margin-bottom:.1em}
 table.cards td.wrap{grid-column:1/-1}
 table.cards td::before{content:attr(data-label);display:block;font-size:12px;color:#5f6b73;font-weight:400}
 table.cards td:first-child::before{display:none}
 table.cards td.score{grid-row:1;grid-column:3;text-align:right;font-weight:600;border-bottom:1px solid #eceff1;padding-bottom:.15em;margin-bottom:.1em}
 table.cards td.score::before{display:inline;margin-right:.4em} #lines.cards td:first-child{grid-column:1/3}}
.nowrap{white-space:nowrap}
`;

const NAV: Array<[string, string]> = [['/', 'plant'], ['/fleet', 'fleet'], ['/fleet/health', 'health'], ['/incidents', 'incidents'], ['/metrics', 'metrics']];

function page(title: string, pageName: string, dev = ''): string {
  const nav = NAV.map(([href, name]) => `<a href="${href}"${name === pageName ? ' aria-current="page"' : ''}>${name}</a>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · pipewatch station</title><link rel="stylesheet" href="/uplot.css"><style>${STYLE}${pageName === 'health' ? HEALTH_STYLE : ''}</style></head>
<body><header><b>pipewatch station</b>${nav}<a id="open-incidents" href="/incidents" title="open incidents"></a><span id="live"></span></header>
<main id="app" data-page="${escapeHtml(pageName)}" data-dev="${escapeHtml(dev)}"></main><script src="/app.js"></script></body></html>`;
}

export interface FleetNode extends DeviceRow {
  online: boolean;
  /** A valid device id (docs/payload.md): drawn on the plant. Other topic segments are only listed. */
  onPlant: boolean;
  heatMilliCelsius: number | null;
  line: string;
  position: number;
  /** From the latest health heartbeat (null without one): running firmware version. */
  firmware: string | null;
  /** Readings in the node's cache not yet acknowledged by the broker. */
  backlog: number | null;
  /** Sensor faults since the node's boot (sum of the heartbeat's fault counts). */
  sensorFaults: number | null;
  health_ms: number | null;
}

/** The fields the pages show from a heartbeat, each checked for its type (the rest is not used). */
export function healthFields(body: string): { firmware: string | null; backlog: number | null; sensorFaults: number | null } {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { firmware: null, backlog: null, sensorFaults: null };
  }
  const firmware = typeof h.fw === 'string' ? h.fw.slice(0, 40) : null;
  const backlog = Number.isSafeInteger(h.pending) && (h.pending as number) >= 0 ? (h.pending as number) : null;
  let sensorFaults: number | null = null;
  if (Array.isArray(h.faults)) {
    sensorFaults = 0;
    for (const f of h.faults) if (Array.isArray(f) && Number.isSafeInteger(f[2]) && f[2] > 0) sensorFaults += f[2] as number;
  }
  return { firmware, backlog, sensorFaults };
}

export async function fleet(store: StationStore, plant: Plant | undefined, offlineAfterMs: number, nowMs: number): Promise<FleetNode[]> {
  const devices = await store.devices(nowMs);
  const heat = new Map<string, number>();
  for (const h of await store.heat()) {
    const rise = h.latest - h.baseline;
    if (!heat.has(h.dev) || rise > heat.get(h.dev)!) heat.set(h.dev, rise);
  }
  const health = new Map((await store.health()).map((h) => [h.dev, h]));
  const layout = layoutPlant(
    devices.map((d) => d.dev).filter(isValidId),
    plant,
  );
  return devices.map((d) => {
    const seen = d.last_seen_ms ?? d.status_ms ?? 0;
    const online = d.status !== 'offline' && d.last_seen_ms !== null && nowMs - seen <= offlineAfterMs;
    const at = layout.get(d.dev) ?? { line: '', position: 0 };
    const h = health.get(d.dev);
    return {
      ...d,
      online,
      onPlant: layout.has(d.dev) && isValidId(d.dev),
      heatMilliCelsius: heat.get(d.dev) ?? null,
      line: at.line,
      position: at.position,
      ...(h ? healthFields(h.body) : { firmware: null, backlog: null, sensorFaults: null }),
      health_ms: h?.received_ms ?? null,
    };
  });
}

/** A CSV field: kept as it is when plain, else quoted (and a leading = + - @ defused for spreadsheets). */
function csvField(text: string): string {
  if (/^[A-Za-z0-9_.-]+$/.test(text) && !/^[-+=@]/.test(text)) return text;
  return `"${(/^[-+=@]/.test(text) ? "'" : '') + text.replace(/"/g, '""')}"`;
}

export const CSV_HEADER = 'dev,seq,ts,sync,channel,unit,value,alert,received_ms';

function csvRows(dev: string, rows: readonly ReadingRow[]): string[] {
  const d = csvField(dev);
  return rows.map((r) => `${d},${r.seq},${r.ts},${r.sync},${r.ch},${KIND_UNITS[r.kind] ?? r.kind},${r.value},${r.alert},${r.received_ms}`);
}

function jsonRows(rows: readonly ReadingRow[]): unknown[] {
  return rows.map((r) => ({ seq: r.seq, ts: r.ts, sync: r.sync === 1, channel: r.ch, unit: KIND_UNITS[r.kind] ?? String(r.kind), value: r.value, alert: r.alert === 1, received_ms: r.received_ms }));
}

function parseTime(text: string | null, fallback: number): number | undefined {
  if (text === null || text === '') return fallback;
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

function sameSecret(given: string, token: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
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
  const nodes = (): Promise<FleetNode[]> => fleet(o.store, o.plant, o.offlineAfterMs, now());

  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' });
    res.end(body);
  };
  const html = (res: ServerResponse, body: string): void => {
    res.setHeader('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    send(res, 200, 'text/html; charset=utf-8', body);
  };
  const json = (res: ServerResponse, value: unknown, status = 200): void => send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

  /** Refuses a request without the token (401); a valid `?token=` sets the cookie. Returns false when answered. */
  const authorised = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    if (o.token === undefined) return true;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const query = url.searchParams.get('token') ?? undefined;
    const given = bearer ?? query ?? cookieToken(req);
    if (given !== undefined && sameSecret(given, o.token)) {
      if (query !== undefined && bearer === undefined) {
        res.setHeader('set-cookie', `${COOKIE}=${encodeURIComponent(o.token)}; HttpOnly; SameSite=Strict; Path=/`);
        // A page opened with ?token= is sent on without it: the token stays out of history and logs.
        if (req.method === 'GET' && !url.pathname.startsWith('/api/') && url.pathname !== '/metrics' && url.pathname !== '/events') {
          url.searchParams.delete('token');
          res.writeHead(303, { location: url.pathname + url.search, 'cache-control': 'no-store' });
          res.end();
          return false;
        }
      }
      return true;
    }
    res.setHeader('www-authenticate', 'Bearer realm="pipewatch station"');
    send(res, 401, 'text/plain; charset=utf-8', 'this station needs its access token: Authorization: Bearer TOKEN, or open the address it printed (?token=TOKEN)\n');
    return false;
  };

  const range = (url: URL): { from: number; to: number } => {
    const to = parseTime(url.searchParams.get('to'), now());
    const from = parseTime(url.searchParams.get('from'), (to ?? 0) - 3_600_000);
    if (to === undefined || from === undefined) throw new HttpError(400, 'from and to take ms since the epoch or an ISO time');
    return { from, to };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://station');
    if (!authorised(req, res, url)) return;
    const path = url.pathname;
    const ack = /^\/api\/incidents\/([^/]+)\/ack$/.exec(path);
    if (req.method === 'POST' && ack) {
      // A cross-site form or script cannot acknowledge: the browser names the page's origin.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && new URL(origin).host !== req.headers.host) return send(res, 403, 'text/plain; charset=utf-8', 'cross-origin request refused\n');
      if (origin === 'null') return send(res, 403, 'text/plain; charset=utf-8', 'cross-origin request refused\n');
      const id = decodeURIComponent(ack[1]!);
      const by = `web ${req.socket.remoteAddress ?? ''}`.trim();
      if (!(await o.store.ackIncident(id, now(), by))) return json(res, { error: 'no such incident' }, 404);
      const row = (await o.store.incidents(INCIDENTS_LISTED)).find((i) => i.id === id);
      if (row) api.notifyIncident(row);
      return json(res, { ok: true, incident: row ?? null });
    }
    if (req.method !== 'GET') return send(res, 405, 'text/plain; charset=utf-8', 'GET only (POST /api/incidents/ID/ack)\n');
    const nodeMatch = /^\/node\/([^/]+)$/.exec(path);
    const apiNode = /^\/api\/node\/([^/]+?)(\/readings\.(csv|json))?$/.exec(path);
    const apiLine = /^\/api\/line\/([^/]+)\/readings\.(csv|json)$/.exec(path);
    if (path === '/') return html(res, page('plant', 'plant'));
    if (path === '/fleet') return html(res, page('fleet', 'fleet'));
    // The fleet metrics (docs/fleet.md) from /api/fleet/metrics: a page of its own, as they cost a
    // pass over every heartbeat of the window, which the per-node table does not need on each update.
    if (path === '/fleet/health') return html(res, page('fleet health', 'health'));
    if (path === '/incidents') return html(res, page('incidents', 'incidents'));
    if (nodeMatch) {
      const dev = decodeURIComponent(nodeMatch[1]!);
      return html(res, page(dev, 'node', dev));
    }
    if (path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', script);
    if (path === '/uplot.css') return send(res, 200, 'text/css; charset=utf-8', css);
    if (path === '/api/fleet') {
      const all = await nodes();
      const incidents = await o.store.incidents(INCIDENTS_LISTED);
      return json(res, { now: now(), nodes: all, incidents, lines: lineLengths(all, o.plant) });
    }
    if (path === '/api/incidents') return json(res, { now: now(), incidents: await o.store.incidents(INCIDENTS_LISTED) });
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
      const { from, to } = range(url);
      if (apiNode[3] === 'csv') {
        res.setHeader('content-disposition', 'attachment; filename="readings.csv"');
        return send(res, 200, 'text/csv; charset=utf-8', [CSV_HEADER, ...csvRows(dev, await o.store.readings(dev, from, to))].join('\n') + '\n');
      }
      if (apiNode[3] === 'json') {
        res.setHeader('content-disposition', 'attachment; filename="readings.json"');
        return json(res, { dev, from, to, readings: jsonRows(await o.store.readings(dev, from, to)) });
      }
      const node = (await nodes()).find((n) => n.dev === dev);
      if (!node) return json(res, { error: 'no such device' }, 404);
      return json(res, { now: now(), node, readings: await o.store.readings(dev, from, to) });
    }
    if (apiLine) {
      const line = decodeURIComponent(apiLine[1]!);
      const { from, to } = range(url);
      const members = (await nodes()).filter((n) => n.onPlant && n.line === line).sort((a, b) => a.position - b.position);
      if (members.length === 0) return json(res, { error: 'no such line' }, 404);
      if (apiLine[2] === 'csv') {
        res.setHeader('content-disposition', 'attachment; filename="line-readings.csv"');
        const rows = [`line,pos_m,${CSV_HEADER}`];
        for (const n of members) for (const r of csvRows(n.dev, await o.store.readings(n.dev, from, to))) rows.push(`${csvField(line)},${n.position},${r}`);
        return send(res, 200, 'text/csv; charset=utf-8', rows.join('\n') + '\n');
      }
      res.setHeader('content-disposition', 'attachment; filename="line-readings.json"');
      const out = [];
      for (const n of members) out.push({ dev: n.dev, pos_m: n.position, readings: jsonRows(await o.store.readings(n.dev, from, to)) });
      return json(res, { line, from, to, nodes: out });
    }
    if (path === '/metrics') {
      const c = await o.store.counters();
      const all = await nodes();
      const incidents = await o.store.incidents(INCIDENTS_LISTED);
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
        `pipewatch_nodes_online ${all.filter((n) => n.online).length}`,
        '# HELP pipewatch_nodes_known Nodes seen.',
        '# TYPE pipewatch_nodes_known gauge',
        `pipewatch_nodes_known ${all.length}`,
        `# HELP pipewatch_incidents_open Leak incidents not acknowledged (of the newest ${INCIDENTS_LISTED}).`,
        '# TYPE pipewatch_incidents_open gauge',
        `pipewatch_incidents_open ${incidents.filter((i) => i.acked_ms === null).length}`,
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
    handle(req, res).catch((error: Error) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (!res.headersSent) send(res, status, 'text/plain; charset=utf-8', `${status === 500 ? 'station error: ' : ''}${error.message}\n`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.listen, () => resolve());
  });
  const address = server.address() as { port: number };
  const host = o.listen.includes(':') ? `[${o.listen}]` : o.listen;
  const api: Web = {
    server,
    url: `http://${host}:${address.port}/${o.token === undefined ? '' : `?token=${encodeURIComponent(o.token)}`}`,
    notify(dev) {
      pending.add(dev);
      flushTimer ??= setTimeout(flush, SSE_FLUSH_MS);
    },
    notifyIncident(row) {
      const data = JSON.stringify(row);
      for (const res of clients) res.write(`event: incident\ndata: ${data}\n\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (flushTimer) clearTimeout(flushTimer);
        for (const res of clients) res.end();
        server.close(() => resolve());
      }),
  };
  return api;
}

/** Each line's length in metres (the plant file's furthest node, or the layout's), for drawing incidents on it. */
function lineLengths(all: readonly FleetNode[], plant: Plant | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of plant?.lines ?? []) out[line.name] = Math.max(0, ...line.nodes.map((n) => n.position));
  for (const n of all) if (n.onPlant) out[n.line] = Math.max(out[n.line] ?? 0, n.position);
  return out;
}
