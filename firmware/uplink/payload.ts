/*
 * Reading payloads, byte for byte in docs/payload.md. Three shapes:
 *
 *   single (JSON)  pipewatch/<dev>/readings (alerts: pipewatch/<dev>/alerts), one reading:
 *     {"dev":"<dev>","seq":<n>,"ts":<ms>,"sync":<true|false>,"ch":<ch>,"<unit>":<int>[,"alert":true]}
 *   batch (JSON)   pipewatch/<dev>/readings, several readings of a backlog, oldest first:
 *     {"dev":"<dev>","r":[[<seq>,<ts>,<sync 0|1>,<ch>,"<unit>",<int>],...]}
 *   binary         pipewatch/<dev>/readings/bin, 1..255 readings (format 'binary'):
 *     u8 version (1), u8 count, u48 first seq, u48 first ts (big-endian), then per reading:
 *     u8 flags (bit0 sync, bit1 alert, bits 2-3 kind, bits 4-7 zero), u8 channel,
 *     varint seq delta (0 for the first, >= 1 after), zigzag varint ts delta, zigzag varint value.
 *
 * Alerts are always single JSON on the alerts topic, in either format. Units: "mC" milli-degrees
 * Celsius, "mRH" milli-percent RH, "Pa" pascal. Writers are fixed buffers: nothing allocates per
 * reading, and a reading that does not fit is left out whole (never a truncated payload).
 */
import { ReadingKind, type Reading } from '../store';
import { AsciiWriter, asciiBytes } from './ascii';

export type PayloadFormat = 'json' | 'binary';

export const unitKeys = Object.freeze(['mC', 'mRH', 'Pa'] as const);
const unitKey: Record<number, string> = Object.freeze({
  [ReadingKind.milliCelsius]: unitKeys[0],
  [ReadingKind.milliPercentRH]: unitKeys[1],
  [ReadingKind.pascal]: unitKeys[2],
});

/** Binary payload constants (docs/payload.md, "Binary batch"). */
export const Binary = Object.freeze({
  VERSION: 1,
  HEADER_BYTES: 14,
  MAX_COUNT: 255,
  FLAG_SYNC: 0x01,
  FLAG_ALERT: 0x02,
  KIND_SHIFT: 2,
  KIND_MASK: 0x0c,
  RESERVED_MASK: 0xf0,
  /** Longest varint: 8 groups of 7 bits hold every value up to 2^53. */
  MAX_VARINT_BYTES: 8,
  /** One record at most: flags, channel, three varints. */
  MAX_RECORD_BYTES: 2 + 3 * 8,
} as const);

/** Largest sequence number and time the formats carry (48 bits; ms since 1970 reach year 10889). */
export const MAX_U48 = 0xffffffffffff;

export class ReadingEncoder {
  readonly #prefix: Uint8Array;
  readonly #batchPrefix: Uint8Array;
  readonly out: AsciiWriter;
  readonly readingsTopic: Uint8Array;
  readonly alertsTopic: Uint8Array;
  readonly binaryTopic: Uint8Array;
  /** Readings the last `batch` call took (a prefix of its input). */
  taken = 0;

  constructor(deviceId: string, capacity = 160) {
    this.#prefix = asciiBytes(`{"dev":"${deviceId}","seq":`);
    this.#batchPrefix = asciiBytes(`{"dev":"${deviceId}","r":[`);
    this.out = new AsciiWriter(capacity);
    this.readingsTopic = asciiBytes(`pipewatch/${deviceId}/readings`);
    this.alertsTopic = asciiBytes(`pipewatch/${deviceId}/alerts`);
    this.binaryTopic = asciiBytes(`pipewatch/${deviceId}/readings/bin`);
  }

  /** Encodes one reading (single JSON) into `out`; returns its length, or 0 if it did not fit. */
  encode(r: Reading): number {
    const w = this.out.reset();
    w.raw(this.#prefix).int(r.seq).text(',"ts":').int(r.timeMs);
    w.text(r.synced ? ',"sync":true,"ch":' : ',"sync":false,"ch":').int(r.channel);
    w.text(',"').text(unitKey[r.kind] ?? 'v').text('":').int(r.value);
    w.text(r.alert ? ',"alert":true}' : '}');
    return w.overflow ? 0 : w.length;
  }

  /**
   * Encodes `readings[0..count)` as one JSON batch, taking as many as fit (`taken`); returns
   * the length, or 0 when not even one fits.
   */
  batch(readings: readonly Reading[], count: number): number {
    const w = this.out.reset();
    w.raw(this.#batchPrefix);
    let taken = 0;
    for (let i = 0; i < count; i++) {
      const r = readings[i]!;
      const before = w.length;
      if (i > 0) w.text(',');
      w.text('[').int(r.seq).text(',').int(r.timeMs).text(r.synced ? ',1,' : ',0,').int(r.channel);
      w.text(',"').text(unitKey[r.kind] ?? 'v').text('",').int(r.value).text(']');
      // room for the closing "]}" must remain
      if (w.overflow || w.length + 2 > w.bytes.length) {
        w.length = before;
        w.overflow = false;
        break;
      }
      taken++;
    }
    this.taken = taken;
    if (taken === 0) return 0;
    w.text(']}');
    return w.overflow ? 0 : w.length;
  }

  /** Encodes `readings[0..count)` (at most 255) as one binary batch; same contract as `batch`. */
  binary(readings: readonly Reading[], count: number): number {
    const w = this.out.reset();
    const b = w.bytes;
    this.taken = 0;
    if (count < 1 || b.length < Binary.HEADER_BYTES + Binary.MAX_RECORD_BYTES) return 0;
    const first = readings[0]!;
    if (!(first.seq >= 0 && first.seq <= MAX_U48 && first.timeMs >= 0 && first.timeMs <= MAX_U48)) return 0;
    b[0] = Binary.VERSION;
    writeU48(b, 2, first.seq);
    writeU48(b, 8, first.timeMs);
    let p: number = Binary.HEADER_BYTES;
    let prevSeq = first.seq;
    let prevTs = first.timeMs;
    let taken = 0;
    const limit = count < Binary.MAX_COUNT ? count : Binary.MAX_COUNT;
    for (let i = 0; i < limit; i++) {
      const r = readings[i]!;
      if (p + Binary.MAX_RECORD_BYTES > b.length) break;
      if (i > 0 && !(r.seq > prevSeq && r.seq <= MAX_U48 && r.timeMs >= 0 && r.timeMs <= MAX_U48)) break;
      b[p++] = (r.synced ? Binary.FLAG_SYNC : 0) | (r.alert ? Binary.FLAG_ALERT : 0) | ((r.kind & 3) << Binary.KIND_SHIFT);
      b[p++] = r.channel & 0xff;
      p = writeVarint(b, p, r.seq - prevSeq);
      p = writeVarint(b, p, zigzag(r.timeMs - prevTs));
      p = writeVarint(b, p, zigzag(r.value));
      prevSeq = r.seq;
      prevTs = r.timeMs;
      taken++;
    }
    b[1] = taken;
    this.taken = taken;
    w.length = p;
    return taken === 0 ? 0 : p;
  }
}

function writeU48(b: Uint8Array, p: number, value: number): void {
  const high = Math.floor(value / 0x100000000);
  const low = value - high * 0x100000000;
  b[p] = (high >> 8) & 0xff;
  b[p + 1] = high & 0xff;
  b[p + 2] = (low >>> 24) & 0xff;
  b[p + 3] = (low >>> 16) & 0xff;
  b[p + 4] = (low >>> 8) & 0xff;
  b[p + 5] = low & 0xff;
}

export function readU48(b: Uint8Array, p: number): number {
  return (b[p]! * 256 + b[p + 1]!) * 0x100000000 + ((b[p + 2]! << 24) >>> 0) + (b[p + 3]! << 16) + (b[p + 4]! << 8) + b[p + 5]!;
}

/** Zigzag in arithmetic (not 32-bit shifts), for any safe integer. */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

function writeVarint(b: Uint8Array, p: number, value: number): number {
  let v = value;
  while (v >= 128) {
    b[p++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[p++] = v;
  return p;
}
