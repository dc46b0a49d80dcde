/*
 * Builds, flashes and simulates pipewatch with the real Moddable toolchain (mcconfig, xsc, xsl,
 * mcsim), from manifests/node/manifest.json.
 *
 *   build     --target esp32/nodemcu [--check] [--out DIR] [name=value ...]
 *   flash     --target esp32/nodemcu --port /dev/ttyUSB0 [name=value ...]
 *   sim       [--duration 30s] [--broker mqtt://127.0.0.1:1883] [--device-id ID] [--out DIR]
 *   provision --port /dev/ttyUSB0 --ssid S --password P --broker URL --device-id ID [--sensors L]
 *             [--interval-ms N] [--mqtt-username U --mqtt-password P] [--ca F] [--client-cert F
 *             --client-key F] [--insecure] [--image-only FILE]   (PROVISION_USAGE, `provision --help`)
 *
 * `build` and `flash` take `--app drivers-check` to build the driver conformance check
 * (manifests/drivers-check) instead of the node; see docs/moddable.md.
 *
 * `name=value` arguments are passed to mcconfig as manifest config overrides
 * (e.g. wifiSsid=Plant deviceId=pipe-0042). Every command explains what is missing and exits non-zero when
 * $MODDABLE (or, for device builds and flashing, ESP-IDF) is not there.
 *
 * `build --check` without ESP-IDF runs everything on the JavaScript side of a device build:
 * manifest resolution (mcconfig), the TypeScript compile (tsc, TypeScript >= 6), the XS compile
 * (xsc) and the link of the preloaded modules (xsl) for the board, then says that the native
 * part (ESP-IDF compile, link, image) was skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { partNames } from '../firmware/sensors/registry';
import {
  MAX_INTERVAL_MS,
  MIN_INTERVAL_MS,
  SETTINGS_DOMAIN,
  SETTINGS_KEYS,
  SettingsProblem,
  brokerPolicyProblem,
  encodeSettings,
  parseBroker,
  parseDecimal,
  type Settings,
} from '../hosts/esp32/settings';
import { nvsImage } from './nvs-image';
import { usageError } from './args';
import { describeRun, runMcsim, verdict } from './mcsim';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const MANIFEST = join(ROOT, 'manifests', 'node', 'manifest.json');
export const BOARDS = ['esp32/nodemcu', 'esp32/esp32s3', 'esp32/esp32c3'] as const;
const APP_NAME = 'pipewatch';
/** Apps `build --app NAME` can build: manifest and the NAME its manifest gives mcconfig. */
export const APPS: Record<string, { manifest: string; name: string }> = {
  node: { manifest: MANIFEST, name: APP_NAME },
  'drivers-check': { manifest: join(ROOT, 'manifests', 'drivers-check', 'manifest.json'), name: 'pipewatch-check' },
};
const SETTINGS_PARTITION = 'settings';
const NVS_PARTITION = 'nvs';

type Kind = 'build' | 'flash' | 'sim' | 'provision';
type Log = (line: string) => void;

const INSTALL_SDK = [
  'The Moddable SDK is needed: set $MODDABLE to a built Moddable SDK and put its tools on PATH.',
  '  git clone https://github.com/Moddable-OpenSource/moddable ~/Projects/moddable',
  '  export MODDABLE=~/Projects/moddable',
  '  export PATH=$PATH:$MODDABLE/build/bin/lin/release     (mac: .../mac/release)',
  '  cd $MODDABLE/build/makefiles/lin && make               (Linux needs libgtk-3-dev)',
  'See docs/moddable.md, "Install the Moddable SDK".',
].join('\n');

const INSTALL_IDF = [
  'ESP-IDF is needed for a device build: $IDF_PATH is not set.',
  'Install it as Moddable documents for ESP32 (documentation/devices/esp32.md in the SDK),',
  'then `export IDF_PATH=~/esp32/esp-idf` (and source $IDF_PATH/export.sh once per shell).',
  'To validate the JavaScript side of the build without ESP-IDF, add --check.',
].join('\n');

export interface Sdk {
  moddable: string;
  bin: string;
  env: NodeJS.ProcessEnv;
}

function hostPlatform(): 'lin' | 'mac' | 'win' {
  return process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : 'lin';
}

/** Finds the SDK and a TypeScript >= 6 compiler; returns an explanation instead when one is missing. */
export function findSdk(env: NodeJS.ProcessEnv = process.env): Sdk | string {
  const moddable = env.MODDABLE;
  if (!moddable) return `$MODDABLE is not set.\n${INSTALL_SDK}`;
  if (!existsSync(join(moddable, 'tools', 'mcconfig.js'))) {
    return `$MODDABLE=${moddable} does not look like the Moddable SDK (no tools/mcconfig.js).\n${INSTALL_SDK}`;
  }
  const bin = join(moddable, 'build', 'bin', hostPlatform(), 'release');
  if (!existsSync(join(bin, 'mcconfig')) || !existsSync(join(bin, 'xsc'))) {
    return `The Moddable tools are not built in ${bin}.\n${INSTALL_SDK}`;
  }
  const localBin = join(ROOT, 'node_modules', '.bin');
  const path = [localBin, bin, env.PATH ?? ''].join(process.platform === 'win32' ? ';' : ':');
  const sdkEnv = { ...env, MODDABLE: moddable, PATH: path };
  const tsc = spawnSync('tsc', ['-v'], { env: sdkEnv, encoding: 'utf8' });
  const version = /Version (\d+)\./.exec(tsc.stdout ?? '');
  if (!version || Number(version[1]) < 6) {
    return `mcconfig compiles TypeScript with \`tsc\`; TypeScript 6 or newer is needed on PATH (found: ${tsc.stdout?.trim() || 'none'}). Run npm install.`;
  }
  return { moddable, bin, env: sdkEnv };
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: Log, cwd = ROOT): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    /** Logs whole lines of one stream (a chunk may end inside a line, e.g. an xsl warning). */
    const lines = () => {
      let pending = '';
      return {
        take(chunk: Buffer) {
          const text = chunk.toString();
          output += text;
          pending += text;
          const parts = pending.split('\n');
          pending = parts.pop()!;
          for (const line of parts) if (line.trim()) log(`  ${line}`);
        },
        flush() {
          if (pending.trim()) log(`  ${pending}`);
          pending = '';
        },
      };
    };
    const out = lines();
    const err = lines();
    child.stdout.on('data', (chunk: Buffer) => out.take(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.take(chunk));
    child.on('error', (error) => {
      output += String(error);
      done({ code: 127, output });
    });
    child.on('close', (code) => {
      out.flush();
      err.flush();
      done({ code: code ?? 1, output });
    });
  });
}

/** Directories under firmware/ that manifests/firmware.json does not map (their modules would be missing on the device). */
export function unmappedFirmwareDirs(): string[] {
  const mapped = Object.keys((JSON.parse(readFileSync(join(ROOT, 'manifests', 'firmware.json'), 'utf8')) as { modules: Record<string, unknown> }).modules);
  const missing: string[] = [];
  const walk = (dir: string): void => {
    const entries = readdirSync(join(ROOT, dir), { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name.endsWith('.ts')) && !mapped.includes(`${dir}/*`)) missing.push(dir);
    for (const e of entries) if (e.isDirectory()) walk(`${dir}/${e.name}`);
  };
  walk('firmware');
  return missing;
}

function warnUnmapped(log: Log): void {
  for (const dir of unmappedFirmwareDirs()) {
    log(`warning: ${dir}/ is not in manifests/firmware.json; add "${dir}/*": "../${dir}/*" if the node imports it`);
  }
}

function configArgs(positionals: string[]): string[] | string {
  for (const p of positionals) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*=/.test(p)) return `unexpected argument "${p}" (config overrides are name=value)`;
  }
  return positionals;
}

function outDir(given: string | undefined, what: string): string {
  const dir = resolve(given ?? join(ROOT, 'build', 'moddable', what.replace(/[/:]/g, '-')));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The directory of mcconfig's generated makefile and modules for a platform. */
function tmpDirOf(out: string, target: string, name = APP_NAME): string {
  const [platform, sub] = target.split('/');
  return sub ? join(out, 'tmp', platform!, sub, 'release', name) : join(out, 'tmp', platform!, 'mc', 'release', name);
}

/**
 * The JavaScript side of a device build, without ESP-IDF: mcconfig generates the makefile,
 * then make builds only `$(TMP_DIR)/mc.xs.c` (tsc, xsc, xsid, xsl). The ESP-IDF variables the
 * makefile insists on are given inert values; nothing native is compiled.
 */
async function checkJsSide(sdk: Sdk, target: string, out: string, config: string[], log: Log, app = APPS.node!): Promise<number> {
  const generate = await run('mcconfig', ['-p', target, '-t', 'build', '-o', out, app.manifest, ...config], sdk.env, log);
  if (generate.code !== 0) {
    log(`FAIL ${target}: mcconfig could not resolve the manifest`);
    return 1;
  }
  const tmp = tmpDirOf(out, target, app.name);
  const makefile = join(tmp, 'makefile');
  if (!existsSync(makefile)) {
    log(`FAIL ${target}: mcconfig wrote no makefile at ${makefile}`);
    return 1;
  }
  const stub = join(tmp, 'check-sdkconfig.h');
  writeFileSync(stub, '/* pipewatch --check: ESP-IDF not used */\n');
  const make = await run(
    'make',
    [
      '-f',
      makefile,
      '-j2',
      `IDF_PATH=${join(tmp, 'no-esp-idf')}`,
      'IDF_VERSION=check-only',
      `SDKCONFIG_H=${stub}`,
      join(tmp, 'mc.xs.c'),
    ],
    sdk.env,
    log,
  );
  if (make.code !== 0 || !existsSync(join(tmp, 'mc.xs.c'))) {
    log(`FAIL ${target}: JavaScript side of the build failed (see the tsc/xsc/xsl output above)`);
    return 1;
  }
  const { modules, preloads } = countModules(readFileSync(makefile, 'utf8'));
  log(`OK ${target}: manifest, TypeScript compile, XS compile and XS link passed (${modules} modules, ${preloads} preloaded; ${join(tmp, 'mc.xs.c')})`);
  log(`   native part (ESP-IDF compile, link, flash image) skipped: ${sdk.env.IDF_PATH ? 'check only' : '$IDF_PATH not set'}`);
  return 0;
}

/** Modules and preloaded modules listed in a generated makefile's MODULES and PRELOADS. */
export function countModules(makefile: string): { modules: number; preloads: number } {
  const list = (name: string): string[] => {
    const start = makefile.indexOf(`\n${name} =\\\n`);
    if (start < 0) return [];
    const out: string[] = [];
    for (const line of makefile.slice(start + 1).split('\n').slice(1)) {
      const item = line.trim().replace(/\\$/, '').trim();
      if (!item) break;
      out.push(item);
    }
    return out;
  };
  return {
    modules: list('MODULES').filter((m) => m.endsWith('.xsb')).length,
    preloads: list('PRELOADS').length,
  };
}

async function build(argv: string[], log: Log, kind: 'build' | 'flash'): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      target: { type: 'string' },
      check: { type: 'boolean', default: false },
      port: { type: 'string' },
      out: { type: 'string' },
      app: { type: 'string', default: 'node' },
    },
  });
  const target = values.target;
  const app = APPS[values.app!];
  if (!app) {
    log(`--app takes one of ${Object.keys(APPS).join(', ')}`);
    return 2;
  }
  if (!target) {
    log(`--target is required: one of ${BOARDS.join(', ')} (or lin/mac/win for the desktop simulator)`);
    return 2;
  }
  const config = configArgs(positionals);
  if (typeof config === 'string') {
    log(config);
    return 2;
  }
  if (kind === 'flash' && !values.port) {
    log('--port is required (e.g. --port /dev/ttyUSB0)');
    return 2;
  }
  const sdk = findSdk();
  if (typeof sdk === 'string') {
    log(sdk);
    return 2;
  }
  const device = target.startsWith('esp32');
  const out = outDir(values.out, values.app === 'node' ? target : `${values.app}-${target}`);
  if (app === APPS.node) warnUnmapped(log);
  if (!device) {
    if (kind === 'flash') {
      log(`flash needs an ESP32 target (${BOARDS.join(', ')}); for the simulator use npm run sim:moddable`);
      return 2;
    }
    return buildSim(sdk, target, out, config, log, app);
  }
  if (values.check) return checkJsSide(sdk, target, out, config, log, app);
  if (!sdk.env.IDF_PATH) {
    log(INSTALL_IDF);
    return 2;
  }
  const env = kind === 'flash' ? { ...sdk.env, UPLOAD_PORT: values.port } : sdk.env;
  const built = await run('mcconfig', ['-m', '-p', target, '-t', 'build', '-o', out, app.manifest, ...config], env, log);
  if (built.code !== 0) {
    log(`FAIL ${target}: build failed`);
    return 1;
  }
  if (kind === 'build') {
    log(`OK ${target}: built in ${out}`);
    return 0;
  }
  const flashed = await run('mcconfig', ['-m', '-p', target, '-t', 'deploy', '-o', out, app.manifest, ...config], env, log);
  if (flashed.code !== 0) {
    log(`FAIL ${target}: flashing through ${values.port} failed`);
    return 1;
  }
  log(`OK ${target}: flashed through ${values.port}. Next: npm run provision -- --port ${values.port} ... (docs/moddable.md)`);
  return 0;
}

async function buildSim(sdk: Sdk, platform: string, out: string, config: string[], log: Log, app = APPS.node!): Promise<number> {
  const built = await run('mcconfig', ['-m', '-p', platform, '-t', 'build', '-o', out, app.manifest, ...config], sdk.env, log);
  const so = join(out, 'bin', platform, 'mc', 'release', app.name, 'mc.so');
  if (built.code !== 0 || !existsSync(so)) {
    log(`FAIL ${platform}: simulator build failed`);
    return 1;
  }
  log(`OK ${platform}: ${so}`);
  return 0;
}

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new RangeError(`invalid duration "${text}" (e.g. 30s, 2m, 1500ms)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Math.round(Number(m[1]) * scale);
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(2000);
    socket.on('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.on('timeout', () => {
      socket.destroy();
      done(false);
    });
    socket.on('error', () => done(false));
  });
}

/** Builds for the desktop simulator, runs mcsim headless for `duration`, counts readings at the broker. */
async function sim(argv: string[], log: Log): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      duration: { type: 'string', default: '30s' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      'device-id': { type: 'string', default: 'mcsim-0' },
      'interval-ms': { type: 'string', default: '2000' },
      out: { type: 'string' },
    },
  });
  const config = configArgs(positionals);
  if (typeof config === 'string') {
    log(config);
    return 2;
  }
  let durationMs: number;
  let broker: { host: string; port: number; secure: boolean };
  try {
    durationMs = parseDuration(values.duration!);
    broker = parseBroker(values.broker!);
  } catch (error) {
    log((error as Error).message);
    return 2;
  }
  if (broker.secure) {
    log('sim:moddable connects the simulated node over plain TCP: use an mqtt:// broker URL');
    return 2;
  }
  const sdk = findSdk();
  if (typeof sdk === 'string') {
    log(sdk);
    return 2;
  }
  const platform = hostPlatform();
  const mcsim = join(sdk.bin, platform === 'win' ? 'mcsim.exe' : 'mcsim');
  if (platform === 'lin' && !existsSync(mcsim)) {
    log(`mcsim is not built in ${sdk.bin}.\n${INSTALL_SDK}`);
    return 2;
  }
  if (platform !== 'lin') {
    log('sim:moddable runs mcsim headless on Linux; on mac/win build with `npm run build -- --target mac` and open the app in mcsim.');
    return 2;
  }
  const headless = spawnSync('xvfb-run', ['--help'], { encoding: 'utf8' });
  const useXvfb = !headless.error;
  if (!useXvfb && !process.env.DISPLAY) {
    log('mcsim needs a display: install xvfb (apt-get install xvfb) or set $DISPLAY');
    return 2;
  }
  if (!(await reachable(broker.host, broker.port))) {
    log(`no MQTT broker at ${broker.host}:${broker.port}; start one (e.g. mosquitto -p ${broker.port}) or pass --broker`);
    return 2;
  }
  const deviceId = values['device-id']!;
  const out = outDir(values.out, platform);
  warnUnmapped(log);
  const overrides = [
    `broker=mqtt://${broker.host}:${broker.port}`,
    `deviceId=${deviceId}`,
    `intervalMs=${Number(values['interval-ms'])}`,
    ...config,
  ];
  log(`building for the Moddable simulator (${platform}) ...`);
  const buildLog: string[] = [];
  if ((await buildSim(sdk, platform, out, overrides, (line) => buildLog.push(line))) !== 0) {
    for (const line of buildLog.slice(-40)) log(line);
    return 1;
  }
  const so = join(out, 'bin', platform, 'mc', 'release', APP_NAME, 'mc.so');

  const run = await runMcsim({ mcsim, so, env: sdk.env, broker, deviceId, durationMs, useXvfb, log });
  log(`sim:moddable: ${describeRun(run)}`);
  const failures = verdict(run, durationMs);
  for (const failure of failures) log(`FAIL: ${failure}`);
  return failures.length === 0 ? 0 : 1;
}

export const PROVISION_USAGE = [
  'usage: npm run provision -- --port /dev/ttyUSB0 --ssid S [--password P] [--broker mqtts://host[:port]] --device-id ID',
  '                            [--sensors tmp117@0x48,...] [--interval-ms 10000]',
  '                            [--mqtt-username U] [--mqtt-password P] [--ca ca.pem] [--client-cert c.pem --client-key k.pem]',
  '                            [--insecure] [--image-only nvs.bin]',
  'Writes the node\'s settings into its NVS partition (an NVS image made here, hosts/esp32/settings.ts) and',
  'erases the raw settings partition of earlier firmware, with esptool.py. The whole NVS partition is rewritten.',
  '  --password          Wi-Fi passphrase (8..63 characters; omit for an open network)',
  '  --broker URL        mqtts://host[:port] (or mqtt:// with --insecure); omit it and the node looks for',
  '                      _mqtt._tcp by mDNS at boot (`pipewatch station --advertise`), over TLS when it has a',
  '                      CA (--ca or the build\'s tlsCA=), else the build\'s defaultBroker=',
  `  --sensors           part@0xNN (I2C) or part@pinN, comma separated; parts: ${partNames().join(', ')}`,
  '  --interval-ms       sampling period, 100..86400000 (default 10000)',
  '  --mqtt-username     MQTT user name; --mqtt-password needs it (any UTF-8 the MQTT client sends, non-empty)',
  '  --ca FILE           the plant CA (PEM or DER, one certificate), for mqtts://: the only certificate the node',
  '                      trusts (without it, the node needs a build with tlsCA=)',
  '  --client-cert FILE  TLS client certificate and its RSA key (PEM or DER), for mqtts://; the certificate\'s',
  '  --client-key FILE   common name must be --device-id (`pipewatch certs issue ID` makes such a pair). RSA only:',
  '                      the node\'s TLS client signs with RSA PKCS#1 v1.5 only. CA + cert + key must fit the',
  '                      4 KB record: RSA-2048 does (about 0.8 + 0.8 + 1.2 KB)',
  '  --insecure          allow a plain mqtt:// broker: only for a node built with insecure=true (a device build',
  '                      refuses plain MQTT otherwise, at boot)',
  '  --image-only FILE   write the NVS image to FILE (mode 0600: it holds the secrets) and flash nothing',
  'Exit codes: 0 done, 1 esptool failed, 2 bad or missing options. See docs/moddable.md, "Provision".',
].join('\n');

/** One certificate from a PEM or DER file, as DER; throws a line naming the option. */
function readCertificate(path: string, option: string): X509Certificate {
  const bytes = readFileSync(path);
  const text = bytes.toString('latin1');
  const pems = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  if (pems > 1) throw new UsageProblem(`${option} ${path}: holds ${pems} certificates; give one (the CA that issued the broker's certificate)`);
  try {
    return new X509Certificate(bytes);
  } catch (error) {
    throw new UsageProblem(`${option} ${path}: not an X.509 certificate in PEM or DER (${(error as Error).message})`);
  }
}

/** A private key from a PEM (PKCS#8, PKCS#1 or SEC1) or a PKCS#8 DER file, re-encoded as PKCS#8 DER. */
function readPrivateKey(path: string): KeyObject {
  const bytes = readFileSync(path);
  const pem = bytes.toString('latin1').includes('-----BEGIN');
  try {
    return pem ? createPrivateKey(bytes) : createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch (error) {
    throw new UsageProblem(`--client-key ${path}: not an unencrypted private key in PEM or PKCS#8 DER (${(error as Error).message})`);
  }
}

class UsageProblem extends Error {}

/**
 * Refuses a non-RSA client key or certificate: Moddable's TLS client signs CertificateVerify with
 * RSA PKCS#1 v1.5 only (SDK modules/crypt/ssl/ssl_handshake.js, certificateVerify.packetize), so
 * an EC or RSA-PSS key would pass here and fail every handshake on the device.
 */
function rsaOnly(key: KeyObject, what: string, noun: string): void {
  if (key.asymmetricKeyType === 'rsa') return;
  throw new UsageProblem(
    `${what}: an ${(key.asymmetricKeyType ?? 'unknown').toUpperCase()} ${noun}; the node's TLS client (Moddable SDK) signs only with RSA PKCS#1 v1.5, so give an RSA key and certificate (RSA-2048 fits the record)`,
  );
}

/** The subject common names of `certificate` (Node lists one attribute per line, `CN=value`). */
function commonNames(certificate: X509Certificate): string[] {
  return certificate.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
}

/** The settings the provision options describe; throws a UsageProblem (exit 2) naming the bad option. */
function provisionSettings(values: Record<string, string | boolean | undefined>): Settings {
  const option = (name: string): string | undefined => values[name] as string | undefined;
  const intervalText = option('interval-ms') ?? '10000';
  const intervalMs = parseDecimal(intervalText, MIN_INTERVAL_MS, MAX_INTERVAL_MS);
  if (intervalMs === undefined) {
    throw new UsageProblem(`--interval-ms: an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS} (milliseconds), got "${intervalText}"`);
  }
  const settings: Settings = {
    ssid: option('ssid') ?? '',
    password: option('password') ?? '',
    broker: option('broker') ?? '',
    deviceId: option('device-id') ?? '',
    intervalMs,
    sensors: option('sensors') ?? 'tmp117@0x48',
  };
  if (option('mqtt-username') !== undefined) settings.mqttUsername = option('mqtt-username');
  if (option('mqtt-password') !== undefined) settings.mqttPassword = option('mqtt-password');
  const caPath = option('ca');
  if (caPath !== undefined) settings.ca = new Uint8Array(readCertificate(caPath, '--ca').raw);
  const certPath = option('client-cert');
  const keyPath = option('client-key');
  if ((certPath === undefined) !== (keyPath === undefined)) throw new UsageProblem('--client-cert and --client-key: give both or neither');
  if (certPath !== undefined && keyPath !== undefined) {
    const certificate = readCertificate(certPath, '--client-cert');
    const key = readPrivateKey(keyPath);
    rsaOnly(certificate.publicKey, `--client-cert ${certPath}`, 'certificate');
    rsaOnly(key, `--client-key ${keyPath}`, 'key');
    if (!certificate.checkPrivateKey(key)) throw new UsageProblem(`--client-key ${keyPath}: not the key of the certificate in ${certPath}`);
    const names = commonNames(certificate);
    if (names.length !== 1 || names[0] !== settings.deviceId) {
      throw new UsageProblem(
        `--client-cert ${certPath}: its common name is ${names.length === 0 ? 'missing' : names.map((n) => `"${n}"`).join(', ')}, not --device-id "${settings.deviceId}"; ` +
          'a broker that takes the certificate as the user name would drop every reading (issue a certificate for this id: pipewatch certs issue ID)',
      );
    }
    settings.clientCert = new Uint8Array(certificate.raw);
    settings.clientKey = new Uint8Array(key.export({ type: 'pkcs8', format: 'der' }));
  }
  return settings;
}

/** Writes `bytes` to `file` readable by its owner only (0600), whatever mode an existing file had. */
function writeSecretFile(file: string, bytes: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Writes a node's settings into its NVS partition over serial (esptool), erasing the raw settings partition of earlier firmware, without rebuilding. */
async function provision(argv: string[], log: Log): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      port: { type: 'string' },
      ssid: { type: 'string' },
      password: { type: 'string' },
      broker: { type: 'string' },
      'device-id': { type: 'string' },
      sensors: { type: 'string' },
      'interval-ms': { type: 'string' },
      'mqtt-username': { type: 'string' },
      'mqtt-password': { type: 'string' },
      ca: { type: 'string' },
      'client-cert': { type: 'string' },
      'client-key': { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'image-only': { type: 'string' },
    },
  });
  if (values.help) {
    log(PROVISION_USAGE);
    return 0;
  }
  let settings: Settings;
  let image: Uint8Array;
  const nvs = partition(NVS_PARTITION);
  try {
    settings = provisionSettings(values);
    image = provisionImage(settings, nvs.size);
    // A build CA may exist (tlsCA=): only the insecure rule is decided here; the node checks the CA at boot.
    const refused = brokerPolicyProblem(settings, values.insecure === true, true);
    if (refused) throw new UsageProblem(`${refused} (then provision it with --insecure)`);
  } catch (error) {
    if (!(error instanceof UsageProblem || error instanceof SettingsProblem)) throw error;
    log(`${error.message}\n${PROVISION_USAGE.split('\n')[0]} (--help for all options)`);
    return 2;
  }
  if (settings.broker === '') {
    log(`note: no --broker: the node looks for _mqtt._tcp by mDNS at boot (pipewatch station --advertise), over TLS when it has a CA${settings.ca ? '' : " (its build's tlsCA=)"}, else the build's defaultBroker=`);
  }
  if (settings.broker.startsWith('mqtts://') && settings.ca === undefined) {
    log(`note: no --ca: the node trusts only the CA its build carries (tlsCA=); a build without one refuses ${settings.broker} at boot (E_NO_CA)`);
  }
  const offset = nvs.offset;
  const legacy = partition(SETTINGS_PARTITION);
  const imageOnly = values['image-only'];
  if (imageOnly === undefined && !values.port) {
    log('--port is required (e.g. --port /dev/ttyUSB0), or --image-only FILE to write the image only');
    return 2;
  }
  const file = resolve(imageOnly ?? join(outDir(undefined, 'provision'), `nvs-${settings.deviceId}.bin`));
  writeSecretFile(file, image);
  log(`NVS image for ${settings.deviceId}: ${file} (${image.length} bytes, mode 0600, partition "${NVS_PARTITION}" at 0x${offset.toString(16)})`);
  if (imageOnly !== undefined) return 0;
  const blank = join(dirname(file), `blank-${settings.deviceId}.bin`);
  writeFileSync(blank, new Uint8Array(legacy.size).fill(0xff));
  try {
    const esptool = spawnSync('esptool.py', ['version'], { encoding: 'utf8' });
    if (esptool.error) {
      log('esptool.py is not on PATH: it comes with ESP-IDF (source $IDF_PATH/export.sh) or `pip install esptool`.');
      return 2;
    }
    const flashed = await run(
      'esptool.py',
      ['--port', values.port!, 'write_flash', `0x${offset.toString(16)}`, file, `0x${legacy.offset.toString(16)}`, blank],
      process.env,
      log,
    );
    if (flashed.code !== 0) return 1;
  } finally {
    // The image holds the Wi-Fi and broker secrets and can be made again: no copy is left behind.
    rmSync(file, { force: true });
    rmSync(blank, { force: true });
  }
  const where = settings.broker || 'the broker it finds by mDNS (_mqtt._tcp)';
  log(`OK: ${settings.deviceId} provisioned; it joins "${settings.ssid}" and publishes to ${where} after reset`);
  return 0;
}

/** Offset and size of a partition in manifests/esp32/partitions.csv. */
export function partition(name: string): { offset: number; size: number } {
  const csv = readFileSync(join(ROOT, 'manifests', 'esp32', 'partitions.csv'), 'utf8');
  for (const line of csv.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells[0] === name) return { offset: parseInt(cells[3]!, 16), size: parseInt(cells[4]!, 16) };
  }
  throw new Error(`partition "${name}" not in manifests/esp32/partitions.csv`);
}

/** Offset of a partition in manifests/esp32/partitions.csv. */
export function partitionOffset(name: string): number {
  return partition(name).offset;
}

/**
 * The NVS partition image provisioning flashes: the settings record (`encodeSettings`, sequence
 * 1) as a blob under the first settings key of the node's NVS namespace, where
 * NvsSettingsStore reads it. Throws a SettingsProblem on invalid settings.
 */
export function provisionImage(settings: Settings, nvsBytes: number): Uint8Array {
  const record = encodeSettings(settings, 1);
  return nvsImage([{ namespace: SETTINGS_DOMAIN, key: SETTINGS_KEYS[0], value: { type: 'blob', value: record } }], nvsBytes);
}

/** `npm run <script> -- --help` for each command (the header of this file has the details). */
export const MODDABLE_USAGE: Record<Kind, string> = {
  build: `usage: npm run build -- --target BOARD [--app node|drivers-check] [--check] [--out DIR] [name=value ...]
  BOARD: ${BOARDS.join(', ')}, or lin/mac/win for the desktop simulator
  --check   without ESP-IDF: run the JavaScript side of a device build (mcconfig, tsc, xsc, xsl)
  name=value  manifest config overrides (e.g. deviceId=pipe-0042); see docs/moddable.md`,
  flash: `usage: npm run flash -- --target BOARD --port /dev/ttyUSB0 [--app node|drivers-check] [--out DIR] [name=value ...]
  BOARD: ${BOARDS.join(', ')}; needs ESP-IDF (docs/moddable.md)`,
  sim: `usage: npm run sim:moddable -- [--duration 30s] [--broker mqtt://127.0.0.1:1883] [--device-id ID] [--interval-ms N] [--out DIR] [name=value ...]
  builds for the desktop simulator, runs mcsim headless, counts the readings at the broker (docs/moddable.md)`,
  provision: PROVISION_USAGE,
};;

export async function moddableCommand(kind: Kind, argv: string[], log: Log = (line) => console.log(line)): Promise<number> {
  if (kind in MODDABLE_USAGE && (argv.includes('--help') || argv.includes('-h'))) {
    process.stdout.write(MODDABLE_USAGE[kind] + '\n');
    return 0;
  }
  try {
    if (kind === 'build' || kind === 'flash') return await build(argv, log, kind);
    if (kind === 'sim') return await sim(argv, log);
    if (kind === 'provision') return await provision(argv, log);
    log(`unknown command "${String(kind)}"`);
    return 2;
  } catch (error) {
    const e = error as Error & { code?: string };
    const script = `npm run ${kind === 'sim' ? 'sim:moddable' : kind}`;
    if (e.code?.startsWith('ERR_PARSE_ARGS_')) {
      process.stderr.write(`${script}: ${usageError(e, `${script} --`).message}\n`);
      return 2;
    }
    log(`error: ${e.message}`);
    return 2;
  }
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const [kind, ...rest] = process.argv.slice(2);
  process.exitCode = await moddableCommand(kind as Kind, rest);
}
