/*
 * Node settings (Wi-Fi credentials, broker and its credentials, device id, sensors) and their
 * record. On the ESP32 the record lives in NVS through the SDK's `preference` module
 * (`NvsSettingsStore`, near the end); firmware before that kept it in the raw `settings` flash
 * partition (`SettingsStore`), which is now read once, for the migration. Portable: runs on the
 * ESP32, in mcsim, and under Node, where tools/moddable.ts uses the same encoder to build the
 * NVS image that provisioning flashes.
 *
 * Record layout (little-endian); in the raw partition one per 4 KB block, two blocks (A/B):
 *   0  magic     "PWS1"
 *   4  sequence  u32, +1 per save; the valid record with the highest sequence wins
 *   8  length    u16, payload bytes (1..MAX_PAYLOAD = 4080: the record fills at most its block)
 *  10  version   u8: 2 (written); 1 (read only, records of earlier firmware)
 *  11  reserved  u8 (0)
 *  12  crc32     u32 (IEEE 802.3, reflected 0xEDB88320) over bytes 4..11 and the payload
 *  16  payload
 * Version 2 payload: fields `tag u8, length u16, value`, tags strictly ascending, each at most
 * once, nothing after the last field:
 *   1 ssid          ASCII 1..32                      required
 *   2 password      ASCII, empty or 8..63 (WPA2)     Wi-Fi; absent = open network
 *   3 broker        ASCII mqtt[s]://host[:port]      absent = found by mDNS (_mqtt._tcp), else the build's
 *   4 deviceId      ASCII 1..64 of [A-Za-z0-9_.-]    required
 *   5 intervalMs    u32, exactly 4 bytes, 100..86400000   required
 *   6 sensors       ASCII "part@0xNN,part@pinN,..."  absent = none
 *   7 mqttUsername  UTF-8, 1 byte or more            MQTT CONNECT user name
 *   8 mqttPassword  UTF-8, 1 byte or more            needs mqttUsername (MQTT 3.1.1 3.1.2-22)
 *   9 ca            DER X.509, one certificate       the broker's CA; needs mqtts://
 *                                                    (a record without it is refused by firmware before 0.2)
 *  10 clientCert    DER X.509                        TLS client certificate; needs clientKey
 *  11 clientKey     DER PKCS#8 RSA private key       needs clientCert (the TLS client signs with RSA only)
 * Version 1 payload: ASCII "key=value\n" lines (ssid, password, broker, deviceId, intervalMs,
 * sensors); read with the same strict validation, never written.
 * The MQTT credentials are the bytes the MQTT client sends (firmware/uplink/utf8.ts encodes
 * both), checked with the client's own verdict on the CONNECT this node would send
 * (`uplinkConnectProblem`: no U+0000 in the user name, no lone surrogate, the CONNECT fits the
 * uplink's packet buffer), so settings and client never disagree; read back as strict UTF-8.
 * Records of earlier firmware held printable ASCII there, which reads as the same UTF-8; an
 * earlier firmware refuses a record with non-ASCII credentials as a format error.
 * Every field is validated when a record is written (`encodeSettings` throws a SettingsProblem)
 * and when it is read (`decodeSettings` returns a code). The sensor list is the exception on
 * reading: an entry the firmware cannot use (unknown part, malformed address) must not cost the
 * node its Wi-Fi and broker settings, so `planSensors` skips it and returns the reason; the node
 * then boots, connects and reports it.
 * A save writes the block not holding the current record, so a power cut during a save leaves
 * the previous record intact; a torn record fails its CRC and is ignored.
 */
import type { Flash } from '../../firmware/host';
import { partNames } from '../../firmware/sensors/registry';
import { uplinkConnectProblem } from '../../firmware/uplink/uplink';
import { mqttBinaryBytes, mqttStringBytes, utf8Decode } from '../../firmware/uplink/utf8';

export interface Settings {
  ssid: string;
  /** Wi-Fi passphrase; empty for an open network. */
  password: string;
  /**
   * mqtt://host[:port] or mqtts://host[:port]; '' for none: the node looks for `_mqtt._tcp` by
   * mDNS (firmware/provision/mdns.ts) and uses the build's `broker` when none answers.
   */
  broker: string;
  deviceId: string;
  intervalMs: number;
  /** Comma separated "part@address" list, e.g. "tmp117@0x48,ds18b20@pin4". */
  sensors: string;
  /** MQTT CONNECT user name and password: any the MQTT client accepts, non-empty (stored as UTF-8). */
  mqttUsername?: string;
  mqttPassword?: string;
  /** The broker's CA certificate (DER), for mqtts:// brokers. */
  ca?: Uint8Array;
  /** TLS client certificate (DER) and its private key (PKCS#8 DER), for mqtts:// brokers. */
  clientCert?: Uint8Array;
  clientKey?: Uint8Array;
}

export const SETTINGS_MAGIC = 0x31535750; // "PWS1" read as u32 LE
export const SETTINGS_VERSION = 2;
export const HEADER_BYTES = 16;
export const BLOCK_BYTES = 4096;
export const MAX_PAYLOAD = BLOCK_BYTES - HEADER_BYTES;
export const MAX_SENSORS = 8;
/** Highest GPIO number of the supported chips (ESP32-S3: GPIO48). */
export const MAX_PIN = 48;
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 86_400_000;
const MAX_TEXT = 200;
const FIELD_HEADER = 3;

const Tag = Object.freeze({
  ssid: 1,
  password: 2,
  broker: 3,
  deviceId: 4,
  intervalMs: 5,
  sensors: 6,
  mqttUsername: 7,
  mqttPassword: 8,
  ca: 9,
  clientCert: 10,
  clientKey: 11,
});
const LAST_TAG = 11;
const V1_KEYS = Object.freeze(['ssid', 'password', 'broker', 'deviceId', 'intervalMs', 'sensors'] as const);

export type SettingsError =
  | 'E_SETTINGS_KEY'
  | 'E_SETTINGS_VALUE'
  | 'E_SETTINGS_TOO_LARGE'
  | 'E_SETTINGS_BROKER'
  | 'E_SETTINGS_SENSORS'
  | 'E_SETTINGS_TLS';

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
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-';
const HOST_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-';

/**
 * A decimal integer written the one plain way: digits only, no sign, no leading zero, no
 * exponent, no spaces, within [min, max]; undefined otherwise (so "", "12abc", "1e4", "010",
 * " 5" and "0x10" are all refused, unlike Number() and parseInt()).
 */
export function parseDecimal(text: string, min: number, max: number): number | undefined {
  if (!only(text, DIGITS, 1, 10) || (text.length > 1 && text[0] === '0')) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) value = value * 10 + (text.charCodeAt(i) - 0x30);
  return value >= min && value <= max ? value : undefined;
}

/** `0x` and one or two hex digits, a 7-bit I2C address outside the reserved 0x00-0x07 and 0x78-0x7F. */
export function parseI2cAddress(text: string): number | undefined {
  if (!text.startsWith('0x') || !only(text.slice(2), HEX, 1, 2)) return undefined;
  let value = 0;
  for (let i = 2; i < text.length; i++) value = value * 16 + HEX.indexOf(text[i]!.toLowerCase());
  return value >= 0x08 && value <= 0x77 ? value : undefined;
}

function textField(s: Settings, key: 'ssid' | 'password' | 'broker' | 'deviceId' | 'sensors'): void {
  const value = s[key];
  if (typeof value !== 'string' || value.length > MAX_TEXT || !printable(value)) {
    throw new SettingsProblem('E_SETTINGS_VALUE', `${key}: printable ASCII, at most ${MAX_TEXT} characters`);
  }
}

/** Absent, or a non-empty string (absence says "none"; an empty value is most often an unset variable). */
function credential(value: string | undefined, key: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length === 0) {
    throw new SettingsProblem('E_SETTINGS_VALUE', `${key}: a non-empty string (leave it out for none)`);
  }
}

/** The MQTT client's verdict on the CONNECT these settings make, named by the field it is about. */
function credentialsConnect(s: Settings): void {
  const problem = uplinkConnectProblem({ deviceId: s.deviceId, username: s.mqttUsername, password: s.mqttPassword });
  if (problem === '') return;
  const key = problem.startsWith('MQTT user name') ? 'mqttUsername' : problem.startsWith('MQTT password') ? 'mqttPassword' : 'mqttUsername, mqttPassword';
  throw new SettingsProblem('E_SETTINGS_VALUE', `${key}: ${problem}`);
}

/**
 * Length of the DER TLV at `bytes[0]` when it is a SEQUENCE with a definite length that spans
 * exactly `bytes`; -1 otherwise. (X.509 certificates and PKCS#8 keys are both one SEQUENCE.)
 */
function derSequenceSpan(bytes: Uint8Array): number {
  if (bytes.length < 2 || bytes[0] !== 0x30) return -1;
  const first = bytes[1]!;
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else if (first === 0x81 && bytes.length >= 3 && bytes[2]! >= 0x80) {
    length = bytes[2]!;
    header = 3;
  } else if (first === 0x82 && bytes.length >= 4 && bytes[2]! !== 0) {
    length = bytes[2]! * 256 + bytes[3]!;
    header = 4;
  } else return -1;
  return header + length === bytes.length ? bytes.length : -1;
}

function der(value: Uint8Array | undefined, key: string): void {
  if (value === undefined) return;
  if (!(value instanceof Uint8Array) || derSequenceSpan(value) < 0) {
    throw new SettingsProblem('E_SETTINGS_TLS', `${key}: not one DER-encoded ${key === 'clientKey' ? 'PKCS#8 key' : 'X.509 certificate'}`);
  }
}

/** PKCS#8 after its SEQUENCE header: version 0 or 1, then AlgorithmIdentifier rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters. */
const PKCS8_RSA = Object.freeze([0x02, 0x01, -1, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]);

/**
 * Whether `key` (one DER SEQUENCE, checked by `der`) is an RSA PKCS#8 key. The SDK's PKCS8.parse
 * (modules/crypt/etc/pkcs8.js) reads any key as RSA integers, and its TLS client signs only with
 * RSA PKCS#1 v1.5, so any other key type fails every handshake.
 */
function pkcs8IsRsa(key: Uint8Array): boolean {
  const header = key[1]! < 0x80 ? 2 : key[1]! - 0x80 + 2;
  if (key.length < header + PKCS8_RSA.length) return false;
  for (let i = 0; i < PKCS8_RSA.length; i++) {
    const byte = key[header + i]!;
    if (PKCS8_RSA[i] === -1 ? byte > 1 : byte !== PKCS8_RSA[i]) return false;
  }
  return true;
}

/**
 * Checks every field except the entries of the sensor list (which `planSensors` resolves one by
 * one); throws a `SettingsProblem` naming the first bad one.
 */
export function validateFields(s: Settings): void {
  for (const key of ['ssid', 'password', 'broker', 'deviceId', 'sensors'] as const) textField(s, key);
  if (s.ssid.length === 0 || s.ssid.length > 32) throw new SettingsProblem('E_SETTINGS_VALUE', 'ssid: 1..32 characters');
  if (s.password.length !== 0 && (s.password.length < 8 || s.password.length > 63)) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'password: empty (open network) or 8..63 characters (WPA2)');
  }
  if (!Number.isInteger(s.intervalMs) || s.intervalMs < MIN_INTERVAL_MS || s.intervalMs > MAX_INTERVAL_MS) {
    throw new SettingsProblem('E_SETTINGS_VALUE', `intervalMs: an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS}`);
  }
  const broker = s.broker === '' ? undefined : parseBroker(s.broker);
  if (!only(s.deviceId, ID_CHARS, 1, 64)) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'deviceId: 1..64 of [A-Za-z0-9_.-]');
  }
  credential(s.mqttUsername, 'mqttUsername');
  credential(s.mqttPassword, 'mqttPassword');
  if (s.mqttPassword !== undefined && s.mqttUsername === undefined) {
    throw new SettingsProblem('E_SETTINGS_VALUE', 'mqttPassword: needs mqttUsername (MQTT 3.1.1 sends no password without a user name)');
  }
  credentialsConnect(s);
  der(s.ca, 'ca');
  der(s.clientCert, 'clientCert');
  der(s.clientKey, 'clientKey');
  if ((s.clientCert === undefined) !== (s.clientKey === undefined)) {
    throw new SettingsProblem('E_SETTINGS_TLS', 'clientCert and clientKey: give both or neither');
  }
  if (broker && !broker.secure && (s.ca !== undefined || s.clientCert !== undefined)) {
    throw new SettingsProblem('E_SETTINGS_TLS', `ca, clientCert: need an mqtts:// broker, got "${s.broker}"`);
  }
  if (s.clientKey !== undefined && !pkcs8IsRsa(s.clientKey)) {
    throw new SettingsProblem('E_SETTINGS_TLS', 'clientKey: not an RSA PKCS#8 key (the TLS client signs only with RSA PKCS#1 v1.5)');
  }
}

/** Checks every field, sensor entries included; throws a `SettingsProblem` naming the first bad one. */
export function validateSettings(s: Settings): void {
  validateFields(s);
  parseSensors(s.sensors);
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
  if (rest.indexOf('@') >= 0) {
    throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": no user name in the URL; give the MQTT user name and password as their own settings`);
  }
  const colon = rest.lastIndexOf(':');
  const host = colon < 0 ? rest : rest.slice(0, colon);
  const port = colon < 0 ? (secure ? 8883 : 1883) : parseDecimal(rest.slice(colon + 1), 1, 65535);
  if (!only(host, HOST_CHARS, 1, 253)) {
    throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": invalid host`);
  }
  if (port === undefined) throw new SettingsProblem('E_SETTINGS_BROKER', `broker "${url}": invalid port (1..65535)`);
  return { secure, host, port };
}

export interface SensorSpec {
  part: string;
  address?: number;
  pin?: number;
}

export interface SensorPlan {
  /** The entries the node can use, in order. */
  sensors: SensorSpec[];
  /** One line per entry skipped, naming the entry and why. */
  problems: string[];
}

/**
 * Parses "tmp117@0x48,ds18b20@pin4" entry by entry: a part of the firmware's sensor registry,
 * then nothing, an I2C address (`@0x08`..`@0x77`) or a pin (`@pin0`..`@pin48`). Never throws:
 * an entry that cannot be used is skipped with its reason, so one bad entry costs one sensor.
 */
export function planSensors(list: string): SensorPlan {
  const plan: SensorPlan = { sensors: [], problems: [] };
  if (list.length === 0) return plan;
  const known = partNames();
  const seen: string[] = [];
  for (const raw of list.split(',')) {
    const item = raw.trim();
    const at = item.indexOf('@');
    const part = at < 0 ? item : item.slice(0, at);
    const where = at < 0 ? '' : item.slice(at + 1);
    let spec: SensorSpec | undefined;
    let problem: string | undefined;
    if (item.length === 0) problem = `empty sensor entry in "${list}"`;
    else if (known.indexOf(part) < 0) problem = `sensor "${item}": unknown part "${part}" (known: ${known.join(', ')})`;
    else if (at < 0) spec = { part };
    else if (where.startsWith('0x')) {
      const address = parseI2cAddress(where);
      if (address === undefined) problem = `sensor "${item}": I2C address must be 0x08..0x77`;
      else spec = { part, address };
    } else if (where.startsWith('pin')) {
      const pin = parseDecimal(where.slice(3), 0, MAX_PIN);
      if (pin === undefined) problem = `sensor "${item}": pin must be pin0..pin${MAX_PIN}`;
      else spec = { part, pin };
    } else problem = `sensor "${item}": expected ${part}@0xNN (I2C address) or ${part}@pinN`;
    if (spec) {
      const key = `${spec.part}@${spec.address ?? ''}/${spec.pin ?? ''}`;
      if (seen.indexOf(key) >= 0) problem = `sensor "${item}": listed twice`;
      else if (plan.sensors.length === MAX_SENSORS) problem = `sensor "${item}": at most ${MAX_SENSORS} sensors`;
      else {
        seen.push(key);
        plan.sensors.push(spec);
      }
    }
    if (problem !== undefined) plan.problems.push(problem);
  }
  return plan;
}

/** Parses a sensor list strictly (see `planSensors`): throws a `SettingsProblem` on the first entry it cannot use. */
export function parseSensors(list: string): SensorSpec[] {
  const plan = planSensors(list);
  if (plan.problems.length > 0) throw new SettingsProblem('E_SETTINGS_SENSORS', plan.problems[0]!);
  return plan.sensors;
}

/** What the uplink needs from the settings: address, TLS options (ECMA-419 `secure`) and MQTT credentials. */
export interface BrokerConfig {
  /** '' with `discover` and no default broker. */
  address: string;
  port: number;
  /** `serverName` is absent for a broker to be found: the one found gives it (its SRV target). */
  secure?: { serverName?: string; ca?: Uint8Array; certificate?: Uint8Array; key?: Uint8Array };
  username?: string;
  password?: string;
  /** No broker set: look for `_mqtt._tcp` by mDNS first (firmware/node.ts NodeConfig.broker.discover). */
  discover?: boolean;
}

/**
 * Whether the node talks TLS to the broker its settings name, or, with none set, to a broker it
 * finds: TLS when it has a CA to check one with (the settings' or the build's).
 */
function secureBroker(s: Settings, buildCa: boolean): boolean {
  return s.broker === '' ? s.ca !== undefined || buildCa : parseBroker(s.broker).secure;
}

/**
 * The broker part of the node configuration (firmware/node.ts NodeConfig.broker) for valid
 * settings. `buildCa` (DER) is the CA the image carries, used when the settings hold none.
 */
export function brokerConfig(s: Settings, buildCa?: Uint8Array, defaultBroker = ''): BrokerConfig {
  let config: BrokerConfig;
  const named = s.broker === '' ? undefined : parseBroker(s.broker);
  const secure = named ? named.secure : s.ca !== undefined || buildCa !== undefined;
  if (!named) {
    // The build's default, when it has one of the same kind (TLS or not), is where a search that finds nothing connects.
    let fallback: BrokerAddress | undefined;
    try {
      fallback = defaultBroker === '' ? undefined : parseBroker(defaultBroker);
    } catch {
      fallback = undefined;
    }
    if (fallback && fallback.secure !== secure) fallback = undefined;
    config = { address: fallback?.host ?? '', port: fallback?.port ?? (secure ? 8883 : 1883), discover: true };
  } else {
    config = { address: named.host, port: named.port };
  }
  if (secure) {
    config.secure = config.discover ? {} : { serverName: config.address };
    const ca = s.ca ?? buildCa;
    if (ca) config.secure.ca = ca;
    if (s.clientCert) config.secure.certificate = s.clientCert;
    if (s.clientKey) config.secure.key = s.clientKey;
  }
  if (s.mqttUsername !== undefined) config.username = s.mqttUsername;
  if (s.mqttPassword !== undefined) config.password = s.mqttPassword;
  return config;
}

/**
 * Settings from a build's manifest config (wifiSsid, wifiPassword, broker, deviceId, intervalMs,
 * sensors, mqttUsername, mqttPassword), for a node with no settings stored. Values given
 * on the mcconfig command line arrive as strings: intervalMs is parsed strictly (NaN, refused by
 * validation, when it is not a plain decimal integer).
 */
export function settingsFromConfig(config: Record<string, unknown>, fallbackDeviceId: string): Settings {
  const text = (value: unknown): string => (value === undefined || value === null ? '' : String(value));
  const interval = config.intervalMs ?? 10_000;
  const s: Settings = {
    ssid: text(config.wifiSsid),
    password: text(config.wifiPassword),
    broker: text(config.broker),
    deviceId: text(config.deviceId) || fallbackDeviceId,
    intervalMs:
      typeof interval === 'number' ? interval : (parseDecimal(String(interval), MIN_INTERVAL_MS, MAX_INTERVAL_MS) ?? Number.NaN),
    sensors: text(config.sensors),
  };
  if (text(config.mqttUsername) !== '') s.mqttUsername = text(config.mqttUsername);
  if (text(config.mqttPassword) !== '') s.mqttPassword = text(config.mqttPassword);
  return s;
}

function asciiField(tag: number, value: string): { tag: number; bytes: Uint8Array } {
  const bytes = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) bytes[i] = value.charCodeAt(i);
  return { tag, bytes };
}

/** Encodes `s` into one version 2 record; returns its bytes (header + payload). Throws on invalid settings. */
export function encodeSettings(s: Settings, sequence: number): Uint8Array {
  validateSettings(s);
  const interval = new Uint8Array(4);
  new DataView(interval.buffer).setUint32(0, s.intervalMs, true);
  const fields = [asciiField(Tag.ssid, s.ssid)];
  if (s.password.length > 0) fields.push(asciiField(Tag.password, s.password));
  if (s.broker.length > 0) fields.push(asciiField(Tag.broker, s.broker));
  fields.push(asciiField(Tag.deviceId, s.deviceId), { tag: Tag.intervalMs, bytes: interval });
  if (s.sensors.length > 0) fields.push(asciiField(Tag.sensors, s.sensors));
  if (s.mqttUsername !== undefined) fields.push({ tag: Tag.mqttUsername, bytes: mqttStringBytes(s.mqttUsername, 'user name') });
  if (s.mqttPassword !== undefined) fields.push({ tag: Tag.mqttPassword, bytes: mqttBinaryBytes(s.mqttPassword, 'password') });
  if (s.ca) fields.push({ tag: Tag.ca, bytes: s.ca });
  if (s.clientCert) fields.push({ tag: Tag.clientCert, bytes: s.clientCert });
  if (s.clientKey) fields.push({ tag: Tag.clientKey, bytes: s.clientKey });
  let length = 0;
  for (const field of fields) length += FIELD_HEADER + field.bytes.length;
  if (length > MAX_PAYLOAD) {
    throw new SettingsProblem(
      'E_SETTINGS_TOO_LARGE',
      `the record needs ${length} bytes, a 4 KB block holds ${MAX_PAYLOAD}: use a smaller CA certificate or an RSA-2048 client certificate and key (the node's TLS client signs with RSA only)`,
    );
  }
  const record = new Uint8Array(HEADER_BYTES + length);
  const view = new DataView(record.buffer);
  view.setUint32(0, SETTINGS_MAGIC, true);
  view.setUint32(4, sequence >>> 0, true);
  view.setUint16(8, length, true);
  record[10] = SETTINGS_VERSION;
  let p = HEADER_BYTES;
  for (const field of fields) {
    record[p] = field.tag;
    view.setUint16(p + 1, field.bytes.length, true);
    record.set(field.bytes, p + FIELD_HEADER);
    p += FIELD_HEADER + field.bytes.length;
  }
  view.setUint32(12, crc32(record.subarray(HEADER_BYTES), crc32(record.subarray(4, 12))), true);
  return record;
}

export interface DecodedSettings {
  settings: Settings;
  sequence: number;
  version: number;
}

export type DecodeResult = DecodedSettings | 'blank' | 'E_SETTINGS_MAGIC' | 'E_SETTINGS_CRC' | 'E_SETTINGS_FORMAT';

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let text = '';
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

function blankSettings(): Settings {
  return { ssid: '', password: '', broker: '', deviceId: '', intervalMs: Number.NaN, sensors: '' };
}

/** Version 1: "key=value\n" lines, each known key at most once. */
function decodeV1(payload: Uint8Array): Settings | undefined {
  const s = blankSettings();
  const seen: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] !== 0x0a) continue;
    const line = ascii(payload, start, i);
    start = i + 1;
    const eq = line.indexOf('=');
    const key = eq <= 0 ? '' : line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (V1_KEYS.indexOf(key as (typeof V1_KEYS)[number]) < 0 || seen.indexOf(key) >= 0) return undefined;
    seen.push(key);
    if (key === 'intervalMs') s.intervalMs = parseDecimal(value, MIN_INTERVAL_MS, MAX_INTERVAL_MS) ?? Number.NaN;
    else s[key as 'ssid' | 'password' | 'broker' | 'deviceId' | 'sensors'] = value;
  }
  return start === payload.length ? s : undefined;
}

/** Version 2: tag-length-value fields (see the file header). Binary values are copied out of `payload`. */
function decodeV2(payload: Uint8Array): Settings | undefined {
  const s = blankSettings();
  let last = 0;
  let p = 0;
  while (p < payload.length) {
    if (p + FIELD_HEADER > payload.length) return undefined;
    const tag = payload[p]!;
    const length = payload[p + 1]! | (payload[p + 2]! << 8);
    const start = p + FIELD_HEADER;
    const end = start + length;
    if (tag <= last || tag > LAST_TAG || end > payload.length) return undefined;
    last = tag;
    p = end;
    if (tag === Tag.intervalMs) {
      if (length !== 4) return undefined;
      s.intervalMs = (payload[start]! | (payload[start + 1]! << 8) | (payload[start + 2]! << 16) | (payload[start + 3]! << 24)) >>> 0;
    } else if (tag === Tag.ca) s.ca = payload.slice(start, end);
    else if (tag === Tag.clientCert) s.clientCert = payload.slice(start, end);
    else if (tag === Tag.clientKey) s.clientKey = payload.slice(start, end);
    else if (tag === Tag.mqttUsername || tag === Tag.mqttPassword) {
      const text = utf8Decode(payload, start, end);
      if (text === undefined) return undefined;
      if (tag === Tag.mqttUsername) s.mqttUsername = text;
      else s.mqttPassword = text;
    } else {
      const text = ascii(payload, start, end);
      if (tag === Tag.ssid) s.ssid = text;
      else if (tag === Tag.password) s.password = text;
      else if (tag === Tag.broker) s.broker = text;
      else if (tag === Tag.deviceId) s.deviceId = text;
      else s.sensors = text;
    }
  }
  return s;
}

/**
 * Decodes one record from a block's first bytes. Never throws; every defect has its code. The
 * fields are validated as on writing, except the sensor entries (see `planSensors`).
 */
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
  const version = block[10]!;
  if (block[11] !== 0) return 'E_SETTINGS_FORMAT';
  const settings = version === 2 ? decodeV2(payload) : version === 1 ? decodeV1(payload) : undefined;
  if (!settings) return 'E_SETTINGS_FORMAT';
  try {
    validateFields(settings);
  } catch {
    return 'E_SETTINGS_FORMAT';
  }
  return { settings, sequence: view.getUint32(4, true), version };
}

export interface SettingsStats {
  /** Records that failed validation (CRC, format, magic), counted per load. */
  corrupt: number;
  saves: number;
}

/** The raw settings partition of earlier firmware: two blocks, one record each, newest valid record wins (read for the migration to NVS). */
export class SettingsStore {
  readonly stats: SettingsStats = { corrupt: 0, saves: 0 };
  readonly #flash: Flash;
  readonly #blockLength: number;
  readonly #buffer: Uint8Array;
  #current: DecodedSettings | undefined;
  #currentBlock = -1;

  constructor(flash: Flash) {
    const status = flash.status();
    if (status.blocks < 2 || status.blockLength < BLOCK_BYTES) {
      throw new RangeError(`settings partition: needs 2 blocks of at least ${BLOCK_BYTES} bytes`);
    }
    this.#flash = flash;
    this.#blockLength = status.blockLength;
    this.#buffer = new Uint8Array(BLOCK_BYTES);
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
    this.#current = { settings: s, sequence, version: SETTINGS_VERSION };
    this.#currentBlock = block;
    this.stats.saves++;
  }
}

/** A whole raw settings partition image (both blocks) holding `s`, as earlier firmware's provisioning wrote it (tests of the migration use it). */
export function settingsImage(s: Settings, blockLength = BLOCK_BYTES, blocks = 2): Uint8Array {
  const image = new Uint8Array(blockLength * blocks).fill(0xff);
  image.set(encodeSettings(s, 1), 0);
  return image;
}

/**
 * The key-value storage the settings live in on the device: the SDK's `preference` module
 * (modules/files/preference, ESP32: esp32/modPreference.c over ESP-IDF NVS), injected so the
 * store runs under Node and XS too. Its contract, from the C code: `set` of an ArrayBuffer
 * stores a blob (a Uint8Array is refused, "unsupported type"); keys and domains are at most 15
 * bytes (NVS); `set` first erases the key, then writes it (modPreference.c ERASE_KEY), so a
 * power cut between the two leaves that key absent; `get` returns undefined for a missing key
 * or domain; every refusal throws.
 */
export interface KeyValueStore {
  get(domain: string, key: string): unknown;
  set(domain: string, key: string, value: ArrayBuffer): void;
  delete(domain: string, key: string): void;
}

/** NVS namespace and keys of the settings (each at most 15 bytes: NVS_KEY_NAME_MAX_SIZE - 1). */
export const SETTINGS_DOMAIN = 'pipewatch';
export const SETTINGS_KEYS = Object.freeze(['settings.0', 'settings.1'] as const);

export interface NvsSettingsStats extends SettingsStats {
  /** This boot moved the record of the raw `settings` partition into NVS. */
  migrated: boolean;
  /** This boot erased the raw `settings` partition (after a migration, now or interrupted earlier). */
  legacyErased: boolean;
  /** Preference calls that threw (other than a value that failed validation). */
  storageErrors: number;
}

function isErased(flash: Flash, blocks: number, blockLength: number, buffer: Uint8Array): boolean {
  for (let block = 0; block < blocks; block++) {
    for (let at = 0; at < BLOCK_BYTES; at += buffer.length) {
      flash.read(buffer, block * blockLength + at);
      for (let i = 0; i < buffer.length; i++) if (buffer[i] !== 0xff) return false;
    }
  }
  return true;
}

/**
 * Settings in NVS through the SDK's `preference` module, two records under two keys written
 * alternately (the record format of `encodeSettings`: magic, sequence, CRC, version 2 fields),
 * the newest valid one winning. Because `Preference.set` erases a key before writing it, one
 * key would lose the settings to a power cut in between; with two, a save writes the key not
 * holding the current record, so a cut during a save leaves the previous settings.
 *
 * Migration from the raw `settings` partition (firmware before NVS): `load` reads NVS; when it
 * holds no valid record it reads the partition (`SettingsStore`) and, if that has settings,
 * saves them to NVS and reads them back; only once NVS holds a valid record is the partition
 * erased (both blocks). A power cut at any step leaves either the raw record (migrated again at
 * the next boot) or the NVS record (the partition is erased at the next boot), never neither:
 * test/esp32-preference.test.ts cuts at every step.
 */
export class NvsSettingsStore {
  readonly stats: NvsSettingsStats = { corrupt: 0, saves: 0, migrated: false, legacyErased: false, storageErrors: 0 };
  readonly #kv: KeyValueStore;
  readonly #legacy: (() => Flash | undefined) | undefined;
  #current: DecodedSettings | undefined;
  #currentKey = -1;

  /** `legacy` opens the raw `settings` partition (undefined or a throw: there is none); `load` closes it. */
  constructor(kv: KeyValueStore, legacy?: () => Flash | undefined) {
    this.#kv = kv;
    this.#legacy = legacy;
  }

  #read(): void {
    this.#current = undefined;
    this.#currentKey = -1;
    for (let k = 0; k < SETTINGS_KEYS.length; k++) {
      let value: unknown;
      try {
        value = this.#kv.get(SETTINGS_DOMAIN, SETTINGS_KEYS[k]!);
      } catch {
        this.stats.storageErrors++;
        continue;
      }
      if (value === undefined) continue;
      const result = value instanceof ArrayBuffer ? decodeSettings(new Uint8Array(value)) : 'E_SETTINGS_FORMAT';
      if (typeof result === 'string') {
        this.stats.corrupt++;
        continue;
      }
      if (!this.#current || ((result.sequence - this.#current.sequence) | 0) > 0) {
        this.#current = result;
        this.#currentKey = k;
      }
    }
  }

  /** The newest valid settings (migrating the raw partition's record first), or undefined. */
  load(): Settings | undefined {
    this.#read();
    let flash: Flash | undefined;
    try {
      flash = this.#legacy?.();
    } catch {
      flash = undefined;
    }
    if (!flash) return this.#current?.settings;
    try {
      return this.#migrate(flash);
    } finally {
      try {
        flash.close();
      } catch {
        // a close that fails must not hide what happened before it
      }
    }
  }

  #migrate(flash: Flash): Settings | undefined {
    const status = flash.status();
    if (!this.#current) {
      let legacy: SettingsStore | undefined;
      try {
        legacy = new SettingsStore(flash);
      } catch {
        return undefined;
      }
      const old = legacy.load();
      this.stats.corrupt += legacy.stats.corrupt;
      if (!old) return undefined;
      try {
        this.save(old);
      } catch {
        this.stats.storageErrors++;
        return old; // NVS refused: keep using (and keep) the raw record
      }
      this.#read();
      if (!this.#current) return old; // not readable back: the raw record stays
      this.stats.migrated = true;
    }
    if (!isErased(flash, 2, status.blockLength, new Uint8Array(256))) {
      flash.eraseBlock(0);
      flash.eraseBlock(1);
      this.stats.legacyErased = true;
    }
    return this.#current.settings;
  }

  /** The settings last loaded or saved. */
  get settings(): Settings | undefined {
    return this.#current?.settings;
  }

  /** Writes `s` under the key not holding the current record. Throws on invalid settings or a storage refusal. */
  save(s: Settings): void {
    const sequence = this.#current ? (this.#current.sequence + 1) >>> 0 : 1;
    const record = encodeSettings(s, sequence);
    const key = this.#currentKey === 0 ? 1 : 0;
    this.#kv.set(SETTINGS_DOMAIN, SETTINGS_KEYS[key]!, record.buffer as ArrayBuffer);
    this.#current = { settings: s, sequence, version: SETTINGS_VERSION };
    this.#currentKey = key;
    this.stats.saves++;
  }
}

/**
 * The `save` of the Improv service (firmware/provision/improv.ts): the stored settings (or
 * `base`, e.g. the build's, when none are stored) with the Wi-Fi SSID and passphrase that just
 * joined, saved to NVS. False when there is nothing complete to save them into (Improv carries
 * no broker) or the settings or NVS refuse them; never throws, as Improv's contract allows.
 */
export function saveWifi(store: NvsSettingsStore, ssid: string, password: string, base?: Settings): boolean {
  const current = store.settings ?? base;
  if (!current) return false;
  try {
    store.save({ ...current, ssid, password });
    return true;
  } catch {
    return false;
  }
}

/** Whether a build's manifest config says `insecure: true` (`insecure=true` on the mcconfig command line arrives as the string). */
export function insecureBuild(config: Record<string, unknown>): boolean {
  return config.insecure === true || config.insecure === 'true';
}

/**
 * Why a device build must not use these settings' broker, or '' when it may: a plain mqtt://
 * broker unless the build says `insecure: true` (E_INSECURE_BROKER), and an mqtts:// broker
 * with no trust anchor, neither a CA in the settings nor one in the build (E_NO_CA): the build
 * carries no public roots, so the plant CA is the only certificate the TLS client trusts.
 */
export function brokerPolicyProblem(s: Settings, insecure: boolean, buildCa: boolean): string {
  let secure: boolean;
  try {
    secure = secureBroker(s, buildCa);
  } catch (error) {
    return (error as Error).message;
  }
  if (s.broker === '') {
    return secure || insecure
      ? ''
      : 'E_INSECURE_BROKER: no broker set, and with no CA to check one a broker found by mDNS would be plain MQTT, which this build refuses; provision the plant CA (--ca) or a broker, or build with insecure=true for a test bench';
  }
  if (!secure && !insecure) {
    return `E_INSECURE_BROKER: broker "${s.broker}" is plain MQTT, which this build refuses; use mqtts:// with the plant CA (provision --ca), or build with insecure=true for a test bench`;
  }
  if (secure && s.ca === undefined && !buildCa) {
    return `E_NO_CA: broker "${s.broker}" needs the plant CA, the only certificate the node trusts; provision it (--ca) or build with tlsCA=`;
  }
  return '';
}
