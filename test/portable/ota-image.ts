/*
 * The ESP-IDF app image inside an update (issue 11, item 6): the firmware's bounded head check
 * (firmware/ota/esp-image.ts), each reason refused before the whole download and before any
 * byte reaches the slot, and the simulated bootloader refusing what ESP-IDF's would
 * (simulator/ota/esp-image.ts). Runs on Node and XS.
 */
import { deepEqual, equal, ok } from '../harness/assert';
import { APP_HEAD_BYTES, checkAppHead, chipOfBoard, EspChip, readAppHead } from '../../firmware/ota/esp-image';
import { buildAppImage, verifyAppImage, SIM_CHIP_REV } from '../../simulator/ota/esp-image';
import { appImage, makeRig, signManifest, BOARD } from './ota-fixture';

const C3 = EspChip.esp32c3;
const expected = { chip: C3, version: '1.1.0' };

function good(): Uint8Array {
  return appImage('1.1.0', 21_000, 7);
}

function patched(edit: (b: Uint8Array) => void): Uint8Array {
  const b = good();
  edit(b);
  return b;
}

function put32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = v >>> 24;
}

/** Offers `img` (signed as 1.1.0) and runs until the download ends; returns the failure. */
function download(img: Uint8Array): { reason: string; bodyBytes: number; slotBTouched: boolean; rigOk: boolean } {
  const rig = makeRig();
  rig.server.images.set('/fw/pipewatch.bin', img);
  const slotB = (2 + rig.slotBlocks) * 4096;
  const before = rig.chip.peekBytes(slotB, rig.slotBlocks * 4096);
  equal(rig.updater!.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: img })), undefined);
  rig.run(60_000, () => rig.events.some((e) => e.type === 'failed' || e.type === 'verified'));
  const failed = rig.events.find((e) => e.type === 'failed');
  const after = rig.chip.peekBytes(slotB, rig.slotBlocks * 4096);
  let touched = false;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) touched = true;
  const out = rig.powerOn();
  const rigOk = out.ok && out.slot === 0 && !out.trial && rig.cacheIntact() && rig.updater!.state === 'idle';
  return { reason: failed && 'reason' in failed ? failed.reason : 'none', bodyBytes: rig.server.bodyBytesSent, slotBTouched: touched, rigOk };
}

function refusedEarly(img: Uint8Array, reason: string): void {
  const r = download(img);
  equal(r.reason, reason);
  ok(r.bodyBytes <= 1460, `${reason}: refused after the first segment, ${r.bodyBytes} of ${img.length} bytes downloaded`);
  equal(r.slotBTouched, false, `${reason}: nothing written to the slot`);
  ok(r.rigOk, `${reason}: node healthy on the factory image`);
}

/** Provisions `img` (validly signed) into slot B and asks the simulated bootloader to check it. */
function bootRefuses(img: Uint8Array, reason: string): void {
  const rig = makeRig();
  rig.bootloader.provision(1, signManifest({ version: '1.1.0', securityCounter: 2, image: img }), img);
  const verdict = rig.bootloader.verify(1);
  equal(verdict.ok ? 'ok' : verdict.reason, reason);
  const out = rig.powerOn();
  ok(out.ok && out.slot === 0, `${reason}: the bootloader falls back to the factory image`);
}

export const tests = {
  'a valid head passes; only its first 288 bytes are read'() {
    const img = good();
    equal(checkAppHead(img, img.length, expected), undefined);
    equal(checkAppHead(img.subarray(0, APP_HEAD_BYTES), APP_HEAD_BYTES, expected), undefined);
    equal(checkAppHead(img, img.length, { chip: C3, version: '1.1.1' }), 'versionMismatch');
    const v = buildAppImage({ chip: C3, version: 'v1.1.0', bytes: 4096 });
    equal(checkAppHead(v, v.length, expected), undefined, 'a git-describe "v" prefix is the same version');
    const head = readAppHead(img)!;
    deepEqual([head.chip, head.segmentCount, head.version, head.hashAppended], [C3, 2, '1.1.0', 1]);
  },
  'each head reason'() {
    equal(checkAppHead(good(), 287, expected), 'imageTooShort');
    equal(checkAppHead(good().subarray(0, 100), 100, expected), 'imageTooShort');
    equal(checkAppHead(patched((b) => (b[0] = 0xe8)), 21_000, expected), 'badImageMagic');
    equal(checkAppHead(patched((b) => (b[12] = EspChip.esp32s3)), 21_000, expected), 'wrongChip');
    equal(checkAppHead(patched((b) => (b[13] = 1)), 21_000, expected), 'wrongChip');
    equal(checkAppHead(patched((b) => (b[1] = 0)), 21_000, expected), 'badSegmentCount');
    equal(checkAppHead(patched((b) => (b[1] = 17)), 21_000, expected), 'badSegmentCount');
    equal(checkAppHead(patched((b) => put32le(b, 28, 258)), 21_000, expected), 'badSegment');
    equal(checkAppHead(patched((b) => put32le(b, 28, 252)), 21_000, expected), 'badSegment');
    equal(checkAppHead(patched((b) => put32le(b, 28, 0x1000000)), 21_000, expected), 'badSegment');
    equal(checkAppHead(patched((b) => (b[32] ^= 1)), 21_000, expected), 'badAppDescriptor');
    equal(checkAppHead(patched((b) => b.fill(0x41, 48, 80)), 21_000, expected), 'badAppDescriptor', 'version not NUL-terminated');
    equal(checkAppHead(patched((b) => (b[48] = 0)), 21_000, expected), 'badAppDescriptor', 'empty version');
    equal(checkAppHead(patched((b) => (b[49] = 0x80)), 21_000, expected), 'badAppDescriptor', 'non-ASCII version');
    equal(checkAppHead(appImage('1.2.0', 21_000, 7), 21_000, expected), 'versionMismatch');
  },
  'board ids name their chip'() {
    equal(chipOfBoard(BOARD), C3);
    equal(chipOfBoard('esp32c3'), C3);
    equal(chipOfBoard('esp32-s3-max31865'), EspChip.esp32s3);
    equal(chipOfBoard('esp32s3.rev2'), EspChip.esp32s3);
    equal(chipOfBoard('esp32-tmp117'), EspChip.esp32);
    equal(chipOfBoard('esp32'), EspChip.esp32);
    equal(chipOfBoard('esp32/esp32c3'), C3);
    equal(chipOfBoard('esp32/nodemcu'), EspChip.esp32);
    equal(chipOfBoard('pipewatch-sim'), EspChip.esp32);
    equal(chipOfBoard('esp32c3x'), undefined);
    equal(chipOfBoard('rp2040-tmp117'), undefined);
  },
  'corrupt header: refused after the first segment, nothing written'() {
    refusedEarly(patched((b) => (b[0] = 0)), 'badImageMagic');
  },
  'an ESP32-S3 build offered to an ESP32-C3 node: wrongChip before the whole download'() {
    refusedEarly(buildAppImage({ chip: EspChip.esp32s3, version: '1.1.0', bytes: 21_000, seed: 3 }), 'wrongChip');
  },
  'a classic ESP32 build offered to an ESP32-C3 node: wrongChip'() {
    refusedEarly(buildAppImage({ chip: EspChip.esp32, version: '1.1.0', bytes: 21_000, seed: 3 }), 'wrongChip');
  },
  'image descriptor says 1.2.0, manifest says 1.1.0: versionMismatch before the download'() {
    refusedEarly(appImage('1.2.0', 21_000, 7), 'versionMismatch');
  },
  'bad segment count, bad first segment, bad descriptor: refused early'() {
    refusedEarly(patched((b) => (b[1] = 40)), 'badSegmentCount');
    refusedEarly(patched((b) => put32le(b, 28, 6)), 'badSegment');
    refusedEarly(patched((b) => put32le(b, 32, 0)), 'badAppDescriptor');
  },
  'an image shorter than the head is refused at the offer'() {
    const rig = makeRig();
    const tiny = new Uint8Array(200).fill(0xe9);
    equal(rig.updater!.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: tiny })), 'imageTooShort');
    equal(rig.server.requests.length, 0);
  },
  'the simulated bootloader verifies the whole ESP-IDF image'() {
    const img = good();
    const scratch = new Uint8Array(4096);
    const slot = new Uint8Array(15 * 4096).fill(0xff);
    slot.set(img);
    const read = (buffer: Uint8Array, offset: number) => buffer.set(slot.subarray(offset, offset + buffer.length));
    equal(verifyAppImage(read, slot.length, C3, SIM_CHIP_REV[C3]!, scratch), undefined);
    equal(verifyAppImage(read, slot.length, EspChip.esp32s3, 2, scratch), 'wrongChip');
    equal(verifyAppImage(read, 20_000, C3, 4, scratch), 'imageTooLong', 'image longer than the partition');
  },
  'the simulated bootloader refuses what ESP-IDF would, and falls back'() {
    bootRefuses(patched((b) => (b[0] = 0xff)), 'badImageMagic');
    bootRefuses(buildAppImage({ chip: EspChip.esp32, version: '1.1.0', bytes: 21_000 }), 'wrongChip');
    bootRefuses(appImage('1.1.0', 21_000, 7, { minChipRevFull: 101 }), 'chipRevisionTooLow');
    bootRefuses(appImage('1.1.0', 21_000, 7, { maxChipRevFull: 3 }), 'chipRevisionTooHigh');
    bootRefuses(patched((b) => (b[1] = 17)), 'badSegmentCount');
    bootRefuses(patched((b) => put32le(b, 28, 258)), 'badSegment');
    bootRefuses(patched((b) => put32le(b, 28, 0x10000)), 'imageTooLong');
    bootRefuses(patched((b) => (b[5000] ^= 0x01)), 'badChecksum');
    bootRefuses(patched((b) => (b[20_991] ^= 0x01)), 'badImageHash');
  },
};
