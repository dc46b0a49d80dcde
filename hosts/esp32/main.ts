/*
 * Entry point on an ESP32. Boot order: host from the board's manifest config, settings from
 * NVS through the SDK's `preference` module (the record of the raw `settings` partition of
 * earlier firmware migrated once; on first boot, build-time manifest config, saved to NVS),
 * then the node starts sampling into the flash cache at once; Wi-Fi and SNTP come up beside it.
 * A node without credentials still samples and caches, and says how to provision it
 * (docs/moddable.md, "Provision"). Secure by default: a plain mqtt:// broker is refused unless
 * the build says `insecure: true`, and the plant CA (settings or build) is the only trust
 * anchor; a refused broker is a counted configuration error, and the node samples into its
 * cache without connecting.
 */
import config from 'mc/config';
import Net from 'net';
import Resource from 'Resource';
import Preference from 'preference';
import { PipewatchNode } from '../../firmware/node';
import type { Host } from '../../firmware/host';
import { createStatusLed } from 'hosts/esp32/led';
import type { StatusLed } from './led-digital';
import { createEsp32Host, type BoardConfig } from './host';
import { Network } from './network';
import { esp32Update } from './ota';
import { Esp32SleepClock, esp32Power } from './power';
import { POWER_MODES, type PowerMode } from '../../firmware/power';
import {
  NvsSettingsStore,
  brokerConfig,
  brokerPolicyProblem,
  insecureBuild,
  planSensors,
  settingsFromConfig,
  validateFields,
  type BrokerConfig,
  type Settings,
} from './settings';
import { startImprov, type ConsoleUart } from './first-run';
import { startSetupAp } from './setup-ap';
import type { Improv } from '../../firmware/provision/improv';

/** Size of each app slot in manifests/esp32/partitions.csv (ota_0, ota_1): the largest image (the slot header is not stored on ESP32). */
const APP_SLOT_BYTES = 0x1b0000;

function restart(): void {
  globalThis.System.restart();
}

/** The id an unreadable MAC address (all zeros) would give: never used, never saved. */
const ZERO_ID = 'pw-000000000000';

/**
 * Device id when none is provisioned: "pw-" and the station MAC address without colons, or
 * undefined when the MAC cannot be read. Brings the network stack up first: before the SDK's
 * Wi-Fi module has run, `Net.get('MAC')` is undefined (see Network.initStation).
 */
function macDeviceId(): string | undefined {
  Network.initStation();
  const mac = Net.get('MAC') as unknown;
  if (typeof mac !== 'string' || mac.length !== 17) return undefined;
  let id = 'pw-';
  for (let i = 0; i < mac.length; i++) if (mac[i] !== ':') id += mac[i]!.toLowerCase();
  return id.length === 15 && id !== ZERO_ID ? id : undefined;
}

/** A fleet-unique-enough id for this boot only (not saved) when the MAC cannot be read. */
function temporaryId(host: Host): string {
  let id = 'pw-tmp-';
  for (let i = 0; i < 8; i++) id += '0123456789abcdef'[Math.floor(host.random.next() * 16) & 15];
  return id;
}

function loadSettings(host: Host): { settings: Settings | undefined; source: string } {
  const store = new NvsSettingsStore(Preference, () => host.flash!.open({ path: 'settings' }));
  let saved: Settings | undefined;
  try {
    saved = store.load();
  } catch (error) {
    host.log('error', `settings unreadable: ${(error as Error).message}`);
  }
  if (store.stats.corrupt > 0) host.log('warn', `settings: ${store.stats.corrupt} corrupt record(s) ignored`);
  if (store.stats.migrated) host.log('info', 'settings moved from the settings partition to NVS');
  if (store.stats.legacyErased) host.log('info', 'settings partition erased (its record is in NVS)');
  if (saved && saved.deviceId !== ZERO_ID) return { settings: saved, source: 'NVS' };
  const configuredId = String(config.deviceId ?? '');
  const fromBuild: Settings = saved ? { ...saved } : settingsFromConfig(config, 'pw-pending');
  try {
    validateFields(fromBuild);
  } catch (error) {
    host.log('warn', `not provisioned (${(error as Error).message}); see docs/moddable.md "Provision"`);
    return { settings: undefined, source: 'none' };
  }
  let persistent = true;
  if (saved || !configuredId) {
    const id = macDeviceId();
    persistent = id !== undefined;
    fromBuild.deviceId = id ?? temporaryId(host);
    if (!persistent) host.log('error', `no MAC address: device id ${fromBuild.deviceId} for this boot only, not saved`);
  }
  if (persistent) {
    try {
      store.save(fromBuild);
    } catch (error) {
      host.log('error', `settings not saved: ${(error as Error).message}`);
    }
  }
  return { settings: fromBuild, source: saved ? 'NVS (device id repaired)' : 'build-time config' };
}

/** The broker's own root certificate, when the build carries one (manifest `config.tlsCA` names a `data` resource). */
function brokerCA(host: Host): Uint8Array | undefined {
  const name = String(config.tlsCA ?? '');
  if (!name) return undefined;
  try {
    return new Uint8Array(new Resource(name) as unknown as ArrayBuffer);
  } catch (error) {
    host.log('error', `TLS root "${name}" missing from the build: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * The board id OTA manifests carry: the build target with "-" for "/" ("esp32/nodemcu" →
 * "esp32-nodemcu"), because a manifest's board id is [a-z0-9._-] only (firmware/ota/manifest.ts):
 * with the "/" no manifest could be signed for an ESP32 at all.
 */
export function otaBoardId(target: string): string {
  let id = '';
  for (let i = 0; i < target.length; i++) id += target[i] === '/' ? '-' : target[i];
  return id;
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

/**
 * The board config with the status LED moved when the build says so (`ledPin=48` on the mcconfig
 * command line arrives as a string): ESP32-S3-DevKitC-1 v1.0 boards have the RGB LED on GPIO 48,
 * v1.1 boards on GPIO 38 (the manifest's default).
 */
function withLedPin(board: BoardConfig, ledPin: unknown): BoardConfig {
  if (ledPin === undefined || ledPin === '') return board;
  return { ...board, led: { ...board.led, pin: Number(ledPin) } };
}

export default function main(): void {
  globalThis.abort = (why: string, exception?: unknown) => {
    trace(`[error] abort: ${why}: ${exception instanceof Error ? exception.message : String(exception)}\n`);
  };
  const board = withLedPin(config.board as BoardConfig, config.ledPin);
  const host = createEsp32Host({ board, update: esp32Update, restart });
  const { settings, source } = loadSettings(host);
  // A broker to be found (none set) is reached over TLS when there is a CA to check it with.
  const buildCa = settings && (settings.broker === '' || settings.broker.startsWith('mqtts://')) ? brokerCA(host) : undefined;
  const refused = settings ? brokerPolicyProblem(settings, insecureBuild(config), buildCa !== undefined) : '';
  const deviceId = settings?.deviceId ?? (String(config.deviceId ?? '') || 'pw-unprovisioned');
  host.log('info', `pipewatch ${deviceId} on ${board.name}, settings from ${source}`);
  host.log('info', 'Wi-Fi is pipewatch\'s own (settings in NVS); the SDK\'s "No Wi-Fi SSID" at start-up is expected');

  const sensors = planSensors(settings?.sensors ?? String(config.sensors ?? ''));
  // Duty cycle (docs/energy.md) from the build config: light-sleep and wake-cycle get Host.power
  // (sleep.c); the radio is then the power manager's to switch, through the Network below.
  const mode = String(config.powerMode ?? 'always-connected') as PowerMode;
  const sleeping = settings !== undefined && !refused && mode !== 'always-connected' && POWER_MODES.includes(mode);
  let network: Network | undefined;
  if (settings && !refused) {
    network = new Network({
      ssid: settings.ssid,
      password: settings.password,
      sntpHost: String(config.sntp ?? 'pool.ntp.org'),
      timers: host.timers,
      random: host.random,
      log: (level, message) => host.log(level, message),
    });
  }
  if (sleeping) {
    const clock = new Esp32SleepClock(host.clock.monotonic);
    host.clock.monotonic = clock;
    const net = network!;
    host.power = esp32Power(clock, {
      up(onJoined) {
        net.start();
        const poll = host.timers.set(() => {
          if (!net.online) return;
          host.timers.clear(poll);
          onJoined();
        }, 50, 50);
      },
      down: () => net.stop(),
    });
  }
  const broker: BrokerConfig = settings && !refused ? brokerConfig(settings, buildCa, String(config.defaultBroker ?? '')) : { address: '127.0.0.1', port: 1883 };
  if (broker.discover) {
    const fallback = broker.address ? `, else the build's ${broker.address}:${broker.port}` : config.defaultBroker ? ` (the build's defaultBroker ${String(config.defaultBroker)} is not ${broker.secure ? 'mqtts://' : 'mqtt://'}: not used)` : '';
    host.log('info', `no broker set: looking for _mqtt._tcp by mDNS${broker.secure ? ' (TLS, checked against the plant CA)' : ''}${fallback}`);
  }
  const node = new PipewatchNode(host, {
    deviceId,
    broker,
    intervalMs: settings?.intervalMs ?? 10_000,
    sensors: sensors.sensors,
    // Home Assistant discovery (firmware/homeassistant.ts): the build's config `homeassistant: true` (mcconfig homeassistant=true).
    integrations: config.homeassistant === true || config.homeassistant === 'true' || config.homeassistant === '1' ? { homeassistant: true } : undefined,
    ota: config.otaPublicKey
      ? { publicKey: String(config.otaPublicKey), board: otaBoardId(board.id), maxImageBytes: APP_SLOT_BYTES }
      : undefined,
    ...(sleeping ? { power: { mode, reportIntervalMs: Number(config.reportIntervalMs ?? 300_000) } } : {}),
  });
  for (const problem of sensors.problems) node.noteConfigError(problem);
  if (refused) node.noteConfigError(`broker refused, not connecting (readings stay in the cache): ${refused}`);
  if (sensors.sensors.length === 0) host.log('warn', 'no usable sensor: connecting without readings (provision --sensors, or an update, fixes it)');
  if (!config.otaPublicKey) host.log('warn', 'OTA updates off: no otaPublicKey in the build config');
  if (network) {
    // Wi-Fi first: only the SDK's Wi-Fi module brings up lwIP, which the node's first socket needs.
    // (A sleeping mode's power manager starts it for each report window.)
    if (!sleeping) network.start();
    node.start();
  } else {
    node.startSampling();
  }
  statusLed(host, board, () => node.uplink.connected);
  const serial = Number(config.improv ?? 0) === 1 ? improv(host, board, settings, deviceId) : undefined;
  if (!settings && Number(config.setupAp ?? 0) === 1) setupAp(host, deviceId, serial);
}

/**
 * The setup access point (hosts/esp32/setup-ap.ts), the fallback for a node with no settings:
 * opened `setupApAfterMs` after boot unless a serial host has spoken Improv by then.
 */
function setupAp(host: Host, deviceId: string, serial: Improv | undefined): void {
  const name = String(config.deviceId ?? '') || macDeviceId() || deviceId;
  host.timers.set(() => {
    if (serial && serial.stats.rpcs > 0) {
      host.log('info', 'setup access point not opened: a serial host is provisioning over Improv');
      return;
    }
    startSetupAp({
      host,
      deviceId: name,
      password: String(config.setupApPassword ?? ''),
      timeoutMs: Number(config.setupApMs ?? 180_000),
      save(form) {
        const next = settingsFromConfig(config, name);
        next.ssid = form.ssid;
        next.password = form.password;
        if (form.broker) next.broker = form.broker;
        try {
          saveSettings(host, next);
          return undefined;
        } catch (error) {
          return (error as Error).message;
        }
      },
    });
  }, Number(config.setupApAfterMs ?? 10_000));
}

/** Validates and stores settings from a first-run path (Improv, the setup page); throws when refused. */
function saveSettings(host: Host, next: Settings): void {
  validateFields(next);
  const refused = brokerPolicyProblem(next, insecureBuild(config), next.broker.startsWith('mqtts://') && brokerCA(host) !== undefined);
  if (refused) throw new Error(`broker refused: ${refused}`);
  new NvsSettingsStore(Preference).save(next);
}

/** The firmware version the Improv device info reports (the running image's, else the build's). */
function firmwareVersion(host: Host): string {
  try {
    return host.update?.running().version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Improv Wi-Fi on the console UART (hosts/esp32/first-run.ts). Settings it receives are the
 * node's settings (or the build's) with the new SSID and password, and the MAC device id when
 * the node has none; a record the build's config cannot complete (no broker) is refused (Improv
 * error 0xFF, logged).
 */
function improv(host: Host, board: BoardConfig, settings: Settings | undefined, deviceId: string): Improv | undefined {
  const uart = (board as BoardConfig & { console?: ConsoleUart }).console;
  if (!uart) {
    host.log('warn', 'Improv off: no config.board.console UART for this board');
    return undefined;
  }
  const name = settings ? deviceId : String(config.deviceId ?? '') || macDeviceId() || deviceId;
  return startImprov({
    host,
    uart,
    baud: Number(config.improvBaud ?? 115200),
    info: { firmware: 'pipewatch', version: firmwareVersion(host), chip: board.id, name },
    provisioned: settings !== undefined,
    save(ssid, password) {
      const next: Settings = settings ? { ...settings } : settingsFromConfig(config, name);
      next.ssid = ssid;
      next.password = password;
      try {
        saveSettings(host, next);
        return true;
      } catch (error) {
        host.log('error', `Improv: settings not saved: ${(error as Error).message}`);
        return false;
      }
    },
    url: () => (config.stationUrl ? `${String(config.stationUrl)}/node/${name}` : undefined),
  });
}
