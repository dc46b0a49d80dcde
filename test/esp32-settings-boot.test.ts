/*
 * hosts/esp32/main.ts booted from a settings record (issue 11 item 3, issue 12 item 9), on the
 * strict models of the SDK's ESP32 modules: a record naming an unknown sensor part still gets
 * the node onto the broker, with the good sensor's readings and the bad entry reported; the
 * record's MQTT user name and password reach the broker's CONNECT.
 */
import test from 'ava';
import { startAedes, type AedesHandle } from './harness/aedes';
import { bootEsp32, until } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart } from './harness/esp32/world';
import { settingsImage, type Settings } from '../hosts/esp32/settings';

const AP = { ssid: 'plant-floor', password: 'steam-pipes-2024' };

let aedes: AedesHandle;
let sub: Awaited<ReturnType<typeof subscribe>>;
const connects: Array<{ id: string; username?: string; password?: string }> = [];

test.before(async () => {
  aedes = await startAedes();
  aedes.broker.authenticate = (client, username, password, done) => {
    connects.push({ id: client.id, username, password: password?.toString('utf8') });
    done(null, client.id === 'subscriber' || (username === 'pipe-user' && password?.toString('utf8') === 'pipe secret') || !client.id.startsWith('pw-auth'));
  };
  sub = await subscribe(`mqtt://127.0.0.1:${aedes.port}`, { clientId: 'subscriber' });
});

test.after.always(async () => {
  await sub?.close();
  await aedes?.stop();
});

function record(s: Partial<Settings>): Uint8Array {
  return settingsImage({ ssid: AP.ssid, password: AP.password, broker: `mqtt://127.0.0.1:${aedes.port}`, deviceId: 'x', intervalMs: 200, sensors: '', ...s });
}


test.serial('a record naming an unknown part: the node connects, reports it, and the good sensor reports', async (t) => {
  const { crc32 } = await import('../hosts/esp32/settings');
  const dev = 'pw-bad-part';
  const image = record({ deviceId: dev, sensors: 'tmp117@0x48' });
  // Rewrite the sensors field to name "tmp11@0x48" first (the old tool wrote such records; the new one refuses).
  const text = 'tmp11@0x48,tmp117@0x48';
  let p = 16;
  const out: number[] = [];
  while (p < 16 + (image[8]! | (image[9]! << 8))) {
    const tag = image[p]!;
    const length = image[p + 1]! | (image[p + 2]! << 8);
    const value = tag === 6 ? Array.from(text, (c) => c.charCodeAt(0)) : Array.from(image.subarray(p + 3, p + 3 + length));
    out.push(tag, value.length & 0xff, value.length >> 8, ...value);
    p += 3 + length;
  }
  const patched = new Uint8Array(8192).fill(0xff);
  patched.set(image.subarray(0, 16));
  patched.set(out, 16);
  const view = new DataView(patched.buffer);
  view.setUint16(8, out.length, true);
  view.setUint32(12, crc32(patched.subarray(16, 16 + out.length), crc32(patched.subarray(4, 12))), true);
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: { insecure: true },
    ap: AP,
    wire: wirePart('nodemcu', 'tmp117', new LiveEnv()),
    prepare: (partitions) => partitions.find((q) => q.name === 'settings')!.bytes.set(patched),
  });
  try {
    await until(() => sub.readings.filter((r) => r.dev === dev).length >= 2 || esp.device.halted, 10_000, `readings from ${dev}\n${esp.device.log.join('\n')}`);
    t.false(esp.device.halted);
    t.deepEqual(esp.device.aborts, []);
    t.true(esp.device.log.some((line) => line.includes('sensor "tmp11@0x48": unknown part "tmp11"')), esp.device.log.join('\n'));
  } finally {
    esp.stop();
  }
});

test.serial('no usable sensor: the node still connects (an update or new settings can reach it)', async (t) => {
  const dev = 'pw-no-sensor';
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: { insecure: true },
    ap: AP,
    prepare: (partitions) => partitions.find((q) => q.name === 'settings')!.bytes.set(record({ deviceId: dev })),
  });
  try {
    await until(() => connects.some((c) => c.id === dev) || esp.device.halted, 10_000, `${dev} connects\n${esp.device.log.join('\n')}`);
    t.false(esp.device.halted);
  } finally {
    esp.stop();
  }
});

test.serial('the record\'s MQTT user name and password reach the CONNECT', async (t) => {
  const dev = 'pw-auth-1';
  const esp = await bootEsp32({
    board: 'nodemcu',
    config: { insecure: true },
    ap: AP,
    wire: wirePart('nodemcu', 'tmp117', new LiveEnv()),
    prepare: (partitions) =>
      partitions.find((q) => q.name === 'settings')!.bytes.set(record({ deviceId: dev, sensors: 'tmp117@0x48', mqttUsername: 'pipe-user', mqttPassword: 'pipe secret' })),
  });
  try {
    await until(() => sub.readings.some((r) => r.dev === dev) || esp.device.halted, 10_000, `readings from ${dev}\n${esp.device.log.join('\n')}`);
    t.deepEqual(connects.find((c) => c.id === dev), { id: dev, username: 'pipe-user', password: 'pipe secret' });
  } finally {
    esp.stop();
  }
});
