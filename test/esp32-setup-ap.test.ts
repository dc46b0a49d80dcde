/*
 * The setup access point on the ESP32 host (hosts/esp32/setup-ap.ts) against the SDK models
 * (WiFi.accessPoint in test/harness/esp32/net.ts; http Server and dns/server in servers.ts): a
 * phone's captive check, the page, the form, the restart into the saved settings and the first
 * reading; the 3-minute close; no access point while a serial host speaks Improv.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { startAedes, type AedesHandle } from './harness/aedes';
import { bootEsp32, modelBoard, until, type Booted } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart } from './harness/esp32/world';
import { NvsSettingsStore, type Settings } from '../hosts/esp32/settings';
import { preferenceModel } from './harness/esp32/preference';
import { improvRpc } from '../tools/improv';

const AP = { ssid: 'plant-floor', password: 'steam-pipes-2024' };
const MAC = '24:6f:28:a1:b2:c3';
const MAC_ID = 'pw-246f28a1b2c3';

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

function settingsRecord(esp: Booted): Settings | undefined {
  return new NvsSettingsStore(preferenceModel(esp.nvs)).load();
}

/** One DNS A question to the node's DNS server; the answer's address, or undefined after 1 s. */
function askDns(port: number, name: string): Promise<string | undefined> {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const query = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
  return new Promise((resolve) => {
    const udp = createSocket('udp4');
    const timer = setTimeout(() => (udp.close(), resolve(undefined)), 1000);
    udp.on('message', (m) => {
      clearTimeout(timer);
      udp.close();
      resolve(`${m[m.length - 4]}.${m[m.length - 3]}.${m[m.length - 2]}.${m[m.length - 1]}`);
    });
    udp.send(query, port, '127.0.0.1');
  });
}

const config = (extra: Record<string, unknown> = {}) => ({ broker: `mqtt://127.0.0.1:${aedes.port}`, intervalMs: 200, sensors: 'tmp117@0x48', setupApAfterMs: 200, insecure: true, ...extra });

test.serial('nodemcu: no settings, no serial host: the open setup access point, captive DNS, the page, the form, a restart, the first reading', async (t) => {
  t.timeout(90_000);
  const wire = wirePart('nodemcu', 'tmp117', new LiveEnv());
  const first = await bootEsp32({ board: 'nodemcu', config: config(), ap: AP, mac: MAC, wire, neighbours: [{ ssid: 'Café', rssi: -70, open: true }] });
  let second: Booted | undefined;
  try {
    await until(() => first.net.accessPoint() !== undefined, 5000, 'the access point').catch((e: Error) => {
      throw new Error(`${e.message}\n${first.device.log.join('\n')}`);
    });
    t.like(first.net.accessPoint(), { ssid: 'pipewatch-a1b2c3', password: '' });
    t.is(first.net.WiFi.mode, 2);
    await first.servers.listening();
    t.is(await askDns(first.servers.portOf(53)!, 'connectivitycheck.gstatic.com'), '192.168.4.1');
    const base = `http://127.0.0.1:${first.servers.portOf(80)}`;
    const probe = await fetch(`${base}/generate_204`, { redirect: 'manual' });
    t.is(probe.status, 302);
    t.is(probe.headers.get('location'), 'http://192.168.4.1/');
    const page = await fetch(`${base}/`);
    t.is(page.status, 200);
    const html = await page.text();
    t.true(html.includes(`value="${AP.ssid}"`), html);
    t.true(html.includes('Café (-70 dBm, open)'), 'a non-ASCII SSID arrives whole (body sent as UTF-8 bytes)');
    const refused = await fetch(`${base}/save`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'ssid=plant-floor&password=short' });
    t.is(refused.status, 400);
    const saved = await fetch(`${base}/save`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ssid: AP.ssid, password: AP.password, broker: '' }).toString(),
    });
    t.is(saved.status, 200, await saved.text());
    await until(() => first.device.restarts > 0, 5000, 'the restart');
    t.is(first.net.accessPoint(), undefined, 'the access point is closed');
    t.like(settingsRecord(first), { ssid: AP.ssid, password: AP.password, deviceId: MAC_ID, broker: `mqtt://127.0.0.1:${aedes.port}` });
    second = await bootEsp32({ board: 'nodemcu', config: config(), ap: AP, mac: MAC, wire, partitions: first.storage.partitions, nvs: first.nvs });
    await until(() => sub.readings.some((r) => r.dev === MAC_ID), 10_000, `a reading from ${MAC_ID}`);
    t.is(second.net.accessPoint(), undefined, 'a provisioned node opens no access point');
    t.deepEqual([...first.device.aborts, ...second.device.aborts], []);
  } finally {
    first.stop();
    second?.stop();
  }
});

test('esp32c3: a WPA2 setup access point with the build\'s setupApPassword; closed after setupApMs without settings', async (t) => {
  const esp = await bootEsp32({ board: 'esp32c3', config: config({ setupApPassword: 'pipewatch-setup', setupApMs: 600 }), ap: AP, mac: MAC, wire: wirePart('esp32c3', 'tmp117', new LiveEnv()) });
  try {
    await until(() => esp.net.accessPoint() !== undefined, 5000, 'the access point');
    t.like(esp.net.accessPoint(), { ssid: 'pipewatch-a1b2c3', password: 'pipewatch-setup' });
    await until(() => esp.net.accessPoint() === undefined, 5000, 'the close');
    t.true(esp.device.log.some((l) => l.includes('closed after 3 minutes')), esp.device.log.join('\n'));
    t.is(esp.servers.portOf(80), undefined);
    t.is(esp.device.restarts, 0);
  } finally {
    esp.stop();
  }
});

test('nodemcu: a serial host speaking Improv before setupApAfterMs keeps the access point closed', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: config({ setupApAfterMs: 600 }), ap: AP, mac: MAC, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    esp.serial.link(0).send(improvRpc(0x02));
    await until(() => esp.device.log.some((l) => l.includes('setup access point not opened')), 5000, 'the decision');
    t.is(esp.net.accessPoint(), undefined);
  } finally {
    esp.stop();
  }
});

test('models: WiFi.accessPoint and http Server rules of the SDK', async (t) => {
  const m = modelBoard({ board: 'nodemcu' });
  const WiFi = m.net.WiFi;
  const Server = m.servers.Server;
  t.throws(() => new Server({ port: 80 }), { message: /before the network stack/ });
  t.throws(() => WiFi.accessPoint({ ssid: 'x', password: '' }), { message: 'password too short - 8 bytes min' }, 'an empty password is refused, not an open AP');
  t.throws(() => WiFi.accessPoint({ ssid: 'x', password: 'p'.repeat(65) }), { message: 'password too long - 64 bytes max' });
  t.throws(() => WiFi.accessPoint({ ssid: 'x'.repeat(33) }), { message: 'ssid too long - 32 bytes max' });
  t.throws(() => WiFi.accessPoint({ ssid: 'x', channel: 14 }), { message: 'invalid channel' });
  WiFi.accessPoint({ ssid: 'x' });
  t.is(WiFi.mode, 2);
  const server = new Server({ port: 80 });
  server.callback = function (message: number) {
    if (message === Server.prepareResponse) return { headers: ['content-type', 'text/plain'], body: 'Café' };
    return undefined;
  };
  await m.servers.listening();
  const raw = await new Promise<string>((resolve) => {
    const s = connect(m.servers.portOf(80)!, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('close', () => resolve(text));
  });
  t.regex(raw, /^HTTP\/1\.1 200 OK\r\nconnection: close\r\ncontent-type: text\/plain\r\ncontent-length: 4\r\n/, 'a string body is counted in UTF-16 units (http.js)');
  const bad = await new Promise<string>((resolve) => {
    const s = connect(m.servers.portOf(80)!, '127.0.0.1', () => s.write('GET /\r\n\r\n'));
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('close', () => resolve(text));
  });
  t.is(bad, '', 'a status line without a protocol closes the connection');
  t.is(m.servers.stats.httpErrors, 1);
  server.close();
  m.device.halt();
});
