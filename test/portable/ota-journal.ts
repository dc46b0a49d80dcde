/*
 * The OTA journal's record log (firmware/ota/journal.ts) on plain NOR and on an encrypted
 * partition (ESP32 flash encryption, SimFlash `encrypted`): every record is written once into an
 * erased 16-byte-aligned slot, so the log keeps working when the partition is flagged `encrypted`.
 */
import { equal, ok } from '../harness/assert';
import { RecordLog } from '../../firmware/ota/journal';
import { PowerCut, SimFlash, type SimFlashGeometry } from '../../simulator/flash/index';

const PAYLOAD = 24;

function payload(n: number): Uint8Array {
  const p = new Uint8Array(PAYLOAD);
  for (let i = 0; i < PAYLOAD; i++) p[i] = (n * 7 + i) & 0xff;
  return p;
}

function latest(flash: SimFlash): number {
  const out = new Uint8Array(PAYLOAD);
  if (!new RecordLog(flash, 0, PAYLOAD).read(out)) return 0;
  return (out[0]! * 183) & 0xff; // inverse of n * 7 mod 256 (7 * 183 = 1281 = 5 * 256 + 1)
}

/** Appends 1..total, cutting the power at operation `cut` (torn); returns the last append that returned. */
function run(geometry: SimFlashGeometry, total: number, cut: number, seed: number): { flash: SimFlash; done: number } {
  let flash = new SimFlash(geometry);
  flash.cutAfter(cut, { tear: true, seed });
  let log = new RecordLog(flash, 0, PAYLOAD);
  let done = 0;
  for (let n = 1; n <= total; n++) {
    try {
      log.append(payload(n));
      done = n;
    } catch (e) {
      if (!(e instanceof PowerCut)) throw e;
      flash = flash.reboot();
      log = new RecordLog(flash, 0, PAYLOAD);
      if (latest(flash) !== done) throw new Error(`after the cut: ${latest(flash)}, expected ${done}`);
      n--;
    }
  }
  return { flash, done };
}

function suite(geometry: SimFlashGeometry): void {
  const total = 80; // more than two blocks (32 slots each) of records: the log erases and switches blocks
  const clean = run(geometry, total, 1_000_000, 1);
  equal(latest(clean.flash), total);
  const operations = clean.flash.operations;
  for (let cut = 0; cut < operations; cut++) {
    const { flash, done } = run(geometry, total, cut, cut + 1);
    equal(done, total, `cut ${cut}`);
    equal(latest(flash), total, `cut ${cut}`);
    if (geometry.encrypted) equal(flash.counters.unitRewrites, 0, `cut ${cut}: no 16-byte unit written twice`);
  }
}

export const tests = {
  'plain NOR: a torn cut at every operation keeps the newest completed record'() {
    suite({ blockLength: 1024, blocks: 3 });
  },

  'encrypted partition: the same, with every unit written once (16-byte records, erased slots read as noise)'() {
    suite({ blockLength: 1024, blocks: 3, encrypted: true });
    const flash = new SimFlash({ blockLength: 1024, blocks: 3, encrypted: true });
    const log = new RecordLog(flash, 0, PAYLOAD);
    equal(log.recordBytes % 16, 0);
    log.append(payload(1));
    ok(latest(flash) === 1);
  },
};
