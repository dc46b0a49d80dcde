import { deepEqual, equal, ok, throws } from '../harness/assert';
import { SimFlash } from '../../simulator/flash/index';
import {
  HEADER_BYTES,
  SettingsStore,
  crc32,
  decodeSettings,
  encodeSettings,
  parseBroker,
  parseSensors,
  settingsImage,
  type Settings,
} from '../../hosts/esp32/settings';

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
};
