/*
 * TLS options across a text-only bridge (the XS host's command pipe): `secure` (CA, client
 * certificate and key, server name) as one ASCII JSON object, and back. PEM strings travel as
 * they are; binary (DER) values as lowercase hex under the same key plus "Hex". Portable: the
 * guest encodes inside XS, the parent decodes in Node and hands the result to node:tls.
 */
import type { Bytes, TLSOptions } from '../host';

type Secure = TLSOptions['secure'];
const KEYS = Object.freeze(['ca', 'certificate', 'key', 'serverName'] as const);

function bytesOf(b: Bytes): Uint8Array {
  return b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function unhex(s: string): Uint8Array | undefined {
  if (s.length % 2) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = nibble(s.charCodeAt(i * 2));
    const low = nibble(s.charCodeAt(i * 2 + 1));
    if (high < 0 || low < 0) return undefined;
    out[i] = high * 16 + low;
  }
  return out;
}

/** The options as ASCII bytes (JSON). */
export function encodeSecure(secure: Secure): Uint8Array {
  const o: Record<string, string> = {};
  for (const k of KEYS) {
    const v = secure[k];
    if (v === undefined) continue;
    if (typeof v === 'string') o[k] = v;
    else o[`${k}Hex`] = hex(bytesOf(v));
  }
  const text = JSON.stringify(o);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e) throw new Error('TLS options must be ASCII (PEM) or bytes');
    out[i] = c;
  }
  return out;
}

/** Back to options; throws on anything that is not what `encodeSecure` writes. */
export function decodeSecure(bytes: Uint8Array): Secure {
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  const o = JSON.parse(text) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('TLS options: not an object');
  const secure: Secure = {};
  for (const [key, value] of Object.entries(o)) {
    if (typeof value !== 'string') throw new Error(`TLS options: ${key} is not a string`);
    const plain = key.endsWith('Hex') ? key.slice(0, -3) : key;
    if (!(KEYS as readonly string[]).includes(plain) || (plain === 'serverName' && plain !== key)) {
      throw new Error(`TLS options: unknown key ${key}`);
    }
    if (plain === key) (secure as Record<string, unknown>)[plain] = value;
    else {
      const raw = unhex(value);
      if (!raw) throw new Error(`TLS options: ${key} is not hex`);
      (secure as Record<string, unknown>)[plain] = raw;
    }
  }
  return secure;
}
