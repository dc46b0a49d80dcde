/*
 * A staged rollout of one signed update to a fleet, as a state machine: which node to offer the
 * update next, when a wave has settled, when the rollout stops itself and why. Portable (no Node
 * APIs, no clock of its own: every input carries `now`, in ms of any monotonic clock), so the
 * same code runs in `pipewatch ota rollout` (tools/ota-rollout.ts), in the station, and on XS.
 *
 * Targets are cut into waves by cumulative percentages (`1%,10%,50%,100%`: the first wave is
 * ceil(1 % of N) nodes, the second brings the total to ceil(10 % of N), ...; every wave takes at
 * least one new node while there are any). A node goes through
 *
 *   pending ── offered ── downloading ──┬── confirmed            (settled, success)
 *      │          │            │         ├── rolledBack           (settled, failure)
 *      │          │            │         ├── failed(reason)       (settled, failure; a refusal too)
 *      │          │            │         └── timedOut             (settled, failure: silent too long)
 *      └──────────┴────────────┴── offlineRetry  (not reachable in its wave: offered again when it is back)
 *
 * - A wave starts with the nodes known to be online; the others go to `offlineRetry`. At most
 *   `maxConcurrent` nodes are `offered` or `downloading` before their image is verified (then the
 *   download is over and its slot is free), so the image server is not overloaded.
 * - A node that goes offline before its image is verified goes to `offlineRetry` (its download
 *   resumes when it is back). After `verified` a node reboots into its trial image, which also
 *   makes the broker publish its will: that is not an outage, the outcome is waited for.
 * - `offlineRetry` nodes do not hold their wave: a wave has settled when each of its nodes is
 *   settled or offline (and none is back and waiting for a download slot). But a wave of which
 *   no node settled (all offline) gave no evidence: the next wave waits until one does. When an
 *   offline node comes back (and the rollout has not stopped) it is offered the update, ahead
 *   of the next wave's nodes.
 * - `timedOut`: an offered node that is online (or whose download is over: it reboots into the
 *   trial image) but has reported nothing for `nodeTimeoutMs`.
 * - Stop rule: when a wave has settled and more than `abortAbovePct` % of its settled nodes failed
 *   (rolledBack, failed, timedOut), or as soon as at least `minNodes` nodes of the whole rollout
 *   have settled and more than `abortAbovePct` % of them failed, nothing more is offered; the
 *   nodes already under way are followed until they settle. `stopReason` says which rule and the
 *   counts.
 * - The rollout is over when nothing is under way and it stopped, or every wave has settled and
 *   no node is offline any more, or `offlineWaitMs` has passed since the last wave settled (or
 *   since an all-offline wave began to hold the next one). `--resume` goes on from there.
 *
 * The node's reports are the OTA agent's status events (docs/ota.md): `refused` with `busy` or
 * `onTrial` is not an outcome (the node is busy with an update, maybe this one), `sameVersion`
 * means it already runs this version (`confirmed`, reason `alreadyRunning`), any other refusal
 * is `failed` with its reason; `failed` with `healthCheckTimeout` is followed by the rollback it
 * announces. Events about another version are ignored.
 *
 * State is plain data: `toJSON()` / `Rollout.fromJSON()` (format "pipewatch-rollout/1"), so a
 * stopped tool resumes without offering the update again to a node that already settled.
 */

export type NodeState = 'pending' | 'offered' | 'downloading' | 'confirmed' | 'rolledBack' | 'failed' | 'timedOut' | 'offlineRetry';

export const NODE_STATES: readonly NodeState[] = Object.freeze(['pending', 'offered', 'downloading', 'confirmed', 'rolledBack', 'failed', 'timedOut', 'offlineRetry'] as NodeState[]);

const SETTLED: Readonly<Record<NodeState, boolean>> = Object.freeze({
  pending: false, offered: false, downloading: false, confirmed: true, rolledBack: true, failed: true, timedOut: true, offlineRetry: false,
});
const FAILED: Readonly<Record<NodeState, boolean>> = Object.freeze({
  pending: false, offered: false, downloading: false, confirmed: false, rolledBack: true, failed: true, timedOut: true, offlineRetry: false,
});

export const ROLLOUT_FORMAT = 'pipewatch-rollout/1';

export interface RolloutConfig {
  /** The version offered (MAJOR.MINOR.PATCH), as the nodes' events name it. */
  version: string;
  /** Cumulative percentages of the targets, strictly increasing, each 0 < p <= 100. */
  waves: number[];
  /** Stop when more than this share (percent) of settled nodes failed. */
  abortAbovePct: number;
  /** The whole-rollout rule applies once this many nodes have settled. */
  minNodes: number;
  /** Most nodes downloading at once. */
  maxConcurrent: number;
  /** An offered node that is online and silent this long has timed out. */
  nodeTimeoutMs: number;
  /** How long offline nodes are waited for after the last wave settled. */
  offlineWaitMs: number;
}

export interface NodeRecord {
  id: string;
  /** Index of the node's wave (0-based). */
  wave: number;
  state: NodeState;
  reason?: string;
  /** Offers sent to this node (an offline node is offered again when it is back). */
  offers: number;
  /** When the last offer went out, and when the node last reported (ms, the caller's clock). */
  offeredAtMs?: number;
  lastEventMs?: number;
  /** 0 nothing yet, 1 downloading, 2 verified or rebooting (download over), 3 booted on trial. */
  stage: number;
  /** The version the node last said it runs. */
  running?: string;
}

export interface WaveRecord {
  /** Cumulative percentage and node count at the end of this wave. */
  pct: number;
  end: number;
  startedAtMs?: number;
  settledAtMs?: number;
}

export type Counts = Record<NodeState, number>;

export interface StatusEvent {
  event: string;
  version?: string;
  reason?: string;
  running?: string;
  trial?: boolean;
  bytes?: number;
  total?: number;
}

/** What a status event did: nothing (ignored), a change, or a node settled. */
export type EventResult = 'ignored' | 'changed' | 'settled';

function emptyCounts(): Counts {
  return { pending: 0, offered: 0, downloading: 0, confirmed: 0, rolledBack: 0, failed: 0, timedOut: 0, offlineRetry: 0 };
}

function pct(n: number, of: number): string {
  return `${((100 * n) / of).toFixed(1)} %`;
}

/** Parses `1%,10%,50%,100%` (the % is optional): strictly increasing, each in (0, 100]. */
export function parseWaves(text: string): number[] | string {
  const parts = text.split(',').map((p) => p.trim());
  const out: number[] = [];
  for (const p of parts) {
    const m = /^(\d+(?:\.\d+)?)%?$/.exec(p);
    const v = m ? Number(m[1]) : NaN;
    if (!(v > 0 && v <= 100)) return `each wave is a percentage in (0, 100], like 1%,10%,50%,100%; got "${p}"`;
    if (out.length && v <= out[out.length - 1]!) return `waves are cumulative and strictly increasing, like 1%,10%,50%,100%; got ${text}`;
    out.push(v);
  }
  return out;
}

/** Parses a percentage `5%` or `5` or `0.5%` in [0, 100]. */
export function parsePercent(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim());
  const v = m ? Number(m[1]) : NaN;
  return v >= 0 && v <= 100 ? v : undefined;
}

/** Cumulative node counts per wave for `n` targets. */
export function waveEnds(waves: readonly number[], n: number): number[] {
  const ends: number[] = [];
  let prev = 0;
  for (const p of waves) {
    let end = Math.min(n, Math.ceil((p * n) / 100 - 1e-9));
    if (end <= prev && prev < n) end = prev + 1;
    ends.push(end);
    prev = end;
  }
  return ends;
}

export class Rollout {
  readonly config: RolloutConfig;
  readonly nodes: NodeRecord[];
  readonly waves: WaveRecord[];
  /** The wave being offered (index), or -1 before the first. */
  wave = -1;
  stopped = false;
  stopReason: string | undefined;
  /** When the last wave settled (the offline wait starts then). */
  lastWaveSettledMs: number | undefined;
  /** Since when the current wave, all of it offline, holds the next one (the offline wait runs then too). */
  waitingSinceMs: number | undefined;
  /** Counts every change of the state (a caller saves when it moved). */
  changes = 0;
  readonly #byId = new Map<string, NodeRecord>();
  readonly #online = new Set<string>();

  constructor(config: RolloutConfig, targets: readonly string[]) {
    const bad = Rollout.checkConfig(config);
    if (bad) throw new Error(bad);
    this.config = { ...config, waves: [...config.waves] };
    const ends = waveEnds(config.waves, targets.length);
    this.waves = config.waves.map((p, i) => ({ pct: p, end: ends[i]! }));
    this.nodes = [];
    let w = 0;
    for (let i = 0; i < targets.length; i++) {
      while (w < ends.length - 1 && i >= ends[w]!) w++;
      const id = targets[i]!;
      if (this.#byId.has(id)) throw new Error(`target ${id} is listed twice`);
      // Nodes past the last wave's share are not part of this rollout.
      if (i >= ends[ends.length - 1]!) break;
      const record: NodeRecord = { id, wave: w, state: 'pending', offers: 0, stage: 0 };
      this.nodes.push(record);
      this.#byId.set(id, record);
    }
  }

  static checkConfig(c: RolloutConfig): string | undefined {
    if (typeof c.version !== 'string' || !/^\d+\.\d+\.\d+$/.test(c.version)) return 'version must be MAJOR.MINOR.PATCH';
    if (!Array.isArray(c.waves) || c.waves.length === 0) return 'at least one wave';
    for (let i = 0; i < c.waves.length; i++) {
      const v = c.waves[i]!;
      if (!(v > 0 && v <= 100) || (i > 0 && v <= c.waves[i - 1]!)) return 'waves must be strictly increasing percentages in (0, 100]';
    }
    if (!(c.abortAbovePct >= 0 && c.abortAbovePct <= 100)) return 'abortAbovePct must be in [0, 100]';
    if (!(Number.isInteger(c.minNodes) && c.minNodes >= 1)) return 'minNodes must be a whole number >= 1';
    if (!(Number.isInteger(c.maxConcurrent) && c.maxConcurrent >= 1)) return 'maxConcurrent must be a whole number >= 1';
    if (!(c.nodeTimeoutMs > 0) || !(c.offlineWaitMs >= 0)) return 'nodeTimeoutMs must be > 0 and offlineWaitMs >= 0';
    return undefined;
  }

  node(id: string): NodeRecord | undefined {
    return this.#byId.get(id);
  }

  isOnline(id: string): boolean {
    return this.#online.has(id);
  }

  /** The node's status topic says `online`. */
  setOnline(id: string, now: number): void {
    void now;
    if (this.#byId.has(id)) this.#online.add(id);
  }

  /**
   * The node's status topic says `offline` (it stopped, or the broker published its will).
   * Returns true when that moved the node to `offlineRetry`.
   */
  setOffline(id: string, now: number): boolean {
    void now;
    const n = this.#byId.get(id);
    if (!n) return false;
    this.#online.delete(id);
    // Under way and the download not over yet: its slot is freed, it is offered again when back.
    if ((n.state === 'offered' || n.state === 'downloading') && n.stage < 2) {
      n.state = 'offlineRetry';
      this.changes++;
      return true;
    }
    return false;
  }

  /** A status event from the node (the OTA agent's JSON, docs/ota.md). */
  event(id: string, e: StatusEvent, now: number): EventResult {
    const n = this.#byId.get(id);
    if (!n || typeof e.event !== 'string') return 'ignored';
    if (typeof e.running === 'string') n.running = e.running;
    const ours = e.version === undefined || e.version === this.config.version;
    if (SETTLED[n.state]) return 'ignored';
    // Never offered: nothing of ours to report on.
    if (n.offers === 0) return 'ignored';
    if (e.event === 'booted') {
      // A node that boots again is seen to be online; on trial with our version, the health check runs.
      if (e.trial === true && e.running === this.config.version) return this.#advance(n, 3, now);
      return 'ignored';
    }
    if (!ours) return 'ignored';
    switch (e.event) {
      case 'progress':
      case 'interrupted':
        return this.#advance(n, 1, now);
      case 'verified':
      case 'rebooting':
        return this.#advance(n, 2, now);
      case 'confirmed':
        return this.#settle(n, 'confirmed', undefined, now);
      case 'rolledBack':
        return this.#settle(n, 'rolledBack', undefined, now);
      case 'failed':
        // The rollback it announces is the outcome (and comes next).
        if (e.reason === 'healthCheckTimeout') return this.#advance(n, 3, now);
        return this.#settle(n, 'failed', e.reason ?? 'unknown', now);
      case 'refused':
        if (e.reason === 'busy' || e.reason === 'onTrial') {
          n.lastEventMs = now;
          return 'changed';
        }
        if (e.reason === 'sameVersion') return this.#settle(n, 'confirmed', 'alreadyRunning', now);
        return this.#settle(n, 'failed', e.reason ?? 'refused', now);
      default:
        return 'ignored';
    }
  }

  #advance(n: NodeRecord, stage: number, now: number): EventResult {
    this.changes++;
    n.lastEventMs = now;
    if (stage > n.stage) n.stage = stage;
    if (n.state === 'offered' || n.state === 'offlineRetry') n.state = 'downloading';
    return 'changed';
  }

  #settle(n: NodeRecord, state: NodeState, reason: string | undefined, now: number): EventResult {
    this.changes++;
    n.state = state;
    n.lastEventMs = now;
    if (reason !== undefined) n.reason = reason;
    else delete n.reason;
    // The wave rule first when this was the last node of the current wave (the more telling reason).
    if (n.wave === this.wave && this.#waveSettled(n.wave) && this.#hasEvidence(n.wave) && this.waves[n.wave]!.settledAtMs === undefined) {
      this.waves[n.wave]!.settledAtMs = now;
      this.#checkWave(n.wave);
    }
    this.#checkOverall();
    return 'settled';
  }

  /** Nodes currently holding a download slot. */
  get downloading(): number {
    let k = 0;
    for (const n of this.nodes) if ((n.state === 'offered' || n.state === 'downloading') && n.stage < 2) k++;
    return k;
  }

  /**
   * Advances time: times out silent nodes, settles and starts waves, and returns the nodes to
   * offer the update to now (they are `offered` from here on; the caller sends the offers).
   */
  step(now: number): string[] {
    for (const n of this.nodes) {
      // Silent while online, or after its download (a trial image that never comes back).
      if ((n.state === 'offered' || n.state === 'downloading') && (this.#online.has(n.id) || n.stage >= 2)) {
        const since = Math.max(n.lastEventMs ?? -Infinity, n.offeredAtMs ?? -Infinity);
        if (now - since >= this.config.nodeTimeoutMs) this.#settle(n, 'timedOut', undefined, now);
      }
    }
    if (this.wave < 0 && this.waves.length) this.#startWave(0, now);
    while (this.wave >= 0 && this.wave < this.waves.length) {
      // The wave's nodes that are not online are not offered: they are retried when back.
      if (!this.stopped) for (const n of this.nodes) if (n.state === 'pending' && n.wave <= this.wave && !this.#online.has(n.id)) {
        n.state = 'offlineRetry';
        this.changes++;
      }
      if (this.stopped || !this.#waveSettled(this.wave)) break;
      // A wave whose nodes were all offline gave no evidence: the next waits for them.
      if (!this.#hasEvidence(this.wave)) {
        if (this.waitingSinceMs === undefined) {
          this.waitingSinceMs = now;
          this.changes++;
        }
        break;
      }
      this.waitingSinceMs = undefined;
      const w = this.waves[this.wave]!;
      if (w.settledAtMs === undefined) {
        this.changes++;
        w.settledAtMs = now;
        this.#checkWave(this.wave);
        this.#checkOverall();
      }
      if (this.stopped) break;
      if (this.wave + 1 < this.waves.length) this.#startWave(this.wave + 1, now);
      else {
        this.lastWaveSettledMs ??= now;
        break;
      }
    }
    const offers: string[] = [];
    if (this.stopped) return offers;
    let free = this.config.maxConcurrent - this.downloading;
    // Offline nodes that are back first (of waves already started), then the current wave's.
    for (const n of this.nodes) {
      if (free <= 0) break;
      if (n.state === 'offlineRetry' && n.wave <= this.wave && this.#online.has(n.id)) {
        this.#offer(n, now);
        offers.push(n.id);
        free--;
      }
    }
    for (const n of this.nodes) {
      if (free <= 0) break;
      if (n.state === 'pending' && n.wave <= this.wave) {
        this.#offer(n, now);
        offers.push(n.id);
        free--;
      }
    }
    return offers;
  }

  #offer(n: NodeRecord, now: number): void {
    this.changes++;
    n.state = 'offered';
    n.offers++;
    n.offeredAtMs = now;
  }

  #startWave(i: number, now: number): void {
    this.changes++;
    this.wave = i;
    this.waves[i]!.startedAtMs ??= now;
  }

  #waveSettled(i: number): boolean {
    for (const n of this.nodes) {
      if (n.wave !== i) continue;
      if (!SETTLED[n.state] && n.state !== 'offlineRetry') return false;
      // An offline node that is back and waits for a download slot holds the wave too.
      if (n.state === 'offlineRetry' && this.#online.has(n.id)) return false;
    }
    return true;
  }

  #hasEvidence(i: number): boolean {
    let size = 0;
    for (const n of this.nodes) {
      if (n.wave !== i) continue;
      size++;
      if (SETTLED[n.state]) return true;
    }
    return size === 0;
  }

  #checkWave(i: number): void {
    if (this.stopped) return;
    const c = this.counts(i);
    const settled = c.confirmed + c.rolledBack + c.failed + c.timedOut;
    const failed = settled - c.confirmed;
    if (settled > 0 && (100 * failed) / settled > this.config.abortAbovePct) {
      this.stopped = true;
      this.stopReason =
        `wave ${i + 1} (${this.waves[i]!.pct} %): ${failed} of its ${settled} settled nodes failed (${pct(failed, settled)} > ${this.config.abortAbovePct} %): ` +
        failureText(this.nodes.filter((n) => n.wave === i));
    }
  }

  #checkOverall(): void {
    if (this.stopped) return;
    const c = this.counts();
    const settled = c.confirmed + c.rolledBack + c.failed + c.timedOut;
    const failed = settled - c.confirmed;
    if (settled >= this.config.minNodes && (100 * failed) / settled > this.config.abortAbovePct) {
      this.stopped = true;
      this.stopReason =
        `the rollout so far: ${failed} of ${settled} settled nodes failed (${pct(failed, settled)} > ${this.config.abortAbovePct} %, with at least --min-nodes ${this.config.minNodes} settled): ` +
        failureText(this.nodes);
    }
  }

  /** Counts by state, of one wave or of all. */
  counts(wave?: number): Counts {
    const c = emptyCounts();
    for (const n of this.nodes) if (wave === undefined || n.wave === wave) c[n.state]++;
    return c;
  }

  /** Failures by reason (`rolledBack`, `timedOut`, or the node's reason). */
  failures(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const n of this.nodes) {
      if (!FAILED[n.state]) continue;
      const key = n.state === 'failed' ? n.reason ?? 'unknown' : n.state;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  /** Nothing under way, and no wave left to offer (or stopped), and offline nodes given up on or back. */
  done(now: number): boolean {
    for (const n of this.nodes) if (n.state === 'offered' || n.state === 'downloading') return false;
    if (this.stopped) return true;
    if (this.waitingSinceMs !== undefined && now - this.waitingSinceMs >= this.config.offlineWaitMs) return true;
    if (this.wave < this.waves.length - 1 || this.lastWaveSettledMs === undefined) return false;
    let offline = 0;
    for (const n of this.nodes) if (n.state === 'offlineRetry' || n.state === 'pending') offline++;
    return offline === 0 || now - this.lastWaveSettledMs >= this.config.offlineWaitMs;
  }

  /** One line for a wave: its counts by state. */
  waveLine(i: number): string {
    const w = this.waves[i]!;
    const c = this.counts(i);
    const size = this.nodes.filter((n) => n.wave === i).length;
    const parts = NODE_STATES.filter((s) => c[s] > 0).map((s) => `${s} ${c[s]}`);
    const settled = w.settledAtMs !== undefined ? 'settled'
      : i === this.wave && this.waitingSinceMs !== undefined ? 'every node offline: the next wave waits for them'
      : w.startedAtMs !== undefined ? (this.stopped ? 'stopped' : 'under way') : 'not started';
    return `wave ${i + 1}/${this.waves.length} (${w.pct} %, ${size} node${size === 1 ? '' : 's'}): ${parts.join(', ') || 'empty'}; ${settled}`;
  }

  /** The rollout's outcome, as the JSON summary gives it. */
  summary(): RolloutSummary {
    const c = this.counts();
    const settled = c.confirmed + c.rolledBack + c.failed + c.timedOut;
    const complete = !this.stopped && this.lastWaveSettledMs !== undefined && c.offlineRetry === 0 && c.pending === 0 && c.offered === 0 && c.downloading === 0;
    return {
      version: this.config.version,
      targets: this.nodes.length,
      waves: this.waves.map((w, i) => ({ pct: w.pct, nodes: this.nodes.filter((n) => n.wave === i).length, settled: w.settledAtMs !== undefined, counts: this.counts(i) })),
      counts: c,
      settled,
      failureRate: settled > 0 ? (settled - c.confirmed) / settled : null,
      failures: this.failures(),
      stopped: this.stopped,
      stopReason: this.stopReason ?? null,
      complete,
      unreached: this.nodes.filter((n) => n.state === 'offlineRetry' || n.state === 'pending').map((n) => n.id),
    };
  }

  toJSON(): RolloutJson {
    return {
      format: ROLLOUT_FORMAT,
      config: { ...this.config, waves: [...this.config.waves] },
      wave: this.wave,
      waves: this.waves.map((w) => ({ ...w })),
      stopped: this.stopped,
      stopReason: this.stopReason ?? null,
      lastWaveSettledMs: this.lastWaveSettledMs ?? null,
      waitingSinceMs: this.waitingSinceMs ?? null,
      nodes: this.nodes.map((n) => ({ ...n })),
    };
  }

  /**
   * A rollout from its saved state; throws with a readable message on anything malformed.
   * `now` restarts the clocks of nodes under way and of the offline wait (the caller's clock
   * may not be the one the state was saved with): each gets its full time again.
   */
  static fromJSON(json: unknown, now: number): Rollout {
    const j = json as RolloutJson;
    if (!j || typeof j !== 'object' || j.format !== ROLLOUT_FORMAT) throw new Error(`not a rollout state (format ${ROLLOUT_FORMAT})`);
    const bad = Rollout.checkConfig(j.config);
    if (bad) throw new Error(`rollout state: ${bad}`);
    if (!Array.isArray(j.nodes) || !Array.isArray(j.waves) || j.waves.length !== j.config.waves.length) throw new Error('rollout state: nodes or waves missing');
    const r = new Rollout(j.config, []);
    r.waves.length = 0;
    for (const w of j.waves) {
      if (!(typeof w.pct === 'number' && Number.isInteger(w.end) && w.end >= 0)) throw new Error('rollout state: a bad wave');
      const rec: WaveRecord = { pct: w.pct, end: w.end };
      if (typeof w.startedAtMs === 'number') rec.startedAtMs = now;
      if (typeof w.settledAtMs === 'number') rec.settledAtMs = now;
      r.waves.push(rec);
    }
    if (!(Number.isInteger(j.wave) && j.wave >= -1 && j.wave < r.waves.length)) throw new Error('rollout state: a bad current wave');
    r.wave = j.wave;
    r.stopped = j.stopped === true;
    r.stopReason = typeof j.stopReason === 'string' ? j.stopReason : undefined;
    if (typeof j.lastWaveSettledMs === 'number') r.lastWaveSettledMs = now;
    if (typeof j.waitingSinceMs === 'number') r.waitingSinceMs = now;
    for (const n of j.nodes) {
      if (!n || typeof n.id !== 'string' || !NODE_STATES.includes(n.state) || !(Number.isInteger(n.wave) && n.wave >= 0 && n.wave < r.waves.length)) {
        throw new Error(`rollout state: a bad node record ${JSON.stringify(n)}`);
      }
      if (r.#byId.has(n.id)) throw new Error(`rollout state: node ${n.id} twice`);
      const rec: NodeRecord = { id: n.id, wave: n.wave, state: n.state, offers: Number.isInteger(n.offers) ? n.offers : 0, stage: Number.isInteger(n.stage) ? n.stage : 0 };
      if (typeof n.reason === 'string') rec.reason = n.reason;
      if (typeof n.running === 'string') rec.running = n.running;
      // Under way: its silence is counted from now.
      if (rec.state === 'offered' || rec.state === 'downloading') rec.offeredAtMs = now;
      r.nodes.push(rec);
      r.#byId.set(rec.id, rec);
    }
    return r;
  }
}

function failureText(nodes: readonly NodeRecord[]): string {
  const by: Record<string, number> = {};
  for (const n of nodes) {
    if (!FAILED[n.state]) continue;
    const key = n.state === 'failed' ? `failed (${n.reason ?? 'unknown'})` : n.state;
    by[key] = (by[key] ?? 0) + 1;
  }
  return Object.keys(by).sort().map((k) => `${k} ${by[k]}`).join(', ');
}

export interface RolloutSummary {
  version: string;
  targets: number;
  waves: Array<{ pct: number; nodes: number; settled: boolean; counts: Counts }>;
  counts: Counts;
  settled: number;
  /** Failed (rolledBack, failed, timedOut) over settled; null before any settled. */
  failureRate: number | null;
  failures: Record<string, number>;
  stopped: boolean;
  stopReason: string | null;
  /** Every target confirmed or settled, nothing offline, not stopped. */
  complete: boolean;
  /** Nodes not reached: offline in their wave (and not back), or their wave never started. */
  unreached: string[];
}

export interface RolloutJson {
  format: string;
  config: RolloutConfig;
  wave: number;
  waves: WaveRecord[];
  stopped: boolean;
  stopReason: string | null;
  lastWaveSettledMs: number | null;
  waitingSinceMs?: number | null;
  nodes: NodeRecord[];
}
