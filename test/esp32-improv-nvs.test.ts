/*
 * The Improv path with the settings in NVS: `pipewatch provision --port` (tools/improv.ts) to
 * the firmware's Improv service (firmware/provision/improv.ts) over a simulated UART and the
 * `serialport` mock binding (as test/provision-improv.test.ts), whose `save` is the ESP32 host's
 * (hosts/esp32/settings.ts saveWifi over NvsSettingsStore) on the strict `preference` model.
 */
import test from 'ava';
import { SerialPortMock } from 'serialport';
import { Improv } from '../firmware/provision/improv';
import { SimSerialLink } from '../simulator/devices/serial';
import { realClock } from '../simulator/net/clock';
import { provisionCommand, streamTransport, type ProvisionIo } from '../tools/improv';
import { NvsState, preferenceModel } from './harness/esp32/preference';
import { NvsSettingsStore, saveWifi, type Settings } from '../hosts/esp32/settings';

const stored: Settings = {
  ssid: 'Old-Net',
  password: 'old passphrase',
  broker: 'mqtts://broker.plant.example',
  deviceId: 'node-007',
  intervalMs: 10000,
  sensors: 'tmp117@0x48',
};

function node(store: NvsSettingsStore, base?: Settings) {
  const clock = realClock();
  const link = new SimSerialLink(clock, { baud: 115200 });
  const improv = new Improv({
    serial: { io: link.classes().Serial, baud: 115200, receive: 3, transmit: 1 },
    host: { clock: { monotonic: clock, wall: { now: () => undefined } }, timers: clock },
    info: { firmware: 'pipewatch', version: '0.9.0', chip: 'ESP32', name: 'node-007' },
    connect(_ssid, _password, done) {
      clock.set(() => done(true), 100);
    },
    save: (ssid, password) => saveWifi(store, ssid, password, base),
    scan(_onNetwork, onDone) {
      clock.set(onDone, 50);
    },
    url: () => undefined,
  });
  let n = 0;
  const open: ProvisionIo['open'] = async (_path, baud) => {
    const name = `/dev/ttyNVS${n++}`;
    SerialPortMock.binding.createPort(name);
    const port = await new Promise<SerialPortMock>((resolve, reject) => {
      const p: SerialPortMock = new SerialPortMock({ path: name, baudRate: baud }, (e) => (e ? reject(e) : resolve(p)));
    });
    const binding = port.port!;
    const write = binding.write.bind(binding);
    binding.write = async (buffer: Buffer) => {
      await write(buffer);
      link.send(buffer);
    };
    link.onData = (bytes) => {
      if (port.isOpen) binding.emitData(Buffer.from(bytes));
    };
    return streamTransport(port);
  };
  return { improv, open };
}

test.afterEach(() => SerialPortMock.binding.reset());

test.serial('Improv Wi-Fi settings land in NVS: the next boot reads the new network with the rest kept', async (t) => {
  const state = new NvsState();
  new NvsSettingsStore(preferenceModel(state)).save(stored);
  const store = new NvsSettingsStore(preferenceModel(state));
  store.load();
  const n = node(store);
  const lines: string[] = [];
  const code = await provisionCommand(['--port', '/dev/ttyUSB0', '--ssid', 'Plant-Floor', '--password', 'correct horse'], {
    out: (line) => lines.push(line),
    open: n.open,
    timeouts: { stateMs: 3000, joinMs: 5000, scanMs: 3000 },
  });
  n.improv.close();
  t.is(code, 0, lines.join('\n'));
  t.deepEqual(new NvsSettingsStore(preferenceModel(state)).load(), { ...stored, ssid: 'Plant-Floor', password: 'correct horse' });
  t.is(n.improv.stats.saveFailures, 0);
});

test.serial('Improv on a node with nothing stored: saved over the build\'s settings; without any, the save fails (error 0xFF) and NVS stays empty', async (t) => {
  const state = new NvsState();
  const store = new NvsSettingsStore(preferenceModel(state));
  store.load();
  t.true(saveWifi(store, 'Plant-Floor', 'correct horse', stored));
  t.is(new NvsSettingsStore(preferenceModel(state)).load()?.ssid, 'Plant-Floor');
  const empty = new NvsState();
  const bare = new NvsSettingsStore(preferenceModel(empty));
  bare.load();
  const n = node(bare);
  const lines: string[] = [];
  await t.throwsAsync(
    provisionCommand(['--port', '/dev/ttyUSB0', '--ssid', 'Plant-Floor', '--password', 'correct horse'], {
      out: (line) => lines.push(line),
      open: n.open,
      timeouts: { stateMs: 3000, joinMs: 5000, scanMs: 3000 },
    }),
  );
  n.improv.close();
  t.is(n.improv.stats.saveFailures, 1);
  t.is(empty.namespaces.size, 0);
  t.false(saveWifi(store, 'Plant-Floor', 'short', stored), 'a passphrase the settings refuse (8..63): false, nothing thrown');
});
