/*
 * ESP-IDF application images for the simulator: a builder of minimal valid images, and the
 * check ESP-IDF applies to a whole image at esp_ota_end and at every boot. Portable (no Node
 * APIs): used by the simulated bootloader, the simulator's signed images and the tests.
 *
 * `buildAppImage(o)` writes, like esptool's elf2image: esp_image_header_t (24 bytes; magic
 * 0xE9, chip id, min/max chip revision, hash_appended 1), a DROM segment whose data starts with
 * the esp_app_desc_t (magic 0xABCD5432, `version`, project "pipewatch") followed by `text` and
 * filler, an IROM segment of filler, the XOR checksum (initial 0xEF) in the last byte of the
 * 16-byte padding, then the SHA-256 of everything before it. With `bytes`, segment sizes are
 * chosen so that the image is exactly `bytes` long; the 0..15 bytes a 16-byte aligned image
 * cannot reach are left as 0xff after the image (ESP-IDF ignores bytes past its own length).
 *
 * `verifyAppImage(read, partitionBytes, chip, chipRevFull, scratch)` follows
 * components/bootloader_support/src/esp_image_format.c (image_load: process_image_header,
 * process_segments, process_checksum, process_appended_hash, verify_simple_hash) and
 * bootloader_common_check_chip_validity: it starts from failure and has one exit.
 */
import { Sha256 } from '../../firmware/crypto/sha256';
import {
  ESP_APP_DESC_BYTES,
  ESP_APP_DESC_MAGIC,
  ESP_APP_VERSION_OFFSET,
  ESP_IMAGE_HEADER_BYTES,
  ESP_IMAGE_MAGIC,
  ESP_IMAGE_MAX_SEGMENTS,
  ESP_SEGMENT_HEADER_BYTES,
  EspChip,
} from '../../firmware/ota/esp-image';

/** Load addresses of the first DROM and IROM byte mapped at offset 0x20 of a 64 KiB page. */
const MAP_BASE = Object.freeze({
  [EspChip.esp32]: [0x3f400020, 0x400d0020],
  [EspChip.esp32s2]: [0x3f000020, 0x40080020],
  [EspChip.esp32s3]: [0x3c000020, 0x42000020],
  [EspChip.esp32c3]: [0x3c000020, 0x42000020],
} as Record<number, readonly [number, number]>);

/** Chip revisions an image built with ESP-IDF 5 accepts by default (major * 100 + minor). */
export const DEFAULT_REV_RANGE = Object.freeze({
  [EspChip.esp32]: [0, 399],
  [EspChip.esp32s2]: [0, 199],
  [EspChip.esp32s3]: [0, 99],
  [EspChip.esp32c3]: [3, 199],
} as Record<number, readonly [number, number]>);

/** The revision of the simulated chip of each kind (ESP32 v3.1, S3 v0.2, C3 v0.4, S2 v1.0). */
export const SIM_CHIP_REV = Object.freeze({
  [EspChip.esp32]: 301,
  [EspChip.esp32s2]: 100,
  [EspChip.esp32s3]: 2,
  [EspChip.esp32c3]: 4,
} as Record<number, number>);

export interface AppImageOptions {
  chip: number;
  version: string;
  /** Total length wanted (at least 400); default 24 KiB. */
  bytes?: number;
  /** ASCII text placed right after the app descriptor (e.g. a simulator fault marker). */
  text?: string;
  seed?: number;
  minChipRevFull?: number;
  maxChipRevFull?: number;
}

const HASH_BYTES = 32;
const CHECKSUM_INITIAL = 0xef;

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v & 0xffff);
  put16(b, o + 2, v >>> 16);
}
function u16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Image length for segment data of `data` bytes in 2 segments: header, data, checksum pad, hash. */
function lengthFor(data: number): number {
  const unpadded = ESP_IMAGE_HEADER_BYTES + 2 * ESP_SEGMENT_HEADER_BYTES + data;
  return ((unpadded + 1 + 15) & ~15) + HASH_BYTES;
}

export function buildAppImage(o: AppImageOptions): Uint8Array {
  const total = o.bytes ?? 24 * 1024;
  if (!Number.isInteger(total) || total < 400) throw new RangeError('buildAppImage: at least 400 bytes');
  const text = o.text ?? '';
  const drom = (ESP_APP_DESC_BYTES + text.length + 3) & ~3;
  let data = (total - lengthFor(0)) & ~3;
  while (data > 0 && lengthFor(data) > total) data -= 4;
  const irom = data - drom;
  if (irom < 0) throw new RangeError('buildAppImage: text does not fit');
  const out = new Uint8Array(total).fill(0xff);
  const [dromAddr, iromAddr] = MAP_BASE[o.chip] ?? [0x3c000020, 0x42000020];
  const [minRev, maxRev] = DEFAULT_REV_RANGE[o.chip] ?? [0, 99];
  out[0] = ESP_IMAGE_MAGIC;
  out[1] = 2;
  out[2] = 2;
  out[3] = 0x20;
  put32(out, 4, iromAddr + 0x100);
  out[8] = 0xee;
  out.fill(0, 9, 12);
  put16(out, 12, o.chip);
  out[14] = 0;
  put16(out, 15, o.minChipRevFull ?? minRev);
  put16(out, 17, o.maxChipRevFull ?? maxRev);
  out.fill(0, 19, 23);
  out[23] = 1;
  let at = ESP_IMAGE_HEADER_BYTES;
  put32(out, at, dromAddr);
  put32(out, at + 4, drom);
  at += ESP_SEGMENT_HEADER_BYTES;
  const desc = at;
  out.fill(0, desc, desc + drom);
  put32(out, desc, ESP_APP_DESC_MAGIC);
  const version = o.version.slice(0, 31);
  for (let i = 0; i < version.length; i++) out[ESP_APP_VERSION_OFFSET + i] = version.charCodeAt(i);
  const project = 'pipewatch';
  for (let i = 0; i < project.length; i++) out[desc + 48 + i] = project.charCodeAt(i);
  for (let i = 0; i < text.length; i++) out[desc + ESP_APP_DESC_BYTES + i] = text.charCodeAt(i) & 0x7f;
  at += drom;
  put32(out, at, iromAddr);
  put32(out, at + 4, irom);
  at += ESP_SEGMENT_HEADER_BYTES;
  let x = (o.seed ?? 1) >>> 0;
  for (let i = 0; i < irom; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[at + i] = x >>> 24;
  }
  at += irom;
  let checksum = CHECKSUM_INITIAL;
  for (let i = ESP_IMAGE_HEADER_BYTES + ESP_SEGMENT_HEADER_BYTES; i < desc + drom; i++) checksum ^= out[i]!;
  for (let i = at - irom; i < at; i++) checksum ^= out[i]!;
  const padded = (at + 1 + 15) & ~15;
  out.fill(0, at, padded);
  out[padded - 1] = checksum;
  const hash = new Sha256();
  hash.update(out.subarray(0, padded));
  out.set(hash.digest(), padded);
  return out;
}

export type AppImageReason =
  | 'badImageMagic'
  | 'wrongChip'
  | 'chipRevisionTooLow'
  | 'chipRevisionTooHigh'
  | 'badSegmentCount'
  | 'badSegment'
  | 'imageTooLong'
  | 'badChecksum'
  | 'badImageHash';

/** Reads `buffer.length` bytes of the partition at `offset` into `buffer`. */
export type ImageReader = (buffer: Uint8Array, offset: number) => void;

/**
 * ESP-IDF's verification of the app image at offset 0 of a partition of `partitionBytes`.
 * `scratch` is caller-owned, at least 64 bytes (a multiple of 4); returns undefined when valid.
 */
export function verifyAppImage(read: ImageReader, partitionBytes: number, chip: number, chipRevFull: number, scratch: Uint8Array): AppImageReason | undefined {
  let reason: AppImageReason | undefined = 'badImageMagic';
  const chunk = scratch.length & ~3;
  const head = scratch.subarray(0, ESP_IMAGE_HEADER_BYTES);
  const hash = new Sha256();
  let bad: AppImageReason | undefined;
  if (partitionBytes >= ESP_IMAGE_HEADER_BYTES) {
    read(head, 0);
    const count = head[1]!;
    const hashAppended = head[23] === 1;
    if (head[0] !== ESP_IMAGE_MAGIC) bad = 'badImageMagic';
    else if (u16(head, 12) !== chip) bad = 'wrongChip';
    else if (u16(head, 15) > chipRevFull) bad = 'chipRevisionTooLow';
    else if (chipRevFull > u16(head, 17)) bad = 'chipRevisionTooHigh';
    else if (count > ESP_IMAGE_MAX_SEGMENTS) bad = 'badSegmentCount';
    hash.update(head);
    let at = ESP_IMAGE_HEADER_BYTES;
    let checksum = CHECKSUM_INITIAL;
    for (let s = 0; s < count && bad === undefined; s++) {
      if (at + ESP_SEGMENT_HEADER_BYTES > partitionBytes) {
        bad = 'imageTooLong';
        break;
      }
      const seg = scratch.subarray(0, ESP_SEGMENT_HEADER_BYTES);
      read(seg, at);
      hash.update(seg);
      const length = u32(seg, 4);
      at += ESP_SEGMENT_HEADER_BYTES;
      if (length % 4 !== 0 || length >= 0x1000000) bad = 'badSegment';
      else if (at + length > partitionBytes) bad = 'imageTooLong';
      for (let done = 0; done < length && bad === undefined; ) {
        const n = Math.min(chunk, length - done);
        const view = scratch.subarray(0, n);
        read(view, at + done);
        for (let i = 0; i < n; i++) checksum ^= view[i]!;
        hash.update(view);
        done += n;
      }
      at += length;
    }
    if (bad === undefined) {
      const padded = (at + 1 + 15) & ~15;
      if (padded + (hashAppended ? HASH_BYTES : 0) > partitionBytes) bad = 'imageTooLong';
      else {
        const pad = scratch.subarray(0, padded - at);
        read(pad, at);
        if (pad[pad.length - 1] !== checksum) bad = 'badChecksum';
        hash.update(pad);
        if (bad === undefined && hashAppended) {
          const digest = hash.digest();
          const stored = scratch.subarray(0, HASH_BYTES);
          read(stored, padded);
          let diff = 0;
          for (let i = 0; i < HASH_BYTES; i++) diff |= digest[i]! ^ stored[i]!;
          if (diff !== 0) bad = 'badImageHash';
        }
      }
    }
    reason = bad;
  }
  return reason;
}
