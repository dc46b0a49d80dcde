/*
 * `pipewatch detect --trace FILE.csv [--plant FILE] [--json]`: replays recorded readings through
 * the firmware's edge detector (firmware/detect.ts, one per node, the node defaults, exactly as
 * a node runs it) and the fleet incidents module (tools/fleet/incidents.ts) over all nodes.
 *
 * The trace is CSV with the header `t_ms,line,node,pos_m,milli_c`, one row per sample, each
 * node's rows in time order (interleaved across nodes or not). It is streamed: memory grows with
 * the number of nodes, not rows, as long as the rows are in time order across the fleet (within
 * a minute). A trace that is not (node after node) is still replayed node by node as it streams;
 * the fleet then needs the rows in time order: a second pass keeps them compactly (20 bytes a
 * row) and replays them sorted by time.
 *
 * Output: one line per node alert and per incident; with --json, JSON lines
 *   {"line":L,"node":N,"t_ms":T}   and   {"kind":"incident","line":L,"node":N,"t_ms":T,"pos_m":P}
 * A bad row: one line on stderr naming the row (data rows count from 1, the header is line 1 of
 * the file), exit 2.
 */
import { createReadStream } from 'node:fs';
import { DetectEvent, LeakDetector } from '../firmware/detect';
import type { PlantSpec } from '../simulator/plant/model';
import { readPlantFile } from './plant-file';
import { Failure, oneLine, parseOptions, runVerb, UsageError } from './args';
import { Fleet, type Incident } from './fleet/incidents';

export const DETECT_USAGE = `usage: npx pipewatch detect --trace FILE.csv [--plant FILE] [--json]

Replays a trace through the firmware's leak detector (one per node, node defaults) and the
fleet incidents module, and prints each node alert and each incident.

  --trace FILE   CSV with the header t_ms,line,node,pos_m,milli_c (one row per sample)
  --plant FILE   plant JSON (lines, nodes with positions); without it, lines and positions
                 come from the trace
  --json         JSON lines: {"line","node","t_ms"} per alert,
                 {"kind":"incident","line","node","t_ms","pos_m"} per incident
  -h, --help     this text`;

const HEADER = 't_ms,line,node,pos_m,milli_c';
const ID = /^[A-Za-z0-9_.-]{1,64}$/;
const CAPACITY = 65_536;
/** Rows this far behind the newest time seen make the fleet replay buffered (see above). */
const ORDER_SLACK_MS = 60_000;

export class TraceError extends Error {}

export interface ReplayResult {
  rows: number;
  nodes: number;
  alerts: number;
  incidents: number;
  buffered: boolean;
}

export interface ReplayOptions {
  plant?: PlantSpec;
  onAlert?: (line: string, node: string, tMs: number) => void;
  onIncident?: (incident: Incident) => void;
}

/** Replays a trace file; rejects with TraceError on a bad row. */
export async function replay(path: string, o: ReplayOptions = {}): Promise<ReplayResult> {
  const fleet = new Fleet(o.plant ? o.plant.nodes : [], { capacity: CAPACITY });
  const detectors: LeakDetector[] = [];
  /** Trace key (line \0 node) -> fleet index. */
  const keys = new Map<string, number>();
  const lastT: number[] = [];
  let incidents = 0;
  const reported: string[] = [];
  fleet.onIncident = (incident) => {
    incidents++;
    reported.push(`${incident.node}:${incident.tMs}`);
    o.onIncident?.(incident);
  };
  let rows = 0;
  let alerts = 0;
  let newest = -Infinity;
  let buffered = false;
  /** Alerts as "index:t", for the buffered fleet replay. */
  const alertKeys = new Set<string>();

  const bad = (row: number, what: string): never => {
    throw new TraceError(`${path}: row ${row} (line ${row + 1}): ${what}`);
  };

  const handle = (text: string, row: number) => {
    const c1 = text.indexOf(',');
    const c2 = text.indexOf(',', c1 + 1);
    const c3 = text.indexOf(',', c2 + 1);
    const c4 = text.indexOf(',', c3 + 1);
    if (c1 < 0 || c2 < 0 || c3 < 0 || c4 < 0 || text.indexOf(',', c4 + 1) >= 0) bad(row, `expected 5 fields (${HEADER}), got "${text.slice(0, 80)}"`);
    const tText = text.slice(0, c1);
    const line = text.slice(c1 + 1, c2);
    const node = text.slice(c2 + 1, c3);
    const posText = text.slice(c3 + 1, c4);
    const vText = text.slice(c4 + 1);
    const t = Number(tText);
    if (tText === '' || !Number.isSafeInteger(t) || t < 0) bad(row, `t_ms must be a whole number of ms >= 0, got "${tText}"`);
    if (!ID.test(line)) bad(row, `line must be 1-64 of [A-Za-z0-9_.-], got "${line}"`);
    if (!ID.test(node)) bad(row, `node must be 1-64 of [A-Za-z0-9_.-], got "${node}"`);
    const pos = Number(posText);
    if (posText === '' || !Number.isFinite(pos)) bad(row, `pos_m must be a number, got "${posText}"`);
    const value = Number(vText);
    if (vText === '' || !Number.isInteger(value) || value < -273_150 || value > 2_000_000) bad(row, `milli_c must be a whole number of m°C (-273150..2000000), got "${vText}"`);
    const key = line + '\u0000' + node;
    let index = keys.get(key);
    if (index === undefined) {
      if (o.plant) {
        index = fleet.indexOf(node);
        if (index < 0) bad(row, `node "${node}" is not in the plant`);
        if (fleet.nodes[index]!.line !== line) bad(row, `node "${node}" is on line ${fleet.nodes[index]!.line} in the plant, not ${line}`);
      } else {
        index = fleet.add({ id: node, line, posM: pos });
        if (index < 0) bad(row, fleet.indexOf(node) >= 0 ? `node "${node}" appears on two lines` : `more than ${CAPACITY} nodes`);
      }
      keys.set(key, index);
    }
    while (lastT.length <= index) lastT.push(-Infinity);
    if (t <= lastT[index]!) bad(row, `node ${node}: t_ms ${t} is not after its previous row (${lastT[index]})`);
    lastT[index] = t;
    let d = detectors[index];
    if (!d) detectors[index] = d = new LeakDetector(1);
    const alert = d.update(0, t, value) === DetectEvent.alert;
    if (alert) {
      alerts++;
      o.onAlert?.(line, node, t);
    }
    // Not in time order across the fleet: the fleet replays the kept rows at the end instead.
    if (!buffered && t < newest - ORDER_SLACK_MS) buffered = true;
    if (t > newest) newest = t;
    if (buffered) {
      if (alert) alertKeys.add(`${index}:${t}`);
      return;
    }
    fleet.reading(index, t, value);
    if (alert) {
      alertKeys.add(`${index}:${t}`);
      fleet.alert(index, t);
    }
  };

  await lines(path, (text, row) => {
    if (row === 0) {
      if (text.replace(/^\uFEFF/, '') !== HEADER) throw new TraceError(`${path}: line 1: the header must be ${HEADER}, got "${text.slice(0, 80)}"`);
      return;
    }
    rows++;
    handle(text, row);
  });
  if (buffered) {
    // Second pass: every row (already checked) kept compactly, then the fleet in time order.
    let bt = new Float64Array(1 << 16);
    let bn = new Int32Array(1 << 16);
    let bv = new Int32Array(1 << 16);
    let count = 0;
    await lines(path, (text, row) => {
      if (row === 0) return;
      const c1 = text.indexOf(',');
      const c3 = text.indexOf(',', text.indexOf(',', c1 + 1) + 1);
      const c4 = text.indexOf(',', c3 + 1);
      if (count === bt.length) {
        const t2 = new Float64Array(count * 2); t2.set(bt); bt = t2;
        const n2 = new Int32Array(count * 2); n2.set(bn); bn = n2;
        const v2 = new Int32Array(count * 2); v2.set(bv); bv = v2;
      }
      bt[count] = Number(text.slice(0, c1));
      bn[count] = keys.get(text.slice(c1 + 1, c3).replace(',', '\u0000'))!;
      bv[count] = Number(text.slice(c4 + 1));
      count++;
    });
    const order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    order.sort((a, b) => bt[a]! - bt[b]! || a - b);
    const seen = new Set<string>();
    const fresh = new Fleet(fleet.nodes, { capacity: fleet.nodes.length });
    incidents = 0;
    fresh.onIncident = (incident) => {
      incidents++;
      // An incident the in-order part already reported is not reported twice.
      if (!seen.has(`${incident.node}:${incident.tMs}`)) o.onIncident?.(incident);
    };
    for (const r of reported) seen.add(r);
    for (let k = 0; k < count; k++) {
      const i = order[k]!;
      fresh.reading(bn[i]!, bt[i]!, bv[i]!);
      if (alertKeys.has(`${bn[i]}:${bt[i]}`)) fresh.alert(bn[i]!, bt[i]!);
    }
  }
  return { rows, nodes: fleet.nodes.length, alerts, incidents, buffered };
}

/** Calls `f(text, index)` for each line of a file (index 0 = the first line), streaming it. */
async function lines(path: string, f: (text: string, index: number) => void): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let carry = '';
  let index = 0;
  const one = (raw: string) => {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text !== '' || index === 0) f(text, index);
    index++;
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let start = 0;
      let nl = chunk.indexOf('\n');
      if (nl < 0) {
        carry += chunk;
        continue;
      }
      one(carry + chunk.slice(0, nl));
      carry = '';
      start = nl + 1;
      while ((nl = chunk.indexOf('\n', start)) >= 0) {
        one(chunk.slice(start, nl));
        start = nl + 1;
      }
      carry = chunk.slice(start);
    }
    if (carry !== '') one(carry);
    if (index === 0) f('', 0);
  } finally {
    stream.destroy();
  }
}


export function detectCommand(argv: string[]): Promise<number> {
  return runVerb('pipewatch detect', DETECT_USAGE, argv, () => detect(argv));
}

async function detect(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { trace: { type: 'string' }, plant: { type: 'string' }, json: { type: 'boolean' } }, 'pipewatch detect');
  const trace = values.trace as string | undefined;
  if (!trace) throw new UsageError('--trace FILE.csv is required (see pipewatch detect --help)');
  const plant = values.plant === undefined ? undefined : readPlantFile(values.plant as string);
  const json = values.json === true;
  let out = '';
  const write = (s: string) => {
    out += s;
    if (out.length > 1 << 16) {
      process.stdout.write(out);
      out = '';
    }
  };
  const onAlert = (line: string, node: string, tMs: number) =>
    write(json ? `{"line":${JSON.stringify(line)},"node":${JSON.stringify(node)},"t_ms":${tMs}}\n` : `alert     line ${line} node ${node} t_ms ${tMs}\n`);
  const onIncident = (i: Incident) =>
    write(json
      ? `{"kind":"incident","line":${JSON.stringify(i.line)},"node":${JSON.stringify(i.node)},"t_ms":${i.tMs},"pos_m":${i.posM}}\n`
      : `incident  line ${i.line} node ${i.node} t_ms ${i.tMs} pos_m ${i.posM} (${i.rule}, +${i.relativeMilliCelsius / 1000} °C over its neighbours)\n`);
  try {
    const r = await replay(trace, { plant, onAlert, onIncident });
    if (!json) write(`${r.rows} rows, ${r.nodes} nodes: ${r.alerts} node alerts, ${r.incidents} incidents\n`);
    return 0;
  } catch (error) {
    // A bad row is bad input (exit 2); a file that cannot be read is a failed operation (exit 1).
    if (error instanceof TraceError) throw new UsageError(error.message);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new Failure(`cannot read --trace ${trace}: ${oneLine(error)}`);
    throw error;
  } finally {
    process.stdout.write(out);
  }
}
