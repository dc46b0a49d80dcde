/*
 * The boards' XS memory budgets, proven in Moddable's simulator.
 *
 * For each board, the node (firmware, the mcsim host with the simulated devices and flash, as
 * manifests/sim) is built for `lin` with that board's exact `creation` from
 * manifests/esp32/boards/<board>.json (fixed chunk, slots, stack, keys, `incremental: 0`),
 * instrumented (`mcconfig -i`), around manifests/budget (which keeps the simulated flash cells
 * outside the XS heap and traces the live memory after a full collection every second). Each
 * board runs for the duration against the broker; the run fails on any abort, on no delivery,
 * on a node not connected at the end, and on a peak at or above 75 % of the board's budget.
 *
 *   node --import tsx tools/budget.ts --broker mqtt://127.0.0.1:1883 [--duration 5m] [--boards esp32/nodemcu,...]
 * (`npm run test:moddable` runs it against its own mosquitto.)
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { BOARDS, ROOT, findSdk, type Sdk } from './moddable';
import { describeRun, runMcsim, verdict, type MemoryPeaks } from './mcsim';

/** Bytes of one XS slot on the ESP32 (32-bit): 16; on a 64-bit desktop it is 32. */
export const ESP32_SLOT_BYTES = 16;
/** A peak at or above this fraction of a budget fails the lane (25 % headroom). */
export const HEADROOM_LIMIT = 0.75;

export interface Creation {
  static: number;
  chunk: { initial: number; incremental: number };
  heap: { initial: number; incremental: number };
  stack: number;
  keys: { initial: number; incremental: number };
}

export function boardCreation(board: string): Creation {
  const file = join(ROOT, 'manifests', 'esp32', 'boards', `${board.replace(/^esp32\//, '')}.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { creation: Creation }).creation;
}

/**
 * What is wrong with a board's `creation`: budgets must be fixed (incremental 0), and a
 * `static` block (one allocation the SDK carves chunk, slots and stack out of:
 * xs/platforms/mc/xsHosts.c) must hold all three at the ESP32's slot size.
 */
export function creationProblems(c: Creation): string[] {
  const problems: string[] = [];
  if (c.chunk.incremental !== 0) problems.push(`chunk.incremental is ${c.chunk.incremental}, not 0: the budget is not fixed`);
  if (c.heap.incremental !== 0) problems.push(`heap.incremental is ${c.heap.incremental}, not 0: the budget is not fixed`);
  if (c.keys.incremental !== 0) problems.push(`keys.incremental is ${c.keys.incremental}, not 0: the budget is not fixed`);
  const needed = c.chunk.initial + (c.heap.initial + c.stack) * ESP32_SLOT_BYTES;
  if (c.static !== 0 && c.static < needed) {
    problems.push(`static is ${c.static} bytes, smaller than chunk + slots + stack (${needed} bytes at ${ESP32_SLOT_BYTES} bytes a slot)`);
  }
  return problems;
}

export interface BoardPeaks {
  board: string;
  budget: { slots: number; chunk: number; stack: number };
  peaks: MemoryPeaks;
}

/** Fraction of the budget each peak uses; a missing peak counts as a failure (the probe did not run). */
export function headroomProblems(b: BoardPeaks): string[] {
  const problems: string[] = [];
  const check = (name: 'slots' | 'chunk' | 'stack', unit: string) => {
    const peak = b.peaks[name];
    const budget = b.budget[name];
    if (peak === undefined) problems.push(`${name}: no measurement`);
    else if (peak >= HEADROOM_LIMIT * budget) {
      problems.push(`${name}: peak ${peak} ${unit} is ${percent(peak, budget)} of the budget ${budget} (limit ${HEADROOM_LIMIT * 100} %)`);
    }
  };
  check('slots', 'slots');
  check('chunk', 'bytes');
  check('stack', 'slots');
  return problems;
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}

export function describePeaks(b: BoardPeaks): string {
  const p = b.peaks;
  const one = (name: 'slots' | 'chunk' | 'stack') => {
    const v = p[name];
    return v === undefined ? `${name} ?` : `${name} ${v}/${b.budget[name]} (${percent(v, b.budget[name])}, headroom ${(100 - (100 * v) / b.budget[name]).toFixed(1)} %)`;
  };
  return `${b.board}: peak ${one('slots')}, ${one('chunk')} bytes, ${one('stack')}; at most ${p.collectionsPerSecond ?? '?'} collections a second; ${p.samples} samples`;
}

/** An xsl "not frozen" warning about one of the project's modules (firmware/, hosts/, simulator/), not the SDK's. */
export function ownNotFrozen(line: string): boolean {
  return /###\s*warning:\s*(firmware|hosts|simulator|budget)\/[^:]*:.*not frozen/.test(line);
}

type Log = (line: string) => void;

function make(sdk: Sdk, args: string[], log: Log): Promise<{ code: number; tail: string[] }> {
  return new Promise((done) => {
    const child = spawn('mcconfig', args, { env: sdk.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let pending = '';
    const take = (chunk: Buffer) => {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 60) tail.shift();
        if (/error/i.test(line) || (ownNotFrozen(line) && !/warning: simulator\//.test(line))) log(`  ${line}`);
      }
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (error) => done({ code: 127, tail: [String(error)] }));
    child.on('close', (code) => done({ code: code ?? 1, tail }));
  });
}

export interface BudgetOptions {
  boards: string[];
  durationMs: number;
  broker: { host: string; port: number };
  intervalMs: number;
  out?: string;
  log: Log;
}

export interface BoardResult {
  board: string;
  failures: string[];
  peaks?: BoardPeaks;
}

/**
 * Builds every board's budget build (one after the other, in one output directory so the XS
 * engine is compiled once), then runs them all at once for the duration.
 */
export async function runBudgets(o: BudgetOptions): Promise<BoardResult[]> {
  const sdk = findSdk();
  if (typeof sdk === 'string') return o.boards.map((board) => ({ board, failures: [sdk.split('\n')[0]!] }));
  const mcsim = join(sdk.bin, 'mcsim');
  if (process.platform !== 'linux' || !existsSync(mcsim)) {
    return o.boards.map((board) => ({ board, failures: [`mcsim is not built in ${sdk.bin} (Linux only)`] }));
  }
  const useXvfb = !spawnSync('xvfb-run', ['--help']).error;
  const out = o.out ?? join(ROOT, 'build', 'moddable', 'budget');
  mkdirSync(out, { recursive: true });
  const manifest = join(out, 'manifest.json');
  const results: BoardResult[] = [];
  const runs: { board: string; so: string; deviceId: string; creation: Creation }[] = [];
  for (const board of o.boards) {
    const creation = boardCreation(board);
    const problems = creationProblems(creation);
    if (problems.length > 0) {
      results.push({ board, failures: problems.map((p) => `creation: ${p}`) });
      continue;
    }
    const deviceId = `budget-${board.replace(/^esp32\//, '')}`;
    writeFileSync(manifest, `${JSON.stringify({ include: [join(ROOT, 'manifests', 'budget', 'manifest.json')], creation }, null, '\t')}\n`);
    o.log(`== budget ${board}: building for lin with chunk ${creation.chunk.initial}, ${creation.heap.initial} slots, stack ${creation.stack}, keys ${creation.keys.initial}, static ${creation.static}`);
    // The boards share one output directory: drop what differs between them (the linked
    // modules, the config module, the library) so that make cannot keep the previous board's
    // files when both builds fall in the same second.
    const tmp = join(out, 'tmp', 'lin', 'mc', 'instrument', 'pipewatch');
    for (const stale of [join(tmp, 'mc.xs.c'), join(tmp, 'modules', 'mc', 'config.xsb'), join(out, 'bin', 'lin', 'mc', 'instrument', 'pipewatch', 'mc.so')]) {
      rmSync(stale, { force: true });
    }
    const built = await make(
      sdk,
      ['-m', '-i', '-p', 'lin', '-t', 'build', '-o', out, manifest, `broker=mqtt://${o.broker.host}:${o.broker.port}`, `deviceId=${deviceId}`, `intervalMs=${o.intervalMs}`],
      o.log,
    );
    const so = join(out, 'bin', 'lin', 'mc', 'instrument', 'pipewatch', 'mc.so');
    if (built.code !== 0 || !existsSync(so)) {
      for (const line of built.tail.slice(-30)) o.log(`  ${line}`);
      results.push({ board, failures: ['the budget build failed'] });
      continue;
    }
    const copy = join(out, `${deviceId}.so`);
    copyFileSync(so, copy);
    runs.push({ board, so: copy, deviceId, creation });
  }
  o.log(`== budget: running ${runs.map((r) => r.board).join(', ')} in mcsim for ${o.durationMs / 1000} s`);
  const ran = await Promise.all(
    runs.map(async (r, i) => {
      // One board every few seconds: `xvfb-run -a` picks its display by lock files, and runs
      // started at the same instant can race for one display (three boards started together
      // have crashed one mcsim at start with a Bus error, a different board each time, while
      // each passed alone).
      await new Promise((resolve) => setTimeout(resolve, i * START_APART_MS));
      const run = await runMcsim({
        mcsim,
        so: r.so,
        env: sdk.env,
        broker: o.broker,
        deviceId: r.deviceId,
        durationMs: o.durationMs,
        useXvfb,
        log: (line) => o.log(`[${r.board}] ${line}`),
      });
      const peaks: BoardPeaks = {
        board: r.board,
        budget: { slots: r.creation.heap.initial, chunk: r.creation.chunk.initial, stack: r.creation.stack },
        peaks: run.output.peaks,
      };
      o.log(`[${r.board}] ${describeRun(run)}`);
      o.log(`[${r.board}] ${describePeaks(peaks)}`);
      return { board: r.board, failures: [...verdict(run, o.durationMs), ...headroomProblems(peaks)], peaks };
    }),
  );
  return [...results, ...ran];
}

/** Time between the boards' mcsim starts (runBudgets). */
const START_APART_MS = 3000;

export { BOARDS };
