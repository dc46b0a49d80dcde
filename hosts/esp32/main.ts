/*
 * Entry point on an ESP32. Boot order: host from the board's manifest config, settings from
 * the `settings` partition (or, on first boot, from build-time manifest config, saved to the
 * partition), then the node starts sampling into the flash cache at once; Wi-Fi and SNTP come
 * up beside it. A node without credentials still samples and caches, and says how to
 * provision it (docs/moddable.md, "Provision").
 */
import config from 'mc/config';
import Net from 'net';
import { PipewatchNode } from '../../firmware/node';
import type { Host } from '../../firmware/host';
import { createStatusLed } from 'hosts/esp32/led';
import type { StatusLed } from './led-digital';
import { createEsp32Host, type BoardConfig } from './host';
import { Network } from './network';
import { esp32Update } from './ota';
import { SettingsStore, brokerConfig, planSensors, settingsFromConfig, validateFields, type Settings } from './settings';

/** Size of each app slot in manifests/esp32/partitions.csv (ota_0, ota_1): the largest image (the slot header is not stored on ESP32). */
const APP_SLOT_BYTES = 0x1b0000;

function restart(): void {
  globalThis.System.restart();
}

/** Device id when none is provisioned: "pw-" and the station MAC address without colons. */
function defaultDeviceId(): string {
  const mac = String(Net.get('MAC') ?? '000000000000');
  let id = 'pw-';
  for (let i = 0; i < mac.length; i++) if (mac[i] !== ':') id += mac[i]!.toLowerCase();
  return id;
}

function loadSettings(host: Host): { settings: Settings | undefined; source: string } {
  let store: SettingsStore | undefined;
  try {
    store = new SettingsStore(host.flash!.open({ path: 'settings' }));
  } catch (error) {
    host.log('error', `settings partition unusable: ${(error as Error).message}`);
  }
  const saved = store?.load();
  if (store && store.stats.corrupt > 0) host.log('warn', `settings: ${store.stats.corrupt} corrupt record(s) ignored`);
  if (saved) return { settings: saved, source: 'settings partition' };
  const fromBuild: Settings = settingsFromConfig(config, defaultDeviceId());
  try {
    validateFields(fromBuild);
  } catch (error) {
    host.log('warn', `not provisioned (${(error as Error).message}); see docs/moddable.md "Provision"`);
    return { settings: undefined, source: 'none' };
  }
  try {
    store?.save(fromBuild);
  } catch (error) {
    host.log('error', `settings not saved: ${(error as Error).message}`);
  }
  return { settings: fromBuild, source: 'build-time config' };
}

/** Blinks the status LED until the uplink is connected, then keeps it lit. */
function statusLed(host: Host, board: BoardConfig, connected: () => boolean): void {
  let led: StatusLed;
  try {
    led = createStatusLed(board);
  } catch (error) {
    host.log('warn', `no status LED: ${(error as Error).message}`);
    return;
  }
  let phase = false;
  host.timers.set(
    () => {
      phase = !phase;
      led.set(connected() || phase);
    },
    500,
    500,
  );
}

export default function main(): void {
  globalThis.abort = (why: string, exception?: unknown) => {
    trace(`[error] abort: ${why}: ${exception instanceof Error ? exception.message : String(exception)}\n`);
  };
  const board = config.board as BoardConfig;
  const host = createEsp32Host({ board, update: esp32Update, restart });
  const { settings, source } = loadSettings(host);
  const deviceId = settings?.deviceId ?? defaultDeviceId();
  host.log('info', `pipewatch ${deviceId} on ${board.name}, settings from ${source}`);

  const sensors = planSensors(settings?.sensors ?? String(config.sensors ?? ''));
  const node = new PipewatchNode(host, {
    deviceId,
    broker: settings ? brokerConfig(settings) : { address: '127.0.0.1', port: 1883 },
    intervalMs: settings?.intervalMs ?? 10_000,
    sensors: sensors.sensors,
    ota: config.otaPublicKey
      ? { publicKey: String(config.otaPublicKey), board: board.id, maxImageBytes: APP_SLOT_BYTES }
      : undefined,
  });
  for (const problem of sensors.problems) node.noteConfigError(problem);
  if (sensors.sensors.length === 0) host.log('warn', 'no usable sensor: connecting without readings (provision --sensors, or an update, fixes it)');
  if (!config.otaPublicKey) host.log('warn', 'OTA updates off: no otaPublicKey in the build config');
  if (settings) {
    node.start();
    const network = new Network({
      ssid: settings.ssid,
      password: settings.password,
      sntpHost: String(config.sntp ?? 'pool.ntp.org'),
      timers: host.timers,
      random: host.random,
      log: (level, message) => host.log(level, message),
    });
    network.start();
  } else {
    node.startSampling();
  }
  statusLed(host, board, () => node.uplink.connected);
}
