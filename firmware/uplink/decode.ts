/*
 * Consumer side of docs/payload.md: turns one message from a pipewatch topic back into readings,
 * strictly (anything off-format is an error, never a guess). Portable, for observers, tests and
 * gateways; the node itself never calls it. Allocates freely (it runs on the consumer).
 *
 *   const result = decodeMessage(topic, payload);
 *   if (result.error) count it; else for (const r of result.readings) dedupe by (dev, r.seq)
 */
import { ReadingKind, type Reading, type ReadingKindValue } from '../store';
import { Binary, MAX_U48, readU48, unitKeys, unzigzag } from './payload';
import { isValidId } from './ascii';

export interface DecodedMessage {
  dev: string;
  /** 'single' | 'batch' (JSON) | 'binary' | 'alert' (single JSON on the alerts topic). */
  shape: 'single' | 'batch' | 'binary' | 'alert';
  readings: Reading[];
  error?: undefined;
}
export interface DecodeFailure {
  error: string;
}

const kindOfUnit: Record<string, ReadingKindValue> = {
  mC: ReadingKind.milliCelsius,
  mRH: ReadingKind.milliPercentRH,
  Pa: ReadingKind.pascal,
};

function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
}
function isU48(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_U48;
}
function isChannel(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255;
}

function ascii(bytes: Uint8Array): string | undefined {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c > 0x7e || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) return undefined;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Splits `pipewatch/<dev>/<leaf>[/bin]`; undefined when it is not a readings or alerts topic. */
export function parseTopic(topic: string): { dev: string; kind: 'readings' | 'alerts' | 'binary' } | undefined {
  const parts = topic.split('/');
  if (parts[0] !== 'pipewatch' || !isValidId(parts[1] ?? '')) return undefined;
  if (parts.length === 3 && parts[2] === 'readings') return { dev: parts[1]!, kind: 'readings' };
  if (parts.length === 3 && parts[2] === 'alerts') return { dev: parts[1]!, kind: 'alerts' };
  if (parts.length === 4 && parts[2] === 'readings' && parts[3] === 'bin') return { dev: parts[1]!, kind: 'binary' };
  return undefined;
}

export function decodeMessage(topic: string, payload: Uint8Array): DecodedMessage | DecodeFailure {
  const t = parseTopic(topic);
  if (!t) return { error: 'topic' };
  if (t.kind === 'binary') return decodeBinary(t.dev, payload);
  const text = ascii(payload);
  if (text === undefined) return { error: 'not ASCII' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'not an object' };
  const o = body as Record<string, unknown>;
  if (o.dev !== t.dev) return { error: 'dev does not match the topic' };
  if ('r' in o) {
    if (t.kind !== 'readings') return { error: 'batch on the alerts topic' };
    return decodeJsonBatch(t.dev, o);
  }
  return decodeSingle(t.dev, o, t.kind === 'alerts');
}

function decodeSingle(dev: string, o: Record<string, unknown>, onAlerts: boolean): DecodedMessage | DecodeFailure {
  const units = unitKeys.filter((k) => k in o);
  const allowed = 5 + 1 + (onAlerts ? 1 : 0);
  if (Object.keys(o).length !== allowed || units.length !== 1) return { error: 'keys' };
  const unit = units[0]!;
  const value = o[unit];
  if (!isU48(o.seq) || !isU48(o.ts) || typeof o.sync !== 'boolean' || !isChannel(o.ch) || !isInt32(value)) {
    return { error: 'field' };
  }
  if (onAlerts !== (o.alert === true)) return { error: 'alert flag does not match the topic' };
  return {
    dev,
    shape: onAlerts ? 'alert' : 'single',
    readings: [{ seq: o.seq, timeMs: o.ts, synced: o.sync, channel: o.ch, kind: kindOfUnit[unit]!, value, alert: onAlerts }],
  };
}

function decodeJsonBatch(dev: string, o: Record<string, unknown>): DecodedMessage | DecodeFailure {
  if (Object.keys(o).length !== 2 || !Array.isArray(o.r) || o.r.length === 0) return { error: 'batch shape' };
  const readings: Reading[] = [];
  let prev = -1;
  for (const item of o.r as unknown[]) {
    if (!Array.isArray(item) || item.length !== 6) return { error: 'batch item' };
    const [seq, ts, sync, ch, unit, value] = item as unknown[];
    if (!isU48(seq) || !isU48(ts) || (sync !== 0 && sync !== 1) || !isChannel(ch) || !isInt32(value)) {
      return { error: 'batch field' };
    }
    if (typeof unit !== 'string' || !(unit in kindOfUnit)) return { error: 'batch unit' };
    if (seq <= prev) return { error: 'batch order' };
    prev = seq;
    readings.push({ seq, timeMs: ts, synced: sync === 1, channel: ch, kind: kindOfUnit[unit]!, value, alert: false });
  }
  return { dev, shape: 'batch', readings };
}

function readVarint(b: Uint8Array, at: { p: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < Binary.MAX_VARINT_BYTES; i++) {
    if (at.p >= b.length) return -1;
    const byte = b[at.p++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return i > 0 && byte === 0 ? -1 : value; // minimal encoding only
    scale *= 128;
  }
  return -1;
}

export function decodeBinary(dev: string, b: Uint8Array): DecodedMessage | DecodeFailure {
  if (b.length < Binary.HEADER_BYTES) return { error: 'binary header' };
  if (b[0] !== Binary.VERSION) return { error: 'binary version' };
  const count = b[1]!;
  if (count === 0) return { error: 'binary count' };
  let seq = readU48(b, 2);
  let ts = readU48(b, 8);
  const at = { p: Binary.HEADER_BYTES as number };
  const readings: Reading[] = [];
  for (let i = 0; i < count; i++) {
    if (at.p + 2 > b.length) return { error: 'binary truncated' };
    const flags = b[at.p++]!;
    const channel = b[at.p++]!;
    const kind = (flags & Binary.KIND_MASK) >> Binary.KIND_SHIFT;
    if ((flags & Binary.RESERVED_MASK) !== 0 || kind > 2) return { error: 'binary flags' };
    const seqDelta = readVarint(b, at);
    const tsZ = readVarint(b, at);
    const valueZ = readVarint(b, at);
    if (seqDelta < 0 || tsZ < 0 || valueZ < 0) return { error: 'binary varint' };
    if ((i === 0) !== (seqDelta === 0)) return { error: 'binary seq delta' };
    seq += seqDelta;
    ts += unzigzag(tsZ);
    const value = unzigzag(valueZ);
    if (!isU48(seq) || !isU48(ts) || !isInt32(value)) return { error: 'binary range' };
    readings.push({
      seq,
      timeMs: ts,
      synced: (flags & Binary.FLAG_SYNC) !== 0,
      channel,
      kind: kind as ReadingKindValue,
      value,
      alert: (flags & Binary.FLAG_ALERT) !== 0,
    });
  }
  if (at.p !== b.length) return { error: 'binary trailing bytes' };
  return { dev, shape: 'binary', readings };
}
