/*
 * The strict NOR flash model: every rule and fault it enforces or injects.
 */
import { deepEqual, equal, ok, throws } from '../harness/assert';
import { FlashError, PowerCut, SimFlash } from '../../simulator/flash/index';

const small = () => new SimFlash({ blockLength: 256, blocks: 4, writeAlign: 4 });

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
};
