/*
 * The strict NOR flash model: every rule and fault it enforces or injects.
 */
import { deepEqual, equal, ok, throws } from '../harness/assert';
import { ENCRYPTED_UNIT, FlashError, PowerCut, SimFlash } from '../../simulator/flash/index';

const small = () => new SimFlash({ blockLength: 256, blocks: 4, writeAlign: 4 });

const encrypted = () => new SimFlash({ blockLength: 256, blocks: 4, encrypted: true });

/** 16 bytes 0x10 + i + k: a unit that differs for every k. */
function unit(k: number, count = 1): Uint8Array {
  const out = new Uint8Array(ENCRYPTED_UNIT * count);
  for (let i = 0; i < out.length; i++) out[i] = (0x10 + i + k) & 0xff;
  return out;
}

function read(flash: SimFlash, byteOffset: number, byteLength: number): Uint8Array {
  return new Uint8Array(flash.read(byteLength, byteOffset));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

export const tests = {
  'a new chip is erased and reports its geometry'() {
    const flash = small();
    deepEqual(flash.status(), { blockLength: 256, blocks: 4, writeAlign: 4, eraseValue: 0xff });
    const all = new Uint8Array(flash.read(1024, 0));
    ok(all.every((b) => b === 0xff));
  },

  'write then read back, into a new buffer or a given view'() {
    const flash = small();
    flash.write(bytes(1, 2, 3, 4, 5, 6, 7, 8), 8);
    deepEqual(new Uint8Array(flash.read(8, 8)), bytes(1, 2, 3, 4, 5, 6, 7, 8));
    const target = new Uint8Array(6);
    flash.read(new Uint8Array(target.buffer, 1, 4), 9);
    deepEqual(target, bytes(0, 2, 3, 4, 5, 0));
  },

  'programming a 0 back to 1 throws E_FLASH_PROGRAM and changes nothing'() {
    const flash = small();
    flash.write(bytes(0xf0, 0xff, 0xff, 0x00), 0);
    throws(() => flash.write(bytes(0xff, 0xff, 0xff, 0x00), 0), /E_FLASH_PROGRAM/);
    deepEqual(new Uint8Array(flash.read(4, 0)), bytes(0xf0, 0xff, 0xff, 0x00));
  },

  're-programming with more zero bits is allowed (NOR)'() {
    const flash = small();
    flash.write(bytes(0xf0, 0xff, 0xff, 0xff), 0);
    flash.write(bytes(0x30, 0xff, 0x7f, 0xff), 0);
    deepEqual(new Uint8Array(flash.read(4, 0)), bytes(0x30, 0xff, 0x7f, 0xff));
  },

  'misaligned offset or length throws E_FLASH_ALIGN'() {
    const flash = small();
    throws(() => flash.write(bytes(0, 0, 0, 0), 2), /E_FLASH_ALIGN/);
    throws(() => flash.write(bytes(0, 0), 0), /E_FLASH_ALIGN/);
    ok(new Uint8Array(flash.read(8, 0)).every((b) => b === 0xff));
  },

  'out-of-range accesses throw E_FLASH_RANGE'() {
    const flash = small();
    throws(() => flash.read(8, 1020), /E_FLASH_RANGE/);
    throws(() => flash.read(1, -1), /E_FLASH_RANGE/);
    throws(() => flash.write(bytes(0, 0, 0, 0), 1024), /E_FLASH_RANGE/);
    throws(() => flash.eraseBlock(4), /E_FLASH_RANGE/);
    throws(() => flash.eraseBlock(1.5), /E_FLASH_RANGE/);
  },

  'erase resets exactly one whole block and counts it'() {
    const flash = small();
    flash.write(new Uint8Array(512).fill(0), 0);
    flash.eraseBlock(1);
    ok(new Uint8Array(flash.read(256, 0)).every((b) => b === 0));
    ok(new Uint8Array(flash.read(256, 256)).every((b) => b === 0xff));
    flash.eraseBlock(1);
    equal(flash.eraseCount(1), 2);
    equal(flash.eraseCount(0), 0);
    equal(flash.operations, 3);
    equal(flash.counters.erases, 2);
  },

  'erase value 0x00: programming sets bits, 1 -> 0 throws'() {
    const flash = new SimFlash({ blockLength: 256, blocks: 2, writeAlign: 4, eraseValue: 0 });
    ok(new Uint8Array(flash.read(4, 0)).every((b) => b === 0));
    flash.write(bytes(0x0f, 0, 0, 0), 0);
    flash.write(bytes(0x1f, 0, 0, 0), 0);
    throws(() => flash.write(bytes(0x01, 0, 0, 0), 0), /E_FLASH_PROGRAM/);
  },

  'a power cut throws PowerCut, kills the view until reboot, and the old view stays dead'() {
    const flash = small();
    flash.cutAfter(1);
    flash.write(bytes(1, 1, 1, 1), 0);
    throws(() => flash.write(bytes(2, 2, 2, 2), 4), /E_POWER_CUT/);
    ok(flash.poweredOff);
    throws(() => flash.read(4, 0), /E_POWER_CUT/);
    throws(() => flash.eraseBlock(0), /E_POWER_CUT/);
    const after = flash.reboot();
    deepEqual(new Uint8Array(after.read(8, 0)), bytes(1, 1, 1, 1, 0xff, 0xff, 0xff, 0xff));
    throws(() => flash.read(4, 0), /E_POWER_CUT/);
    after.write(bytes(2, 2, 2, 2), 4);
    equal(after.counters.cuts, 1);
  },

  'a torn write leaves a prefix of words and a half-programmed word, never more'() {
    let partial = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const flash = small();
      const data = new Uint8Array(32).fill(0x00);
      flash.cutAfter(0, { tear: true, seed });
      throws(() => flash.write(data, 32), /E_POWER_CUT/);
      const got = flash.reboot().peekBytes(32, 32);
      let firstUnwritten = got.findIndex((b) => b !== 0);
      if (firstUnwritten < 0) firstUnwritten = 32;
      ok(firstUnwritten < 32, 'a torn write never completes every word');
      // After the word being programmed, nothing was touched.
      const wordEnd = (Math.floor(firstUnwritten / 4) + 1) * 4;
      for (let i = wordEnd; i < 32; i++) equal(got[i], 0xff, `byte ${i} seed ${seed}`);
      if (got.some((b) => b !== 0 && b !== 0xff)) partial++;
    }
    ok(partial > 50, `half-programmed bytes seen (${partial})`);
  },

  'a torn erase leaves the block partly erased'() {
    let partly = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const flash = small();
      flash.write(new Uint8Array(256).fill(0), 256);
      flash.cutAfter(0, { tear: true, seed });
      throws(() => flash.eraseBlock(1), /E_POWER_CUT/);
      const got = flash.reboot().peekBytes(256, 256);
      const erased = got.filter((b) => b === 0xff).length;
      ok(erased < 256, 'a torn erase never finishes');
      if (erased > 0) partly++;
      equal(flash.eraseCount(1), 1, 'a torn erase still wears the block');
    }
    ok(partly > 30, `partly erased blocks (${partly})`);
  },

  'a cut without tear changes nothing; a cut can be cancelled'() {
    const flash = small();
    flash.cutAfter(0);
    throws(() => flash.eraseBlock(0), /E_POWER_CUT/);
    const next = flash.reboot();
    equal(next.eraseCount(0), 0);
    next.cutAfter(0);
    next.cancelCut();
    next.eraseBlock(0);
    equal(next.eraseCount(0), 1);
  },

  'an armed cut survives a clean reboot'() {
    const flash = small();
    flash.cutAfter(1);
    flash.eraseBlock(0);
    const next = flash.reboot();
    throws(() => next.eraseBlock(1), /E_POWER_CUT/);
  },

  'snapshot and fromSnapshot copy bits and erase counts'() {
    const flash = small();
    flash.eraseBlock(2);
    flash.write(bytes(9, 8, 7, 6), 512);
    const copy = SimFlash.fromSnapshot(flash.snapshot());
    deepEqual(new Uint8Array(copy.read(4, 512)), bytes(9, 8, 7, 6));
    equal(copy.eraseCount(2), 1);
    copy.eraseBlock(2);
    deepEqual(new Uint8Array(flash.read(4, 512)), bytes(9, 8, 7, 6), 'the copy is independent');
  },

  'bitFlip and fillGarbage corrupt in place, deterministically'() {
    const a = small();
    const b = small();
    a.fillGarbage(0, 64, 5);
    b.fillGarbage(0, 64, 5);
    deepEqual(a.peekBytes(0, 64), b.peekBytes(0, 64));
    ok(a.peekBytes(0, 64).some((x) => x !== 0xff));
    a.bitFlip(100, 3);
    equal(a.peekBytes(100, 1)[0], 0xf7);
  },

  'close makes every call throw E_FLASH_CLOSED, twice is fine'() {
    const flash = small();
    flash.close();
    flash.close();
    throws(() => flash.read(4, 0), /E_FLASH_CLOSED/);
  },

  'bad geometry is refused'() {
    throws(() => new SimFlash({ blockLength: 300, blocks: 2 }), /powers of two/);
    throws(() => new SimFlash({ blockLength: 256, blocks: 0 }), /blocks/);
    throws(() => new SimFlash({ blockLength: 256, blocks: 2, eraseValue: 0x55 }), /eraseValue/);
    ok(new FlashError('E_FLASH_RANGE', 'x') instanceof Error);
    ok(new PowerCut('x') instanceof Error);
  },
  'encrypted: writeAlign is 16 and status says encrypted; smaller alignments are refused'() {
    const flash = encrypted();
    deepEqual(flash.status(), { blockLength: 256, blocks: 4, writeAlign: 16, eraseValue: 0xff, encrypted: true });
    throws(() => new SimFlash({ blockLength: 256, blocks: 4, writeAlign: 4, encrypted: true }), /writeAlign >= 16/);
    throws(() => flash.write(bytes(0, 0, 0, 0), 0), /E_FLASH_ALIGN/);
    throws(() => flash.write(unit(0), 8), /E_FLASH_ALIGN/);
    throws(() => flash.write(unit(0).subarray(0, 12), 16), /E_FLASH_ALIGN/);
    equal(flash.counters.writes, 0, 'a refused write is not an operation');
  },

  'encrypted: a first write reads back; erased units read as noise, not the erase value'() {
    const flash = encrypted();
    flash.write(unit(1, 2), 32);
    ok(same(read(flash, 32, 32), unit(1, 2)));
    const erased = read(flash, 0, 32);
    ok(!erased.every((b) => b === 0xff), 'an erased unit decrypts to noise');
    ok(same(erased, read(flash, 0, 32)), 'the same noise every time (same key, same address)');
    ok(!same(erased.subarray(0, 16), erased.subarray(16, 32)), 'a different noise per unit');
    ok(same(read(flash, 36, 24), unit(1, 2).subarray(4, 28)), 'reads need not be aligned');
    const span = read(flash, 24, 16);
    ok(same(span.subarray(0, 8), erased.subarray(24, 32)) && same(span.subarray(8), unit(1, 2).subarray(0, 8)), 'a read across an erased and a written unit');
    flash.eraseBlock(0);
    ok(same(read(flash, 0, 32), erased), 'after an erase: the erased noise again');
  },

  'encrypted: a second write to a unit garbles the whole unit (bit-clearing included), counted'() {
    const flash = encrypted();
    const first = unit(2);
    flash.write(first, 64);
    const cleared = first.slice();
    cleared[3] = cleared[3]! & 0xfe; // what an acknowledge bitmap update does to plain NOR
    flash.write(cleared, 64); // no error: esp_partition_write succeeds
    const back = read(flash, 64, 16);
    ok(!same(back, first) && !same(back, cleared), 'neither the old nor the new data');
    let equalBytes = 0;
    for (let i = 0; i < 16; i++) if (back[i] === cleared[i]) equalBytes++;
    ok(equalBytes < 8, 'the whole unit, not one byte');
    equal(flash.counters.unitRewrites, 1);
    equal(flash.counters.corruptions, 1);
    flash.eraseBlock(0);
    flash.write(cleared, 64);
    ok(same(read(flash, 64, 16), cleared), 'written once after an erase: fine again');
  },

  'encrypted: rewriting identical data is harmless (identical ciphertext) but counted'() {
    const flash = encrypted();
    flash.write(unit(3, 2), 0);
    flash.write(unit(3, 2), 0);
    ok(same(read(flash, 0, 32), unit(3, 2)));
    equal(flash.counters.unitRewrites, 2);
    equal(flash.counters.corruptions, 0);
  },

  'encrypted: a write spanning a written and an erased unit garbles only the written one'() {
    const flash = encrypted();
    flash.write(unit(4), 16);
    flash.write(unit(5, 2), 16);
    ok(!same(read(flash, 16, 16), unit(5)), 'the unit written before');
    ok(same(read(flash, 32, 16), unit(5, 2).subarray(16)), 'the erased one takes the write');
  },

  'encrypted: a torn write leaves whole units, one garbage unit, and untouched erased ones'() {
    for (let seed = 1; seed <= 30; seed++) {
      const flash = encrypted();
      const erasedNoise = read(flash, 0, 128);
      const data = unit(6, 8);
      flash.cutAfter(0, { tear: true, seed });
      throws(() => flash.write(data, 0), /power cut/);
      const after = flash.reboot();
      const back = read(after, 0, 128);
      let u = 0;
      while (u < 8 && same(back.subarray(u * 16, u * 16 + 16), data.subarray(u * 16, u * 16 + 16))) u++;
      ok(u < 8, `seed ${seed}: the cut write did not complete`);
      const torn = back.subarray(u * 16, u * 16 + 16);
      ok(!same(torn, data.subarray(u * 16, u * 16 + 16)) && !same(torn, erasedNoise.subarray(u * 16, u * 16 + 16)), `seed ${seed}: unit ${u} garbage`);
      ok(same(back.subarray(u * 16 + 16), erasedNoise.subarray(u * 16 + 16)), `seed ${seed}: the rest still erased`);
      after.eraseBlock(0);
      after.write(data, 0);
      ok(same(read(after, 0, 128), data), `seed ${seed}: an erase makes the units writable again`);
    }
  },

  'encrypted: a scattered torn write makes every changing unit whole, untouched or garbage, never half'() {
    let garbage = 0;
    let whole = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const flash = encrypted();
      const noise = read(flash, 0, 256);
      const data = unit(7, 16);
      flash.cutAfter(0, { tear: true, seed, scatter: seed % 2 === 0 ? 0.99 : 0.02 });
      throws(() => flash.write(data, 0), /power cut/);
      const back = read(flash.reboot(), 0, 256);
      for (let u = 0; u < 16; u++) {
        const got = back.subarray(u * 16, u * 16 + 16);
        const want = data.subarray(u * 16, u * 16 + 16);
        if (same(got, want)) whole++;
        else if (!same(got, noise.subarray(u * 16, u * 16 + 16))) {
          garbage++;
          let equalBytes = 0;
          for (let i = 0; i < 16; i++) if (got[i] === want[i]) equalBytes++;
          ok(equalBytes < 8, `seed ${seed} unit ${u}: garbage, not a half-programmed unit`);
        }
      }
    }
    ok(garbage > 0 && whole > 0, `both outcomes occur (${whole} whole, ${garbage} garbage)`);
  },

  'encrypted: a torn erase leaves each unit erased, intact or garbage'() {
    const noise = read(encrypted(), 0, 256);
    const data = unit(8, 16);
    const seen = { erased: 0, intact: 0, garbage: 0 };
    for (const scatter of [0.99, 0.01]) {
      const flash = encrypted();
      flash.write(data, 0);
      flash.cutAfter(0, { tear: true, seed: 3, scatter });
      throws(() => flash.eraseBlock(0), /power cut/);
      const after = flash.reboot();
      const back = read(after, 0, 256);
      for (let u = 0; u < 16; u++) {
        const got = back.subarray(u * 16, u * 16 + 16);
        if (same(got, data.subarray(u * 16, u * 16 + 16))) seen.intact++;
        else if (same(got, noise.subarray(u * 16, u * 16 + 16))) {
          seen.erased++;
          after.write(unit(u), u * 16);
          ok(same(read(after, u * 16, 16), unit(u)), `unit ${u}: erased, so writable`);
        } else seen.garbage++;
      }
    }
    ok(seen.erased > 0 && seen.intact > 0 && seen.garbage > 0, JSON.stringify(seen));
  },

  'encrypted: a bit flip garbles exactly the unit it hits'() {
    const flash = encrypted();
    flash.write(unit(9, 2), 0);
    flash.bitFlip(20, 1);
    ok(same(read(flash, 0, 16), unit(9)), 'the other unit is untouched');
    ok(!same(read(flash, 16, 16), unit(9, 2).subarray(16)), 'the flipped unit is garbage');
    equal(flash.counters.corruptions, 1);
  },

  'encrypted: snapshots keep which units were written'() {
    const flash = encrypted();
    flash.write(new Uint8Array(16).fill(0xff), 0); // written plaintext that equals the erase value
    const copy = SimFlash.fromSnapshot(flash.snapshot());
    ok(same(read(copy, 0, 16), new Uint8Array(16).fill(0xff)), 'still written, not erased noise');
    deepEqual(copy.status(), flash.status());
  },
};
