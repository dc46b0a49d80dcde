/// <reference lib="dom" />
/*
 * The station's browser script, bundled with uPlot by esbuild (web.ts). Builds every page from
 * the JSON API with createElement/textContent only (nothing from the wire is parsed as HTML),
 * and redraws on the Server-Sent Events of /events.
 */
import uPlot from 'uplot';

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
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
function nodeHref(dev: string): string {
  return `/node/${encodeURIComponent(dev)}`;
}

/** Colour of a rise above baseline: blue at 0 K, through yellow, red at 10 K and above. */
export function heatColour(riseMilliCelsius: number | null, online: boolean): string {
  if (!online) return '#9e9e9e';
  if (riseMilliCelsius === null) return '#cfd8dc';
  const t = Math.min(1, Math.max(0, riseMilliCelsius / 10_000));
  const hue = 210 - 210 * t;
  return `hsl(${hue.toFixed(0)},75%,${(50 - 5 * t).toFixed(0)}%)`;
}

async function plantPage(): Promise<void> {
  const fleet = await getJson<{ now: number; nodes: FleetNode[] }>('/api/fleet');
  const now = fleet.now;
  const nodes = fleet.nodes.filter((n) => n.onPlant);
  const lines = new Map<string, FleetNode[]>();
  for (const n of nodes) lines.set(n.line, [...(lines.get(n.line) ?? []), n]);
  const names = [...lines.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const rowHeight = 90;
  const left = 90;
  // 56 px between neighbours of a default layout (1 m apart); a plant file's longer lines are
  // scaled to the same width.
  let maxPos = 1;
  for (const n of nodes) maxPos = Math.max(maxPos, n.position);
  const spacing = maxPos > 19 ? (56 * 19) / maxPos : 56;
  const width = left + 40 + spacing * Math.max(19, maxPos);
  const root = svg('svg', { width, height: Math.max(1, names.length) * rowHeight + 30, role: 'img', 'aria-label': 'plant' });
  root.id = 'plant';
  names.forEach((name, row) => {
    const y = 40 + row * rowHeight;
    const members = lines.get(name)!;
    const label = svg('text', { x: 4, y: y + 4, 'font-weight': 'bold' });
    label.textContent = name;
    root.append(label);
    const last = Math.max(...members.map((m) => m.position));
    root.append(svg('rect', { x: left - 12, y: y - 6, width: spacing * last + 24, height: 12, rx: 6, fill: '#b0bec5', stroke: '#78909c' }));
    for (const n of members) {
      const x = left + n.position * spacing;
      const a = svg('a', { href: nodeHref(n.dev), class: 'node', 'data-dev': n.dev, 'data-online': String(n.online) });
      const title = svg('title', {});
      const rise = n.heatMilliCelsius === null ? 'no temperature yet' : `${(n.heatMilliCelsius / 1000).toFixed(1)} K above baseline`;
      title.textContent = `${n.dev}: ${n.online ? 'online' : 'offline'}, ${rise}, ${n.alerts} alerts`;
      a.append(title);
      a.append(svg('circle', { cx: x, cy: y, r: 11, fill: heatColour(n.heatMilliCelsius, n.online), stroke: n.alerts > 0 ? '#b00020' : '#37474f', 'stroke-width': n.alerts > 0 ? 3 : 1 }));
      if (n.alerts > 0) {
        const mark = svg('text', { x: x + 9, y: y - 10, fill: '#b00020', 'font-weight': 'bold', 'font-size': 16 });
        mark.textContent = '!';
        a.append(mark);
      }
      const t = svg('text', { x, y: y + (members.indexOf(n) % 2 ? 38 : 26), 'text-anchor': 'middle', fill: n.online ? '#222' : '#888' });
      t.textContent = n.dev.length > 10 ? `…${n.dev.slice(-9)}` : n.dev;
      a.append(t);
      root.append(a);
    }
  });
  const online = nodes.filter((n) => n.online).length;
  const summary = el('p', `${nodes.length} nodes, ${online} online, ${nodes.length - online} offline · colour: rise above the node's own baseline (blue 0 K … red ≥ 10 K), grey offline, red ring alerts · updated ${new Date(now).toLocaleTimeString()}`, { class: 'legend' });
  app.replaceChildren(summary, root);
}

type SortKey = 'dev' | 'online' | 'age' | 'perHour' | 'faults' | 'readings';
let sortKey: SortKey = 'dev';
let sortDown = false;

async function fleetPage(): Promise<void> {
  const { now, nodes } = await getJson<{ now: number; nodes: FleetNode[] }>('/api/fleet');
  const value = (n: FleetNode): number | string => {
    switch (sortKey) {
      case 'dev': return n.dev;
      case 'online': return n.online ? 1 : 0;
      case 'age': return n.last_reading_ms === null ? Infinity : now - n.last_reading_ms;
      case 'perHour': return n.last_hour;
      case 'faults': return n.malformed;
      case 'readings': return n.readings;
    }
  };
  nodes.sort((a, b) => {
    const va = value(a), vb = value(b);
    const c = va < vb ? -1 : va > vb ? 1 : 0;
    return sortDown ? -c : c;
  });
  const table = el('table', undefined, { id: 'fleet' });
  const head = el('tr');
  const columns: Array<[SortKey, string]> = [['dev', 'device'], ['online', 'online'], ['age', 'last reading'], ['perHour', 'readings / h'], ['readings', 'readings'], ['faults', 'malformed']];
  for (const [key, label] of columns) {
    const th = el('th', label + (sortKey === key ? (sortDown ? ' ▼' : ' ▲') : ''), { 'data-key': key });
    th.addEventListener('click', () => {
      sortDown = sortKey === key ? !sortDown : false;
      sortKey = key;
      void fleetPage();
    });
    head.append(th);
  }
  head.append(el('th', 'last error'), el('th', 'firmware / OTA'));
  table.append(head);
  for (const n of nodes) {
    const tr = el('tr', undefined, { class: n.online ? '' : 'offline' });
    const name = el('td');
    name.append(el('a', n.dev, { href: nodeHref(n.dev) }));
    tr.append(
      name,
      el('td', n.online ? 'online' : 'offline'),
      el('td', age(now, n.last_reading_ms)),
      el('td', String(n.last_hour), { class: 'num' }),
      el('td', String(n.readings), { class: 'num' }),
      el('td', String(n.malformed), { class: n.malformed ? 'num bad' : 'num' }),
      el('td', n.last_error ?? ''),
      el('td', n.ota_status ?? ''),
    );
    table.append(tr);
  }
  app.replaceChildren(el('p', `${nodes.length} nodes · click a column to sort`, { class: 'legend' }), table);
}

let rangeMs = 3_600_000;
const plots: uPlot[] = [];

async function nodePage(): Promise<void> {
  const data = await getJson<{ now: number; node: FleetNode; readings: ReadingRow[] }>(
    `/api/node/${encodeURIComponent(pageDev)}?from=${Date.now() - rangeMs}`,
  ).catch(() => undefined);
  for (const p of plots.splice(0)) p.destroy();
  if (!data) {
    app.replaceChildren(el('h2', pageDev), el('p', 'No such device.'));
    return;
  }
  const { now, node, readings } = data;
  const info = el('p', undefined, { class: 'legend' });
  info.textContent = `${node.online ? 'online' : 'offline'} · status ${node.status ?? 'unknown'} · last seen ${age(now, node.last_seen_ms)} · ${node.readings} readings, ${node.alerts} alerts, ${node.malformed} malformed${node.ota_status ? ` · OTA ${node.ota_status}` : ''}`;
  const ranges = el('p');
  for (const [label, ms] of [['last hour', 3_600_000], ['last day', 86_400_000], ['last week', 604_800_000]] as const) {
    const b = el('button', label, { class: 'range' });
    if (ms === rangeMs) b.disabled = true;
    b.addEventListener('click', () => {
      rangeMs = ms;
      void nodePage();
    });
    ranges.append(b);
  }
  const csv = el('a', 'CSV of this range', { href: `/api/node/${encodeURIComponent(pageDev)}/readings.csv?from=${now - rangeMs}&to=${now}` });
  ranges.append(csv);
  const parts: Node[] = [el('h2', node.dev), info, ranges];
  if (node.last_error) parts.push(el('p', `last malformed message: ${node.last_error}`, { class: 'bad' }));
  const channels = new Map<string, ReadingRow[]>();
  for (const r of readings) channels.set(`${r.ch}/${r.kind}`, [...(channels.get(`${r.ch}/${r.kind}`) ?? []), r]);
  if (channels.size === 0) parts.push(el('p', 'No readings in this range.'));
  app.replaceChildren(...parts);
  const width = Math.min(900, app.clientWidth - 30);
  for (const [key, rows] of [...channels].sort()) {
    const [ch, kind] = key.split('/').map(Number) as [number, number];
    const u = UNITS[kind] ?? { name: `kind ${kind}`, unit: '', scale: 1 };
    const box = el('div', undefined, { class: 'chart', 'data-channel': String(ch), 'data-points': String(rows.length) });
    box.append(el('div', `channel ${ch}: ${u.name} (${u.unit}), ${rows.length} points`, { class: 'legend' }));
    app.append(box);
    const xs = rows.map((r) => (r.sync ? r.ts : r.received_ms) / 1000);
    const ys = rows.map((r) => r.value / u.scale);
    const alerts = rows.map((r) => (r.alert ? r.value / u.scale : null));
    plots.push(
      new uPlot(
        {
          width,
          height: 240,
          series: [{}, { label: u.unit, stroke: '#1565c0', width: 1.5 }, { label: 'alert', stroke: '#b00020', width: 0, points: { show: true, size: 9, fill: '#b00020' } }],
          scales: { x: { time: true } },
        },
        [xs, ys, alerts],
        box,
      ),
    );
  }
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
    else if (pageName === 'node') await nodePage();
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
  if (pageName !== 'node' || devs.includes(pageDev)) void render();
});
setInterval(() => void render(), 15_000);
void render();
