/*
 * hosts/esp32/main.ts — the file that goes on the board — on the three boards' configs, against
 * the strict models of the SDK's ESP32 modules (test/harness/esp32): sensors on every bus, boot
 * with and without settings, Wi-Fi down then up, broker by IP and by name, TLS. Readings are
 * checked at a real broker on loopback.
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startAedes, type AedesHandle } from './harness/aedes';
import { startMosquitto } from './harness/mosquitto';
import { bootEsp32, BOARDS, until, type Board, type Booted } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart, type Part } from './harness/esp32/world';
import { preferenceModel } from './harness/esp32/preference';
import { NvsSettingsStore, settingsImage, type Settings } from '../hosts/esp32/settings';

const AP = { ssid: 'plant-floor', password: 'steam-pipes-2024' };
/** A plant CA that issued no broker certificate here (test/fixtures/provision/ca.pem). */
const PLANT_CA_DER = new Uint8Array(new X509Certificate(readFileSync(new URL('./fixtures/provision/ca.pem', import.meta.url))).raw);
const PIPE_C = 61.5;

let aedes: AedesHandle;
let sub: Awaited<ReturnType<typeof subscribe>>;

test.before(async () => {
  aedes = await startAedes();
  sub = await subscribe(`mqtt://127.0.0.1:${aedes.port}`);
});

test.after.always(async () => {
  await sub?.close();
  await aedes?.stop();
});

function provisioned(sensors: string, extra: Record<string, unknown> = {}) {
  return {
    wifiSsid: AP.ssid,
    wifiPassword: AP.password,
    broker: `mqtt://127.0.0.1:${aedes.port}`,
    intervalMs: 200,
    sensors,
    insecure: true, // plain MQTT to the loopback test broker (device builds refuse it by default)
    ...extra,
  };
}

function readingsOf(dev: string) {
  return sub.readings.filter((r) => r.dev === dev);
}

async function expectReadings(esp: Booted, dev: string, count: number, ms = 8000): Promise<void> {
  try {
    await until(() => readingsOf(dev).length >= count || esp.device.halted, ms, `${count} readings from ${dev}`);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${esp.device.log.join('\n')}`);
  }
}

/** The settings the node saved in NVS (read as the firmware reads them, without touching the raw partition). */
function settingsRecord(esp: Booted): Settings | undefined {
  return new NvsSettingsStore(preferenceModel(esp.nvs)).load();
}

/** The parts a settings record can name on this host (an NTC needs thermistor options the record cannot carry). */
type BusPart = Exclude<Part, 'ntc'>;
const SPEC: Record<BusPart, (board: Board) => string> = {
  tmp117: () => 'tmp117@0x48',
  max31855: () => 'max31855',
  max31865: () => 'max31865',
  ds18b20: () => 'ds18b20',
};
const TOLERANCE_MC: Record<BusPart, number> = { tmp117: 10, max31855: 250, max31865: 500, ds18b20: 63 };

for (const board of BOARDS) {
  for (const part of Object.keys(SPEC) as BusPart[]) {
    test(`${board}: ${part} readings reach the broker (sensor on the board's ${part === 'tmp117' ? 'I2C' : part === 'ds18b20' ? '1-Wire' : 'SPI'} pins)`, async (t) => {
      const dev = `pw-${board}-${part}`;
      const esp = await bootEsp32({
        board,
        config: provisioned(SPEC[part](board), { deviceId: dev }),
        ap: AP,
        wire: wirePart(board, part, new LiveEnv(PIPE_C)),
      });
      try {
        await expectReadings(esp, dev, 2);
        t.deepEqual(esp.device.aborts, []);
        for (const r of readingsOf(dev).filter((r) => r.channel === 0)) t.true(Math.abs(r.value - PIPE_C * 1000) <= TOLERANCE_MC[part], `${r.value} m°C`);
        t.false(esp.device.log.some((line) => line.includes('E_BUS')), esp.device.log.join('\n'));
      } finally {
        esp.stop();
      }
    });
  }
}

test('nodemcu: not provisioned — samples into the cache, never touches the network, saves nothing', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: { sensors: 'tmp117@0x48', intervalMs: 200 }, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await new Promise((resolve) => setTimeout(resolve, 800));
    t.deepEqual(esp.device.aborts, []);
    t.true(esp.device.log.some((line) => line.includes('not provisioned')));
    t.is(esp.net.stats.sockets + esp.net.stats.tlsSockets, 0);
    t.is(esp.net.stats.connects, 0);
    t.is(settingsRecord(esp), undefined);
    const cache = esp.storage.partitions.find((p) => p.name === 'cache')!;
    t.true(cache.bytes.some((b) => b !== 0xff), 'readings were cached');
  } finally {
    esp.stop();
  }
});

test('esp32s3: settings from the raw settings partition (earlier firmware) win over an empty build config, moved to NVS', async (t) => {
  const settings: Settings = {
    ssid: AP.ssid,
    password: AP.password,
    broker: `mqtt://127.0.0.1:${aedes.port}`,
    deviceId: 'pw-from-partition',
    intervalMs: 200,
    sensors: 'tmp117@0x48',
  };
  const esp = await bootEsp32({
    board: 'esp32s3',
    config: { insecure: true },
    ap: AP,
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
    prepare: (partitions) => partitions.find((p) => p.name === 'settings')!.bytes.set(settingsImage(settings)),
  });
  try {
    await expectReadings(esp, 'pw-from-partition', 2);
    t.true(esp.device.log.some((line) => line.includes('settings from NVS')), esp.device.log.join('\n'));
    t.true(esp.device.log.some((line) => line.includes('settings moved from the settings partition to NVS')));
    t.deepEqual(settingsRecord(esp), settings);
    t.true(esp.storage.partitions.find((p) => p.name === 'settings')!.bytes.every((b) => b === 0xff), 'the raw record (with its secrets) is erased');
  } finally {
    esp.stop();
  }
});

test('nodemcu: device id from the MAC once Wi-Fi is up; never pw-000000000000, saved only when real (issue 10 item 5)', async (t) => {
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: provisioned('tmp117@0x48'),
    ap: AP,
    mac: '24:6F:28:A1:B2:C3',
    wire: wirePart('nodemcu', 'tmp117', new LiveEnv()),
  });
  try {
    await expectReadings(esp, 'pw-246f28a1b2c3', 1);
    t.is(settingsRecord(esp)?.deviceId, 'pw-246f28a1b2c3');
    t.false(esp.net.stats.refused.includes('no network'), 'no socket was opened before the network stack existed');
  } finally {
    esp.stop();
  }
});

test('nodemcu: a saved pw-000000000000 (older firmware) is repaired from the MAC', async (t) => {
  const settings: Settings = { ssid: AP.ssid, password: AP.password, broker: `mqtt://127.0.0.1:${aedes.port}`, deviceId: 'pw-000000000000', intervalMs: 200, sensors: 'tmp117@0x48' };
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: { insecure: true },
    ap: AP,
    mac: '24:6f:28:00:00:09',
    wire: wirePart('nodemcu', 'tmp117', new LiveEnv()),
    prepare: (partitions) => partitions.find((p) => p.name === 'settings')!.bytes.set(settingsImage(settings)),
  });
  try {
    await expectReadings(esp, 'pw-246f28000009', 1);
    t.is(settingsRecord(esp)?.deviceId, 'pw-246f28000009');
    t.is(readingsOf('pw-000000000000').length, 0);
  } finally {
    esp.stop();
  }
});

test('esp32c3: Wi-Fi down at boot, then up, then down and up again: cached readings arrive, none lost', async (t) => {
  const dev = 'pw-c3-wifi';
  const esp = await bootEsp32({ board: 'esp32c3', config: provisioned('tmp117@0x48', { deviceId: dev }), wire: wirePart('esp32c3', 'tmp117', new LiveEnv()) });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    t.is(readingsOf(dev).length, 0);
    esp.net.apUp(AP);
    await expectReadings(esp, dev, 6, 12_000);
    esp.net.apDown();
    const before = readingsOf(dev).length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    esp.net.apUp(AP);
    await expectReadings(esp, dev, before + 6, 20_000);
    const seqs = new Set(readingsOf(dev).map((r) => r.seq));
    const max = Math.max(...seqs);
    for (let seq = Math.min(...seqs); seq <= max; seq++) t.true(seqs.has(seq), `seq ${seq} delivered`);
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
  }
});

test('nodemcu: flash encryption on — the cache runs its encrypted mode; readings cached offline arrive, none lost, across a reboot (issue 17 item 4)', async (t) => {
  const dev = 'pw-encrypted';
  const config = provisioned('tmp117@0x48', { deviceId: dev });
  let esp = await bootEsp32({ board: 'nodemcu', config, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()), flashEncryption: true });
  const cache = esp.storage.partitions.find((p) => p.name === 'cache')!;
  try {
    t.truthy(cache.encrypted, 'the flagged cache partition is encrypted');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    t.is(readingsOf(dev).length, 0);
    t.true(cache.encrypted!.counters.writes > 0, 'readings went to the encrypted partition');
  } finally {
    esp.stop();
  }
  // Power comes back with the same flash; the network is there now.
  esp = await bootEsp32({ board: 'nodemcu', config, ap: AP, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()), flashEncryption: true, partitions: esp.storage.partitions });
  try {
    await expectReadings(esp, dev, 8, 15_000);
    const seqs = new Set(readingsOf(dev).map((r) => r.seq));
    t.is(Math.min(...seqs), 1, 'the readings cached before the reboot arrive');
    // Numbers skipped at the mount (the encrypted mode reserves some) are never readings: the
    // readings of each boot are contiguous.
    const sorted = [...seqs].sort((a, b) => a - b);
    const gaps = sorted.filter((seq, i) => i > 0 && seq !== sorted[i - 1]! + 1).length;
    t.true(gaps <= 1, `seqs ${sorted.join(',')}`);
    t.deepEqual(esp.device.aborts, []);
    t.is(cache.encrypted!.counters.unitRewrites, 0, 'no 16-byte unit of the cache written twice');
    t.is(cache.encrypted!.counters.corruptions, 0);
    t.false(esp.device.log.some((line) => /E_CACHE/.test(line)), esp.device.log.join('\n'));
  } finally {
    esp.stop();
  }
});

test('nodemcu: broker by name, resolved by the network DNS after Wi-Fi is up', async (t) => {
  const dev = 'pw-by-name';
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: provisioned('tmp117@0x48', { deviceId: dev, broker: `mqtt://broker.plant.example:${aedes.port}` }),
    ap: AP,
    dns: { 'broker.plant.example': '10.1.2.3' },
    reachable: ['10.1.2.3'],
    wire: wirePart('nodemcu', 'tmp117', new LiveEnv()),
  });
  try {
    await expectReadings(esp, dev, 2);
    t.true(esp.net.stats.resolves >= 1);
    t.false(esp.net.stats.refused.includes('no network'));
  } finally {
    esp.stop();
  }
});

test('esp32s3: TLS to mosquitto with the build\'s root (tlsCA), in the SDK\'s option names, after SNTP (issue 10 item 4)', async (t) => {
  const broker = await startMosquitto({ tls: true });
  const watcher = await subscribe(`mqtt://127.0.0.1:${broker.port}`);
  const dev = 'pw-tls';
  const der = Buffer.from(broker.caPem!.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const esp = await bootEsp32({
    board: 'esp32s3',
    config: provisioned('tmp117@0x48', { deviceId: dev, broker: `mqtts://localhost:${broker.tlsPort}`, tlsCA: 'broker-ca.der' }),
    ap: AP,
    dns: { localhost: '127.0.0.1' },
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
    resources: { 'broker-ca.der': new Uint8Array(der) },
  });
  try {
    await until(() => watcher.readings.filter((r) => r.dev === dev).length >= 2 || esp.device.halted, 10_000, 'TLS readings').catch((error) => {
      throw new Error(`${error.message}\n${esp.device.log.join('\n')}\n${broker.log()}`);
    });
    t.deepEqual(esp.net.stats.ignoredTlsKeys, [], 'every TLS option is one the SDK reads');
    t.is(esp.net.stats.tlsVerifyFailures, 0);
    t.is(esp.net.stats.tlsUnsetClock, 0, 'no certificate date was checked against the unset clock');
  } finally {
    esp.stop();
    await watcher.close();
    await broker.stop();
  }
});

test('esp32s3: without SNTP, TLS waits for the clock instead of failing handshakes', async (t) => {
  const esp = await bootEsp32({
    board: 'esp32s3',
    config: provisioned('tmp117@0x48', { deviceId: 'pw-no-clock', broker: 'mqtts://localhost:8883', tlsCA: 'plant-ca.der' }),
    resources: { 'plant-ca.der': PLANT_CA_DER },
    ap: AP,
    sntp: false,
    dns: { localhost: '127.0.0.1' },
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
  });
  try {
    await until(() => esp.device.log.some((line) => line.includes('TLS waits for the wall clock')), 5000, 'the wait');
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.is(esp.net.stats.tlsSockets, 0);
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
  }
});

test('esp32c3: the SDK target\'s rainbow is off, and the status LED and the DS18B20 fit the RMT channels (issue 10 item 6)', async (t) => {
  const dev = 'pw-c3-rmt';
  const esp = await bootEsp32({ board: 'esp32c3', config: provisioned('ds18b20', { deviceId: dev }), ap: AP, wire: wirePart('esp32c3', 'ds18b20', new LiveEnv()) });
  try {
    await expectReadings(esp, dev, 2);
    t.deepEqual(esp.device.aborts, []);
    t.is((esp.config.led as { rainbow: boolean }).rainbow, false);
    t.deepEqual(esp.device.rmt.used, { tx: 2, rx: 1 });
    t.is(esp.device.rmt.owner(8), 'neopixel');
    const colours = esp.wiring.pixels.get(8) ?? [];
    t.true(colours.every((c) => c === 0x001800 || c === 0), 'only the status LED drives GPIO 8');
  } finally {
    esp.stop();
  }
});

test.serial('nodemcu: a signed OTA over MQTT and HTTP lands in the next app slot, boots on trial and is confirmed', async (t) => {
  t.timeout(90_000);
  const { generateKeyPairSync } = await import('node:crypto');
  const { signImage, simImage } = await import('../simulator/ota/keys');
  const { publishUpdate } = await import('../tools/ota-publish');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' });
  const publicHex = Buffer.from(raw.subarray(raw.length - 32)).toString('hex');
  const dev = 'pw-ota';
  const config = provisioned('tmp117@0x48', { deviceId: dev, otaPublicKey: publicHex });
  const wire = wirePart('nodemcu', 'tmp117', new LiveEnv());
  const first = await bootEsp32({ board: 'nodemcu', config, ap: AP, wire });
  let second: Booted | undefined;
  try {
    await expectReadings(first, dev, 1);
    const image = simImage('0.2.0', '', 20 * 1024);
    image[0] = 0xe9; // an ESP-IDF app image starts with ESP_IMAGE_HEADER_MAGIC
    const manifest = signImage(privateKey, image, { version: '0.2.0', board: 'esp32-nodemcu' });
    const lines: string[] = [];
    const publishing = publishUpdate({ broker: `mqtt://127.0.0.1:${aedes.port}`, manifest, image, nodes: [dev], timeoutMs: 60_000, out: (l) => lines.push(l), tty: false, write: () => {} });
    await until(() => first.device.restarts > 0, 30_000, 'the restart into the new slot').catch((error) => {
      throw new Error(`${error.message}\n${first.device.log.join('\n')}\n${lines.join('\n')}`);
    });
    t.is(first.ota.boot, 1, 'the next slot is the boot slot');
    t.deepEqual(first.storage.partitions.find((p) => p.name === 'ota_1')!.bytes.subarray(0, image.length), image);
    // The bootloader starts the new slot on trial (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE).
    second = await bootEsp32({ board: 'nodemcu', config, ap: AP, wire, partitions: first.storage.partitions, ota: { running: 1, boot: 1, trial: true, version: '0.2.0' } });
    const result = await publishing;
    t.is(result.nodes[0]?.outcome, 'confirmed', lines.join('\n') + '\n' + second.device.log.join('\n'));
    t.false(second.ota.trial, 'confirm() marked the image valid');
    t.deepEqual([...first.device.aborts, ...second.device.aborts], []);
  } finally {
    first.stop();
    second?.stop();
  }
});
