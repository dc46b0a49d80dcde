/*
 * The broker found on its own (issue 16 item 4) on hosts/esp32/main.ts, against the strict ESP32
 * models (lwIP UDP: modules/io/socket/lwip/udp.c): a node with no broker set asks for
 * `_mqtt._tcp` by mDNS after Wi-Fi is up and publishes to what the station's advertiser
 * (tools/mdns-advertise.ts, multicast-dns) answers; with no answer it uses the build's
 * `defaultBroker`; a secure build with no CA refuses to look (an answer could not be checked).
 * Linux's `lo` carries no multicast: the model sends what the node addresses to 224.0.0.251:5353
 * to the advertiser's loopback port (BootOptions.mdnsPort), the same bytes both ways.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { startAedes, type AedesHandle } from './harness/aedes';
import { bootEsp32, until, type Booted } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart } from './harness/esp32/world';
import { advertiseBroker, type Advertisement } from '../tools/mdns-advertise';

const AP = { ssid: 'plant-floor', password: 'steam-pipes-2024' };

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

async function freeUdpPort(): Promise<number> {
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
  const port = probe.address().port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function advertiser(brokerPort: number): Promise<{ ad: Advertisement; port: number }> {
  const port = await freeUdpPort();
  const ad = advertiseBroker({ instance: 'plant-station', host: 'station', address: '127.0.0.1', port: brokerPort, socket: { multicast: false, port, bind: '127.0.0.1', ip: '127.0.0.1' } });
  await ad.ready;
  return { ad, port };
}

function unset(dev: string, extra: Record<string, unknown> = {}) {
  return { wifiSsid: AP.ssid, wifiPassword: AP.password, broker: '', deviceId: dev, intervalMs: 200, sensors: 'tmp117@0x48', insecure: true, ...extra };
}

async function readingsFrom(esp: Booted, dev: string, count: number, ms: number): Promise<void> {
  await until(() => sub.readings.filter((r) => r.dev === dev).length >= count || esp.device.halted, ms, `${count} readings from ${dev}`).catch((error) => {
    throw new Error(`${(error as Error).message}\n${esp.device.log.join('\n')}`);
  });
}

test('nodemcu: no broker set — finds the station\'s _mqtt._tcp by mDNS after Wi-Fi is up and publishes there', async (t) => {
  const { ad, port } = await advertiser(aedes.port);
  const dev = 'pw-found';
  const esp = await bootEsp32({ board: 'nodemcu', config: unset(dev), ap: AP, mdnsPort: port, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await readingsFrom(esp, dev, 2, 8000);
    t.true(ad.answered >= 1, 'the advertiser answered');
    t.true(esp.net.stats.datagrams >= 1);
    t.false(esp.net.stats.refused.includes('no network'), 'no UDP socket before Wi-Fi');
    t.true(esp.device.log.some((l) => l.includes('no broker set: looking for _mqtt._tcp by mDNS')), esp.device.log.join('\n'));
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
    await ad.close();
  }
});

test('esp32c3: no broker set and nobody answers — the build\'s defaultBroker after the 5 s search', async (t) => {
  const silent = await freeUdpPort();
  const dev = 'pw-default';
  const esp = await bootEsp32({
    board: 'esp32c3',
    config: unset(dev, { defaultBroker: `mqtt://127.0.0.1:${aedes.port}` }),
    ap: AP,
    mdnsPort: silent,
    wire: wirePart('esp32c3', 'tmp117', new LiveEnv()),
  });
  try {
    const start = performance.now();
    await readingsFrom(esp, dev, 1, 12_000);
    t.true(performance.now() - start >= 4500, 'only after the search ended');
    t.is(esp.net.stats.datagrams, 3, 'queries at 0, 1 and 3 s');
    t.true(esp.device.log.some((l) => l.includes(`else the build's 127.0.0.1:${aedes.port}`)), esp.device.log.join('\n'));
  } finally {
    esp.stop();
  }
});

test('esp32s3: a secure build with no broker and no CA does not look (a found broker could not be checked); a counted config error, readings stay in the cache', async (t) => {
  const { ad, port } = await advertiser(aedes.port);
  const dev = 'pw-unchecked';
  const esp = await bootEsp32({ board: 'esp32s3', config: unset(dev, { insecure: false }), ap: AP, mdnsPort: port, wire: wirePart('esp32s3', 'tmp117', new LiveEnv()) });
  try {
    await until(() => esp.device.log.some((l) => l.includes('E_INSECURE_BROKER')), 5000, 'the refusal');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    t.is(esp.net.stats.udpSockets, 0);
    t.is(ad.answered, 0);
    t.is(sub.readings.filter((r) => r.dev === dev).length, 0);
  } finally {
    esp.stop();
    await ad.close();
  }
});

test('esp32s3: over TLS with the build\'s CA — the found broker is checked under the name the answer gives; a rogue answer fails the handshake and delivers nothing', async (t) => {
  const { startMosquitto } = await import('./harness/mosquitto');
  const broker = await startMosquitto({ tls: true });
  const watcher = await subscribe(`mqtt://127.0.0.1:${broker.port}`);
  const der = new Uint8Array(Buffer.from(broker.caPem!.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
  const run = async (dev: string, host: string) => {
    const port = await freeUdpPort();
    const ad = advertiseBroker({ instance: 'plant-station', host, address: '127.0.0.1', port: broker.tlsPort!, socket: { multicast: false, port, bind: '127.0.0.1', ip: '127.0.0.1' } });
    await ad.ready;
    const esp = await bootEsp32({
      board: 'esp32s3',
      config: unset(dev, { insecure: false, tlsCA: 'plant-ca.der' }),
      resources: { 'plant-ca.der': der },
      ap: AP,
      mdnsPort: port,
      wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
    });
    return { esp, ad };
  };
  const good = await run('pw-found-tls', 'station');
  try {
    await until(() => watcher.readings.filter((r) => r.dev === 'pw-found-tls').length >= 2 || good.esp.device.halted, 12_000, 'TLS readings').catch((error) => {
      throw new Error(`${(error as Error).message}\n${good.esp.device.log.join('\n')}\n${broker.log()}`);
    });
    t.is(good.esp.net.stats.tlsVerifyFailures, 0);
    t.true(good.esp.device.log.some((l) => l.includes('looking for _mqtt._tcp by mDNS (TLS, checked against the plant CA)')));
  } finally {
    good.esp.stop();
    await good.ad.close();
  }
  const rogue = await run('pw-rogue-tls', 'rogue');
  try {
    await until(() => rogue.esp.net.stats.tlsVerifyFailures >= 1, 12_000, 'a failed certificate check').catch((error) => {
      throw new Error(`${(error as Error).message}\n${rogue.esp.device.log.join('\n')}`);
    });
    t.is(watcher.readings.filter((r) => r.dev === 'pw-rogue-tls').length, 0, 'nothing delivered to a broker under the wrong name');
  } finally {
    rogue.esp.stop();
    await rogue.ad.close();
    await watcher.close();
    await broker.stop();
  }
});
