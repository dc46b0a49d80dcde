import { deepEqual, equal, near, ok, throws } from '../harness/assert';
import { SimFlash } from '../../simulator/flash/index';
import { createBoard } from '../../simulator/board';
import { PipewatchNode } from '../../firmware/node';
import { partNames } from '../../firmware/sensors/registry';
import {
  HEADER_BYTES,
  MAX_PAYLOAD,
  SettingsStore,
  brokerConfig,
  brokerPolicyProblem,
  crc32,
  decodeSettings,
  encodeSettings,
  parseBroker,
  parseDecimal,
  parseI2cAddress,
  parseSensors,
  planSensors,
  settingsFromConfig,
  settingsImage,
  validateFields,
  validateSettings,
  type Settings,
} from '../../hosts/esp32/settings';
import { mqttBinaryBytes, utf8Decode } from '../../firmware/uplink/utf8';
import { Xoshiro128 } from '../../firmware/util/prng';
import { Rig, bytesToText, politeBroker, type SentPacket } from './uplink-rig';

const good: Settings = {
  ssid: 'Plant-North',
  password: 'correct horse',
  broker: 'mqtts://broker.example.net',
  deviceId: 'pipe-0042',
  intervalMs: 10000,
  sensors: 'tmp117@0x48,ds18b20@pin4',
};

function partition(): SimFlash {
  return new SimFlash({ blocks: 2, blockLength: 4096, writeAlign: 4, eraseValue: 0xff });
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/*
 * Version 1 records written by the firmware before the version 2 format (encodeSettings of
 * commit df659a6), byte for byte: `good` with sequence 7, and an open-network node on
 * mqtt://10.0.0.5:1883 whose sensor list names an unknown part ("tmp11@0x48,tmp117@0x49").
 */
const V1_GOOD = fromHex(
  '50575331070000008f000100b5b8f1a7737369643d506c616e742d4e6f7274680a70617373776f72643d636f727265637420686f7273650a62726f6b65723d6d717474733a2f2f62726f6b65722e6578616d706c652e6e65740a64657669636549643d706970652d303034320a696e74657276616c4d733d31303030300a73656e736f72733d746d7031313740307834382c647331386232304070696e340a',
);
const V1_UNKNOWN_PART = fromHex(
  '505753310300000079000100ef3e8551737369643d506c616e742d4e6f7274680a70617373776f72643d0a62726f6b65723d6d7174743a2f2f31302e302e302e353a313838330a64657669636549643d706970652d303034330a696e74657276616c4d733d353030300a73656e736f72733d746d70313140307834382c746d7031313740307834390a',
);

/**
 * The record `pipewatch provision` writes (its --image-only image, first bytes of block 0) for
 * PROVISIONED_UTF8_ARGS; test/provision.test.ts checks that it still writes exactly this.
 */
export const PROVISIONED_UTF8_ARGS = [
  '--ssid', 'Plant', '--password', 'passphrase1', '--broker', 'mqtts://broker.example.net', '--device-id', 'pipe-1',
  '--mqtt-username', 'j\u00fcrgen', '--mqtt-password', 'p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11',
];
export const PROVISIONED_UTF8_HEX =
  '505753310100000074000200e35fc951010500506c616e74020b007061737370687261736531031a006d717474733a2f' +
  '2f62726f6b65722e6578616d706c652e6e6574040600706970652d3105040010270000060b00746d7031313740307834' +
  '380707006ac3bc7267656e08160070c3a4737377c3b6726420e5af86e7a08120f09f9491';

/** UTF-8 of `s` by the oracle (TextEncoder: test only). */
function utf8(s: string): number[] {
  return Array.from(new TextEncoder().encode(s));
}

/** The user name and password fields of a CONNECT the client sent (§3.1.3: id, will topic, will message, user name, password). */
function connectCredentials(connect: SentPacket): { username: number[]; password: number[] } {
  const b = connect.body;
  const flags = b[7]!;
  let p = 10;
  const field = () => {
    const n = (b[p]! << 8) | b[p + 1]!;
    const out = Array.from(b.subarray(p + 2, p + 2 + n));
    p += 2 + n;
    return out;
  };
  field();
  if (flags & 0x04) (field(), field());
  const username = flags & 0x80 ? field() : [];
  const password = flags & 0x40 ? field() : [];
  equal(p, b.length, 'nothing after the password');
  return { username, password };
}

/** A version 1 record as the old encoder laid it out, with `text` as its payload. */
function v1Record(text: string, sequence = 1): Uint8Array {
  const record = new Uint8Array(HEADER_BYTES + text.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, 0x31535750, true);
  view.setUint32(4, sequence, true);
  view.setUint16(8, text.length, true);
  record[10] = 1;
  for (let i = 0; i < text.length; i++) record[HEADER_BYTES + i] = text.charCodeAt(i);
  return reseal(record);
}

/** Recomputes the CRC and length of a record whose payload a test edited. */
function reseal(record: Uint8Array): Uint8Array {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint16(8, record.length - HEADER_BYTES, true);
  view.setUint32(12, crc32(record.subarray(HEADER_BYTES), crc32(record.subarray(4, 12))), true);
  return record;
}

function v1Text(fields: Record<string, string>): string {
  let text = '';
  for (const key of Object.keys(fields)) text += `${key}=${fields[key]}\n`;
  return text;
}

const v1Fields = {
  ssid: 'Plant-North',
  password: 'correct horse',
  broker: 'mqtt://10.0.0.5',
  deviceId: 'pipe-0042',
  intervalMs: '10000',
  sensors: 'tmp117@0x48',
};

/** A DER SEQUENCE of `length` content bytes (a stand-in certificate of a given size). */
function derBlob(length: number, fill = 0x5a): Uint8Array {
  const header = length < 0x80 ? [0x30, length] : length < 0x100 ? [0x30, 0x81, length] : [0x30, 0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(header.length + length).fill(fill);
  out.set(header);
  return out;
}

/** test/fixtures/provision/ec-client-key.pem as PKCS#8 DER: a P-256 key, which the device cannot sign with. */
const EC_P256_PKCS8_HEX = '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104204f2f84e53fd56017ecc346a4adedb3e4b04d86d5927bb9e38019db12f5857bdda14403420004c64c07eb85cc6b55722af053c2358fbd3b5098ef91615dccbe14a93b361961ea1d44fc29cd5901607bfbbe197d07392b31de9617750ee085225fde07bb73beec';

/** A DER SEQUENCE of `length` content bytes that starts as an RSA PKCS#8 key does (version 0, rsaEncryption, NULL). */
function rsaKeyBlob(length: number, fill = 0x5a): Uint8Array {
  const out = derBlob(length, fill);
  out.set([0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00], out.length - length);
  return out;
}

const secure: Settings = {
  ...good,
  mqttUsername: 'pipe-0042',
  mqttPassword: 'broker secret 1',
  ca: derBlob(600, 0x11),
  clientCert: derBlob(450, 0x22),
  clientKey: rsaKeyBlob(1190, 0x33),
};

/** The record's fields as the version 2 payload holds them: [tag, value bytes]. */
function v2Fields(record: Uint8Array): Array<[number, Uint8Array]> {
  const out: Array<[number, Uint8Array]> = [];
  let p = HEADER_BYTES;
  while (p < record.length) {
    const length = record[p + 1]! | (record[p + 2]! << 8);
    out.push([record[p]!, record.slice(p + 3, p + 3 + length)]);
    p += 3 + length;
  }
  return out;
}

function v2Record(fields: Array<[number, ArrayLike<number>]>): Uint8Array {
  let length = 0;
  for (const [, value] of fields) length += 3 + value.length;
  const record = new Uint8Array(HEADER_BYTES + length);
  const view = new DataView(record.buffer);
  view.setUint32(0, 0x31535750, true);
  view.setUint32(4, 1, true);
  record[10] = 2;
  let p = HEADER_BYTES;
  for (const [tag, value] of fields) {
    record[p] = tag;
    view.setUint16(p + 1, value.length, true);
    record.set(value, p + 3);
    p += 3 + value.length;
  }
  return reseal(record);
}

/** A host for a node booted from settings: the uplink rig's sockets and timers, a simulated board's buses, a log. */
function bootRig(sensors: Array<{ part: string; address?: number }>) {
  const rig = new Rig(3);
  const env = { now: () => rig.now, temperature: () => 61.25, humidity: () => 40, pressure: () => 101325, ambient: () => 25 };
  const board = createBoard(sensors, () => env, 5);
  const logs: string[] = [];
  const host = { ...rig.host, io: { ...rig.host.io, ...board.io }, log: (level: string, message: string) => logs.push(`${level} ${message}`) };
  return { rig, host, logs, broker: politeBroker(rig) };
}

export const tests = {
  'crc32 matches the IEEE check value'() {
    const bytes = new Uint8Array(9);
    for (let i = 0; i < 9; i++) bytes[i] = 0x31 + i;
    equal(crc32(bytes), 0xcbf43926);
  },
  'a record round-trips'() {
    const decoded = decodeSettings(encodeSettings(good, 7));
    ok(typeof decoded === 'object');
    deepEqual(decoded.settings, good);
    equal(decoded.sequence, 7);
  },
  'blank flash decodes as blank'() {
    equal(decodeSettings(new Uint8Array(64).fill(0xff)), 'blank');
  },
  'E_SETTINGS_MAGIC: foreign data'() {
    const record = encodeSettings(good, 1);
    record[0] = 0x00;
    equal(decodeSettings(record), 'E_SETTINGS_MAGIC');
  },
  'E_SETTINGS_CRC: any flipped payload or header bit is caught'() {
    const record = encodeSettings(good, 1);
    for (const index of [4, 9, HEADER_BYTES, record.length - 1]) {
      const copy = record.slice();
      copy[index]! ^= 0x01;
      const result = decodeSettings(copy);
      ok(result === 'E_SETTINGS_CRC' || result === 'E_SETTINGS_FORMAT', `byte ${index}: ${String(result)}`);
    }
    const copy = record.slice();
    copy[HEADER_BYTES + 2]! ^= 0x04;
    equal(decodeSettings(copy), 'E_SETTINGS_CRC');
  },
  'E_SETTINGS_FORMAT: length beyond the block'() {
    const record = encodeSettings(good, 1);
    equal(decodeSettings(record.subarray(0, record.length - 3)), 'E_SETTINGS_FORMAT');
  },
  'invalid settings are refused with the field named'() {
    throws(() => encodeSettings({ ...good, ssid: '' }, 1), /E_SETTINGS_VALUE: ssid/);
    throws(() => encodeSettings({ ...good, password: 'short' }, 1), /E_SETTINGS_VALUE: password/);
    throws(() => encodeSettings({ ...good, deviceId: 'a b' }, 1), /E_SETTINGS_VALUE: deviceId/);
    throws(() => encodeSettings({ ...good, intervalMs: 5 }, 1), /E_SETTINGS_VALUE: intervalMs/);
    throws(() => encodeSettings({ ...good, broker: 'http://x' }, 1), /E_SETTINGS_BROKER/);
    throws(() => encodeSettings({ ...good, sensors: 'tmp117@0x99' }, 1), /E_SETTINGS_SENSORS/);
    throws(() => encodeSettings({ ...good, ssid: 'caf\u00e9' }, 1), /E_SETTINGS_VALUE: ssid/);
  },
  'broker URLs: defaults, ports, secure'() {
    deepEqual(parseBroker('mqtt://10.0.0.2'), { secure: false, host: '10.0.0.2', port: 1883 });
    deepEqual(parseBroker('mqtts://broker.example.net'), { secure: true, host: 'broker.example.net', port: 8883 });
    deepEqual(parseBroker('mqtt://127.0.0.1:18830/'), { secure: false, host: '127.0.0.1', port: 18830 });
    throws(() => parseBroker('mqtt://host:0'), /invalid port/);
    throws(() => parseBroker('mqtt://host:70000'), /invalid port/);
    throws(() => parseBroker('mqtt://:1883'), /invalid host/);
  },
  'sensor lists'() {
    deepEqual(parseSensors('tmp117@0x48,ds18b20@pin4,tmp117'), [
      { part: 'tmp117', address: 0x48 },
      { part: 'ds18b20', pin: 4 },
      { part: 'tmp117' },
    ]);
    deepEqual(parseSensors(''), []);
    throws(() => parseSensors('tmp117@48'), /E_SETTINGS_SENSORS/);
  },
  'store: blank partition loads nothing, saves alternate blocks, newest wins'() {
    const flash = partition();
    const store = new SettingsStore(flash);
    equal(store.load(), undefined);
    store.save(good);
    store.save({ ...good, deviceId: 'pipe-0043' });
    const again = new SettingsStore(flash);
    equal(again.load()?.deviceId, 'pipe-0043');
    equal(again.stats.corrupt, 0);
  },
  'store: a power cut during a save keeps the previous settings'() {
    for (let seed = 1; seed <= 24; seed++) {
      for (const tear of [false, true]) {
        const flash = partition();
        new SettingsStore(flash).save(good);
        const store = new SettingsStore(flash);
        store.load();
        flash.cutAfter(seed % 2, { tear, seed });
        let cut = false;
        try {
          store.save({ ...good, deviceId: 'pipe-0099' });
        } catch (error) {
          cut = (error as { code?: string }).code === 'E_POWER_CUT';
        }
        ok(cut, `seed ${seed}: the save was cut`);
        const after = new SettingsStore(flash.reboot()).load();
        ok(after !== undefined, `seed ${seed}: settings survive`);
        ok(after.deviceId === 'pipe-0042' || after.deviceId === 'pipe-0099', `seed ${seed}: ${after.deviceId}`);
      }
    }
  },
  'store: a corrupt newer record is ignored and counted'() {
    const flash = partition();
    const store = new SettingsStore(flash);
    store.save(good);
    store.save({ ...good, deviceId: 'pipe-0043' });
    const bad = new Uint8Array(4).fill(0);
    flash.write(bad, 4096 + HEADER_BYTES);
    const reread = new SettingsStore(flash);
    equal(reread.load()?.deviceId, 'pipe-0042');
    equal(reread.stats.corrupt, 1);
  },
  'provisioning image: two blocks, record first, rest erased'() {
    const image = settingsImage(good);
    equal(image.length, 8192);
    equal(image[4096], 0xff);
    const decoded = decodeSettings(image);
    ok(typeof decoded === 'object');
    equal(decoded.settings.deviceId, 'pipe-0042');
  },

  'version 1 records of earlier firmware are still read, field for field'() {
    const decoded = decodeSettings(V1_GOOD);
    ok(typeof decoded === 'object', String(decoded));
    deepEqual(decoded.settings, good);
    equal(decoded.sequence, 7);
    equal(decoded.version, 1);
  },
  'version 1: numbers are parsed strictly'() {
    for (const interval of ['', '1e4', '12abc', '010000', ' 10000', '10000.0', '0x2710', '-10000', '99', '86400001']) {
      equal(decodeSettings(v1Record(v1Text({ ...v1Fields, intervalMs: interval }))), 'E_SETTINGS_FORMAT', `intervalMs "${interval}"`);
    }
    const fine = decodeSettings(v1Record(v1Text({ ...v1Fields, intervalMs: '100' })));
    ok(typeof fine === 'object');
    equal(fine.settings.intervalMs, 100);
    for (const broker of ['mqtt://h:', 'mqtt://h:01883', 'mqtt://h:1883x', 'mqtt://h:+1883', 'mqtt://h: 1883']) {
      equal(decodeSettings(v1Record(v1Text({ ...v1Fields, broker }))), 'E_SETTINGS_FORMAT', broker);
    }
  },
  'version 1: a missing, repeated or unknown key is a format error'() {
    const { intervalMs: _dropped, ...noInterval } = v1Fields;
    equal(decodeSettings(v1Record(v1Text(noInterval))), 'E_SETTINGS_FORMAT');
    equal(decodeSettings(v1Record(v1Text(v1Fields) + 'ssid=Other\n')), 'E_SETTINGS_FORMAT');
    equal(decodeSettings(v1Record(v1Text(v1Fields) + 'colour=red\n')), 'E_SETTINGS_FORMAT');
  },
  'strict numbers: decimal, I2C address, pin'() {
    equal(parseDecimal('10000', 100, 86_400_000), 10000);
    equal(parseDecimal('0', 0, 9), 0);
    for (const text of ['', '1e4', '12abc', '012', ' 1', '1 ', '+1', '-1', '0x10', '1.5', 'Infinity', '99999999999']) {
      equal(parseDecimal(text, 0, 99_999_999_999), undefined, JSON.stringify(text));
    }
    equal(parseDecimal('101', 0, 100), undefined);
    equal(parseI2cAddress('0x48'), 0x48);
    equal(parseI2cAddress('0x8'), 0x08);
    equal(parseI2cAddress('0x77'), 0x77);
    equal(parseI2cAddress('0x4A'), 0x4a);
    for (const text of ['0x', '0x078', '0x00', '0x07', '0x78', '0x7f', '0X48', '48', '0x4g', '0x-1', ' 0x48']) {
      equal(parseI2cAddress(text), undefined, text);
    }
    throws(() => parseSensors('tmp117@0x7f'), /E_SETTINGS_SENSORS: .*0x08\.\.0x77/);
    throws(() => parseSensors('ds18b20@pin04'), /E_SETTINGS_SENSORS: .*pin0\.\.pin48/);
    throws(() => parseSensors('ds18b20@pin49'), /E_SETTINGS_SENSORS/);
    throws(() => parseSensors('ds18b20@pin'), /E_SETTINGS_SENSORS/);
    throws(() => parseSensors('tmp117@0x48,'), /E_SETTINGS_SENSORS: empty/);
    throws(() => parseSensors('tmp117@0x48,tmp117@0x48'), /E_SETTINGS_SENSORS: .*twice/);
  },
  'writing refuses an unknown part and names the known ones'() {
    throws(() => encodeSettings({ ...good, sensors: 'tmp11@0x48' }, 1), /E_SETTINGS_SENSORS: sensor "tmp11@0x48": unknown part "tmp11" \(known: tmp117, /);
    throws(() => settingsImage({ ...good, sensors: 'tmp117@0x48,TMP117@0x49' }), /unknown part "TMP117"/);
    for (const part of partNames()) ok(encodeSettings({ ...good, sensors: part }, 1).length > HEADER_BYTES, part);
  },
  'reading keeps a record whose sensor list has an unusable entry, and plans around it'() {
    const decoded = decodeSettings(V1_UNKNOWN_PART);
    ok(typeof decoded === 'object', String(decoded));
    equal(decoded.settings.broker, 'mqtt://10.0.0.5:1883');
    const plan = planSensors(decoded.settings.sensors);
    deepEqual(plan.sensors, [{ part: 'tmp117', address: 0x49 }]);
    equal(plan.problems.length, 1);
    ok(/unknown part "tmp11" \(known: tmp117, /.test(plan.problems[0]!), plan.problems[0]);
    const messy = planSensors('tmp117@0x48,bogus,ds18b20@pin99,tmp117@0x48,,mcp9808@0x18');
    deepEqual(messy.sensors, [{ part: 'tmp117', address: 0x48 }, { part: 'mcp9808', address: 0x18 }]);
    equal(messy.problems.length, 4);
    const nine = planSensors('tmp117@0x48,tmp117@0x49,tmp117@0x4a,tmp117@0x4b,mcp9808@0x18,mcp9808@0x19,mcp9808@0x1a,mcp9808@0x1b,mcp9808@0x1c');
    equal(nine.sensors.length, 8);
    ok(/at most 8/.test(nine.problems[0]!), nine.problems[0]);
  },
  'version 2: every field round-trips, certificates and key as bytes'() {
    const record = encodeSettings(secure, 9);
    equal(record[10], 2);
    const decoded = decodeSettings(record);
    ok(typeof decoded === 'object', String(decoded));
    deepEqual(decoded.settings, secure);
    equal(decoded.version, 2);
    const open = decodeSettings(encodeSettings({ ...good, password: '', sensors: '' }, 1));
    ok(typeof open === 'object');
    deepEqual(open.settings, { ...good, password: '', sensors: '' });
  },
  'version 2: strict layout (order, unknown tag, interval width, truncated field)'() {
    const fields = v2Fields(encodeSettings(secure, 1));
    ok(typeof decodeSettings(v2Record(fields)) === 'object', 'the rebuilt record is valid');
    const swapped = fields.slice();
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    equal(decodeSettings(v2Record(swapped)), 'E_SETTINGS_FORMAT', 'out of order');
    equal(decodeSettings(v2Record([...fields.slice(0, 2), fields[1]!, ...fields.slice(2)])), 'E_SETTINGS_FORMAT', 'repeated');
    equal(decodeSettings(v2Record([...fields, [12, [1]]])), 'E_SETTINGS_FORMAT', 'unknown tag 12');
    equal(decodeSettings(v2Record([[0, [1]], ...fields])), 'E_SETTINGS_FORMAT', 'tag 0');
    const interval = fields.map(([tag, value]): [number, ArrayLike<number>] => (tag === 5 ? [5, [0x10, 0x27, 0, 0, 0]] : [tag, value]));
    equal(decodeSettings(v2Record(interval)), 'E_SETTINGS_FORMAT', 'intervalMs in 5 bytes');
    const tiny = fields.map(([tag, value]): [number, ArrayLike<number>] => (tag === 5 ? [5, [50, 0, 0, 0]] : [tag, value]));
    equal(decodeSettings(v2Record(tiny)), 'E_SETTINGS_FORMAT', 'intervalMs 50');
    const truncated = encodeSettings(secure, 1);
    equal(decodeSettings(reseal(truncated.slice(0, truncated.length - 1))), 'E_SETTINGS_FORMAT', 'last field cut short');
    equal(decodeSettings(reseal(new Uint8Array([...truncated, 9]))), 'E_SETTINGS_FORMAT', 'a stray byte after the last field');
    const notDer = fields.map(([tag, value]): [number, ArrayLike<number>] => (tag === 9 ? [9, value.slice(0, value.length - 1)] : [tag, value]));
    equal(decodeSettings(v2Record(notDer)), 'E_SETTINGS_FORMAT', 'a CA whose DER length is wrong');
    const reserved = encodeSettings(good, 1);
    reserved[11] = 1;
    equal(decodeSettings(reseal(reserved)), 'E_SETTINGS_FORMAT', 'reserved byte');
    const future = encodeSettings(good, 1);
    future[10] = 3;
    equal(decodeSettings(reseal(future)), 'E_SETTINGS_FORMAT', 'version 3');
  },
  'credentials and TLS: each rule has its error'() {
    throws(() => encodeSettings({ ...good, mqttPassword: 'secret' }, 1), /E_SETTINGS_VALUE: mqttPassword: needs mqttUsername/);
    throws(() => encodeSettings({ ...good, mqttUsername: '' }, 1), /E_SETTINGS_VALUE: mqttUsername: a non-empty string/);
    throws(() => encodeSettings({ ...good, mqttUsername: 'u', mqttPassword: '' }, 1), /E_SETTINGS_VALUE: mqttPassword: a non-empty string/);
    throws(() => encodeSettings({ ...good, mqttUsername: 'u', mqttPassword: 'pa\ud800ss' }, 1), /E_SETTINGS_VALUE: mqttPassword: MQTT password has a lone surrogate/);
    throws(() => encodeSettings({ ...good, mqttUsername: 'us\u0000er' }, 1), /E_SETTINGS_VALUE: mqttUsername: MQTT user name has U\+0000/);
    throws(() => encodeSettings({ ...good, mqttUsername: '\udc00' }, 1), /E_SETTINGS_VALUE: mqttUsername: MQTT user name has U\+0000 or a lone surrogate/);
    throws(
      () => encodeSettings({ ...good, mqttUsername: 'u', mqttPassword: '\ud83d\udd11'.repeat(260) }, 1),
      /E_SETTINGS_VALUE: mqttUsername, mqttPassword: MQTT CONNECT would be 1\d\d\d bytes, more than the 1024-byte transmit buffer/,
    );
    throws(() => encodeSettings({ ...good, broker: 'mqtt://10.0.0.5', ca: derBlob(100) }, 1), /E_SETTINGS_TLS: ca, clientCert: need an mqtts:\/\/ broker/);
    throws(() => encodeSettings({ ...good, clientCert: derBlob(100) }, 1), /E_SETTINGS_TLS: clientCert and clientKey: give both/);
    throws(() => encodeSettings({ ...good, clientKey: derBlob(100) }, 1), /E_SETTINGS_TLS: clientCert and clientKey: give both/);
    throws(() => encodeSettings({ ...secure, clientKey: derBlob(135, 0x33) }, 1), /E_SETTINGS_TLS: clientKey: not an RSA PKCS#8 key \(the TLS client signs only with RSA/);
    throws(() => encodeSettings({ ...secure, clientKey: derBlob(10, 0x02) }, 1), /E_SETTINGS_TLS: clientKey: not an RSA PKCS#8 key/, 'too short to hold the algorithm');
    const ecP256 = fromHex(EC_P256_PKCS8_HEX);
    throws(() => encodeSettings({ ...secure, clientKey: ecP256 }, 1), /E_SETTINGS_TLS: clientKey: not an RSA PKCS#8 key/, 'a real EC P-256 PKCS#8 key');
    throws(() => encodeSettings({ ...good, ca: new Uint8Array([0x31, 0x00]) }, 1), /E_SETTINGS_TLS: ca: not one DER/);
    throws(() => encodeSettings({ ...good, ca: derBlob(200).subarray(0, 150) }, 1), /E_SETTINGS_TLS: ca/);
    throws(() => parseBroker('mqtt://user:pass@10.0.0.5'), /E_SETTINGS_BROKER: .*no user name in the URL/);
  },
  'MQTT credentials: any UTF-8 the client sends, stored as its UTF-8 bytes, read back (issue 11 item 13 follow-up)'() {
    const username = 'j\u00fcrgen-\u00fc';
    const password = 'p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11';
    const record = encodeSettings({ ...good, mqttUsername: username, mqttPassword: password }, 3);
    const fields = v2Fields(record);
    deepEqual(Array.from(fields.find(([tag]) => tag === 7)![1]), utf8(username), 'tag 7: the UTF-8 bytes');
    deepEqual(Array.from(fields.find(([tag]) => tag === 8)![1]), utf8(password), 'tag 8: the UTF-8 bytes');
    const decoded = decodeSettings(record);
    ok(typeof decoded === 'object', String(decoded));
    equal(decoded.settings.mqttUsername, username);
    equal(decoded.settings.mqttPassword, password);
    // Password data is binary for MQTT (§3.1.3.5): U+0000 and control characters are sent as they are.
    const binary = decodeSettings(encodeSettings({ ...good, mqttUsername: 'u\t', mqttPassword: 'a\u0000b\n' }, 1));
    ok(typeof binary === 'object', String(binary));
    equal(binary.settings.mqttPassword, 'a\u0000b\n');
    const store = new SettingsStore(partition());
    store.save({ ...good, mqttUsername: username, mqttPassword: password });
    equal(store.load()?.mqttPassword, password, 'through the store');
  },
  'MQTT credentials: the settings refuse exactly what the MQTT client of the node refuses (random strings)'() {
    const random = new Xoshiro128(4711);
    const units = [0x41, 0x00, 0x09, 0x7f, 0xe9, 0x7ff, 0x800, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xffff];
    const { host } = bootRig([]);
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 120; round++) {
      const text = (max: number) => {
        let t = '';
        const n = 1 + Math.floor(random.next() * max);
        for (let i = 0; i < n; i++) t += String.fromCharCode(units[Math.floor(random.next() * units.length)]!);
        return t;
      };
      // Every tenth round long enough to reach the CONNECT's 1,024-byte limit.
      const long = round % 10 === 0;
      const s: Settings = { ...good, mqttUsername: text(long ? 200 : 6), mqttPassword: text(long ? 200 : 6) };
      let settings = '';
      try {
        encodeSettings(s, 1);
      } catch (error) {
        settings = (error as Error).message;
      }
      let client = '';
      try {
        new PipewatchNode(host, { deviceId: s.deviceId, broker: brokerConfig(s), sensors: [] });
      } catch (error) {
        client = (error as Error).message;
      }
      equal(settings === '', client === '', `${JSON.stringify(s.mqttUsername)} / ${JSON.stringify(s.mqttPassword)}: settings "${settings}", client "${client}"`);
      if (client !== '') ok(settings.indexOf(client) >= 0, `the settings give the client's reason: ${settings}`);
      if (settings === '') accepted++;
      else refused++;
    }
    ok(accepted > 10 && refused > 10, `${accepted} accepted, ${refused} refused`);
  },
  'a record holding a non-RSA client key (another tool wrote it) is refused when read, an RSA one is read'() {
    const fields: Array<[number, ArrayLike<number>]> = [
      [1, utf8('Plant-North')],
      [3, utf8('mqtts://broker.example.net')],
      [4, utf8('pipe-0042')],
      [5, [0x10, 0x27, 0, 0]],
      [10, derBlob(450, 0x22)],
    ];
    equal(decodeSettings(v2Record([...fields, [11, fromHex(EC_P256_PKCS8_HEX)]])), 'E_SETTINGS_FORMAT');
    const rsa = decodeSettings(v2Record([...fields, [11, rsaKeyBlob(1190)]]));
    ok(typeof rsa === 'object', String(rsa));
    deepEqual(rsa.settings.clientKey, rsaKeyBlob(1190));
  },
  'MQTT credentials in a record: read as strict UTF-8; records of earlier firmware (ASCII) read as before'() {
    const base: Array<[number, ArrayLike<number>]> = [
      [1, utf8('Plant-North')],
      [3, utf8('mqtt://10.0.0.5')],
      [4, utf8('pipe-0042')],
      [5, [0x10, 0x27, 0, 0]],
    ];
    // What the encoder of commit 12daff9 wrote for printable ASCII credentials, byte for byte.
    const old = decodeSettings(v2Record([...base, [7, utf8('pipe-0042')], [8, utf8('broker secret 1')]]));
    ok(typeof old === 'object', String(old));
    equal(old.settings.mqttUsername, 'pipe-0042');
    equal(old.settings.mqttPassword, 'broker secret 1');
    deepEqual(
      Array.from(encodeSettings(old.settings, 1).subarray(HEADER_BYTES)),
      Array.from(v2Record([...base, [7, utf8('pipe-0042')], [8, utf8('broker secret 1')]]).subarray(HEADER_BYTES)),
      'ASCII credentials are written as before (an earlier firmware reads them)',
    );
    const illFormed: number[][] = [[0xc3], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x61, 0x80], [0xff]];
    for (const bytes of illFormed) {
      equal(decodeSettings(v2Record([...base, [7, bytes]])), 'E_SETTINGS_FORMAT', `user name ${bytes.join(' ')}`);
      equal(decodeSettings(v2Record([...base, [7, [0x75]], [8, bytes]])), 'E_SETTINGS_FORMAT', `password ${bytes.join(' ')}`);
    }
    equal(decodeSettings(v2Record([...base, [7, [0x75, 0x00]]])), 'E_SETTINGS_FORMAT', 'U+0000 in a user name (the client refuses it)');
    const nul = decodeSettings(v2Record([...base, [7, [0x75]], [8, [0x61, 0x00]]]));
    ok(typeof nul === 'object', 'U+0000 in a password is binary data');
    equal(nul.settings.mqttPassword, 'a\u0000');
  },
  'utf8Decode agrees with the Unicode table of well-formed UTF-8 on random bytes, and inverts the client encoder'() {
    // Oracles (test only): the Unicode Standard's Table 3-7 "Well-Formed UTF-8 Byte Sequences",
    // as data; the client's encoder for the value (a round trip); and where the engine's 'fatal'
    // TextDecoder is strict (Node; on XS it decodes ED 5E 9E, which is ill-formed), that too.
    const TABLE_3_7: number[][][] = [
      [[0x00, 0x7f]],
      [[0xc2, 0xdf], [0x80, 0xbf]],
      [[0xe0, 0xe0], [0xa0, 0xbf], [0x80, 0xbf]],
      [[0xe1, 0xec], [0x80, 0xbf], [0x80, 0xbf]],
      [[0xed, 0xed], [0x80, 0x9f], [0x80, 0xbf]],
      [[0xee, 0xef], [0x80, 0xbf], [0x80, 0xbf]],
      [[0xf0, 0xf0], [0x90, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
      [[0xf1, 0xf3], [0x80, 0xbf], [0x80, 0xbf], [0x80, 0xbf]],
      [[0xf4, 0xf4], [0x80, 0x8f], [0x80, 0xbf], [0x80, 0xbf]],
    ];
    const wellFormed = (b: Uint8Array) => {
      let i = 0;
      next: while (i < b.length) {
        for (const row of TABLE_3_7) {
          if (i + row.length > b.length) continue;
          if (row.every(([low, high], k) => b[i + k]! >= low! && b[i + k]! <= high!)) {
            i += row.length;
            continue next;
          }
        }
        return false;
      }
      return true;
    };
    const Fatal = TextDecoder as unknown as new (label: string, options: { fatal: boolean }) => { decode(b: Uint8Array): string };
    const fatal = new Fatal('utf-8', { fatal: true });
    let strict = false;
    try {
      fatal.decode(new Uint8Array([0xed, 0x5e, 0x9e]));
    } catch {
      strict = true;
    }
    const random = new Xoshiro128(2026);
    for (let round = 0; round < 3000; round++) {
      const n = 1 + Math.floor(random.next() * 7);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const r = random.next();
        bytes[i] = r < 0.35 ? 0x80 + Math.floor(random.next() * 64) : r < 0.7 ? 0xc0 + Math.floor(random.next() * 64) : Math.floor(random.next() * 256);
      }
      const hex = Array.from(bytes).map((b) => b.toString(16)).join(' ');
      const got = utf8Decode(bytes, 0, n);
      equal(got !== undefined, wellFormed(bytes), `${hex}: well-formed per Table 3-7`);
      if (got !== undefined) deepEqual(Array.from(mqttBinaryBytes(got, 'x')), Array.from(bytes), `${hex}: the client encodes it back`);
      if (strict) {
        let want: string | undefined;
        try {
          want = fatal.decode(bytes);
        } catch {
          want = undefined;
        }
        equal(got, want, `${hex}: as TextDecoder`);
      }
    }
    const text = 'a\u00e9\u07ff\u0800\uffff\ud800\udc00\udbff\udfff';
    const bytes = new Uint8Array([0x5a, ...utf8(text), 0x5a]);
    equal(utf8Decode(bytes, 1, bytes.length - 1), text, 'a slice, every encoded length');
  },
  'the record provision writes for non-ASCII credentials parses (Node and XS)'() {
    const decoded = decodeSettings(fromHex(PROVISIONED_UTF8_HEX));
    ok(typeof decoded === 'object', String(decoded));
    equal(decoded.settings.mqttUsername, 'j\u00fcrgen');
    equal(decoded.settings.mqttPassword, 'p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11');
    equal(decoded.settings.deviceId, 'pipe-1');
  },
  'the 4 KB record: what fits and what is refused'() {
    const full = { ...secure, ca: derBlob(1391), clientCert: derBlob(1000), clientKey: rsaKeyBlob(1218) };
    const record = encodeSettings(full, 1);
    ok(record.length <= 4096, `${record.length} bytes`);
    const big = { ...full, clientKey: rsaKeyBlob(MAX_PAYLOAD) };
    throws(() => encodeSettings(big, 1), /E_SETTINGS_TOO_LARGE: the record needs \d+ bytes, a 4 KB block holds 4080/);
  },
  'store: certificates survive a load that reads the other block after them'() {
    const flash = partition();
    const store = new SettingsStore(flash);
    store.save({ ...good, deviceId: 'pipe-0041' });
    store.save({ ...secure, ca: derBlob(2000, 0x11) });
    store.save({ ...secure, ca: derBlob(2000, 0x44) });
    const loaded = new SettingsStore(flash).load();
    ok(loaded?.ca !== undefined);
    deepEqual(loaded.ca, derBlob(2000, 0x44));
    deepEqual(loaded.clientKey, secure.clientKey);
  },
  'store: a version 1 record on flash is loaded, and the next save writes version 2 beside it'() {
    const flash = partition();
    const padded = new Uint8Array(Math.ceil(V1_GOOD.length / 4) * 4).fill(0xff);
    padded.set(V1_GOOD);
    flash.eraseBlock(0);
    flash.write(padded, 0);
    const store = new SettingsStore(flash);
    deepEqual(store.load(), good);
    store.save({ ...good, mqttUsername: 'pipe-0042' });
    const again = new SettingsStore(flash);
    equal(again.load()?.mqttUsername, 'pipe-0042');
    const block1 = new Uint8Array(16);
    flash.read(block1, 4096);
    equal(block1[10], 2);
    equal(new DataView(block1.buffer).getUint32(4, true), 8);
  },
  'brokerConfig: address, TLS options and MQTT credentials for the uplink'() {
    deepEqual(brokerConfig(good), { address: 'broker.example.net', port: 8883, secure: { serverName: 'broker.example.net' } });
    deepEqual(brokerConfig({ ...good, broker: 'mqtt://10.0.0.5:1884', mqttUsername: 'u', mqttPassword: 'p' }), {
      address: '10.0.0.5',
      port: 1884,
      username: 'u',
      password: 'p',
    });
    const buildCa = derBlob(300, 0x77);
    deepEqual(brokerConfig(good, buildCa).secure, { serverName: 'broker.example.net', ca: buildCa }, 'the image\'s CA when the settings have none');
    equal(brokerConfig({ ...good, broker: 'mqtt://10.0.0.5' }, buildCa).secure, undefined);
    deepEqual(brokerConfig(secure, buildCa), {
      address: 'broker.example.net',
      port: 8883,
      secure: { serverName: 'broker.example.net', ca: secure.ca, certificate: secure.clientCert, key: secure.clientKey },
      username: 'pipe-0042',
      password: 'broker secret 1',
    });
  },
  'no broker (issue 16 item 4): a record without one round-trips; the node looks by mDNS, over TLS when it has a CA, with the build default of the same kind'() {
    const none: Settings = { ...good, broker: '' };
    const record = encodeSettings(none, 1);
    const back = decodeSettings(record);
    ok(typeof back === 'object', `decoded: ${String(back)}`);
    equal(back.settings.broker, '');
    equal(record.length, encodeSettings(good, 1).length - 3 - good.broker.length, 'the broker field is left out');
    const buildCa = derBlob(300, 0x77);
    deepEqual(brokerConfig(none), { address: '', port: 1883, discover: true });
    deepEqual(brokerConfig(none, undefined, 'mqtt://10.0.0.9:1884'), { address: '10.0.0.9', port: 1884, discover: true });
    deepEqual(brokerConfig(none, buildCa, 'mqtts://broker.plant:8884'), { address: 'broker.plant', port: 8884, discover: true, secure: { ca: buildCa } });
    deepEqual(brokerConfig(none, buildCa, 'mqtt://10.0.0.9'), { address: '', port: 8883, discover: true, secure: { ca: buildCa } }, 'a plain default is not a TLS node\'s fallback');
    equal(brokerPolicyProblem(none, true, false), '');
    equal(brokerPolicyProblem(none, false, true), '');
    equal(brokerPolicyProblem({ ...none, ca: derBlob(200, 0x55) }, false, false), '');
    ok(brokerPolicyProblem(none, false, false).startsWith('E_INSECURE_BROKER: no broker set'));
    validateFields({ ...none, ca: derBlob(200, 0x55) });
    throws(() => validateFields({ ...good, broker: 'mqtt://10.0.0.5', ca: derBlob(200, 0x55) }), /need an mqtts/, 'a CA with a plain broker is still refused');
  },
  'build-time config: intervalMs strings are parsed strictly, the sensor list is planned, not refused'() {
    const base = { wifiSsid: 'Plant', wifiPassword: 'passphrase1', broker: 'mqtt://10.0.0.5', sensors: 'tmp11@0x48' };
    const s = settingsFromConfig({ ...base, intervalMs: '5000' }, 'pw-0011');
    equal(s.intervalMs, 5000);
    equal(s.deviceId, 'pw-0011');
    validateFields(s);
    throws(() => validateSettings(s), /unknown part "tmp11"/);
    for (const interval of ['12abc', '', '5e3']) {
      throws(() => validateFields(settingsFromConfig({ ...base, intervalMs: interval }, 'pw-0011')), /E_SETTINGS_VALUE: intervalMs/, interval);
    }
    deepEqual(settingsFromConfig({ ...base, mqttUsername: 'u', mqttPassword: 'p' }, 'x').mqttUsername, 'u');
  },
  'a node skips a sensor of an unknown part instead of failing to construct'() {
    const { host, logs } = bootRig([{ part: 'tmp117', address: 0x49 }]);
    const node = new PipewatchNode(host, {
      deviceId: 'pipe-0043',
      broker: { address: '10.0.0.5', port: 1883 },
      sensors: [{ part: 'tmp11', address: 0x48 }, { part: 'tmp117', address: 0x49 }],
    });
    equal(node.stats().configErrors, 1);
    ok(logs.some((line) => /^error sensor skipped: unknown sensor part "tmp11"/.test(line)), logs.join('\n'));
  },
  'boot from a record with an unknown part: the node connects, reports the entry, samples the good sensor'() {
    const flash = partition();
    const padded = new Uint8Array(Math.ceil(V1_UNKNOWN_PART.length / 4) * 4).fill(0xff);
    padded.set(V1_UNKNOWN_PART);
    flash.eraseBlock(0);
    flash.write(padded, 0);
    const settings = new SettingsStore(flash).load();
    ok(settings !== undefined, 'the record is kept');
    // What hosts/esp32/main.ts does with the loaded settings.
    const plan = planSensors(settings.sensors);
    const { rig, host, logs, broker } = bootRig(plan.sensors);
    const node = new PipewatchNode(host, { deviceId: settings.deviceId, broker: brokerConfig(settings), intervalMs: settings.intervalMs, sensors: plan.sensors });
    for (const problem of plan.problems) node.noteConfigError(problem);
    node.start();
    rig.advance(8000);
    ok(node.uplink.connected, 'connected');
    equal(rig.socket.options.address, '10.0.0.5');
    equal(rig.socket.options.port, 1883);
    const stats = node.stats();
    equal(stats.configErrors, 1);
    ok(stats.readingsGenerated >= 1, `${stats.readingsGenerated} readings`);
    ok(logs.some((line) => /^error sensor "tmp11@0x48": unknown part/.test(line)), logs.join('\n'));
    const readings = broker.state.received.filter((p) => p.topic === 'pipewatch/pipe-0043/readings');
    ok(readings.length >= 1, 'a reading reached the broker');
    const reading = JSON.parse(bytesToText(readings[0]!.payload)) as { ch: number; mC: number };
    equal(reading.ch, 0);
    near(reading.mC, 61250, 100, 'the tmp117 at 0x49 reads the pipe');
  },
  'boot with no usable sensor still connects (so an update or new settings can reach it)'() {
    const plan = planSensors('tmp11@0x48,nosuch');
    equal(plan.sensors.length, 0);
    const { rig, host } = bootRig([]);
    const node = new PipewatchNode(host, { deviceId: 'pipe-0044', broker: { address: '10.0.0.5', port: 1883 }, sensors: plan.sensors });
    for (const problem of plan.problems) node.noteConfigError(problem);
    node.start();
    rig.advance(3000);
    ok(node.uplink.connected);
    equal(node.stats().configErrors, 2);
  },
  'boot from a record with non-ASCII credentials: the CONNECT carries their UTF-8 bytes'() {
    const flash = partition();
    const username = 'j\u00fcrgen';
    const password = 'p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11';
    new SettingsStore(flash).save({ ...good, broker: 'mqtt://10.0.0.5', mqttUsername: username, mqttPassword: password });
    const settings = new SettingsStore(flash).load();
    ok(settings !== undefined, 'the record is read');
    const { rig, host } = bootRig([]);
    const node = new PipewatchNode(host, { deviceId: settings.deviceId, broker: brokerConfig(settings), intervalMs: settings.intervalMs, sensors: [] });
    const connects: SentPacket[] = [];
    const broker = rig.onPackets;
    rig.onPackets = (socket, packets) => {
      for (const p of packets) if (p.type === 1) connects.push(p);
      broker?.(socket, packets);
    };
    node.start();
    rig.advance(3000);
    ok(node.uplink.connected, 'connected');
    equal(connects.length, 1);
    const sent = connectCredentials(connects[0]!);
    deepEqual(sent.username, utf8(username));
    deepEqual(sent.password, utf8(password));
  },
  'a sensor the host has no bus for is skipped once, counted, never retried'() {
    const { rig, host, logs } = bootRig([]);
    const withoutBus = { ...host, io: { TCP: host.io.TCP } };
    const bare = new PipewatchNode(withoutBus, { deviceId: 'pipe-0046', broker: { address: '10.0.0.5', port: 1883 }, sensors: [{ part: 'max31855' }] });
    bare.start();
    rig.advance(25_000);
    equal(bare.stats().configErrors, 1);
    equal(logs.filter((line) => /max31855 skipped: max31855: this host has no spi bus/.test(line)).length, 1, logs.join('\n'));
  },
};
