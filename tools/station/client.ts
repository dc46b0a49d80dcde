/// <reference lib="dom" />
/*
 * The station's browser script, bundled with uPlot by esbuild (web.ts). Builds every page from
 * the JSON API with createElement/textContent only (nothing from the wire is parsed as HTML),
 * and redraws on the Server-Sent Events of /events ("update": devices changed; "incident").
 */
import uPlot from 'uplot';
import { dayOf, SCORE_WEIGHTS } from '../fleet/metrics';
import type { IncidentRow } from './store-web';

interface FleetNode {
  dev: string;
  online: boolean;
  onPlant: boolean;
  heatMilliCelsius: number | null;
  line: string;
  position: number;
  status: string | null;
  last_seen_ms: number | null;
  last_reading_ms: number | null;
  readings: number;
  alerts: number;
  last_hour: number;
  malformed: number;
  last_error: string | null;
  ota_status: string | null;
  firmware: string | null;
  backlog: number | null;
  sensorFaults: number | null;
  health_ms: number | null;
}
interface ReadingRow {
  seq: number;
  ts: number;
  sync: number;
  ch: number;
  kind: number;
  value: number;
  alert: number;
  received_ms: number;
}
const SVG = 'http://www.w3.org/2000/svg';
const app = document.getElementById('app')!;
const pageName = app.dataset.page;
const pageDev = app.dataset.dev ?? '';
const UNITS = [
  { name: 'temperature', unit: '°C', scale: 1000 },
  { name: 'humidity', unit: '%RH', scale: 1000 },
  { name: 'pressure', unit: 'hPa', scale: 100 },
];
const RULES: Record<string, string> = {
  alert: 'node alert confirmed by its neighbours',
  relative: 'fast rise over its neighbours',
  cusum: 'slow rise over its neighbours (CUSUM)',
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return (await res.json()) as T;
}
function age(nowMs: number, ms: number | null): string {
  if (ms === null) return 'never';
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : s < 172_800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86_400)} d ago`;
}
function when(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${d.toLocaleTimeString()}`;
}
function nodeHref(dev: string): string {
  return `/node/${encodeURIComponent(dev)}`;
}
function kelvin(milliCelsius: number): string {
  return `${milliCelsius >= 0 ? '+' : ''}${(milliCelsius / 1000).toFixed(1)} K`;
}

/** Colour of a rise above baseline: blue at 0 K, through yellow, red at 10 K and above. */
export function heatColour(riseMilliCelsius: number | null, online: boolean): string {
  if (!online) return '#9e9e9e';
  if (riseMilliCelsius === null) return '#cfd8dc';
  const t = Math.min(1, Math.max(0, riseMilliCelsius / 10_000));
  const hue = 210 - 210 * t;
  return `hsl(${hue.toFixed(0)},75%,${(50 - 5 * t).toFixed(0)}%)`;
}

/** The header's count of incidents not acknowledged. */
function showOpen(incidents: readonly IncidentRow[]): void {
  const open = incidents.filter((i) => i.acked_ms === null).length;
  const badge = document.getElementById('open-incidents')!;
  badge.textContent = open ? `${open} open incident${open > 1 ? 's' : ''}` : '';
}

function legendSwatch(colour: string, text: string, ring = false): HTMLElement {
  const item = el('span', undefined, { class: 'swatch' });
  const dot = svg('svg', { width: 14, height: 14, 'aria-hidden': 'true' });
  dot.append(svg('circle', { cx: 7, cy: 7, r: 5.5, fill: colour, stroke: ring ? '#b00020' : '#37474f', 'stroke-width': ring ? 2 : 1 }));
  item.append(dot, document.createTextNode(` ${text}`));
  return item;
}

async function plantPage(): Promise<void> {
  const fleet = await getJson<{ now: number; nodes: FleetNode[]; incidents: IncidentRow[]; lines: Record<string, number> }>('/api/fleet');
  showOpen(fleet.incidents);
  const now = fleet.now;
  const nodes = fleet.nodes.filter((n) => n.onPlant);
  const lines = new Map<string, FleetNode[]>();
  for (const n of nodes) lines.set(n.line, [...(lines.get(n.line) ?? []), n]);
  // Lines with an incident but no node heard from yet are drawn too.
  for (const i of fleet.incidents) if (!lines.has(i.line)) lines.set(i.line, []);
  const names = [...lines.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const rowHeight = 96;
  const left = 92;
  let maxPos = 1;
  for (const length of Object.values(fleet.lines)) maxPos = Math.max(maxPos, length);
  for (const n of nodes) maxPos = Math.max(maxPos, n.position);
  // Neighbours of a default layout (1 m apart) 56 px apart on a wide screen, at least 34 on a
  // phone (the plant scrolls sideways); a plant file's longer lines are scaled to the same width.
  const avail = Math.max(300, app.clientWidth - 24);
  const perStep = Math.min(56, Math.max(34, (avail - left - 40) / 19));
  const spacing = maxPos > 19 ? (perStep * 19) / maxPos : perStep;
  const width = left + 44 + spacing * maxPos;
  const root = svg('svg', { width, height: Math.max(1, names.length) * rowHeight + 16, role: 'img', 'aria-label': 'plant' });
  root.id = 'plant';
  const open = fleet.incidents.filter((i) => i.acked_ms === null);
  names.forEach((name, row) => {
    const y = 36 + row * rowHeight;
    const members = (lines.get(name) ?? []).sort((a, b) => a.position - b.position);
    const label = svg('text', { x: 8, y: y + 4, 'font-weight': 'bold' });
    label.textContent = name.length > 12 ? `${name.slice(0, 11)}…` : name;
    root.append(label);
    const last = Math.max(fleet.lines[name] ?? 0, ...members.map((m) => m.position), 0);
    root.append(svg('rect', { x: left - 14, y: y - 6, width: spacing * last + 28, height: 12, rx: 6, fill: '#b0bec5', stroke: '#78909c', class: 'pipe', 'data-line': name }));
    // Incidents where they are: a triangle under the pipe at the estimated position.
    for (const i of fleet.incidents.filter((x) => x.line === name)) {
      const x = left + i.pos_m * spacing;
      const acked = i.acked_ms !== null;
      const a = svg('a', { href: `/incidents#${encodeURIComponent(i.id)}`, class: 'incident', 'data-id': i.id, 'data-node': i.node, 'data-acked': String(acked) });
      const title = svg('title', {});
      title.textContent = `incident at ${i.pos_m} m on ${i.line} (${i.node}), ${when(i.t_ms)}: ${RULES[i.rule] ?? i.rule}, ${kelvin(i.relative_mc)}${acked ? ', acknowledged' : ''}`;
      a.append(title, svg('path', { d: `M${x} ${y + 8} l-8 13 h16 z`, fill: acked ? '#b0bec5' : '#b00020', stroke: acked ? '#78909c' : '#7f0015' }));
      if (!acked) {
        const mark = svg('text', { x, y: y + 19, 'text-anchor': 'middle', fill: '#fff', 'font-weight': 'bold', 'font-size': 10 });
        mark.textContent = '!';
        a.append(mark);
      }
      root.append(a);
    }
    members.forEach((n, k) => {
      const x = left + n.position * spacing;
      const hasIncident = open.some((i) => i.node === n.dev);
      const a = svg('a', { href: nodeHref(n.dev), class: 'node', 'data-dev': n.dev, 'data-online': String(n.online), 'data-incident': String(hasIncident) });
      const title = svg('title', {});
      const rise = n.heatMilliCelsius === null ? 'no temperature yet' : `${kelvin(n.heatMilliCelsius)} over its baseline`;
      title.textContent = `${n.dev}: ${n.online ? 'online' : 'offline'}, ${rise}, ${n.alerts} alerts${hasIncident ? ', open incident' : ''}`;
      a.append(title);
      a.append(svg('circle', { cx: x, cy: y, r: 11, fill: heatColour(n.heatMilliCelsius, n.online), stroke: n.alerts > 0 ? '#b00020' : '#37474f', 'stroke-width': n.alerts > 0 ? 3 : 1 }));
      if (n.alerts > 0) {
        const mark = svg('text', { x: x + 10, y: y - 10, fill: '#b00020', 'font-weight': 'bold', 'font-size': 16, class: 'alert-mark' });
        mark.textContent = '!';
        a.append(mark);
      }
      // Names alternate below the pipe on two rows, so neighbours' labels do not overlap.
      const t = svg('text', { x, y: y + (k % 2 ? 50 : 36), 'text-anchor': 'middle', fill: n.online ? '#1f2328' : '#80868b', class: 'label' });
      t.textContent = n.dev.length > 10 ? `…${n.dev.slice(-9)}` : n.dev;
      a.append(t);
      root.append(a);
    });
  });
  const online = nodes.filter((n) => n.online).length;
  const summary = el('p', `${nodes.length} nodes, ${online} online, ${nodes.length - online} offline · ${open.length} open incident${open.length === 1 ? '' : 's'} · updated ${new Date(now).toLocaleTimeString()}`, { class: 'legend', id: 'summary' });
  const legend = el('p', undefined, { class: 'legend bar' });
  legend.append(
    el('span', 'rise over the node’s own baseline:'),
    legendSwatch(heatColour(0, true), '0 K'),
    legendSwatch(heatColour(5000, true), '5 K'),
    legendSwatch(heatColour(10_000, true), '≥ 10 K'),
    legendSwatch(heatColour(null, false), 'offline'),
    legendSwatch('#fff', 'alerts', true),
    el('span', '▲ incident'),
  );
  const box = el('div', undefined, { class: 'plant-box' });
  box.append(root);
  app.replaceChildren(summary, legend, box);
  if (performance.getEntriesByName('pipewatch-plant-drawn').length === 0) {
    // For the bench (tools/bench/station-page.ts): the first plant built, then on screen (the
    // frame after the one that painted it).
    performance.mark('pipewatch-plant-drawn');
    requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('pipewatch-plant-painted')));
  }
}

type SortKey = 'dev' | 'online' | 'line' | 'age' | 'perHour' | 'readings' | 'malformed' | 'faults' | 'firmware' | 'backlog';
let sortKey: SortKey = 'dev';
let sortDown = false;

async function fleetPage(): Promise<void> {
  const { now, nodes, incidents } = await getJson<{ now: number; nodes: FleetNode[]; incidents: IncidentRow[] }>('/api/fleet');
  showOpen(incidents);
  const value = (n: FleetNode): number | string => {
    switch (sortKey) {
      case 'dev': return n.dev;
      case 'online': return n.online ? 1 : 0;
      case 'line': return `${n.line}\u0000${String(n.position).padStart(12, '0')}`;
      case 'age': return n.last_reading_ms === null ? Infinity : now - n.last_reading_ms;
      case 'perHour': return n.last_hour;
      case 'readings': return n.readings;
      case 'malformed': return n.malformed;
      case 'faults': return n.sensorFaults ?? -1;
      case 'firmware': return n.firmware ?? '';
      case 'backlog': return n.backlog ?? -1;
    }
  };
  nodes.sort((a, b) => {
    const va = value(a), vb = value(b);
    const c = va < vb ? -1 : va > vb ? 1 : a.dev < b.dev ? -1 : a.dev > b.dev ? 1 : 0;
    return sortDown ? -c : c;
  });
  const table = el('table', undefined, { id: 'fleet' });
  const head = el('tr');
  const columns: Array<[SortKey, string]> = [
    ['dev', 'device'], ['online', 'online'], ['line', 'line / m'], ['age', 'last reading'], ['perHour', 'readings / h'], ['readings', 'readings'],
    ['malformed', 'malformed'], ['faults', 'sensor faults'], ['firmware', 'firmware'], ['backlog', 'backlog'],
  ];
  for (const [key, label] of columns) {
    const th = el('th', label + (sortKey === key ? (sortDown ? ' ▼' : ' ▲') : ''), { 'data-key': key, scope: 'col' });
    th.addEventListener('click', () => {
      sortDown = sortKey === key ? !sortDown : false;
      sortKey = key;
      void render();
    });
    head.append(th);
  }
  head.append(el('th', 'last error'));
  table.append(head);
  for (const n of nodes) {
    const tr = el('tr', undefined, { class: n.online ? '' : 'offline', 'data-dev': n.dev });
    const name = el('td');
    name.append(el('a', n.dev, { href: nodeHref(n.dev) }));
    tr.append(
      name,
      el('td', n.online ? 'online' : 'offline', { class: n.online ? 'ok' : '' }),
      el('td', n.onPlant ? `${n.line} · ${n.position}` : '—'),
      el('td', age(now, n.last_reading_ms)),
      el('td', String(n.last_hour), { class: 'num' }),
      el('td', String(n.readings), { class: 'num' }),
      el('td', String(n.malformed), { class: n.malformed ? 'num bad' : 'num' }),
      el('td', n.sensorFaults === null ? '—' : String(n.sensorFaults), { class: n.sensorFaults ? 'num bad' : 'num' }),
      el('td', n.firmware ?? '—', { class: 'firmware' }),
      el('td', n.backlog === null ? '—' : String(n.backlog), { class: 'num' }),
      el('td', n.last_error ?? '', { class: 'wrap' }),
    );
    table.append(tr);
  }
  const online = nodes.filter((n) => n.online).length;
  const intro = el('p', `${nodes.length} nodes, ${online} online · click a column to sort · firmware, backlog and sensor faults from each node's latest health heartbeat · `, { class: 'legend' });
  intro.append(el('a', 'fleet health: uptime, updates, score per line', { href: '/fleet/health' }));
  app.replaceChildren(intro, table);
}

async function incidentsPage(): Promise<void> {
  const { incidents } = await getJson<{ now: number; incidents: IncidentRow[] }>('/api/incidents');
  showOpen(incidents);
  const open = incidents.filter((i) => i.acked_ms === null).length;
  const parts: Node[] = [el('p', `${incidents.length} incident${incidents.length === 1 ? '' : 's'}, ${open} not acknowledged · newest first · raised by the fleet engine from local evidence (docs/leaks.md)`, { class: 'legend' })];
  if (incidents.length === 0) parts.push(el('p', 'No incidents.'));
  else {
    const table = el('table', undefined, { id: 'incidents' });
    const head = el('tr');
    for (const h of ['time', 'line', 'position', 'node', 'evidence', 'acknowledged']) head.append(el('th', h, { scope: 'col' }));
    table.append(head);
    for (const i of incidents) {
      const tr = el('tr', undefined, { id: i.id, 'data-id': i.id, class: i.acked_ms === null ? 'open' : 'acked' });
      const node = el('td');
      node.append(el('a', i.node, { href: nodeHref(i.node) }));
      const ack = el('td');
      if (i.acked_ms === null) {
        const b = el('button', 'acknowledge', { class: 'ack' });
        b.addEventListener('click', () => {
          b.disabled = true;
          void fetch(`/api/incidents/${encodeURIComponent(i.id)}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
            .then((res) => {
              if (!res.ok) throw new Error(String(res.status));
              return render();
            })
            .catch((error: Error) => {
              b.disabled = false;
              b.textContent = `acknowledge (failed: ${error.message})`;
            });
        });
        ack.append(b);
      } else ack.textContent = `${when(i.acked_ms)} by ${i.acked_by ?? '?'}`;
      tr.append(
        el('td', when(i.t_ms)),
        el('td', i.line),
        el('td', `${i.pos_m} m`, { class: 'num' }),
        node,
        el('td', `${RULES[i.rule] ?? i.rule}: ${kelvin(i.relative_mc)} over the neighbours' median`, { class: 'wrap' }),
        ack,
      );
      // Labels for the narrow layout (a card per incident on a phone; web.ts STYLE).
      ['time', 'line', 'position', 'node', 'evidence', 'status'].forEach((label, k) => tr.children[k]!.setAttribute('data-label', label));
      table.append(tr);
    }
    parts.push(table);
  }
  app.replaceChildren(...parts);
}

let rangeMs = 3_600_000;
let plots: Array<{ key: string; plot: uPlot }> = [];
let plotRange = 0;

async function nodePage(): Promise<void> {
  const data = await getJson<{ now: number; node: FleetNode; readings: ReadingRow[] }>(
    `/api/node/${encodeURIComponent(pageDev)}?from=${Date.now() - rangeMs}`,
  ).catch(() => undefined);
  void getJson<{ incidents: IncidentRow[] }>('/api/incidents').then((r) => showOpen(r.incidents), () => {});
  if (!data) {
    for (const p of plots.splice(0)) p.plot.destroy();
    app.replaceChildren(el('h2', pageDev), el('p', 'No such device.'));
    return;
  }
  const { now, node, readings } = data;
  const channels = new Map<string, ReadingRow[]>();
  for (const r of readings) channels.set(`${r.ch}/${r.kind}`, [...(channels.get(`${r.ch}/${r.kind}`) ?? []), r]);
  const keys = [...channels.keys()].sort();
  const series = (key: string): uPlot.AlignedData => {
    const rows = channels.get(key)!;
    const u = UNITS[Number(key.split('/')[1])] ?? { scale: 1 };
    return [rows.map((r) => (r.sync ? r.ts : r.received_ms) / 1000), rows.map((r) => r.value / u.scale), rows.map((r) => (r.alert ? r.value / u.scale : null))];
  };
  updateFacts(now, node);
  // Live: the same channels and range keep their plots and the user's zoom; new points are added.
  if (plotRange === rangeMs && plots.length === keys.length && plots.every((p, i) => p.key === keys[i]) && document.getElementById('facts')) {
    for (const p of plots) {
      const box = p.plot.root.parentElement!;
      const rows = channels.get(p.key)!;
      box.setAttribute('data-points', String(rows.length));
      box.querySelector('.legend')!.textContent = channelTitle(p.key, rows.length);
      const zoomed = p.plot.select.width > 0 || box.dataset.zoomed === 'true';
      p.plot.setData(series(p.key), !zoomed);
    }
    return;
  }
  for (const p of plots.splice(0)) p.plot.destroy();
  plotRange = rangeMs;
  const ranges = el('div', undefined, { class: 'bar' });
  for (const [label, ms] of [['last hour', 3_600_000], ['last day', 86_400_000], ['last week', 604_800_000]] as const) {
    const b = el('button', label, { class: 'range' });
    if (ms === rangeMs) b.disabled = true;
    b.addEventListener('click', () => {
      rangeMs = ms;
      void render();
    });
    ranges.append(b);
  }
  const q = `from=${now - rangeMs}&to=${now}`;
  ranges.append(
    el('a', 'CSV', { href: `/api/node/${encodeURIComponent(pageDev)}/readings.csv?${q}` }),
    el('a', 'JSON', { href: `/api/node/${encodeURIComponent(pageDev)}/readings.json?${q}` }),
    el('span', 'drag across a plot to zoom, double-click to zoom out', { class: 'legend' }),
  );
  const facts = el('dl', undefined, { class: 'facts', id: 'facts' });
  const parts: Node[] = [el('h2', node.dev), facts, ranges];
  if (keys.length === 0) parts.push(el('p', 'No readings in this range.'));
  app.replaceChildren(...parts);
  updateFacts(now, node);
  const width = Math.max(260, Math.min(900, app.clientWidth - 34));
  for (const key of keys) {
    const rows = channels.get(key)!;
    const [ch, kind] = key.split('/').map(Number) as [number, number];
    const u = UNITS[kind] ?? { name: `kind ${kind}`, unit: '', scale: 1 };
    const box = el('div', undefined, { class: 'chart', 'data-channel': String(ch), 'data-points': String(rows.length) });
    box.append(el('div', channelTitle(key, rows.length), { class: 'legend' }));
    app.append(box);
    const plot = new uPlot(
      {
        width,
        height: width < 500 ? 200 : 240,
        series: [{}, { label: u.unit, stroke: '#1565c0', width: 1.5 }, { label: 'alert', stroke: '#b00020', width: 0, points: { show: true, size: 9, fill: '#b00020' } }],
        scales: { x: { time: true } },
        hooks: { setSelect: [() => (box.dataset.zoomed = 'true')] },
      },
      series(key),
      box,
    );
    plot.over.addEventListener('dblclick', () => (box.dataset.zoomed = 'false'));
    plots.push({ key, plot });
  }
}

function channelTitle(key: string, points: number): string {
  const [ch, kind] = key.split('/').map(Number) as [number, number];
  const u = UNITS[kind] ?? { name: `kind ${kind}`, unit: '' };
  return `channel ${ch}: ${u.name} (${u.unit}), ${points} points, alerts in red`;
}

function updateFacts(now: number, node: FleetNode): void {
  const facts = document.getElementById('facts');
  if (!facts) return;
  const rows: Array<[string, string, string?]> = [
    ['state', node.online ? 'online' : 'offline', node.online ? 'ok' : 'bad'],
    ['status', node.status ?? 'unknown'],
    ['last seen', age(now, node.last_seen_ms)],
    ['last reading', age(now, node.last_reading_ms)],
    ['place', node.onPlant ? `${node.line}, ${node.position} m` : 'not on the plant'],
    ['rise', node.heatMilliCelsius === null ? '—' : `${kelvin(node.heatMilliCelsius)} over its baseline`],
    ['firmware', node.firmware ?? (node.health_ms === null ? '— (no health heartbeat yet)' : '— (not in its heartbeat)')],
    ['cache backlog', node.backlog === null ? '—' : `${node.backlog} readings not yet acknowledged`],
    ['sensor faults', node.sensorFaults === null ? '—' : String(node.sensorFaults), node.sensorFaults ? 'bad' : undefined],
    ['heartbeat', age(now, node.health_ms)],
    ['counts', `${node.readings} readings, ${node.last_hour} in the last hour, ${node.alerts} alerts, ${node.malformed} malformed`],
  ];
  if (node.ota_status) rows.push(['OTA', node.ota_status]);
  if (node.last_error) rows.push(['last malformed', node.last_error, 'bad']);
  const children: Node[] = [];
  for (const [k, v, cls] of rows) children.push(el('dt', k), el('dd', v, cls ? { class: cls, 'data-fact': k } : { 'data-fact': k }));
  facts.replaceChildren(...children);
}

/* The fleet health page (/fleet/health): the metrics of docs/fleet.md from /api/fleet/metrics. */
interface DaySums {
  connectedMs: number;
  expectedMs: number;
  uptime: number | null;
}
interface RolloutMetrics {
  started: number;
  confirmed: number;
  failed: number;
  pending: number;
  successRate: number | null;
  failures: Record<string, number>;
}
interface LineHealth {
  score: number;
  devices: number;
  reporting: number;
  uptime: number | null;
  faultyShare: number;
  backlogShare: number;
  updateFailureRate: number;
}
/** What /api/fleet/metrics answers (the report of tools/fleet/metrics.ts; `since` null for all). */
interface FleetMetricsJson {
  now: number;
  since: number | null;
  until: number | null;
  activationRate: number | null;
  connectivityUptime: number | null;
  otaSuccessRate: number | null;
  monthlyActiveDevices: Record<string, number>;
  activation: { registered: number; activated: number; rate: number | null; unregistered: string[] };
  uptime: { fleet: number | null; lines: Record<string, Record<string, DaySums>> };
  ota: { successRate: number | null; rollouts: Record<string, RolloutMetrics> };
  health: Record<string, LineHealth>;
}

const SINCE_CHOICES = ['7d', '30d', 'all'] as const;
const STRIP_DAYS = 14;
/** Unregistered ids listed by name (the rest counted). */
const IDS_LISTED = 40;
/** The health page refetches on SSE updates at most this often, and spends at most a fifth of the time waiting on reports (up to a minute apart). */
const HEALTH_REFRESH_MS = 5000;
const HEALTH_REFRESH_MAX_MS = 60_000;
let healthSince: string = (() => {
  const q = new URLSearchParams(location.search).get('since');
  return q !== null && (SINCE_CHOICES as readonly string[]).includes(q) ? q : '30d';
})();
let healthFetchedAt = 0;
let healthTook = 0;
let healthTimer: ReturnType<typeof setTimeout> | undefined;

/** A ratio as a percentage, one decimal (the CLI's `fleet report` shows the same). */
export function percent(v: number | null): string {
  return v === null ? '—' : `${(v * 100).toFixed(1)} %`;
}
/** Lines by name, numbers in order, devices without a line ("") last. */
function byLine(a: string, b: string): number {
  return a === b ? 0 : a === '' ? 1 : b === '' ? -1 : a.localeCompare(b, undefined, { numeric: true });
}
function lineName(line: string): string {
  return line === '' ? '(no line)' : line;
}
/** Colour of a day's uptime: red at 50 % and below, through yellow, green at 100 %. */
export function uptimeColour(uptime: number): string {
  const t = Math.min(1, Math.max(0, (uptime - 0.5) / 0.5));
  return `hsl(${(120 * t * t).toFixed(0)},62%,${(46 - 6 * t).toFixed(0)}%)`;
}
const scoreFormula = `score = round(100 × (${SCORE_WEIGHTS.uptime} × uptime + ${SCORE_WEIGHTS.faults} × (1 − faulty) + ${SCORE_WEIGHTS.backlog} × (1 − backlog) + ${SCORE_WEIGHTS.updates} × (1 − update failures)))`;

/** Redraws the health page after an SSE update, at most every HEALTH_REFRESH_MS (a report reads every heartbeat of the window). */
function healthSoon(): void {
  if (healthTimer !== undefined) return;
  const gap = Math.min(HEALTH_REFRESH_MAX_MS, Math.max(HEALTH_REFRESH_MS, 5 * healthTook));
  healthTimer = setTimeout(() => {
    healthTimer = undefined;
    void render();
  }, Math.max(0, healthFetchedAt + gap - Date.now()));
}

function figure(id: string, label: string, value: number | null, text: string, sub: string | Node[]): HTMLElement {
  const box = el('div', undefined, { class: 'figure', id });
  const below = el('div', typeof sub === 'string' ? sub : undefined, { class: 'sub' });
  if (typeof sub !== 'string') below.append(...sub);
  box.append(el('div', label, { class: 'label' }), el('div', text, { class: 'value', 'data-value': value === null ? '' : String(value) }), below);
  return box;
}

/** The table's cells, labelled for the phone's card layout (web.ts HEALTH_STYLE). */
function labelled(tr: HTMLTableRowElement, labels: readonly string[]): void {
  labels.forEach((label, k) => tr.children[k]?.setAttribute('data-label', label));
}

async function healthPage(): Promise<void> {
  const t0 = Date.now();
  const [r, inc] = await Promise.all([
    getJson<FleetMetricsJson>(`/api/fleet/metrics?since=${encodeURIComponent(healthSince)}`),
    getJson<{ incidents: IncidentRow[] }>('/api/incidents').catch(() => undefined),
  ]);
  healthFetchedAt = Date.now();
  healthTook = healthFetchedAt - t0;
  if (inc) showOpen(inc.incidents);
  const parts: Node[] = [el('h2', 'Fleet health')];

  const bar = el('div', undefined, { class: 'bar since' });
  bar.append(el('span', 'since:'));
  for (const choice of SINCE_CHOICES) {
    const b = el('button', choice === 'all' ? 'all' : `last ${choice}`, { 'data-since': choice, 'aria-pressed': String(choice === healthSince) });
    b.addEventListener('click', () => {
      if (choice === healthSince) return;
      healthSince = choice;
      history.replaceState(null, '', `${location.pathname}?since=${choice}`);
      void render();
    });
    bar.append(b);
  }
  bar.append(
    el('a', 'JSON', { href: `/api/fleet/metrics?since=${encodeURIComponent(healthSince)}` }),
    el('span', `updated ${new Date(r.now).toLocaleTimeString()}, redrawn as heartbeats arrive (at most every ${HEALTH_REFRESH_MS / 1000} s)`, { class: 'legend', id: 'health-updated' }),
  );
  parts.push(bar);

  const heard = r.activation.activated + r.activation.unregistered.length;
  const lines = Object.entries(r.health).sort(([a], [b]) => byLine(a, b));
  if (r.connectivityUptime === null && heard > 0 && healthSince !== 'all') {
    parts.push(el('p', `No heartbeat in the last ${healthSince}, though ${heard} device${heard === 1 ? ' has' : 's have'} reported before (a simulated run's heartbeats carry simulated time, from 2026-01-01): choose "all".`, { class: 'note', id: 'health-empty' }));
  } else if (heard === 0) {
    parts.push(el('p', 'No health heartbeat has arrived yet (pipewatch/<dev>/health, docs/payload.md).', { class: 'note', id: 'health-empty' }));
  }

  // The four headline figures (the simulator's `fleet` summary, `fleet report --json`).
  const a = r.activation;
  const rollouts = Object.entries(r.ota.rollouts);
  const started = rollouts.reduce((n, [, m]) => n + m.started, 0);
  const confirmed = rollouts.reduce((n, [, m]) => n + m.confirmed, 0);
  const months = Object.entries(r.monthlyActiveDevices).sort(([x], [y]) => x.localeCompare(y));
  const [month, active] = months[months.length - 1] ?? [undefined, null];
  const figures = el('div', undefined, { class: 'figures' });
  figures.append(
    figure('fig-activation', 'activation rate', a.rate, percent(a.rate), a.registered > 0 ? `${a.activated} of ${a.registered} registered devices have connected` : 'no registry: start the station with --plant FILE'),
    figure('fig-uptime', 'connectivity uptime', r.connectivityUptime, percent(r.connectivityUptime), 'connected over expected time, every device in the window'),
    figure('fig-ota', 'update success rate', r.otaSuccessRate, percent(r.otaSuccessRate), started > 0 ? `${confirmed} of ${started} started updates confirmed` : 'no update started in the window'),
    figure('fig-mad', 'monthly active devices', active, active === null ? '—' : String(active), month === undefined ? 'no heartbeat in the window' : [
      el('span', `in ${month}`, { class: 'nowrap' }),
      ...months.slice(0, -1).reverse().slice(0, 3).flatMap(([m, n], k) => [document.createTextNode(k ? ', ' : '; before: '), el('span', `${m}: ${n}`, { class: 'nowrap' })]),
    ]),
  );
  parts.push(figures);

  // Per line: the health score and what it is made of.
  parts.push(el('h3', 'Lines'));
  if (lines.length === 0) parts.push(el('p', 'No line has a device yet.'));
  else {
    const table = el('table', undefined, { id: 'lines', class: 'cards' });
    const head = el('tr');
    const labels = ['line', 'devices', 'reporting', 'uptime', 'faulty', 'backlog', 'update failures', 'health score'];
    const tips = ['', 'registered, or reporting when more', 'with a heartbeat in the window', 'connected / expected time over the window', 'share of reporting devices with a new sensor fault', 'share whose oldest unacknowledged reading is over an hour old', 'failed / started updates', scoreFormula];
    labels.forEach((label, k) => head.append(el('th', k === labels.length - 1 ? `${label} *` : label, tips[k] ? { scope: 'col', title: tips[k]! } : { scope: 'col' })));
    table.append(head);
    for (const [line, h] of lines) {
      const tr = el('tr', undefined, { 'data-line': line });
      tr.append(
        el('td', lineName(line)),
        el('td', String(h.devices), { class: 'num' }),
        el('td', String(h.reporting), { class: h.reporting < h.devices ? 'num bad' : 'num' }),
        el('td', percent(h.uptime), { class: 'num', 'data-value': h.uptime === null ? '' : String(h.uptime) }),
        el('td', percent(h.faultyShare), { class: h.faultyShare > 0 ? 'num bad' : 'num' }),
        el('td', percent(h.backlogShare), { class: h.backlogShare > 0 ? 'num bad' : 'num' }),
        el('td', percent(h.updateFailureRate), { class: h.updateFailureRate > 0 ? 'num bad' : 'num' }),
        el('td', String(h.score), { class: h.score < 80 ? 'num bad score' : 'num score', title: scoreFormula }),
      );
      labelled(tr, labels);
      table.append(tr);
    }
    parts.push(table, el('p', `* ${scoreFormula}, each share over the line's reporting devices (docs/fleet.md). Read it with reporting / devices: a line that never reports scores ${Math.round(100 * (1 - SCORE_WEIGHTS.uptime))}.`, { class: 'legend', id: 'score-formula' }));
  }

  // Uptime per line per day, the last days of the window as a strip of coloured cells.
  parts.push(el('h3', `Uptime per line and day`));
  const stripLines = Object.entries(r.uptime.lines).sort(([x], [y]) => byLine(x, y));
  const dataDays = [...new Set(stripLines.flatMap(([, perDay]) => Object.keys(perDay)))].sort();
  if (dataDays.length === 0) parts.push(el('p', 'No heartbeat in the window.'));
  else {
    // The days up to the window's end; when none of them has data (an old or simulated
    // database), up to the latest day that has.
    const DAY = 86_400_000;
    let endMs = Math.floor((r.until ?? r.now) / DAY) * DAY;
    const shown = (end: number) => Array.from({ length: STRIP_DAYS }, (_, k) => end - (STRIP_DAYS - 1 - k) * DAY).filter((t) => r.since === null || t + DAY > r.since);
    if (!shown(endMs).some((t) => dataDays.includes(dayOf(t)))) endMs = Date.parse(`${dataDays[dataDays.length - 1]}T00:00:00Z`);
    const days = shown(endMs).map(dayOf);
    const strip = el('div', undefined, { class: 'strip', id: 'strip', style: `--days:${days.length}` });
    for (const [line, perDay] of stripLines) {
      strip.append(el('span', lineName(line), { class: 'name', title: lineName(line) }));
      for (const day of days) {
        const d = perDay[day];
        const u = d?.uptime ?? null;
        const text = `${lineName(line)}, ${day}: ${u === null ? 'no heartbeat' : `${percent(u)} (${Math.round(d!.connectedMs / 60_000)} of ${Math.round(d!.expectedMs / 60_000)} min)`}`;
        const cell = el('span', undefined, { class: u === null ? 'cell nodata' : 'cell', title: text, 'aria-label': text, role: 'img', 'data-day': day, 'data-line': line, 'data-value': u === null ? '' : String(u) });
        if (u !== null) cell.style.background = uptimeColour(u);
        strip.append(cell);
      }
      strip.append(el('span', percent(r.health[line]?.uptime ?? null), { class: 'total', title: 'over the window' }));
    }
    strip.append(el('span'), el('span', days[0]!.slice(5), { class: 'axis', style: `grid-column:span ${Math.ceil(days.length / 2)}` }));
    strip.append(el('span', days[days.length - 1]!.slice(5), { class: 'axis', style: `grid-column:span ${Math.floor(days.length / 2)};text-align:right` }));
    const legend = el('p', undefined, { class: 'legend bar' });
    const swatch = (colour: string | undefined, text: string) => {
      const s = el('span', undefined, { class: colour ? 'swatch-cell' : 'swatch-cell nodata' });
      if (colour) s.style.background = colour;
      const item = el('span');
      item.append(s, document.createTextNode(` ${text}`));
      return item;
    };
    legend.append(
      el('span', `UTC days ${days[0]} to ${days[days.length - 1]}; the last column is the line over the window:`),
      swatch(uptimeColour(1), '100 %'),
      swatch(uptimeColour(0.9), '90 %'),
      swatch(uptimeColour(0.75), '75 %'),
      swatch(uptimeColour(0.5), '≤ 50 %'),
      swatch(undefined, 'no heartbeat'),
    );
    parts.push(strip, legend);
  }

  // Updates per version (a version stands for its rollout, docs/fleet.md).
  parts.push(el('h3', 'Firmware updates per version'));
  if (rollouts.length === 0) parts.push(el('p', 'No update started in the window.', { id: 'no-rollouts' }));
  else {
    const table = el('table', undefined, { id: 'rollouts', class: 'cards' });
    const head = el('tr');
    const labels = ['version', 'started', 'confirmed', 'failed', 'pending', 'success', 'failures by reason'];
    for (const label of labels) head.append(el('th', label, { scope: 'col' }));
    table.append(head);
    for (const [version, m] of rollouts.sort(([x], [y]) => y.localeCompare(x, undefined, { numeric: true }))) {
      const tr = el('tr', undefined, { 'data-version': version });
      const reasons = el('td', undefined, { class: 'wrap' });
      const failures = Object.entries(m.failures).sort(([, x], [, y]) => y - x);
      if (failures.length === 0) reasons.textContent = '—';
      failures.forEach(([reason, n], k) => reasons.append(...(k ? [document.createTextNode(', ')] : []), el('span', `${reason} ${n}`, { class: 'bad', 'data-reason': reason })));
      tr.append(
        el('td', version),
        el('td', String(m.started), { class: 'num' }),
        el('td', String(m.confirmed), { class: 'num ok' }),
        el('td', String(m.failed), { class: m.failed ? 'num bad' : 'num' }),
        el('td', String(m.pending), { class: 'num' }),
        el('td', percent(m.successRate), { class: 'num' }),
        reasons,
      );
      labelled(tr, labels);
      table.append(tr);
    }
    parts.push(table);
  }

  if (a.unregistered.length > 0) {
    parts.push(el('h3', `Heard from, not in the registry (${a.unregistered.length})`));
    const ids = el('p', undefined, { class: 'ids', id: 'unregistered' });
    for (const id of a.unregistered.slice(0, IDS_LISTED)) ids.append(el('code', id));
    if (a.unregistered.length > IDS_LISTED) ids.append(document.createTextNode(`and ${a.unregistered.length - IDS_LISTED} more (JSON)`));
    parts.push(ids, el('p', a.registered > 0 ? 'They count under "(no line)" and not in the activation rate.' : 'Without a registry (--plant FILE) every device counts under "(no line)".', { class: 'legend' }));
  }
  app.replaceChildren(...parts);
}

let busy = false;
let again = false;
async function render(): Promise<void> {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    if (pageName === 'plant') await plantPage();
    else if (pageName === 'fleet') await fleetPage();
    else if (pageName === 'incidents') await incidentsPage();
    else if (pageName === 'node') await nodePage();
    else if (pageName === 'health') await healthPage();
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered ?? '0') + 1);
  } catch (error) {
    app.replaceChildren(el('p', `could not load: ${(error as Error).message}`, { class: 'bad' }));
  } finally {
    busy = false;
    if (again) {
      again = false;
      void render();
    }
  }
}

const live = document.getElementById('live')!;
const events = new EventSource('/events');
events.addEventListener('open', () => (live.textContent = '● live'));
events.addEventListener('error', () => (live.textContent = '○ reconnecting'));
events.addEventListener('update', (e) => {
  const devs = JSON.parse((e as MessageEvent<string>).data) as string[];
  if (pageName === 'incidents') return;
  if (pageName === 'health') return healthSoon();
  if (pageName !== 'node' || devs.includes(pageDev)) void render();
});
events.addEventListener('incident', () => void render());
setInterval(() => (pageName === 'health' ? healthSoon() : void render()), 15_000);
void render();
