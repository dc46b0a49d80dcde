/*
 * Improv Wi-Fi on the ESP32 host (hosts/esp32/first-run.ts) against the SDK models: the release
 * build's free UART0 (the board's USB-serial bridge), `pipewatch provision` (tools/improv.ts) on
 * the computer's end, the settings saved, the restart, and the first reading at the broker; the
 * debug build's UART0 held by the runtime; the serial model's rules (test/harness/esp32/serial.ts).
 */
import test from 'ava';
import { startAedes, type AedesHandle } from './harness/aedes';
import { bootEsp32, BOARDS, modelBoard, until, type Booted } from './harness/esp32/harness';
import { LiveEnv, subscribe, wirePart } from './harness/esp32/world';
import { NvsSettingsStore, type Settings } from '../hosts/esp32/settings';
import { preferenceModel } from './harness/esp32/preference';
import { ImprovClient, provisionCommand, type ImprovTransport } from '../tools/improv';

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

/** The computer's end of the board's UART0, as `pipewatch provision` opens it. */
function uart0(esp: Booted): ImprovTransport {
  const link = esp.serial.link(0);
  const listeners: Array<(bytes: Uint8Array) => void> = [];
  link.onData = (bytes) => {
    for (const l of listeners) l(bytes);
  };
  return {
    write: (bytes) => link.send(bytes),
    onData: (listener) => void listeners.push(listener),
    close: async () => {
      link.onData = undefined;
    },
  };
}

function settingsRecord(esp: Booted): Settings | undefined {
  return new NvsSettingsStore(preferenceModel(esp.nvs)).load();
}

const unprovisioned = () => ({ broker: `mqtt://127.0.0.1:${aedes.port}`, intervalMs: 200, sensors: 'tmp117@0x48', stationUrl: 'http://station.plant:8080', insecure: true });

for (const board of BOARDS) {
  test.serial(`${board}: a new node provisioned over Improv on UART0 (release build) saves the settings, restarts and publishes`, async (t) => {
    t.timeout(90_000);
    const wire = wirePart(board, 'tmp117', new LiveEnv());
    const first = await bootEsp32({ board, config: unprovisioned(), ap: AP, mac: MAC, wire });
    let second: Booted | undefined;
    try {
      const lines: string[] = [];
      const code = await provisionCommand(['--port', 'uart0', '--ssid', AP.ssid, '--password', AP.password], {
        out: (line) => lines.push(line),
        open: async () => uart0(first),
      });
      t.is(code, 0, lines.join('\n') + '\n' + first.device.log.join('\n'));
      t.true(lines.some((l) => l.includes(MAC_ID)), lines.join('\n'));
      t.true(lines.some((l) => l.includes(`http://station.plant:8080/node/${MAC_ID}`)), lines.join('\n'));
      const saved = settingsRecord(first);
      t.like(saved, { ssid: AP.ssid, password: AP.password, deviceId: MAC_ID, broker: `mqtt://127.0.0.1:${aedes.port}` });
      await until(() => first.device.restarts > 0, 5000, 'the restart after provisioning');
      const chip = first.device.chip.consoleUart;
      t.true(first.device.log.some((l) => l.includes(`Improv Wi-Fi on UART0 (TX ${chip.transmit}, RX ${chip.receive})`)), first.device.log.join('\n'));
      second = await bootEsp32({ board, config: unprovisioned(), ap: AP, mac: MAC, wire, partitions: first.storage.partitions, nvs: first.nvs });
      await until(() => sub.readings.some((r) => r.dev === MAC_ID), 10_000, `a reading from ${MAC_ID}`).catch((error: Error) => {
        throw new Error(`${error.message}\n${second!.device.log.join('\n')}`);
      });
      t.deepEqual([...first.device.aborts, ...second.device.aborts], []);
    } finally {
      first.stop();
      second?.stop();
      sub.readings.length = 0;
    }
  });
}

test('nodemcu: a debug build (mcconfig -d) holds UART0 for xsbug: Improv is off, said once, and the node still samples', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: unprovisioned(), debugBuild: true, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await until(() => esp.device.log.some((l) => l.includes('Improv off')), 3000, 'the Improv-off line');
    t.deepEqual(esp.serial.stats.refused, ['in use']);
    t.true(esp.device.log.some((l) => l.includes('UART0 not free (in use)')), esp.device.log.join('\n'));
    t.deepEqual(esp.device.aborts, []);
    t.is(esp.serial.stats.opened, 0);
  } finally {
    esp.stop();
  }
});

test('nodemcu: improv=0 in the build config leaves UART0 alone', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: { ...unprovisioned(), improv: 0 }, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.is(esp.serial.stats.opened + esp.serial.stats.refused.length, 0);
  } finally {
    esp.stop();
  }
});

test('esp32s3: Improv device info and scan come from the board and the SDK scan (open and secured networks)', async (t) => {
  const esp = await bootEsp32({
    board: 'esp32s3',
    config: unprovisioned(),
    ap: AP,
    mac: MAC,
    neighbours: [{ ssid: 'guest', rssi: -77, open: true }],
    wire: wirePart('esp32s3', 'tmp117', new LiveEnv()),
  });
  try {
    const client = new ImprovClient(uart0(esp));
    t.like(await client.currentState(5000, 500), { state: 0x02 });
    t.deepEqual(await client.deviceInfo(), { firmware: 'pipewatch', version: '0.1.0', chip: 'esp32/esp32s3', name: MAC_ID });
    const networks = await client.scan(5000);
    t.deepEqual(networks, [
      { ssid: AP.ssid, rssi: -48, secure: true },
      { ssid: 'guest', rssi: -77, secure: false },
    ]);
    t.is(esp.net.stats.scans, 1);
    t.deepEqual(esp.device.aborts, []);
  } finally {
    esp.stop();
  }
});

test('nodemcu: a rejected password is Improv error 0x03 at once (gDisconnectReason -1), nothing is saved, the node stays ready', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: unprovisioned(), ap: AP, mac: MAC, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    const client = new ImprovClient(uart0(esp));
    await t.throwsAsync(client.provision(AP.ssid, 'not-the-password', 5000), { message: /error 0x03 \(unable to connect/ });
    t.is(settingsRecord(esp), undefined);
    await until(() => client.state === 0x02, 2000, 'state ready again');
    t.is(esp.device.restarts, 0);
  } finally {
    esp.stop();
  }
});

test('serial model: the rules of modules/io/serial/esp32/serial.c xs_serial_constructor', (t) => {
  const m = modelBoard({ board: 'esp32c3' });
  const Serial = m.serial.Serial as unknown as new (o: Record<string, unknown>) => { close(): void; write(b: Uint8Array): void };
  t.throws(() => new Serial({ baud: 115200 }), { instanceOf: Error, message: 'invalid' });
  t.throws(() => new Serial({ transmit: 21, receive: 20, port: 2, baud: 115200 }), { instanceOf: RangeError, message: 'invalid port' }, 'the C3 has UART0 and UART1');
  t.throws(() => new Serial({ transmit: 21, receive: 20, port: -1, baud: 115200 }), { instanceOf: RangeError, message: 'invalid port' });
  t.throws(() => new Serial({ transmit: 21, receive: 20 }), { instanceOf: RangeError, message: 'invalid baud' });
  t.throws(() => new Serial({ transmit: 21, receive: 20, baud: 20_000_001 }), { instanceOf: RangeError, message: 'invalid baud' });
  t.throws(() => new Serial({ transmit: 21, receive: 20, baud: 115200, format: 'string' }), { instanceOf: RangeError, message: 'invalid format' });
  t.throws(() => new Serial({ transmit: 21, receive: 20, baud: 115200, onReadable: 1 }), { message: 'not a function' });
  t.throws(() => new Serial({ transmit: 22, receive: 20, baud: 115200 }), { message: 'in use' }, 'GPIO 22 does not exist on the C3');
  const open = new Serial({ transmit: 21, receive: 20, baud: 115200 });
  t.throws(() => new Serial({ transmit: 21, baud: 115200, port: 1 }), { instanceOf: Error, message: 'in use' });
  t.throws(() => new Serial({ transmit: 5, receive: 6, baud: 115200 }), { instanceOf: RangeError, message: 'port in use' });
  open.close();
  open.close();
  t.throws(() => open.write(new Uint8Array(1)), { message: 'closed' });
  const again = new Serial({ transmit: 21, receive: 20, baud: 115200 });
  again.close();
  const debug = modelBoard({ board: 'nodemcu', debugBuild: true });
  const DebugSerial = debug.serial.Serial as unknown as new (o: Record<string, unknown>) => unknown;
  t.throws(() => new DebugSerial({ transmit: 1, receive: 3, baud: 115200 }), { instanceOf: Error, message: 'in use' });
  t.throws(() => new DebugSerial({ transmit: 17, receive: 16, port: 0, baud: 115200 }), { instanceOf: RangeError, message: 'port in use' });
  const uart2 = new DebugSerial({ transmit: 17, receive: 16, port: 2, baud: 115200 }) as { close(): void };
  uart2.close();
});

test('nodemcu: settings the build\'s broker policy would refuse (plain MQTT, not an insecure build) are not saved: Improv error 0xFF', async (t) => {
  const esp = await bootEsp32({ board: 'nodemcu', config: { ...unprovisioned(), insecure: false }, ap: AP, mac: MAC, wire: wirePart('nodemcu', 'tmp117', new LiveEnv()) });
  try {
    const client = new ImprovClient(uart0(esp));
    await t.throwsAsync(client.provision(AP.ssid, AP.password, 5000), { message: /error 0xff \(unknown error\)/ });
    t.is(settingsRecord(esp), undefined);
    t.true(esp.device.log.some((l) => l.includes('broker refused')), esp.device.log.join('\n'));
    t.is(esp.device.restarts, 0);
  } finally {
    esp.stop();
  }
});
