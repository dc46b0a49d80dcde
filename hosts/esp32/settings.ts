/*
 * Node settings (Wi-Fi credentials, broker, device id, sensors) and their record in the
 * `settings` flash partition. Portable: runs on the ESP32, in mcsim, and under Node, where
 * tools/moddable.ts uses the same encoder to build the image that provisioning flashes.
 *
 * Record layout (little-endian), one per 4 KB block; the partition has two blocks (A/B):
 *   0  magic     "PWS1"
 *   4  sequence  u32, +1 per save; the valid record with the highest sequence wins
 *   8  length    u16, payload bytes (1..MAX_PAYLOAD)
 *  10  version   u8 (1)
 *  11  reserved  u8 (0)
 *  12  crc32     u32 (IEEE 802.3, reflected 0xEDB88320) over bytes 4..11 and the payload
 *  16  payload   ASCII "key=value\n" lines
 * A save writes the block not holding the current record, so a power cut during a save leaves
 * the previous record intact; a torn record fails its CRC and is ignored.
 */
import type { Flash } from '../../firmware/host';

export interface Settings {
  ssid: string;
  password: string;
  /** mqtt://host[:port] or mqtts://host[:port] */
  broker: string;
  deviceId: string;
  intervalMs: number;
  /** Comma separated "part@address" list, e.g. "tmp117@0x48,tmp117@0x49". */
  sensors: string;
}

export const SETTINGS_MAGIC = 0x31535750; // "PWS1" read as u32 LE
export const SETTINGS_VERSION = 1;
export const HEADER_BYTES = 16;
export const MAX_PAYLOAD = 1024;
const KEYS = ['ssid', 'password', 'broker', 'deviceId', 'intervalMs', 'sensors'] as const;
const MAX_VALUE = 200;

export type SettingsError =
  | 'E_SETTINGS_KEY'
  | 'E_SETTINGS_VALUE'
  | 'E_SETTINGS_TOO_LARGE'
  | 'E_SETTINGS_BROKER'
  | 'E_SETTINGS_SENSORS';

export class SettingsProblem extends Error {
  constructor(
    readonly code: SettingsError,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

const crcTable = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function printable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** True when every character of `text` is in `allowed` and the length is within [min, max]. No RegExp (a lean XS build may strip it). */
function only(text: string, allowed: string, min: number, max: number): boolean {
  if (text.length < min || text.length > max) return false;
  for (let i = 0; i < text.length; i++) if (allowed.indexOf(text[i]!) < 0) return false;
  return true;
}

const DIGITS = '0123456789';
const HEX = '0123456789abcdefABCDEF';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-';
const HOST_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-';

/** Checks every field; throws a `SettingsProblem` naming the first bad one. */
export function validateSettings(s: Settings): void {
  for (const key of KEYS) {
    const value = key === 'intervalMs' ? String(s.intervalMs) : s[key];
    if (typeof value !== 'string' || value.length > MAX_VALUE || !printable(value)) {
      throw new SettingsProblem('E_SETTINGS_VALUE', `${key}: printable ASCII, at most ${MAX_VALUE} characters`);
    }
  }
  if (s.ssid.length === 0 || s.ssid.length > 32) throw new SettingsProblem('E_SETTINGS_VALUE', 'ssid: 1..32 characters');
  if (s.password.length !== 0 && (s.password.length < 8 || s.password.length > 63)) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'password: empty (open network) or 8..63 characters (WPA2)');
  }
  if (!Number.isInteger(s.intervalMs) || s.intervalMs < 100 || s.intervalMs > 86_400_000) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'intervalMs: an integer from 100 to 86400000');
  }
  parseBroker(s.broker);
  parseSensors(s.sensors);
  if (!only(s.deviceId, ID_CHARS, 1, 64)) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'deviceId: 1..64 of [A-Za-z0-9_.-]');
  }
}

export interface BrokerAddress {
  secure: boolean;
  host: string;
  port: number;
}

/** Parses mqtt://host[:port] (default 1883) or mqtts://host[:port] (default 8883). */
export function parseBroker(url: string): BrokerAddress {
  let secure: boolean;
  let rest: string;
  if (url.startsWith('mqtt://')) {
    secure = false;
    rest = url.slice(7);
  } else if (url.startsWith('mqtts://')) {
    secure = true;
    rest = url.slice(8);
  } else {
    throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": expected mqtt://host[:port] or mqtts://host[:port]`);
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const colon = rest.lastIndexOf(':');
  const host = colon < 0 ? rest : rest.slice(0, colon);
  const portText = colon < 0 ? '' : rest.slice(colon + 1);
  const port = colon < 0 ? (secure ? 8883 : 1883) : Number(portText);
  if (!only(host, HOST_CHARS, 1, 253)) {
    throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": invalid host`);
  }
  if ((colon >= 0 && !only(portText, DIGITS, 1, 5)) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": invalid port`);
  }
  return { secure, host, port };
}

export interface SensorSpec {
  part: string;
  address?: number;
  pin?: number;
}

/** Parses "tmp117@0x48,ds18b20@pin4" into sensor specs (I2C address or pin). */
export function parseSensors(list: string): SensorSpec[] {
  const out: SensorSpec[] = [];
  if (list.length === 0) return out;
  for (const item of list.split(',')) {
    const at = item.indexOf('@');
    const part = (at < 0 ? item : item.slice(0, at)).trim();
    const where = at < 0 ? '' : item.slice(at + 1).trim();
    if (!only(part, LOWER_ALNUM, 2, 16)) throw new SettingsProblem('E_SETTINGS_SENSORS', `sensor "${item}": bad part name`);
    if (where === '') out.push({ part });
    else if (where.startsWith('0x') && only(where.slice(2), HEX, 1, 2) && parseInt(where.slice(2), 16) <= 0x7f) {
      out.push({ part, address: parseInt(where.slice(2), 16) });
    } else if (where.startsWith('pin') && only(where.slice(3), DIGITS, 1, 2)) out.push({ part, pin: Number(where.slice(3)) });
    else throw new SettingsProblem('E_SETTINGS_SENSORS', `sensor "${item}": expected @0xNN (I2C) or @pinN`);
  }
  if (out.length > 8) throw new SettingsProblem('E_SETTINGS_SENSORS', 'at most 8 sensors');
  return out;
}

/** Encodes `s` into one record; returns its bytes (header + payload). Throws on invalid settings. */
export function encodeSettings(s: Settings, sequence: number): Uint8Array {
  validateSettings(s);
  let text = '';
  for (const key of KEYS) text += `${key}=${key === 'intervalMs' ? String(s.intervalMs) : s[key]}\n`;
  if (text.length > MAX_PAYLOAD) throw new SettingsProblem('E_SETTINGS_TOO_LARGE', `${text.length} > ${MAX_PAYLOAD} bytes`);
  const record = new Uint8Array(HEADER_BYTES + text.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, SETTINGS_MAGIC, true);
  view.setUint32(4, sequence >>> 0, true);
  view.setUint16(8, text.length, true);
  record[10] = SETTINGS_VERSION;
  for (let i = 0; i < text.length; i++) record[HEADER_BYTES + i] = text.charCodeAt(i);
  view.setUint32(12, crc32(record.subarray(HEADER_BYTES), crc32(record.subarray(4, 12))), true);
  return record;
}

export interface DecodedSettings {
  settings: Settings;
  sequence: number;
}

export type DecodeResult = DecodedSettings | 'blank' | 'E_SETTINGS_MAGIC' | 'E_SETTINGS_CRC' | 'E_SETTINGS_FORMAT';

/** Decodes one record from a block's first bytes. Never throws; every defect has its code. */
export function decodeSettings(block: Uint8Array): DecodeResult {
  if (block.length < HEADER_BYTES) return 'E_SETTINGS_FORMAT';
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const magic = view.getUint32(0, true);
  if (magic === 0xffffffff) return 'blank';
  if (magic !== SETTINGS_MAGIC) return 'E_SETTINGS_MAGIC';
  const length = view.getUint16(8, true);
  if (length === 0 || length > MAX_PAYLOAD || HEADER_BYTES + length > block.length) return 'E_SETTINGS_FORMAT';
  const payload = block.subarray(HEADER_BYTES, HEADER_BYTES + length);
  if (crc32(payload, crc32(block.subarray(4, 12))) !== view.getUint32(12, true)) return 'E_SETTINGS_CRC';
  if (block[10] !== SETTINGS_VERSION) return 'E_SETTINGS_FORMAT';
  const fields: Record<string, string> = {};
  let line = '';
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]!;
    if (c === 0x0a) {
      const eq = line.indexOf('=');
      if (eq <= 0) return 'E_SETTINGS_FORMAT';
      fields[line.slice(0, eq)] = line.slice(eq + 1);
      line = '';
    } else line += String.fromCharCode(c);
  }
  if (line.length !== 0) return 'E_SETTINGS_FORMAT';
  const settings: Settings = {
    ssid: fields.ssid ?? '',
    password: fields.password ?? '',
    broker: fields.broker ?? '',
    deviceId: fields.deviceId ?? '',
    intervalMs: Number(fields.intervalMs),
    sensors: fields.sensors ?? '',
  };
  try {
    validateSettings(settings);
  } catch {
    return 'E_SETTINGS_FORMAT';
  }
  return { settings, sequence: view.getUint32(4, true) };
}

export interface SettingsStats {
  /** Records that failed validation (CRC, format, magic), counted per load. */
  corrupt: number;
  saves: number;
}

/** The settings partition: two blocks, one record each, newest valid record wins. */
export class SettingsStore {
  readonly stats: SettingsStats = { corrupt: 0, saves: 0 };
  readonly #flash: Flash;
  readonly #blockLength: number;
  readonly #buffer: Uint8Array;
  #current: DecodedSettings | undefined;
  #currentBlock = -1;

  constructor(flash: Flash) {
    const status = flash.status();
    if (status.blocks < 2 || status.blockLength < HEADER_BYTES + MAX_PAYLOAD) {
      throw new RangeError('settings partition: needs 2 blocks of at least 1040 bytes');
    }
    this.#flash = flash;
    this.#blockLength = status.blockLength;
    this.#buffer = new Uint8Array(HEADER_BYTES + MAX_PAYLOAD);
  }

  /** The newest valid settings, or undefined when the partition holds none. */
  load(): Settings | undefined {
    this.#current = undefined;
    this.#currentBlock = -1;
    for (let block = 0; block < 2; block++) {
      this.#flash.read(this.#buffer, block * this.#blockLength);
      const result = decodeSettings(this.#buffer);
      if (result === 'blank') continue;
      if (typeof result === 'string') {
        this.stats.corrupt++;
        continue;
      }
      if (!this.#current || ((result.sequence - this.#current.sequence) | 0) > 0) {
        this.#current = result;
        this.#currentBlock = block;
      }
    }
    return this.#current?.settings;
  }

  /** Writes `s` into the block not holding the current record. Throws on invalid settings. */
  save(s: Settings): void {
    const sequence = this.#current ? (this.#current.sequence + 1) >>> 0 : 1;
    const record = encodeSettings(s, sequence);
    const status = this.#flash.status();
    const align = status.writeAlign > 0 ? status.writeAlign : 1;
    const padded = new Uint8Array(Math.ceil(record.length / align) * align).fill(status.eraseValue);
    padded.set(record);
    const block = this.#currentBlock === 0 ? 1 : 0;
    this.#flash.eraseBlock(block);
    this.#flash.write(padded, block * this.#blockLength);
    this.#current = { settings: s, sequence };
    this.#currentBlock = block;
    this.stats.saves++;
  }
}

/** A whole settings partition image (both blocks) holding `s`, for provisioning over serial. */
export function settingsImage(s: Settings, blockLength = 4096, blocks = 2): Uint8Array {
  const image = new Uint8Array(blockLength * blocks).fill(0xff);
  image.set(encodeSettings(s, 1), 0);
  return image;
}
