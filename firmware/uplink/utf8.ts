/*
 * UTF-8 for MQTT 3.1.1 strings (§1.5.3), by hand: Moddable's TextEncoder is an optional module
 * (modules/data/text/encoder) that the ESP32 manifests do not include, so firmware cannot count
 * on it. Used at configuration time only (client id, will topic, user name, password), never per
 * reading.
 *
 * Contract
 * - `utf8Length(s, allowNull)`: bytes of the UTF-8 encoding of `s`, or -1 when `s` has a lone
 *   surrogate (no UTF-8 encoding exists [MQTT-1.5.3-1]) or, unless `allowNull`, U+0000
 *   [MQTT-1.5.3-2].
 * - `mqttStringBytes(s, what)`: the encoding of an MQTT UTF-8 string; throws an Error naming
 *   `what` for a lone surrogate, U+0000, or more than 65,535 bytes (§1.5.3: a 16-bit length).
 * - `mqttBinaryBytes(value, what)`: password data (§3.1.3.5: 0..65,535 bytes of binary data): a
 *   Uint8Array as is (copied), a string as UTF-8 (U+0000 allowed: binary data has no rule
 *   against it); throws for a lone surrogate or more than 65,535 bytes.
 * - `utf8Decode(bytes, start, end)`: the string whose UTF-8 encoding is bytes [start, end), or
 *   undefined when they are not well-formed UTF-8 (RFC 3629 §4: no overlong form, no surrogate,
 *   nothing above U+10FFFF, no truncated sequence). For configuration read back from flash.
 */

export const MAX_MQTT_STRING_BYTES = 65535;

export function utf8Length(s: string, allowNull: boolean): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) {
      if (!allowNull) return -1;
      n += 1;
    } else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}

/** Writes the UTF-8 encoding of `s` (checked with `utf8Length` first) into `out` at `p`; returns the end. */
export function writeUtf8(s: string, out: Uint8Array, p = 0): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) out[p++] = c;
    else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdbff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      out[p++] = 0xf0 | (c >> 18);
      out[p++] = 0x80 | ((c >> 12) & 0x3f);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/** Why `s` cannot be an MQTT UTF-8 string, or '' when it can. */
export function mqttStringProblem(s: unknown, allowNull = false): string {
  if (typeof s !== 'string') return 'not a string';
  const n = utf8Length(s, allowNull);
  if (n < 0) return allowNull ? 'has a lone surrogate (no UTF-8 encoding)' : 'has U+0000 or a lone surrogate (MQTT 3.1.1 §1.5.3)';
  if (n > MAX_MQTT_STRING_BYTES) return `is ${n} bytes in UTF-8, more than ${MAX_MQTT_STRING_BYTES}`;
  return '';
}

export function mqttStringBytes(s: string, what: string): Uint8Array {
  const problem = mqttStringProblem(s);
  if (problem !== '') throw new Error(`MQTT ${what} ${problem}`);
  const out = new Uint8Array(utf8Length(s, false));
  writeUtf8(s, out);
  return out;
}

/** Why `value` cannot be MQTT password data, or '' when it can. */
export function mqttBinaryProblem(value: unknown): string {
  if (value instanceof Uint8Array) {
    return value.length > MAX_MQTT_STRING_BYTES ? `is ${value.length} bytes, more than ${MAX_MQTT_STRING_BYTES}` : '';
  }
  return mqttStringProblem(value, true);
}

export function mqttBinaryBytes(value: string | Uint8Array, what: string): Uint8Array {
  const problem = mqttBinaryProblem(value);
  if (problem !== '') throw new Error(`MQTT ${what} ${problem}`);
  if (value instanceof Uint8Array) return value.slice();
  const out = new Uint8Array(utf8Length(value as string, true));
  writeUtf8(value as string, out);
  return out;
}

/** The string of the well-formed UTF-8 bytes [start, end), or undefined (see the header). */
export function utf8Decode(b: Uint8Array, start: number, end: number): string | undefined {
  let s = '';
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      i++;
      continue;
    }
    let more: number;
    let low = 0x80;
    let high = 0xbf;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      more = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      more = 2;
      cp = c & 0x0f;
      if (c === 0xe0) low = 0xa0; // overlong
      else if (c === 0xed) high = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3;
      cp = c & 0x07;
      if (c === 0xf0) low = 0x90; // overlong
      else if (c === 0xf4) high = 0x8f; // above U+10FFFF
    } else return undefined;
    if (i + more >= end) return undefined; // truncated sequence
    const second = b[i + 1]!;
    if (second < low || second > high) return undefined;
    cp = (cp << 6) | (second & 0x3f);
    for (let k = 2; k <= more; k++) {
      const next = b[i + k]!;
      if (next < 0x80 || next > 0xbf) return undefined;
      cp = (cp << 6) | (next & 0x3f);
    }
    if (cp < 0x10000) s += String.fromCharCode(cp);
    else s += String.fromCharCode(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
    i += more + 1;
  }
  return s;
}
