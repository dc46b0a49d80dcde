/*
 * Power-cut harness for the flash cache: drives a FlashCache on a SimFlash, cuts the power at
 * chosen flash operations (optionally tearing them), reboots, mounts again and checks the
 * cache against an oracle of what the caller was told:
 * - every record returned is one that was appended (or the append in flight at the cut), with
 *   the same content, in strictly increasing sequence order; nothing corrupt is ever returned;
 * - every append that returned is still there, unless acknowledged, or dropped as the oldest of
 *   its ring and counted in `stats.dropped` (which is persisted);
 * - acknowledgements that returned are never replayed; `pending` equals what peek returns;
 * - sequence numbers never repeat: a new append gets a number above every number handed out;
 * - `stats.dropped` and `stats.corruptSkipped` never go down, across reboots too.
 * The cache fails soft (a power cut inside an operation is absorbed): the harness learns of the
 * cut from the flash model (`poweredOff`), as the hardware would by resetting.
 * Portable (no Node APIs): used by the XS and Node tests, the ava 10,000-cut test and the soak.
 */
import { FlashCache, type FlashCacheOptions } from '../../firmware/cache/index';
import { newReading, type NewReading, type Reading } from '../../firmware/store';
import { PowerCut, prng, SimFlash, type SimFlashGeometry } from '../../simulator/flash/index';

export class CheckFailed extends Error {
  override name = 'CheckFailed';
}

function fail(message: string): never {
  throw new CheckFailed(message);
}

export type Op =
  | { op: 'append'; alert: boolean }
  | { op: 'ackThrough'; back: number }
  | { op: 'ack'; pick: number }
  | { op: 'peek'; max: number }
  | { op: 'reboot' };

type InFlight =
  | { kind: 'none' }
  | { kind: 'append'; seq: number; reading: NewReading }
  | { kind: 'ackThrough'; seq: number }
  | { kind: 'ack'; seq: number };

function sameContent(a: Reading, b: NewReading): boolean {
  return (
    a.timeMs === b.timeMs &&
    a.synced === b.synced &&
    a.channel === b.channel &&
    a.kind === b.kind &&
    a.value === b.value &&
    a.alert === b.alert
  );
}

export interface LifeStats {
  cuts: number;
  reboots: number;
  appends: number;
  acks: number;
  checks: number;
  maxDroppedSeen: number;
}

/** One simulated node's life on one flash chip, with the oracle of what it was told. */
export class Life {
  flash: SimFlash;
  cache: FlashCache | undefined;
  readonly #options: FlashCacheOptions;
  readonly #held = new Map<number, NewReading>();
  readonly #acked = new Set<number>();
  #maxSeqReturned = 0;
  #droppedSeen = 0;
  #lastDropped = 0;
  #lastCorrupt = 0;
  /** Readings that vanished at a cut acknowledge and may have been dropped instead. */
  #ambiguous = 0;
  #inFlight: InFlight = { kind: 'none' };
  #counter = 0;
  readonly #out: Reading[] = [];
  readonly #alertRing: boolean;
  readonly stats: LifeStats = { cuts: 0, reboots: 0, appends: 0, acks: 0, checks: 0, maxDroppedSeen: 0 };

  /** `cutAfter`: arm a power cut before the very first mount (which formats the blank chip). */
  constructor(
    geometry: SimFlashGeometry,
    options: FlashCacheOptions = {},
    cut?: { after: number; tear: boolean; seed: number; scatter?: number },
  ) {
    this.flash = new SimFlash(geometry);
    this.#options = options;
    if (cut) this.flash.cutAfter(cut.after, cut);
    try {
      this.cache = new FlashCache(this.flash, options);
      this.#alive();
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      this.stats.cuts++;
      this.flash = this.flash.reboot();
      this.cache = new FlashCache(this.flash, options);
    }
    const room = this.cache.capacity + this.cache.alertCapacity + 4 * this.cache.layout.slotsPerBlock;
    for (let i = 0; i < room; i++) this.#out.push(newReading());
    this.#alertRing = this.cache.alertCapacity > 0;
    this.check();
  }

  /** Runs one operation; returns false when the power was cut during it (then call `recover`). */
  step(op: Op): boolean {
    try {
      this.#run(op);
      this.#inFlight = { kind: 'none' };
      return true;
    } catch (error) {
      if (!(error instanceof PowerCut)) throw error;
      this.stats.cuts++;
      return false;
    }
  }

  /** A cut absorbed by the cache shows on the flash model: treat it as the reset it would be. */
  #alive(): void {
    if (this.flash.poweredOff) throw new PowerCut('power cut (absorbed by the cache)');
  }

  #run(op: Op): void {
    const cache = this.cache;
    if (!cache) {
      this.#mount();
      return;
    }
    switch (op.op) {
      case 'append': {
        this.#counter++;
        const reading: NewReading = {
          timeMs: 1_700_000_000_000 + this.#counter * 1000,
          synced: (this.#counter & 1) === 0,
          channel: this.#counter % 7,
          kind: (this.#counter % 3) as 0 | 1 | 2,
          value: ((this.#counter * 7919) % 200_000) - 100_000,
          alert: op.alert,
        };
        this.#inFlight = { kind: 'append', seq: cache.nextSeq, reading };
        const seq = cache.append(reading);
        this.#alive();
        if (seq <= this.#maxSeqReturned) fail(`append returned seq ${seq}, not above ${this.#maxSeqReturned} (${cache.stats.lastFault})`);
        if (seq !== this.#inFlight.seq) fail(`append returned ${seq}, nextSeq said ${this.#inFlight.seq}`);
        this.#held.set(seq, reading);
        this.#maxSeqReturned = seq;
        this.stats.appends++;
        return;
      }
      case 'ackThrough': {
        // Settle what was dropped since the last check first, so the acknowledge below cannot hide it.
        this.check();
        const n = cache.peek(this.#out, op.back + 1);
        this.#alive();
        if (n === 0) return;
        const seq = this.#out[n - 1]!.seq;
        this.#inFlight = { kind: 'ackThrough', seq };
        cache.acknowledgeThrough(seq);
        this.#alive();
        for (const key of [...this.#held.keys()]) {
          if (key <= seq) {
            this.#held.delete(key);
            this.#acked.add(key);
          }
        }
        this.stats.acks++;
        return;
      }
      case 'ack': {
        const n = cache.peek(this.#out, op.pick + 1, (op.pick & 1) === 1);
        this.#alive();
        if (n === 0) return;
        const seq = this.#out[n - 1]!.seq;
        this.#inFlight = { kind: 'ack', seq };
        cache.acknowledge(seq);
        this.#alive();
        this.#held.delete(seq);
        this.#acked.add(seq);
        this.stats.acks++;
        return;
      }
      case 'peek': {
        const n = cache.peek(this.#out, op.max);
        this.#alive();
        for (let i = 0; i < n; i++) this.#checkOne(this.#out[i]!, i === 0 ? -1 : this.#out[i - 1]!.seq);
        return;
      }
      case 'reboot': {
        this.flash = this.flash.reboot();
        this.cache = undefined;
        this.stats.reboots++;
        this.#mount();
        return;
      }
    }
  }

  #checkOne(r: Reading, previous: number): void {
    if (r.seq <= previous) fail(`peek out of order: ${r.seq} after ${previous}`);
    if (this.#acked.has(r.seq)) fail(`acknowledged seq ${r.seq} replayed`);
    const held = this.#held.get(r.seq);
    if (!held) fail(`peek returned unknown seq ${r.seq}`);
    if (!sameContent(r, held)) fail(`seq ${r.seq} content differs: ${JSON.stringify(r)} vs ${JSON.stringify(held)}`);
  }

  #mount(): void {
    this.cache = undefined;
    this.cache = new FlashCache(this.flash, this.#options);
    this.#alive();
    this.check();
  }

  /** After a cut: power comes back; mount (retrying if a cut is still armed) and check. */
  recover(): void {
    this.flash = this.flash.reboot();
    this.cache = undefined;
    this.stats.reboots++;
    this.#mount();
  }

  /** Compares the cache's whole unacknowledged content with the oracle. */
  check(): void {
    const cache = this.cache!;
    this.stats.checks++;
    const out = this.#out;
    const n = cache.peek(out, out.length);
    this.#alive();
    if (n === out.length) fail('peek filled the whole check buffer');
    const inFlight = this.#inFlight;
    const present = new Set<number>();
    let minAlert = Infinity;
    let minPlain = Infinity;
    for (let i = 0; i < n; i++) {
      const r = out[i]!;
      if (i > 0 && r.seq <= out[i - 1]!.seq) fail(`out of order: ${r.seq} after ${out[i - 1]!.seq}`);
      if (this.#acked.has(r.seq)) fail(`acknowledged seq ${r.seq} replayed after reboot`);
      const held = this.#held.get(r.seq);
      if (held) {
        if (!sameContent(r, held)) fail(`seq ${r.seq} came back with other content`);
      } else if (inFlight.kind === 'append' && inFlight.seq === r.seq && sameContent(r, inFlight.reading)) {
        this.#held.set(r.seq, inFlight.reading);
        if (r.seq > this.#maxSeqReturned) this.#maxSeqReturned = r.seq;
      } else {
        fail(`unknown seq ${r.seq} returned (${JSON.stringify(r)})`);
      }
      present.add(r.seq);
      if (this.#alertRing && r.alert) minAlert = Math.min(minAlert, r.seq);
      else minPlain = Math.min(minPlain, r.seq);
    }
    if (cache.pending !== n) fail(`pending ${cache.pending} but peek returned ${n}`);
    // What is held but not present: acknowledged by the cut acknowledge, or dropped as oldest.
    let missing = 0;
    for (const [seq, reading] of [...this.#held]) {
      if (present.has(seq)) continue;
      const coveredByAck =
        (inFlight.kind === 'ackThrough' && seq <= inFlight.seq) || (inFlight.kind === 'ack' && seq === inFlight.seq);
      this.#held.delete(seq);
      const oldest = this.#alertRing && reading.alert ? minAlert : minPlain;
      if (coveredByAck) {
        // Acknowledged by the cut operation, or dropped earlier since the last check: either is fine.
        this.#acked.add(seq);
        if (seq < oldest) this.#ambiguous++;
        continue;
      }
      if (seq > oldest) fail(`seq ${seq} lost although newer seq ${oldest} of its ring is still there`);
      missing++;
    }
    this.#droppedSeen += missing;
    if (this.#droppedSeen > cache.stats.dropped) {
      fail(`${this.#droppedSeen} readings vanished but stats.dropped is ${cache.stats.dropped}`);
    }
    const slack = 2 * cache.layout.slotsPerBlock;
    if (cache.stats.dropped > this.#droppedSeen + this.#ambiguous + slack) {
      fail(`stats.dropped ${cache.stats.dropped} far above the ${this.#droppedSeen} readings that vanished`);
    }
    if (cache.nextSeq <= this.#maxSeqReturned) fail(`nextSeq ${cache.nextSeq} would reuse ${this.#maxSeqReturned}`);
    if (cache.stats.dropped < this.#lastDropped) fail(`stats.dropped went down: ${this.#lastDropped} -> ${cache.stats.dropped}`);
    if (cache.stats.corruptSkipped < this.#lastCorrupt) {
      fail(`stats.corruptSkipped went down: ${this.#lastCorrupt} -> ${cache.stats.corruptSkipped}`);
    }
    this.#lastDropped = cache.stats.dropped;
    this.#lastCorrupt = cache.stats.corruptSkipped;
    this.stats.maxDroppedSeen = this.#droppedSeen;
    this.#inFlight = { kind: 'none' };
  }
}

export const SMALL_GEOMETRY: SimFlashGeometry = { blockLength: 256, blocks: 6, writeAlign: 4 };
/**
 * The encrypted-partition mode's small ring: 512-byte blocks hold 4 records in it (256-byte
 * blocks hold 5 in plain mode), so the same scenario wraps both rings.
 */
export const ENCRYPTED_GEOMETRY: SimFlashGeometry = { blockLength: 512, blocks: 6, encrypted: true };
export const SMALL_OPTIONS: FlashCacheOptions = { alertBlocks: 2 };

/** The fixed scenario of the exhaustive test: wrap-arounds, both acknowledge kinds, reboots. */
export function scenario(): Op[] {
  const ops: Op[] = [];
  const appends = (n: number, alertEvery = 0) => {
    for (let i = 0; i < n; i++) ops.push({ op: 'append', alert: alertEvery > 0 && i % alertEvery === alertEvery - 1 });
  };
  appends(12, 5);
  ops.push({ op: 'ackThrough', back: 3 });
  appends(10);
  ops.push({ op: 'ack', pick: 1 }, { op: 'reboot' });
  appends(25, 4);
  ops.push({ op: 'peek', max: 5 }, { op: 'ackThrough', back: 8 }, { op: 'ack', pick: 3 });
  appends(20, 3);
  ops.push({ op: 'reboot' }, { op: 'ackThrough', back: 40 });
  appends(15, 6);
  return ops;
}

/**
 * Runs `ops` once; cuts the power at mutating flash operation `cutAt` (torn with `tearSeed`;
 * with `scatter`, each bit the cut operation was changing lands with that probability).
 */
export function runWithCut(
  ops: Op[],
  cutAt: number,
  tearSeed: number | undefined,
  scatter = 0,
  geometry: SimFlashGeometry = SMALL_GEOMETRY,
): Life {
  const life = new Life(geometry, SMALL_OPTIONS, { after: cutAt, tear: tearSeed !== undefined, seed: tearSeed ?? 1, scatter });
  for (const op of ops) {
    if (!life.step(op)) life.recover();
  }
  life.recover();
  return life;
}

/**
 * Counts the mutating flash operations of the scenario without cuts. Without cuts no 16-byte unit
 * of an encrypted partition is ever written twice (a second write would garble it).
 */
export function scenarioOperations(ops: Op[], geometry: SimFlashGeometry = SMALL_GEOMETRY): number {
  const life = new Life(geometry, SMALL_OPTIONS);
  for (const op of ops) if (!life.step(op)) fail('cut without a cut armed');
  if (life.flash.counters.unitRewrites !== 0) fail(`${life.flash.counters.unitRewrites} units written twice without a cut`);
  return life.flash.operations;
}

/**
 * Cuts the scenario at every operation from `from` (inclusive) to `to` (exclusive), plain and
 * torn (with `scatter`: torn bit by bit, see runWithCut, and not plain).
 */
export function exhaustive(
  from: number,
  to: number,
  tearSeeds: number[],
  scatter = 0,
  geometry: SimFlashGeometry = SMALL_GEOMETRY,
): number {
  const ops = scenario();
  let runs = 0;
  for (let cut = from; cut < to; cut++) {
    if (scatter === 0) {
      runWithCut(ops, cut, undefined, 0, geometry);
      runs++;
    }
    for (const seed of tearSeeds) {
      runWithCut(ops, cut, seed * 7919 + cut, scatter, geometry);
      runs++;
    }
  }
  return runs;
}

/**
 * One long life with `cuts` random power cuts (most of them torn), random operations between
 * them, and a full check after every recovery. Returns the life's counters.
 */
export function randomCuts(
  cuts: number,
  seed: number,
  geometry: SimFlashGeometry = SMALL_GEOMETRY,
  options: FlashCacheOptions = SMALL_OPTIONS,
): LifeStats {
  const random = prng(seed);
  const life = new Life(geometry, options);
  const slots = life.cache!.layout.slotsPerBlock;
  let online = true;
  while (life.stats.cuts < cuts) {
    life.flash.cutAfter(Math.floor(random() * 3 * slots), { tear: random() < 0.75, seed: (random() * 0x7fffffff) | 0 });
    let alive = true;
    while (alive) {
      // The uplink comes and goes: offline stretches fill the rings and force drops.
      if (random() < 0.01) online = !online;
      const x = random();
      const op: Op =
        x < 0.62 || (!online && x < 0.87)
          ? { op: 'append', alert: random() < 0.12 }
          : x < 0.77
            ? { op: 'ackThrough', back: Math.floor(random() * slots) }
            : x < 0.87
              ? { op: 'ack', pick: Math.floor(random() * 6) }
              : x < 0.97
                ? { op: 'peek', max: 1 + Math.floor(random() * 8) }
                : { op: 'reboot' };
      alive = life.step(op);
    }
    let mounted = false;
    while (!mounted) {
      try {
        life.recover();
        mounted = true;
      } catch (error) {
        if (!(error instanceof PowerCut)) throw error;
      }
    }
  }
  return life.stats;
}
