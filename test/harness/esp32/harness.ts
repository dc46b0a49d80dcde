/*
 * Runs hosts/esp32/main.ts — the file that goes on the board — against the ESP32 models.
 *
 * esbuild bundles main.ts and everything it imports (host, network, runtime, ota, settings, the
 * board's LED module, the firmware) as one script; every SDK module specifier it imports
 * (`embedded:*`, `mc/config`, `net`, `wifi`, `sntp`, `time`, `timer`, `onewire`, `neopixel`,
 * `Resource`) resolves to the model a booted device hands in. The script runs in a function
 * scope whose `globalThis`, `trace`, `native` and `Date` are the device's, so many devices can
 * run side by side in one ava process.
 *
 *   const esp = await bootEsp32({ board: 'nodemcu', config: { wifiSsid: 'plant', ... }, ap, wire });
 *   ... await until(() => ...) ...
 *   esp.stop();
 *
 * `mc/config` is what mcconfig would build: the SDK target's `config` (build/devices/esp32/
 * targets/<target>/manifest.json), then manifests/esp32/manifest.json's, then the board's
 * (manifests/esp32/boards/<board>.json), then the test's overrides (like `name=value` on the
 * mcconfig command line). Before main, the SDK's own start-up runs as it does on the device:
 * the target's setup (targets/esp32c3/setup-target.js, esp32s3 likewise: a NeoPixel rainbow when
 * `config.led.rainbow`) and setup/network (build/devices/esp32/setup/network.js: with no
 * `config.ssid` it traces "No Wi-Fi SSID" and goes on).
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Esp32Device } from './device';
import { ioModels, emptyWiring, type Wiring } from './io';
import { netModels, type Air } from './net';
import { storageModels, loadPartitions, type OtaState } from './storage';
import { NvsState, nvsStateFromImage, preferenceModel } from './preference';
import { serialModels } from './serial';
import { serverModels } from './servers';
import type { ChipName } from './chip';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export type Board = 'nodemcu' | 'esp32s3' | 'esp32c3';
export const BOARDS: readonly Board[] = ['nodemcu', 'esp32s3', 'esp32c3'];

const CHIP_OF: Record<Board, ChipName> = { nodemcu: 'esp32', esp32s3: 'esp32s3', esp32c3: 'esp32c3' };

/**
 * The SDK 8.2.3 targets' `config` (build/devices/esp32/targets/{nodemcu,esp32s3,esp32c3}/
 * manifest.json) and whether their setup-target.js runs the rainbow.
 */
export const SDK_TARGET_CONFIG: Record<Board, Record<string, unknown>> = {
  nodemcu: {},
  esp32s3: { screen: '', led: { pin: 48, rainbow: false, brightness: 32 } },
  esp32c3: { screen: '', led: { pin: 8, rainbow: true, brightness: 32 } },
};

/** examples/manifest_net.json `config` (included through the net module). */
const SDK_NET_CONFIG = { sntp: 'pool.ntp.org' };

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** mcmanifest.js mergeProperties: objects merge key by key, anything else replaces. */
function merge(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    if (isObject(value) && isObject(target[key])) merge(target[key] as Record<string, unknown>, value);
    else target[key] = isObject(value) ? merge({}, value) : value;
  }
  return target;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(root, path), 'utf8')) as Record<string, unknown>;
}

/** The build's `mc/config` for a board. */
export function buildConfig(board: Board, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const config = merge({}, SDK_TARGET_CONFIG[board]);
  merge(config, SDK_NET_CONFIG);
  merge(config, (readJson('manifests/esp32/manifest.json').config as Record<string, unknown>) ?? {});
  merge(config, (readJson(`manifests/esp32/boards/${board}.json`).config as Record<string, unknown>) ?? {});
  return merge(config, overrides);
}

/** The board manifest's module for `hosts/esp32/led`. */
function ledModuleOf(board: Board): string {
  const modules = readJson(`manifests/esp32/boards/${board}.json`).modules as Record<string, string>;
  return String(modules['hosts/esp32/led']).split('/').pop()!;
}

/** The build's `data` and `resources` the TLS code looks up: ca.ski and each `data` ca*.der. */
function buildResources(): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const manifest = readJson('manifests/esp32/manifest.json');
  const data = ((manifest.data as Record<string, string[]> | undefined)?.['*'] ?? []) as string[];
  const moddable = process.env.MODDABLE;
  for (const entry of data) {
    const name = entry.split('/').pop()!;
    const der = moddable ? tryRead(join(moddable, 'modules', 'crypt', 'data', `${name}.der`)) : undefined;
    // Without the SDK the file's presence in the manifest is still what counts; its bytes are a stand-in.
    out.set(`${name}.der`, der ?? new Uint8Array(0));
  }
  return out;
}

function tryRead(path: string): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    return undefined;
  }
}

const SDK_SPECIFIERS = [
  'embedded:io/i2c',
  'embedded:io/smbus',
  'embedded:io/spi',
  'embedded:io/digital',
  'embedded:io/analog',
  'embedded:io/serial',
  'embedded:io/socket/tcp',
  'embedded:io/socket/udp',
  'embedded:io/socket/tcp/tls',
  'embedded:storage/flash',
  'embedded:update',
  'mc/config',
  'net',
  'wifi',
  'sntp',
  'time',
  'timer',
  'onewire',
  'neopixel',
  'Resource',
  'preference',
  'http',
  'dns/server',
];

const bundles = new Map<string, Promise<string>>();

/** Bundles a hosts/esp32 entry (with the board's LED module); SDK modules come from `__esp32`. */
function bundleEntry(entry: string, ledModule: string): Promise<string> {
  const key = `${entry}\0${ledModule}`;
  let result = bundles.get(key);
  if (!result) {
    result = build({
      entryPoints: [join(root, entry)],
      bundle: true,
      write: false,
      format: 'iife',
      globalName: '__pipewatch',
      platform: 'neutral',
      target: 'es2022',
      legalComments: 'none',
      logLevel: 'silent',
      plugins: [
        {
          name: 'moddable-esp32-models',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (SDK_SPECIFIERS.includes(args.path)) return { path: args.path, namespace: 'sdk' };
              if (args.path === 'hosts/esp32/led') return { path: join(root, 'hosts/esp32', `${ledModule}.ts`) };
              return undefined;
            });
            b.onLoad({ filter: /.*/, namespace: 'sdk' }, (args) => ({
              // http.js has a named export (Server) besides its default.
              contents:
                args.path === 'http'
                  ? 'const m = __esp32["http"]; export default m; export const Server = m.Server;'
                  : `export default __esp32[${JSON.stringify(args.path)}];`,
              loader: 'js',
            }));
          },
        },
      ],
    }).then((out) => out.outputFiles[0]!.text);
    bundles.set(key, result);
  }
  return result;
}

export interface BootOptions {
  board: Board;
  /** mc/config overrides (mcconfig `name=value`). */
  config?: Record<string, unknown>;
  /** The access point in range. */
  ap?: { ssid: string; password: string };
  /** Names the network's DNS server resolves. */
  dns?: Record<string, string>;
  /** Device-side addresses that reach loopback (127.0.0.1 always does). */
  reachable?: string[];
  sntp?: boolean;
  /** Station MAC (Net.get('MAC')). */
  mac?: string;
  /** Attaches simulated devices to the board's buses. */
  wire?: (wiring: Wiring, device: Esp32Device) => void;
  /** Runs on the blank partitions before boot (e.g. writes a settings record). */
  prepare?: (partitions: ReturnType<typeof loadPartitions>) => void;
  /** Extra `data` resources in the build (name → bytes), e.g. a broker's own root certificate. */
  resources?: Record<string, Uint8Array>;
  /** The app slots' state at power-on (a reboot after an OTA boots the new slot on trial). */
  ota?: Partial<OtaState>;
  /** Partitions carried over from an earlier boot (a reboot keeps the flash). */
  partitions?: ReturnType<typeof loadPartitions>;
  /**
   * What NVS holds (the `preference` model's state), carried over from an earlier boot. Without
   * it, the `nvs` partition's bytes are mounted as NVS would (so an image that provisioning
   * wrote there, e.g. in `prepare`, is what the node reads).
   */
  nvs?: NvsState;
  /** The chip's flash encryption is enabled (eFuses): partitions flagged `encrypted` are encrypted. */
  flashEncryption?: boolean;
  /** Built with the debugger (mcconfig -d): the runtime holds UART0 (serial.ts). */
  debugBuild?: boolean;
  /** Other networks a Wi-Fi scan finds. */
  neighbours?: Air['neighbours'];
  /** The loopback port of an mDNS responder on the node's network (Air.mdnsPort). */
  mdnsPort?: number;
}


export interface ModelledBoard {
  board: Board;
  device: Esp32Device;
  wiring: Wiring;
  config: Record<string, unknown>;
  io: ReturnType<typeof ioModels>;
  net: ReturnType<typeof netModels>;
  serial: ReturnType<typeof serialModels>;
  servers: ReturnType<typeof serverModels>;
  storage: ReturnType<typeof storageModels>;
  ota: OtaState;
  nvs: NvsState;
  /** Entries of the `nvs` partition image that NVS would have skipped (bad CRC, ...), when it was mounted from bytes. */
  nvsProblems: string[];
  /** The SDK module specifiers → models, as the bundled code imports them. */
  modules: Record<string, unknown>;
  /** The application's global object. */
  appGlobal: Record<string, unknown>;
}

/** A powered board with every model attached, before any application code has run. */
export function modelBoard(o: BootOptions): ModelledBoard {
  const device = new Esp32Device(CHIP_OF[o.board]);
  const config = buildConfig(o.board, o.config);
  for (const [name, bytes] of buildResources()) device.resources.set(name, bytes);
  for (const [name, bytes] of Object.entries(o.resources ?? {})) device.resources.set(name, bytes);
  const wiring = emptyWiring();
  o.wire?.(wiring, device);
  const air: Air = {
    ap: o.ap,
    dns: new Map(Object.entries(o.dns ?? {})),
    reachable: new Set(['127.0.0.1', ...(o.reachable ?? [])]),
    sntp: o.sntp ?? true,
    neighbours: o.neighbours,
    mdnsPort: o.mdnsPort,
  };
  const io = ioModels(device, wiring);
  const net = netModels(device, air, o.mac ?? '24:6f:28:a1:b2:c3');
  io.setWifiRunning(net.wifiRunning);
  const serial = serialModels(device, { debugBuild: o.debugBuild });
  const servers = serverModels(device, net.wifiRunning);
  const partitions = o.partitions ?? loadPartitions(join(root, 'manifests/esp32/partitions.csv'));
  o.prepare?.(partitions);
  const ota: OtaState = { running: 0, boot: 0, trial: false, version: '0.1.0', ...o.ota };
  const storage = storageModels(partitions, ota, o.flashEncryption ?? false);
  let nvs = o.nvs;
  let nvsProblems: string[] = [];
  if (!nvs) {
    const part = partitions.find((p) => p.name === 'nvs' && p.type === 'data');
    const mounted = part ? nvsStateFromImage(part.bytes) : { state: new NvsState(), problems: [] };
    nvs = mounted.state;
    nvsProblems = mounted.problems;
  }

  /** Resource (modules/files/resource): the build's resources by name; a missing one throws. */
  class Resource {
    constructor(name: string) {
      const bytes = device.resources.get(String(name));
      if (!bytes) throw new Error(`Resource "${name}" not found`);
      return bytes.slice().buffer as unknown as Resource;
    }
    static exists(name: string): boolean {
      return device.resources.has(String(name));
    }
  }

  const modules: Record<string, unknown> = {
    'embedded:io/i2c': io.I2C,
    'embedded:io/smbus': io.SMBus,
    'embedded:io/spi': io.SPI,
    'embedded:io/digital': io.Digital,
    'embedded:io/analog': io.Analog,
    'embedded:io/serial': serial.Serial,
    http: { Server: servers.Server },
    'dns/server': servers.DNSServer,
    'embedded:io/socket/tcp': net.TCP,
    'embedded:io/socket/udp': net.UDP,
    'embedded:io/socket/tcp/tls': net.TLSSocket,
    'embedded:storage/flash': storage.Flash,
    'embedded:update': storage.Update,
    'mc/config': Object.freeze(config),
    net: net.Net,
    wifi: net.WiFi,
    sntp: net.SNTP,
    time: device.timeModule(),
    timer: device.timerModule(),
    onewire: io.OneWire,
    neopixel: io.NeoPixel,
    Resource,
    preference: preferenceModel(nvs),
  };
  const appGlobal = Object.create(globalThis) as Record<string, unknown>;
  appGlobal.System = { restart: () => device.restart() };
  device.global = appGlobal;
  return { board: o.board, device, wiring, config, io, net, serial, servers, storage, ota, nvs, nvsProblems, modules, appGlobal };
}

/** Loads a hosts/esp32 module (bundled with what it imports) on a modelled board; returns its exports. */
export async function loadOnBoard<T = Record<string, unknown>>(m: ModelledBoard, entry: string): Promise<T> {
  const code = await bundleEntry(entry, ledModuleOf(m.board));
  const trace = (text: unknown) => m.device.trace(String(text));
  const native = (name: string) => {
    const fn = m.storage.natives[name];
    if (!fn) throw new Error(`native "${name}" not linked`);
    return fn;
  };
  const factory = new Function('__esp32', 'globalThis', 'trace', 'native', 'Date', `${code}\nreturn __pipewatch;`) as (
    ...args: unknown[]
  ) => T;
  return factory(m.modules, m.appGlobal, trace, native, m.device.dateClass());
}

export interface Booted extends ModelledBoard {
  stop(): void;
}

/** Boots a modelled board and runs the SDK start-up, then hosts/esp32/main.ts's default export. */
export async function bootEsp32(o: BootOptions): Promise<Booted> {
  const m = modelBoard(o);
  const app = await loadOnBoard<{ default: () => void }>(m, 'hosts/esp32/main.ts');
  const { device, config, io } = m;
  // The SDK's start-up before main (see the header).
  const Timer = m.modules.timer as { repeat(cb: () => void, ms: number): unknown };
  device.callback(() => {
    const led = config.led as { pin?: number; rainbow?: boolean } | undefined;
    if (led?.rainbow) {
      const pixel = new io.NeoPixel({ length: 1, pin: led.pin, order: 'GRB' });
      let hue = 0;
      Timer.repeat(() => {
        hue = (hue + 3) & 0xff;
        pixel.setPixel(0, pixel.makeRGB(hue, 255 - hue, 0));
        pixel.update();
      }, 33);
    }
    if (!config.ssid) device.trace('No Wi-Fi SSID');
  });
  device.callback(() => app.default());
  return { ...m, stop: () => device.halt() };
}

/** Resolves when `condition()` holds; rejects with `what` after `ms`. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
