/*
 * Runs one built mc.so in Moddable's simulator (mcsim, headless under xvfb-run) against an MQTT
 * broker and reads what the firmware prints and what reaches the broker. Used by
 * `npm run sim:moddable` (tools/moddable.ts) and by the board budget lane (tools/budget.ts).
 *
 * What it reads on the simulator's stdout:
 *   pipewatch-stats {...}     the node's stats (hosts/moddable-sim/main.ts, every statsMs)
 *   pipewatch-memory {...}    live slots and chunk after a full collection (manifests/budget)
 *   instruments: a,b,...      XS instrumentation of an instrumented (-i) build, once a second
 *   XS abort: ..., pipewatch-abort ...   the engine or the firmware stopped
 * At the broker it decodes every message on pipewatch/<id>/# with the project's strict decoder
 * (firmware/uplink/decode.ts): single readings, JSON batches and binary batches all count.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { decodeMessage } from '../firmware/uplink/decode';

export interface NodeStats {
  samples?: number;
  stored?: number;
  pending?: number;
  connected?: boolean;
  [key: string]: unknown;
}

/** Peaks of one run. Slots and stack in slots, chunk in bytes; undefined when the build printed none. */
export interface MemoryPeaks {
  /** Most live slots after a full collection (pipewatch-memory). */
  slots?: number;
  /** Most live chunk bytes after a full, compacting collection (pipewatch-memory). */
  chunk?: number;
  /** Deepest JavaScript stack in any one-second interval (instrumentation "Stack used"), in slots. */
  stack?: number;
  /** Most garbage collections in one second, the one pipewatch-memory forces not counted. */
  collectionsPerSecond?: number;
  /** sizeof(txSlot) of the simulator build (32 on a 64-bit desktop, 16 on an ESP32). */
  slotBytes?: number;
  samples: number;
}

/** Counts what reached the broker for one device: readings by distinct seq, and messages by shape. */
export class DeliveryCounter {
  readonly seqs = new Set<number>();
  readings = 0;
  readonly shapes = { single: 0, batch: 0, binary: 0, alert: 0 };
  malformed: string[] = [];

  constructor(readonly deviceId: string) {}

  /** Takes one message from `pipewatch/<deviceId>/#`; status and other topics are ignored. */
  take(topic: string, payload: Uint8Array): void {
    if (!/\/(readings|alerts)(\/bin)?$/.test(topic)) return;
    const result = decodeMessage(topic, payload);
    if (result.error !== undefined) {
      this.malformed.push(`${topic}: ${result.error}: ${Buffer.from(payload).toString('latin1').slice(0, 80)}`);
      return;
    }
    if (result.dev !== this.deviceId) return;
    this.shapes[result.shape]++;
    for (const r of result.readings) {
      this.readings++;
      this.seqs.add(r.seq);
    }
  }
}

/** Reads the simulator's stdout line by line. */
export class SimOutput {
  lastStats: NodeStats | undefined;
  aborts: string[] = [];
  readonly peaks: MemoryPeaks = { samples: 0 };
  unreadable: string[] = [];
  #instrumentKeys: string[] | undefined;

  line(line: string): 'stats' | 'memory' | 'instruments' | 'abort' | 'other' {
    if (line.startsWith('pipewatch-stats ')) {
      const stats = this.#json(line, 16);
      if (stats) this.lastStats = stats as NodeStats;
      return 'stats';
    }
    if (line.startsWith('pipewatch-memory ')) {
      const m = this.#json(line, 17) as { slots?: unknown; chunk?: unknown; slotBytes?: unknown } | undefined;
      if (m && typeof m.slots === 'number' && typeof m.chunk === 'number') {
        this.peaks.samples++;
        this.peaks.slots = Math.max(this.peaks.slots ?? 0, m.slots);
        this.peaks.chunk = Math.max(this.peaks.chunk ?? 0, m.chunk);
        if (typeof m.slotBytes === 'number') this.peaks.slotBytes = m.slotBytes;
      }
      return 'memory';
    }
    if (line.startsWith('instruments key: ')) {
      this.#instrumentKeys = line.slice(17).split(',');
      return 'instruments';
    }
    if (line.startsWith('instruments: ')) {
      const keys = this.#instrumentKeys;
      const values = line.slice(13).split(',').map(Number);
      if (keys && values.length === keys.length) {
        const slotBytes = this.peaks.slotBytes ?? 32;
        const stack = values[keys.indexOf('Stack used')];
        const collections = values[keys.indexOf('Garbage collections')];
        if (stack !== undefined && Number.isFinite(stack)) this.peaks.stack = Math.max(this.peaks.stack ?? 0, Math.ceil(stack / slotBytes));
        if (collections !== undefined && Number.isFinite(collections)) {
          this.peaks.collectionsPerSecond = Math.max(this.peaks.collectionsPerSecond ?? 0, Math.max(0, collections - 1));
        }
      }
      return 'instruments';
    }
    if (line.startsWith('pipewatch-abort') || /XS abort|memory full|stack overflow/i.test(line)) {
      this.aborts.push(line);
      return 'abort';
    }
    return 'other';
  }

  #json(line: string, from: number): Record<string, unknown> | undefined {
    try {
      return JSON.parse(line.slice(from)) as Record<string, unknown>;
    } catch {
      this.unreadable.push(line);
      return undefined;
    }
  }
}

export interface SimRun {
  ranMs: number;
  exitCode: number | null;
  output: SimOutput;
  delivery: DeliveryCounter;
}

/**
 * Pass/fail of a run: the firmware did not stop, mcsim ran for the whole duration, readings
 * arrived (counting every reading of a batch), nothing malformed was published, and the node
 * was connected to the broker at the end.
 */
export function verdict(run: SimRun, durationMs: number): string[] {
  const failures: string[] = [];
  if (run.output.aborts.length > 0) failures.push(`the firmware stopped in mcsim: ${run.output.aborts[0]}`);
  if (run.ranMs < durationMs - 500) failures.push(`mcsim exited after ${run.ranMs} ms (code ${run.exitCode}) before the ${durationMs} ms duration`);
  if (run.delivery.readings === 0) failures.push(`no readings from ${run.delivery.deviceId} reached the broker`);
  if (run.delivery.malformed.length > 0) failures.push(`${run.delivery.malformed.length} malformed message(s), first: ${run.delivery.malformed[0]}`);
  if (run.output.lastStats === undefined) failures.push('the node printed no stats');
  else if (run.output.lastStats.connected !== true) failures.push('the node was not connected to the broker at the end');
  return failures;
}

export function describeRun(run: SimRun): string {
  const s = run.output.lastStats;
  const d = run.delivery;
  return (
    `${(run.ranMs / 1000).toFixed(1)} s in mcsim, node ${d.deviceId}: ${d.readings} readings at the broker (${d.seqs.size} distinct seq; ` +
    `${d.shapes.single} single, ${d.shapes.batch} JSON batches, ${d.shapes.binary} binary batches, ${d.shapes.alert} alerts), ` +
    `samples ${s?.samples ?? '?'}, stored ${s?.stored ?? '?'}, pending ${s?.pending ?? '?'}, connected ${s?.connected ?? '?'}`
  );
}

export interface McsimOptions {
  mcsim: string;
  so: string;
  env: NodeJS.ProcessEnv;
  broker: { host: string; port: number };
  deviceId: string;
  durationMs: number;
  useXvfb: boolean;
  /** Each line the simulator prints that is not a stats, memory or instrumentation line. */
  log(line: string): void;
}

/** Runs mcsim for `durationMs` (then stops it, its process group by PID) and collects what it and the broker saw. */
export async function runMcsim(o: McsimOptions): Promise<SimRun> {
  const { connectAsync } = await import('mqtt');
  const subscriber = await connectAsync(`mqtt://${o.broker.host}:${o.broker.port}`, { clientId: `pipewatch-sim-check-${process.pid}-${o.deviceId}` });
  const delivery = new DeliveryCounter(o.deviceId);
  subscriber.on('message', (topic, payload) => delivery.take(topic, payload));
  await subscriber.subscribeAsync(`pipewatch/${o.deviceId}/#`, { qos: 1 });

  const args = o.useXvfb ? ['-a', 'stdbuf', '-oL', o.mcsim, o.so] : ['-oL', o.mcsim, o.so];
  const child: ChildProcess = spawn(o.useXvfb ? 'xvfb-run' : 'stdbuf', args, { env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new SimOutput();
  let pending = '';
  const onData = (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const kind = output.line(line);
      if ((kind === 'other' || kind === 'abort') && line.trim()) o.log(`mcsim: ${line}`);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const started = Date.now();
  const exitCode = await new Promise<number | null>((done) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
    }, o.durationMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done(code);
    });
  });
  const ranMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, 300));
  await subscriber.endAsync();
  for (const line of output.unreadable) o.log(`unreadable line: ${line}`);
  return { ranMs, exitCode, output, delivery };
}
