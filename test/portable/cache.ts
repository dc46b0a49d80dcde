/*
 * FlashCache behaviour: ordering, acknowledgements, persistence, drops, alerts, corruption,
 * wear, capacity and geometry variants. Power cuts are in cache-power.ts.
 */
import { deepEqual, equal, ok, throws } from '../harness/assert';
import { FlashCache } from '../../firmware/cache/index';
import { Crc32 } from '../../firmware/cache/crc32';
import type { Bytes, Flash } from '../../firmware/host';
import { newReading, type NewReading, type Reading } from '../../firmware/store';
import { SimFlash, type SimFlashGeometry } from '../../simulator/flash/index';

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

function seqs(cache: FlashCache, max = 1000, alertsOnly = false): number[] {
  const out = buffer(max);
  const n = cache.peek(out, max, alertsOnly);
  return out.slice(0, n).map((r) => r.seq);
}

function range(from: number, to: number): number[] {
  const list: number[] = [];
  for (let i = from; i <= to; i++) list.push(i);
  return list;
}

/** Counts reads and bytes read through a Flash, to bound the mount cost. */
class CountingFlash {
  reads = 0;
  bytes = 0;
  constructor(readonly inner: SimFlash) {}
  read(a: number | ArrayBufferView, offset: number): ArrayBuffer | void {
    this.reads++;
    this.bytes += typeof a === 'number' ? a : a.byteLength;
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

export const tests = {
  'crc32 check value'() {
    equal(new Crc32().of(new Uint8Array([49, 50, 51, 52, 53, 54, 55, 56, 57]), 0, 9), 0xcbf43926);
  },

  'a blank partition is formatted, and says so'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    equal(cache.stats.formatted, true);
    equal(cache.pending, 0);
    equal(cache.nextSeq, 1);
    const again = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    equal(again.stats.formatted, true);
  },

  'appends come back in order with their content, and are reused in place'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    for (let i = 0; i < 18; i++) equal(cache.append(reading(i)), i + 1);
    equal(cache.pending, 18);
    const out = buffer(4);
    const first = out[0];
    equal(cache.peek(out, 4), 4);
    ok(out[0] === first, 'peek fills the objects it was given');
    deepEqual(out[2], { seq: 3, ...reading(2) });
    deepEqual(seqs(cache), range(1, 18));
    equal(cache.peek(out, 0), 0);
    equal(cache.peek(out, 10), 4, 'never more than the buffer holds');
  },

  'extreme values round-trip exactly'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 0 });
    const cases: NewReading[] = [
      { timeMs: 0, synced: false, channel: 0, kind: 0, value: -0x80000000, alert: false },
      { timeMs: 2 ** 48 - 1, synced: true, channel: 255, kind: 2, value: 0x7fffffff, alert: true },
      { timeMs: 4_102_444_800_000, synced: true, channel: 7, kind: 1, value: -1, alert: false },
    ];
    for (const c of cases) cache.append(c);
    const out = buffer(3);
    cache.peek(out, 3);
    for (let i = 0; i < 3; i++) deepEqual(out[i], { seq: i + 1, ...cases[i]! });
  },

  'invalid readings are refused and counted, never stored'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    const bad: NewReading[] = [
      { ...reading(1), value: 1.5 },
      { ...reading(1), value: 2 ** 31 },
      { ...reading(1), value: Number.NaN },
      { ...reading(1), channel: 256 },
      { ...reading(1), kind: 3 as never },
      { ...reading(1), timeMs: -1 },
      { ...reading(1), timeMs: 2 ** 48 },
    ];
    for (const r of bad) equal(cache.append(r), -1);
    equal(cache.stats.invalid, bad.length);
    equal(cache.stats.failed, bad.length);
    equal(cache.pending, 0);
    equal(cache.append(reading(1)), 1, 'no sequence number was used up');
  },

  'acknowledgeThrough and single acknowledgements persist across a reboot'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 30; i++) cache.append(reading(i, i % 10 === 9));
    cache.acknowledgeThrough(12);
    cache.acknowledge(20); // alert delivered ahead of the backlog
    cache.acknowledge(17); // a plain one out of order too
    cache.acknowledge(17);
    cache.acknowledge(12345);
    const expected = range(13, 30).filter((s) => s !== 20 && s !== 17);
    deepEqual(seqs(cache), expected);
    equal(cache.pending, expected.length);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.stats.formatted, false);
    deepEqual(seqs(cache), expected);
    equal(cache.pending, expected.length);
    equal(cache.append(reading(99)), 31);
  },

  'alertsOnly returns just the unacknowledged alerts, in order'() {
    for (const alertBlocks of [0, 2]) {
      const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks });
      for (let i = 1; i <= 20; i++) cache.append(reading(i, i % 4 === 0));
      deepEqual(seqs(cache, 10, true), [4, 8, 12, 16, 20], `alertBlocks ${alertBlocks}`);
      cache.acknowledge(8);
      deepEqual(seqs(cache, 2, true), [4, 12]);
      deepEqual(seqs(cache, 5), [1, 2, 3, 4, 5]);
    }
  },

  'sequence numbers never repeat, even after everything was acknowledged and erased'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    let last = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 17; i++) {
        const seq = cache.append(reading(i, i === 3));
        ok(seq > last, `seq ${seq} after ${last}`);
        last = seq;
      }
      cache.acknowledgeThrough(last);
      equal(cache.pending, 0);
      flash = flash.reboot();
      cache = new FlashCache(flash, { alertBlocks: 2 });
      equal(cache.pending, 0);
      equal(cache.nextSeq, last + 1);
    }
  },

  'when full the oldest readings are dropped, counted, and the count survives a reboot'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    const perBlock = cache.layout.slotsPerBlock;
    equal(cache.capacity, 3 * perBlock);
    const total = 5 * perBlock + 3;
    for (let i = 0; i < total; i++) cache.append(reading(i));
    // 4 blocks: the head holds 3, the three before it are full.
    const held = 3 * perBlock + 3;
    deepEqual(seqs(cache), range(total - held + 1, total));
    equal(cache.stats.dropped, total - held);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.stats.dropped, total - held);
    equal(cache.pending, held);
  },

  'acknowledged readings are not counted as dropped when their block is recycled'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    for (let i = 0; i < 200; i++) {
      const seq = cache.append(reading(i));
      cache.acknowledgeThrough(seq);
    }
    equal(cache.stats.dropped, 0);
    equal(cache.pending, 0);
  },

  'alerts are the last to be dropped'() {
    const cache = new FlashCache(new SimFlash(SMALL), { alertBlocks: 2 });
    const alertSeqs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const alert = i % 60 === 7;
      const seq = cache.append(reading(i, alert));
      if (alert) alertSeqs.push(seq);
    }
    deepEqual(seqs(cache, 100, true), alertSeqs, 'every alert survives a backlog ten times the ring');
    ok(cache.stats.dropped > 200);
    const all = seqs(cache);
    for (const s of alertSeqs) ok(all.includes(s));
    ok(cache.alertCapacity >= alertSeqs.length);
  },

  'a flipped bit in a record is detected, skipped and counted; the rest is intact'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 15; i++) cache.append(reading(i));
    const L = cache.layout;
    // Record 3 (seq 3) of block 0, a bit of its value.
    flash.bitFlip(L.recordsOffset + 2 * L.slotLength + 13, 4);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.pending, 15, 'not known before it is read');
    const got = seqs(cache);
    deepEqual(got, range(1, 15).filter((s) => s !== 3));
    equal(cache.stats.corruptSkipped, 1);
    equal(cache.pending, 14);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    deepEqual(seqs(cache), got, 'the skip is persistent');
    equal(cache.stats.corruptSkipped, 1, 'and so is its count (the dead bitmap)');
  },

  'random bit flips never make the cache return a wrong reading'() {
    for (let seed = 1; seed <= 12; seed++) {
      let flash = new SimFlash(SMALL);
      let cache = new FlashCache(flash, { alertBlocks: 2 });
      const content = new Map<number, NewReading>();
      for (let i = 0; i < 45; i++) {
        const r = reading(i * seed, i % 9 === 0);
        content.set(cache.append(r), r);
      }
      cache.acknowledgeThrough(10);
      const size = flash.geometry.blockLength * flash.geometry.blocks;
      let x = seed * 2654435761;
      for (let k = 0; k < 20; k++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        flash.bitFlip(x % size, x >>> 29);
      }
      flash = flash.reboot();
      cache = new FlashCache(flash, { alertBlocks: 2 });
      const out = buffer(200);
      const n = cache.peek(out, 200);
      for (let i = 0; i < n; i++) {
        const r = out[i]!;
        if (i > 0) ok(r.seq > out[i - 1]!.seq, 'in order');
        const original = content.get(r.seq);
        ok(original, `seq ${r.seq} was appended`);
        const { seq: _seq, ...rest } = r;
        deepEqual(rest, original, `seq ${r.seq} intact (seed ${seed})`);
      }
      equal(cache.pending, n);
      ok(cache.append(reading(1)) > 0, 'appends still work');
    }
  },

  'a corrupt newest record does not give its sequence number away again'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 5; i++) cache.append(reading(i));
    const L = cache.layout;
    flash.bitFlip(L.recordsOffset + 4 * L.slotLength + 5, 1);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    deepEqual(seqs(cache), [1, 2, 3, 4]);
    equal(cache.stats.corruptSkipped, 1);
    // Its number is unknown and the alert ring shares the counter: a whole gap is reserved.
    ok(cache.stats.seqReserved > 0);
    ok(cache.append(reading(9)) >= 1 + 3 * L.slotsPerBlock);
  },

  'a partition full of foreign garbage is formatted and says so'() {
    for (let seed = 1; seed <= 5; seed++) {
      let flash = new SimFlash(SMALL);
      flash.fillGarbage(0, 256 * 6, seed);
      let cache = new FlashCache(flash, { alertBlocks: 2 });
      equal(cache.stats.formatted, true);
      equal(cache.pending, 0);
      for (let i = 0; i < 70; i++) cache.append(reading(i, i % 10 === 0));
      flash = flash.reboot();
      cache = new FlashCache(flash, { alertBlocks: 2 });
      equal(cache.stats.formatted, false);
      equal(seqs(cache).length, cache.pending);
      ok(cache.pending > 3 * cache.layout.slotsPerBlock);
    }
  },

  'garbage in blocks outside the chain is ignored and overwritten cleanly'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 5; i++) cache.append(reading(i));
    flash.fillGarbage(256 * 2, 512, 9);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.stats.formatted, false);
    for (let i = 5; i < 60; i++) cache.append(reading(i));
    const got = seqs(cache);
    equal(got[got.length - 1], cache.nextSeq - 1);
    equal(cache.pending, got.length);
  },

  'one corrupt header copy is survived by the other'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 18; i++) cache.append(reading(i));
    flash.bitFlip(256 * 1 + 13, 2); // block 1's seqFirst, copy A
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.stats.lostBlocks, 0);
    deepEqual(seqs(cache), range(1, 18));
  },

  'a block whose two header copies are corrupt cuts off the older blocks, counted'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    const perBlock = cache.layout.slotsPerBlock;
    const copy = cache.layout.headerLength;
    for (let i = 0; i < 3 * perBlock + 2; i++) cache.append(reading(i));
    flash.bitFlip(256 * 1 + 9, 0); // block 1's epoch, both copies
    flash.bitFlip(256 * 1 + copy + 9, 0);
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 2 });
    equal(cache.stats.lostBlocks, 1);
    deepEqual(seqs(cache), range(2 * perBlock + 1, 3 * perBlock + 2));
  },

  'wear is levelled: erase counts stay within one of each other, and are reported'() {
    const flash = new SimFlash({ blockLength: 512, blocks: 8, writeAlign: 4 });
    const cache = new FlashCache(flash, { alertBlocks: 0 });
    const perBlock = cache.layout.slotsPerBlock;
    for (let i = 0; i < perBlock * 8 * 10 + 5; i++) {
      const seq = cache.append(reading(i));
      if (i % 3 === 0) cache.acknowledgeThrough(seq - 50);
    }
    const counts = Array.from(flash.eraseCounts());
    ok(Math.max(...counts) - Math.min(...counts) <= 1, `counts ${counts}`);
    equal(cache.stats.eraseMax, Math.max(...counts));
    equal(cache.stats.eraseMin, Math.min(...counts));
    equal(cache.stats.eraseTotal, counts.reduce((a, b) => a + b, 0));
  },

  'capacity: a 256 KB partition of 4 KB blocks holds 7 days at one reading a minute'() {
    let flash = new SimFlash({ blockLength: 4096, blocks: 64, writeAlign: 4 });
    let cache = new FlashCache(flash);
    ok(cache.capacity >= 10_080, `capacity ${cache.capacity}`);
    for (let i = 0; i < 10_080; i++) cache.append(reading(i, i % 500 === 0));
    equal(cache.stats.dropped, 0);
    flash = flash.reboot();
    cache = new FlashCache(flash);
    equal(cache.pending, 10_080);
    const out = buffer(256);
    let total = 0;
    let expect = 1;
    for (;;) {
      const n = cache.peek(out, 256);
      if (n === 0) break;
      for (let i = 0; i < n; i++) equal(out[i]!.seq, expect++);
      total += n;
      cache.acknowledgeThrough(out[n - 1]!.seq);
    }
    equal(total, 10_080);
    equal(cache.pending, 0);
  },

  'mount reads a bounded number of headers and one block, whatever the fill'() {
    const geometry = { blockLength: 4096, blocks: 64, writeAlign: 4 };
    let flash = new SimFlash(geometry);
    let cache = new FlashCache(flash);
    for (let i = 0; i < 14_000; i++) cache.append(reading(i));
    flash = flash.reboot();
    const counting = new CountingFlash(flash);
    cache = new FlashCache(counting as never);
    const perBlock = cache.layout.slotsPerBlock;
    ok(counting.reads <= 4 * 64 + 2 * perBlock + 8, `mount made ${counting.reads} reads`);
    ok(counting.bytes < 64 * 4096 / 4, `mount read ${counting.bytes} bytes`);
  },

  'other geometries: writeAlign 16, erase value 0x00, writeAlign 1'() {
    const geometries: SimFlashGeometry[] = [
      { blockLength: 1024, blocks: 5, writeAlign: 16 },
      { blockLength: 512, blocks: 4, writeAlign: 4, eraseValue: 0 },
      { blockLength: 256, blocks: 4, writeAlign: 1 },
    ];
    for (const g of geometries) {
      let flash = new SimFlash(g);
      let cache = new FlashCache(flash, { alertBlocks: 0 });
      const capacity = cache.capacity;
      for (let i = 0; i < capacity * 3; i++) cache.append(reading(i, i % 7 === 0));
      cache.acknowledgeThrough(capacity * 2 + 5);
      flash = flash.reboot();
      cache = new FlashCache(flash, { alertBlocks: 0 });
      const got = seqs(cache, capacity * 2);
      equal(got[got.length - 1], capacity * 3, `geometry ${JSON.stringify(g)}`);
      equal(got[0], capacity * 2 + 6);
      equal(cache.pending, got.length);
    }
  },

  'a geometry that cannot hold the format is refused at construction'() {
    throws(() => new FlashCache(new SimFlash({ blockLength: 64, blocks: 4 })), /E_CACHE_GEOMETRY/);
    throws(() => new FlashCache(new SimFlash({ blockLength: 256, blocks: 3 }), { alertBlocks: 1 }), /E_CACHE_GEOMETRY/);
    throws(() => new FlashCache(new SimFlash({ blockLength: 256, blocks: 3 }), { alertBlocks: 2 }), /E_CACHE_GEOMETRY/);
  },

  'changing the ring layout re-formats instead of misreading'() {
    let flash = new SimFlash(SMALL);
    let cache = new FlashCache(flash, { alertBlocks: 2 });
    for (let i = 0; i < 20; i++) cache.append(reading(i));
    flash = flash.reboot();
    cache = new FlashCache(flash, { alertBlocks: 0 });
    equal(cache.stats.formatted, true);
    equal(cache.pending, 0);
    ok(cache.nextSeq > 10, "the high-water mark of the old headers is kept (to block granularity)");
  },
  'an encrypted partition gets the encrypted mode: 16-byte units, each written once per erase'() {
    const flash = new SimFlash({ blockLength: 4096, blocks: 8, encrypted: true });
    const aligned = new AlignCheck(flash);
    let cache = new FlashCache(aligned, { alertBlocks: 2 });
    equal(cache.encrypted, true);
    equal(cache.layout.writeAlign, 16);
    equal(cache.layout.slotsPerBlock, 78, '4 KB block: 78 records of 32 bytes and 86 log entries');
    const n = cache.layout.slotsPerBlock;
    let appended = 0;
    const acked = new Set<number>();
    // Several laps of the main ring: single acknowledgements (as the uplink sends them), ranges,
    // alerts, reboots in between.
    for (let lap = 0; lap < 4; lap++) {
      for (let i = 0; i < 3 * n; i++) {
        const seq = cache.append(reading(appended++, appended % 9 === 0));
        ok(seq > 0);
        if (i % 4 !== 3) {
          cache.acknowledge(seq);
          acked.add(seq);
        }
      }
      const pending = seqs(cache, 2000);
      for (const seq of pending) ok(!acked.has(seq), `acknowledged ${seq} returned`);
      cache = new FlashCache(aligned.reboot(), { alertBlocks: 2 });
      deepEqual(seqs(cache, 2000), pending, `lap ${lap}: the same readings after a reboot`);
    }
    cache.acknowledgeThrough(cache.nextSeq);
    equal(cache.pending, 0);
    equal(flash.counters.unitRewrites, 0, 'no 16-byte unit written twice');
    equal(flash.counters.corruptions, 0);
    equal(aligned.misaligned, 0, 'every write 16-byte aligned, a multiple of 16');
    ok(aligned.writes > 4 * 3 * n);
    equal(cache.stats.corruptSkipped, 0);
    equal(cache.stats.badBlocks, 0);
  },
  'plain NOR keeps format 2 as it was: the same layout and no encrypted mode'() {
    const cache = new FlashCache(new SimFlash({ blockLength: 4096, blocks: 8 }));
    equal(cache.encrypted, false);
    equal(cache.layout.slotsPerBlock, 193);
    equal(cache.layout.slotLength, 20);
    equal(cache.layout.recordsOffset, 96 + 48 + 3 * 28);
  },
  'a partition of the other mode is re-formatted, never misread'() {
    // The same bytes seen through the other mode: the header version says which mode wrote them.
    const plain = new SimFlash({ blockLength: 512, blocks: 6, writeAlign: 16 });
    let cache = new FlashCache(plain, { alertBlocks: 0 });
    for (let i = 0; i < 12; i++) cache.append(reading(i));
    const snap = plain.snapshot();
    const asEncrypted = SimFlash.fromSnapshot({ ...snap, geometry: { ...snap.geometry, encrypted: true }, units: undefined });
    cache = new FlashCache(asEncrypted, { alertBlocks: 0 });
    equal(cache.encrypted, true);
    equal(cache.stats.formatted, true);
    equal(cache.pending, 0);
    ok(cache.nextSeq > 12, 'the high-water mark of the plain headers is kept');
    for (let i = 0; i < 7; i++) cache.append(reading(100 + i));
    const back = asEncrypted.snapshot();
    const asPlain = SimFlash.fromSnapshot({ ...back, geometry: { ...back.geometry, encrypted: false } });
    cache = new FlashCache(asPlain, { alertBlocks: 0 });
    equal(cache.stats.formatted, true);
    equal(cache.pending, 0);
  },
  'encrypted mode: a block acknowledged one reading at a time, then in ranges, never fills its log'() {
    const flash = new SimFlash({ blockLength: 1024, blocks: 4, encrypted: true });
    let cache = new FlashCache(flash, { alertBlocks: 0 });
    const n = cache.layout.slotsPerBlock;
    equal(cache.layout.logEntries, n + 8);
    const first: number[] = [];
    for (let i = 0; i < n; i++) first.push(cache.append(reading(i)));
    // Every other one singly, backwards (no range merges), then the rest through the last.
    for (let i = n - 1; i >= 0; i -= 2) cache.acknowledge(first[i]!);
    equal(cache.pending, n - Math.ceil(n / 2));
    for (let i = 0; i < n; i += 2) cache.acknowledge(first[i]!);
    equal(cache.pending, 0);
    equal(cache.stats.faults, 0, cache.stats.lastFault);
    cache = new FlashCache(flash.reboot(), { alertBlocks: 0 });
    equal(cache.pending, 0, 'every acknowledgement is on flash');
    equal(flash.counters.unitRewrites, 0);
  },
  'encrypted mode: a record slot holding a torn write is found by reading back, marked dead, and skipped'() {
    const flash = new SimFlash({ blockLength: 512, blocks: 4, encrypted: true });
    let cache = new FlashCache(flash, { alertBlocks: 0 });
    for (let i = 0; i < 2; i++) cache.append(reading(i));
    // A cut tore the next record's write: its slot holds garbage that no read tells from erased flash.
    const at = cache.layout.recordsOffset + 2 * cache.layout.slotLength;
    flash.fillGarbage(at, 16, 5);
    const rebooted = flash.reboot();
    cache = new FlashCache(rebooted, { alertBlocks: 0 });
    const seq = cache.append(reading(2));
    ok(seq > 2);
    equal(cache.stats.corruptSkipped, 1, 'the torn slot is dead, counted');
    ok(/did not read back/.test(cache.stats.lastFault), cache.stats.lastFault);
    deepEqual(seqs(cache).length, 3);
    cache = new FlashCache(rebooted.reboot(), { alertBlocks: 0 });
    equal(seqs(cache).length, 3);
    equal(cache.stats.corruptSkipped, 1, 'counted once, across a reboot');
  },
};

/** Checks that every write is 16-byte aligned and a multiple of 16 (the encrypted-flash rule). */
class AlignCheck implements Flash {
  writes = 0;
  misaligned = 0;
  constructor(public inner: SimFlash) {}
  read(byteLength: number, byteOffset: number): ArrayBuffer;
  read(buffer: Bytes, byteOffset: number): void;
  read(a: number | Bytes, offset: number): ArrayBuffer | void {
    return this.inner.read(a as never, offset);
  }
  write(buffer: Bytes, offset: number): void {
    this.writes++;
    if (offset % 16 !== 0 || buffer.byteLength % 16 !== 0) this.misaligned++;
    this.inner.write(buffer, offset);
  }
  eraseBlock(block: number): void {
    this.inner.eraseBlock(block);
  }
  status() {
    return this.inner.status();
  }
  close(): void {}
  /** Power comes back: the same checker on a fresh view of the chip. */
  reboot(): AlignCheck {
    this.inner = this.inner.reboot();
    return this;
  }
}
