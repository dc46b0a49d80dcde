/*
 * The cache's memos (header seqFirst, acknowledged prefix, last appended record; see ring.ts)
 * must never change an answer: a long-lived instance is compared, after every operation, with a
 * cold instance mounted on a copy of the same flash; and each invalidation path (recycling of a
 * memoized block, a wrap, the oldest block dropped under the cursor, a new mount) has its test.
 */
import { deepEqual, equal, ok } from '../harness/assert';
import { FlashCache, type FlashCacheOptions } from '../../firmware/cache/index';
import { newReading, type NewReading, type Reading } from '../../firmware/store';
import { prng, SimFlash, type SimFlashGeometry } from '../../simulator/flash/index';

const SMALL: SimFlashGeometry = { blockLength: 256, blocks: 6, writeAlign: 4 };

function reading(i: number, alert = false): NewReading {
  return {
    timeMs: 1_700_000_000_000 + i * 60_000,
    synced: i % 2 === 0,
    channel: i % 4,
    kind: (i % 3) as 0 | 1 | 2,
    value: 21_000 + i * 13 - (i % 5) * 1000,
    alert,
  };
}

function buffer(n: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < n; i++) out.push(newReading());
  return out;
}

function all(cache: FlashCache, alertsOnly = false): Reading[] {
  const out = buffer(1000);
  return out.slice(0, cache.peek(out, 1000, alertsOnly));
}

function seqs(cache: FlashCache, alertsOnly = false): number[] {
  return all(cache, alertsOnly).map((r) => r.seq);
}

function range(from: number, to: number): number[] {
  const list: number[] = [];
  for (let i = from; i <= to; i++) list.push(i);
  return list;
}

/** Counts reads through a Flash. */
class CountingFlash {
  reads = 0;
  constructor(readonly inner: SimFlash) {}
  read(a: number | ArrayBufferView, offset: number): ArrayBuffer | void {
    this.reads++;
    return this.inner.read(a as never, offset);
  }
  write(buffer: ArrayBufferView, offset: number): void {
    this.inner.write(buffer, offset);
  }
  eraseBlock(block: number): void {
    this.inner.eraseBlock(block);
  }
  status() {
    return this.inner.status();
  }
  close(): void {}
}

/** A warm instance against a cold mount of a copy of its flash after every operation. */
function differential(seed: number, geometry: SimFlashGeometry, options: FlashCacheOptions, ops: number): void {
  const random = prng(seed);
  const flash = new SimFlash(geometry);
  const warm = new FlashCache(flash, options);
  const out = buffer(8);
  let i = 0;
  for (let k = 0; k < ops; k++) {
    const r = random();
    if (r < 0.45) {
      warm.append(reading(i++, random() < 0.15));
    } else if (r < 0.6) {
      warm.peek(out, 1 + Math.floor(random() * out.length), random() < 0.3);
    } else if (r < 0.8) {
      // Acknowledge the oldest (the uplink's steady state), or a random pending one.
      const n = warm.peek(out, out.length);
      if (n > 0) warm.acknowledge(out[random() < 0.6 ? 0 : Math.floor(random() * n)]!.seq);
    } else if (r < 0.9) {
      const n = warm.peek(out, out.length);
      if (n > 0) warm.acknowledgeThrough(out[Math.floor(random() * n)]!.seq);
    } else {
      // A seq that is not pending (acknowledged, dropped, or never given).
      warm.acknowledge(Math.floor(random() * (warm.nextSeq + 3)));
    }
    const cold = new FlashCache(SimFlash.fromSnapshot(flash.snapshot()), options);
    const context = `seed ${seed}, op ${k}`;
    equal(warm.pending, cold.pending, `pending, ${context}`);
    equal(warm.stats.dropped, cold.stats.dropped, `dropped, ${context}`);
    deepEqual(all(warm, true), all(cold, true), `alerts, ${context}`);
    deepEqual(all(warm), all(cold), `records, ${context}`);
    equal(warm.pending, cold.pending, `pending after peek, ${context}`);
    equal(warm.stats.corruptSkipped, 0, context);
  }
}

export const tests: Record<string, () => void> = {
  'a warm instance answers as a cold mount of the same flash, alert ring'() {
    for (let seed = 1; seed <= 3; seed++) differential(seed, SMALL, { alertBlocks: 2 }, 400);
  },

  'a warm instance answers as a cold mount of the same flash, shared ring, erase value 0, writeAlign 16'() {
    differential(7, { blockLength: 512, blocks: 4, writeAlign: 16, eraseValue: 0 }, { alertBlocks: 0 }, 400);
  },

  'a warm instance answers as a cold mount of the same flash, encrypted partition (log replay, read-backs)'() {
    differential(21, { blockLength: 512, blocks: 6, encrypted: true }, { alertBlocks: 2 }, 200);
    differential(22, { blockLength: 512, blocks: 2, encrypted: true }, { alertBlocks: 0 }, 120);
  },

  'a warm instance answers as a cold mount of the same flash, rings of two blocks'() {
    // Two blocks: both headers are in the memo when one of them is recycled.
    differential(11, { blockLength: 256, blocks: 2, writeAlign: 4 }, { alertBlocks: 0 }, 400);
    differential(12, { blockLength: 256, blocks: 4, writeAlign: 4 }, { alertBlocks: 2 }, 400);
  },

  'the acknowledged prefix and header memos do not survive the recycling of their block'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 0 });
    const perBlock = cache.layout.slotsPerBlock;
    for (let i = 0; i < perBlock; i++) cache.append(reading(i));
    // Block 0: most of it acknowledged one by one (its prefix memoized), peeked from there.
    for (let s = 1; s < perBlock - 2; s++) cache.acknowledge(s);
    deepEqual(seqs(cache), [perBlock - 2, perBlock - 1, perBlock]);
    // Offline: the ring laps, block 0 is dropped and opened again as the head.
    const total = SMALL.blocks * perBlock + 3;
    for (let i = perBlock; i < total; i++) cache.append(reading(i));
    // Block 0 is the head again: acknowledge there first, before any peek walks the chain.
    const pending = cache.pending;
    cache.acknowledge(total - 1);
    equal(cache.pending, pending - 1, 'found in the recycled block');
    cache.acknowledge(total - 1);
    equal(cache.pending, pending - 1, 'not twice');
    const got = seqs(cache);
    equal(got.length, cache.pending);
    equal(got[got.length - 1], total, 'the newest, in the recycled block');
    deepEqual(got, range(total - got.length, total).filter((s) => s !== total - 1), 'nothing skipped in the recycled block');
    equal(cache.stats.corruptSkipped, 0, 'no record judged against a stale header');
    ok(cache.stats.dropped > 0);
  },

  'acknowledge after a wrap finds records of a recycled block'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 0 });
    const perBlock = cache.layout.slotsPerBlock;
    let i = 0;
    // Steady state for several laps: every reading acknowledged right after its append.
    for (; i < 3 * SMALL.blocks * perBlock; i++) {
      const seq = cache.append(reading(i));
      const out = buffer(1);
      equal(cache.peek(out, 1), 1);
      equal(out[0]!.seq, seq);
      equal(out[0]!.value, reading(i).value);
      cache.acknowledge(seq);
      equal(cache.pending, 0, `seq ${seq}`);
    }
    // Then a backlog across a block boundary, acknowledged out of order.
    const first = cache.nextSeq;
    for (let k = 0; k < perBlock + 4; k++) cache.append(reading(i++));
    const last = cache.nextSeq - 1;
    cache.acknowledge(last);
    cache.acknowledge(first + 1);
    cache.acknowledge(first + perBlock);
    const expected = range(first, last - 1).filter((s) => s !== first + 1 && s !== first + perBlock);
    deepEqual(seqs(cache), expected);
    equal(cache.pending, expected.length);
    cache.acknowledgeThrough(last);
    equal(cache.pending, 0);
    deepEqual(seqs(cache), []);
    equal(cache.stats.corruptSkipped, 0);
  },

  'the oldest block dropped while a peek stands on it'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 0 });
    const perBlock = cache.layout.slotsPerBlock;
    const out = buffer(1);
    for (let i = 0; i < (SMALL.blocks - 1) * perBlock; i++) cache.append(reading(i));
    cache.acknowledge(1);
    cache.acknowledge(2);
    equal(cache.peek(out, 1), 1);
    equal(out[0]!.seq, 3, 'standing on the tail block');
    // The next appends fill the head, then open a block and drop the tail under the cursor.
    const next = cache.nextSeq;
    for (let k = 0; k < perBlock + 1; k++) cache.append(reading(next + k));
    equal(cache.peek(out, 1), 1);
    equal(out[0]!.seq, perBlock + 1, 'the oldest of the next block');
    cache.acknowledge(3);
    equal(cache.peek(out, 1), 1);
    equal(out[0]!.seq, perBlock + 1, 'the dropped record is not acknowledged again');
    cache.acknowledge(perBlock + 1);
    equal(cache.peek(out, 1), 1);
    equal(out[0]!.seq, perBlock + 2);
    equal(cache.stats.dropped, perBlock - 2);
    equal(cache.pending, seqs(cache).length);
    equal(cache.stats.corruptSkipped, 0);
  },

  'a new mount starts cold: a record corrupted after it was appended is caught'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 0 });
    for (let i = 0; i < 5; i++) cache.append(reading(i));
    deepEqual(seqs(cache), [1, 2, 3, 4, 5], 'the last append is served from the memo');
    const L = cache.layout;
    flash.bitFlip(L.recordsOffset + 4 * L.slotLength + 13, 2);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 0 });
    deepEqual(seqs(cache), [1, 2, 3, 4]);
    equal(cache.stats.corruptSkipped, 1);
  },

  'steady state: peek and acknowledge read the bitmaps once each, no header and no record'() {
    const counting = new CountingFlash(new SimFlash({ blockLength: 4096, blocks: 20, writeAlign: 4 }));
    const cache = new FlashCache(counting as never);
    const out = buffer(1);
    for (let i = 0; i < 300; i++) {
      const seq = cache.append(reading(i));
      const before = counting.reads;
      equal(cache.peek(out, 1), 1);
      equal(out[0]!.seq, seq);
      const peekReads = counting.reads - before;
      cache.acknowledge(seq);
      const ackReads = counting.reads - before - peekReads;
      if (i > 0 && i % cache.layout.slotsPerBlock !== 0) {
        equal(peekReads, 1, `peek reads, reading ${i}`);
        equal(ackReads, 1, `acknowledge reads, reading ${i}`);
      }
    }
    equal(cache.pending, 0);
  },
};
