/*
 * Leak incidents at the station: the fleet incident engine (tools/fleet/incidents.ts, the one
 * `pipewatch incidents` and the simulator run; docs/leaks.md) fed from the station's committed
 * readings, its incidents stored (table `incidents`) and announced to the pages.
 *
 * - Fed from the database, not the wire: after a message's rows are committed, `pull(dev)` reads
 *   the device's channel 0 temperatures after the last seq it fed (store.temperaturesAfter), so a
 *   resend (already dropped by the (dev, seq) key) is never fed twice and nothing fed was lost.
 * - Time: a reading's own `ts` when its clock was synced, else the station's receive time (a
 *   boot-relative time cannot be compared across nodes). A reading older than the newest the
 *   engine has from that node (a backlog drained after an outage) is skipped and counted `late`.
 * - On start, the readings received in the last `replayMs` are fed again merged in time order
 *   (each node's baseline and the neighbours' state rebuilt); an incident raised again has the
 *   same id ("<t_ms>-<node>") and is stored once.
 * - Only the plant file's nodes take part (the engine needs each node's line and position).
 */
import { Fleet, type FleetNode, type Incident } from '../fleet/incidents';
import type { ReadingRow, StationStore } from './store';
import type { IncidentRow } from './store-web';
import type { Plant } from './plant';

/** Rows read per device per pull (a longer backlog is read in several). */
export const PULL_LIMIT = 2000;

export interface StationIncidentsOptions {
  store: StationStore;
  plant: Plant;
  now?: () => number;
  /** Called once per newly stored incident. */
  onIncident?: (row: IncidentRow) => void;
  onError?: (message: string) => void;
}

export function incidentId(i: Pick<Incident, 'tMs' | 'node'>): string {
  return `${i.tMs}-${i.node}`;
}

export class StationIncidents {
  readonly fleet: Fleet;
  readonly counts = { fed: 0, late: 0 };
  readonly #o: StationIncidentsOptions;
  readonly #cursor = new Map<string, number>();
  readonly #lastT: Float64Array;
  readonly #dirty = new Set<string>();
  #raised: Incident[] = [];
  #running: Promise<void> | undefined;

  constructor(o: StationIncidentsOptions) {
    this.#o = o;
    const nodes: FleetNode[] = [];
    for (const line of o.plant.lines) for (const n of line.nodes) nodes.push({ id: n.dev, line: line.name, posM: n.position });
    this.fleet = new Fleet(nodes);
    this.#lastT = new Float64Array(nodes.length).fill(-Infinity);
    this.fleet.onIncident = (i) => this.#raised.push(i);
  }

  /** Feeds the readings received since `sinceMs` again, merged in time order, then follows live. */
  async replay(sinceMs: number): Promise<void> {
    const rows: Array<{ node: number; dev: string; row: ReadingRow }> = [];
    for (const { id: dev } of this.fleet.nodes) {
      const after = await this.#o.store.lastSeqBefore(dev, sinceMs);
      this.#cursor.set(dev, after);
      const got = await this.#o.store.temperaturesAfter(dev, after, PULL_LIMIT);
      for (const row of got) rows.push({ node: this.fleet.indexOf(dev), dev, row });
      if (got.length) this.#cursor.set(dev, got[got.length - 1]!.seq);
      if (got.length === PULL_LIMIT) this.#dirty.add(dev);
    }
    rows.sort((a, b) => timeOf(a.row) - timeOf(b.row));
    for (const { node, row } of rows) this.#feed(node, row);
    await this.#storeRaised();
    if (this.#dirty.size) await this.#drain();
  }

  /** A device's new rows are committed: feed them (serialised; returns when they are fed). */
  pull(dev: string): Promise<void> {
    if (this.fleet.indexOf(dev) < 0) return Promise.resolve();
    this.#dirty.add(dev);
    return this.#drain();
  }

  /** Resolves once what was pulled is fed and its incidents stored. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  #drain(): Promise<void> {
    this.#running ??= (async () => {
      try {
        while (this.#dirty.size) {
          const [dev] = this.#dirty;
          this.#dirty.delete(dev!);
          const node = this.fleet.indexOf(dev!);
          const got = await this.#o.store.temperaturesAfter(dev!, this.#cursor.get(dev!) ?? -1, PULL_LIMIT);
          for (const row of got) this.#feed(node, row);
          if (got.length) this.#cursor.set(dev!, got[got.length - 1]!.seq);
          if (got.length === PULL_LIMIT) this.#dirty.add(dev!);
          await this.#storeRaised();
        }
      } catch (error) {
        this.#o.onError?.(`incidents: ${(error as Error).message}`);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  #feed(node: number, row: ReadingRow): void {
    const t = timeOf(row);
    if (t <= this.#lastT[node]!) {
      this.counts.late++;
      return;
    }
    this.#lastT[node] = t;
    this.counts.fed++;
    this.fleet.reading(node, t, row.value);
    if (row.alert) this.fleet.alert(node, t);
  }

  async #storeRaised(): Promise<void> {
    const raised = this.#raised;
    this.#raised = [];
    const now = (this.#o.now ?? Date.now)();
    for (const i of raised) {
      const row: IncidentRow = {
        id: incidentId(i),
        line: i.line,
        node: i.node,
        t_ms: i.tMs,
        pos_m: i.posM,
        rule: i.rule,
        relative_mc: i.relativeMilliCelsius,
        raised_ms: now,
        acked_ms: null,
        acked_by: null,
      };
      if (await this.#o.store.storeIncident(row)) this.#o.onIncident?.(row);
    }
  }
}

function timeOf(r: ReadingRow): number {
  return r.sync ? r.ts : r.received_ms;
}
