/*
 * Secure by default in device builds (issue 17 item 3) and settings in NVS (item 5), with
 * hosts/esp32/main.ts on the strict models of the SDK's ESP32 modules:
 * - a plain mqtt:// broker is refused at boot (a counted configuration error, nothing opened,
 *   readings kept in the cache) unless the build says insecure: true;
 * - an mqtts:// broker without a CA in the settings or the build is refused (E_NO_CA);
 * - the build carries no public root, so the plant CA is the only trust anchor: against a real
 *   mosquitto with TLS, a node provisioned with the broker's CA delivers readings, one
 *   provisioned with another CA is refused in the handshake (the strict TLS model verifies the
 *   chain as the SDK's ssl_cert.js does) and delivers none;
 * - the NVS image `npm run provision` flashes (tools/moddable.ts provisionImage) is what the
 *   node boots from: the harness mounts the `nvs` partition's bytes as NVS would.
 */
import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startAedes, type AedesHandle } from './harness/aedes';
import { startMosquitto, type MosquittoHandle } from './harness/mosquitto';
import { bootEsp32, modelBoard, until, type Booted } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart } from './harness/esp32/world';
import { provisionImage } from '../tools/moddable';
import type { Settings } from '../hosts/esp32/settings';

const AP = { ssid: 'plant-floor', password: 'steam-pipes-2024' };
const OTHER_CA = new Uint8Array(new X509Certificate(readFileSync(new URL('./fixtures/provision/ca.pem', import.meta.url))).raw);

let aedes: AedesHandle;
let mosquitto: MosquittoHandle;
let brokerCa: Uint8Array;
let sub: Awaited<ReturnType<typeof subscribe>>;
let tlsSub: Awaited<ReturnType<typeof subscribe>>;

test.before(async () => {
  aedes = await startAedes();
  sub = await subscribe(`mqtt://127.0.0.1:${aedes.port}`);
  mosquitto = await startMosquitto({ tls: true });
  brokerCa = new Uint8Array(new X509Certificate(mosquitto.caPem!).raw);
  tlsSub = await subscribe(`mqtt://127.0.0.1:${mosquitto.port}`);
});

test.after.always(async () => {
  await sub?.close();
  await tlsSub?.close();
  await aedes?.stop();
  await mosquitto?.stop();
});

function fail(esp: Booted, error: unknown): never {
  throw new Error(`${(error as Error).message}\n${esp.device.log.join('\n')}`);
}

const plain = (deviceId: string, extra: Record<string, unknown> = {}) => ({
  wifiSsid: AP.ssid,
  wifiPassword: AP.password,
  broker: `mqtt://127.0.0.1:${aedes.port}`,
  deviceId,
  intervalMs: 200,
  sensors: 'tmp117@0x48',
  ...extra,
});

test.serial('a default build refuses a plain mqtt:// broker: counted error, no Wi-Fi, no socket, readings cached', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: plain('pw-plain-refused'), ap: AP, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await until(() => esp.device.log.some((l) => l.includes('E_INSECURE_BROKER')), 5000, 'the refusal').catch((e) => fail(esp, e));
    const line = esp.device.log.find((l) => l.includes('E_INSECURE_BROKER'))!;
    t.regex(line, /^\[error\] broker refused, not connecting \(readings stay in the cache\): E_INSECURE_BROKER: broker "mqtt:\/\/127\.0\.0\.1:\d+" is plain MQTT, which this build refuses/);
    const cache = esp.storage.partitions.find((p) => p.name === 'cache')!;
    await until(() => cache.bytes.some((b) => b !== 0xff), 5000, 'cached readings').catch((e) => fail(esp, e));
    t.is(esp.net.stats.connects, 0, 'Wi-Fi not started');
    t.is(esp.net.stats.sockets + esp.net.stats.tlsSockets, 0);
    t.is(sub.readings.filter((r) => r.dev === 'pw-plain-refused').length, 0);
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
  }
});

test.serial('insecure=true on the mcconfig command line (a string) lets a test bench use plain MQTT', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: plain('pw-plain-bench', { insecure: 'true' }), ap: AP, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await until(() => sub.readings.some((r) => r.dev === 'pw-plain-bench'), 10_000, 'readings').catch((e) => fail(esp, e));
    t.false(esp.device.log.some((l) => l.includes('E_INSECURE_BROKER')));
  } finally {
    esp.stop();
  }
});

test.serial('an mqtts:// broker with no CA in the settings or the build is refused (E_NO_CA), no TLS socket', async (t) => {
  const esp = await bootEsp32({
    board: 'esp32s3',
    config: plain('pw-no-ca', { broker: `mqtts://localhost:${mosquitto.tlsPort}` }),
    ap: AP,
    dns: { localhost: '127.0.0.1' },
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
  });
  try {
    await until(() => esp.device.log.some((l) => l.includes('E_NO_CA')), 5000, 'the refusal').catch((e) => fail(esp, e));
    t.is(esp.net.stats.tlsSockets, 0);
  } finally {
    esp.stop();
  }
});

test('the build carries no public root certificate: no caN.der resource the SDK TLS would trust (manifests/esp32/manifest.json)', (t) => {
  const m = modelBoard({ board: 'nodemcu' });
  t.deepEqual([...m.device.resources.keys()].filter((name) => /^ca\d+\.der$/.test(name)), []);
  const manifest = JSON.parse(readFileSync(new URL('../manifests/esp32/manifest.json', import.meta.url), 'utf8'));
  t.is(manifest.data, undefined, 'no data resources (the ISRG root ca109 was one)');
  t.is(manifest.config.insecure, false, 'secure by default');
  t.true(manifest.include.includes('$(MODDABLE)/modules/files/preference/manifest.json'));
});

function tlsSettings(deviceId: string, ca: Uint8Array): Settings {
  return { ssid: AP.ssid, password: AP.password, broker: `mqtts://localhost:${mosquitto.tlsPort}`, deviceId, intervalMs: 200, sensors: 'tmp117@0x48', ca };
}

function bootProvisioned(settings: Settings): Promise<Booted> {
  return bootEsp32({
    board: 'esp32s3',
    ap: AP,
    dns: { localhost: '127.0.0.1' },
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
    prepare: (partitions) => partitions.find((p) => p.name === 'nvs')!.bytes.set(provisionImage(settings, 0x5000)),
  });
}

test.serial('provisioned NVS image with the broker\'s CA: the node boots from it and delivers over TLS to mosquitto', async (t) => {
  const dev = 'pw-pinned-ok';
  const esp = await bootProvisioned(tlsSettings(dev, brokerCa));
  try {
    t.deepEqual(esp.nvsProblems, [], 'NVS mounts the image without skipping anything');
    await until(() => tlsSub.readings.filter((r) => r.dev === dev).length >= 2 || esp.device.halted, 15_000, 'TLS readings').catch((e) => fail(esp, e));
    t.true(esp.device.log.some((l) => l.includes('settings from NVS')));
    t.is(esp.net.stats.tlsVerifyFailures, 0);
    t.deepEqual(esp.net.stats.ignoredTlsKeys, []);
  } finally {
    esp.stop();
  }
});

test.serial('provisioned with another CA: the broker\'s certificate is refused in every handshake, no reading delivered', async (t) => {
  const dev = 'pw-pinned-other';
  const esp = await bootProvisioned(tlsSettings(dev, OTHER_CA));
  try {
    await until(() => esp.net.stats.tlsVerifyFailures >= 2 || esp.device.halted, 15_000, 'two refused handshakes').catch((e) => fail(esp, e));
    t.is(tlsSub.readings.filter((r) => r.dev === dev).length, 0);
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
  }
});
