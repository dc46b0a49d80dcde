/*
 * `pipewatch ota ...`: keys, signing and checking of OTA updates (signing machine side).
 *
 *   ota keygen --out key.pem [--firmware-key [path]]
 *       Ed25519 key pair; the private key (PKCS#8 PEM) is written with mode 0600 and never
 *       overwritten; prints the public key in hex; with --firmware-key also writes it into
 *       firmware/ota/public-key.ts (or the given path), the key built into the firmware.
 *   ota sign --key key.pem --image fw.bin --version 1.2.3 --board esp32-c3-tmp117
 *            [--counter N] [--url U] --out fw.manifest
 *       The image must be an ESP-IDF app image for the chip the board id names
 *       (firmware/ota/esp-image.ts), whose app descriptor version is --version, and whole as
 *       ESP-IDF checks it (segments, checksum, appended SHA-256); otherwise nothing is signed
 *       and the exit code is 1.
 *   ota verify --pub <hex|file> --manifest fw.manifest [--image fw.bin] [--board B]
 *   ota publish --broker mqtt://HOST:PORT --manifest F --image F (--node ID ... | --group all)
 *               [--host 127.0.0.1] [--timeout 10m]      (tools/ota-publish.ts)
 *   ota rollout --broker URL --image F (--key K --board B | --manifest F) --to all|line:L|file:IDS
 *               [--waves ..] [--abort-above ..] [--min-nodes ..] [--max-concurrent ..] [--state F]
 *               [--resume] [--json]                     (tools/ota-rollout.ts, tools/fleet/rollout.ts)
 *
 * Exit codes: 0 success; 1 the operation failed (verification failed; a node refused, failed,
 * rolled back or timed out); 2 usage errors and what stops the command before it starts (a file
 * that cannot be read, a key that is not a private key, a broker that cannot be reached).
 * Results go to stdout; errors and failed checks are one line on stderr (tools/args.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isIP } from 'node:net';
import { attachSignature, encodeUnsignedManifest, packVersion, parseManifest, verifySignedManifest, versionText } from '../firmware/ota/manifest';
import { isLoopback } from '../simulator/broker';
import { Failure, oneLine, parseDuration, parseInteger, UsageError, wantsHelp } from './args';
import { readPlantFile } from './plant-file';
import { sha256 } from '../firmware/crypto/sha256';
import { fromHex, toHex } from '../firmware/crypto/hex';
import { checkAppHead, chipName, chipOfBoard, readAppHead, ESP_IMAGE_MAGIC } from '../firmware/ota/esp-image';
import { verifyAppImage } from '../simulator/ota/esp-image';

type Out = (line: string) => void;

/** Per sub-verb: its options ('value' takes one, 'flag' none, 'optional' an optional value) and usage. */
const VERBS: Record<string, { options: Record<string, 'value' | 'flag' | 'optional'>; repeated?: string[]; usage: string }> = {
  keygen: {
    options: { out: 'value', 'firmware-key': 'optional' },
    usage: `usage: npx pipewatch ota keygen --out key.pem [--firmware-key [path]]
Writes an Ed25519 key pair: the private key key.pem (mode 0600, never overwritten) and the public
key in hex in key.pem.pub. --firmware-key also writes it into firmware/ota/public-key.ts (or path).`,
  },
  sign: {
    options: { key: 'value', image: 'value', version: 'value', board: 'value', counter: 'value', url: 'value', out: 'value' },
    usage: `usage: npx pipewatch ota sign --key key.pem --image fw.bin --version 1.2.3 --board BOARD [--counter N] [--url U] --out fw.manifest
Signs a manifest for an image with the private key.
  --version MAJOR.MINOR.PATCH   (0..255.0..255.0..65535)
  --board ID                    the board the image is built for (1..32 of a-z 0-9 . _ -)
  --counter N                   security counter, 0..4294967295 (default 0): nodes refuse lower ones
  --url U                       where nodes download the image (else the URL that follows the offer)`,
  },
  verify: {
    options: { pub: 'value', manifest: 'value', image: 'value', board: 'value' },
    usage: `usage: npx pipewatch ota verify --pub <hex|file|PEM> --manifest fw.manifest [--image fw.bin] [--board BOARD]
Checks the manifest's signature (and the image's size and SHA-256, and the board). Exit 0 valid, 1 invalid.`,
  },
  publish: {
    options: { broker: 'value', manifest: 'value', image: 'value', node: 'value', group: 'value', host: 'value', port: 'value', timeout: 'value' },
    repeated: ['node'],
    usage: `usage: npx pipewatch ota publish --broker mqtt://HOST:PORT --manifest F --image F (--node ID ... | --group all)
                           [--host 127.0.0.1] [--port N] [--timeout 10m]
Offers a signed update to nodes over MQTT, serves its image over HTTP and draws their progress.
  --node ID          a node (repeatable); --group all: every node whose retained status is online
  --host ADDR        the address the image server listens on and puts in the URL (default 127.0.0.1).
                     Field nodes cannot reach loopback: give this machine's LAN address (a warning
                     reminds that the server has no TLS), or sign the manifest with --url pointing
                     at any HTTP(S) server the nodes reach (docs/ota.md)
  --port N           the image server's port (default: a free one)
  --timeout 10m      give up waiting for the nodes after this long
Exit 0 every node confirmed; 1 a node refused, failed, rolled back or timed out; 2 bad options or
the broker cannot be reached.`,
  },
  rollout: {
    options: {
      broker: 'value', image: 'value', key: 'value', board: 'value', version: 'value', counter: 'value', manifest: 'value',
      to: 'value', plant: 'value', registry: 'value', waves: 'value', 'abort-above': 'value', 'min-nodes': 'value',
      'max-concurrent': 'value', 'node-timeout': 'value', 'offline-wait': 'value', state: 'value', resume: 'flag', json: 'flag',
      host: 'value', port: 'value',
    },
    usage: `usage: npx pipewatch ota rollout --broker mqtt://HOST:PORT --image FILE (--key KEY --board BOARD | --manifest F)
                           --to all|line:L|file:IDS [--waves 1%,10%,50%,100%] [--abort-above 5%] [--min-nodes 10]
                           [--max-concurrent 50] [--state FILE] [--json]
       npx pipewatch ota rollout --resume [--state FILE] [--broker URL] [--image FILE] [--json]
Offers a signed update wave by wave, serves its image over HTTP (range requests) and stops by itself
when too many nodes fail (docs/ota.md, "Staged rollouts").
  --image FILE        the ESP-IDF app image
  --key KEY --board B the private key (ota keygen) and board id to sign it with ([--version V], default the
                      image's app descriptor version; [--counter N]); or --manifest F, one signed already
  --to all            every node with a retained status at the broker (online or offline)
  --to line:L         the nodes of line L in --plant FILE (a plant file) or --registry FILE
                      ([{"id":"pipe-7","line":"L1"},...], as the fleet metrics take it)
  --to file:IDS       the device ids in the file IDS, one per line (# comments); in that order
  --waves LIST        cumulative shares of the targets per wave (default 1%,10%,50%,100%); the next wave
                      starts when every node of the current one confirmed, rolled back, failed, timed out
                      or is offline (offline nodes get the offer when they are back)
  --abort-above P     stop when more than P of a settled wave failed, or of the whole rollout once
                      --min-nodes N have settled (defaults 5% and 10)
  --max-concurrent N  most nodes downloading at once (default 50)
  --node-timeout D    an offered node that is online and silent this long has timed out (default 30m)
  --offline-wait D    how long offline nodes are waited for after the last wave (default 1h)
  --state FILE        the rollout's state (default .pipewatch/rollout-VERSION.json); --resume continues
                      it after the tool was stopped, without offering the update again to a settled node
  --host ADDR, --port N   the image server's address and port (as for ota publish)
  --json              print a JSON summary as the last line
Exit 0 every target confirmed; 1 the rollout stopped itself, or nodes failed to be reached; 2 bad options,
a state file that cannot be used, or the broker cannot be reached.`,
  },
};

const OTA_USAGE = `usage: npx pipewatch ota <keygen|sign|verify|publish|rollout> [options]   (each answers --help)
${Object.values(VERBS).map((v) => v.usage.split('\n')[0]!.replace('usage: ', '  ')).join('\n')}`;

function flags(argv: string[], verb: string): Map<string, string | true> {
  const spec = VERBS[verb]!;
  const see = `npx pipewatch ota ${verb} --help`;
  const map = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}" (see ${see})`);
    const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const kind = spec.options[name];
    if (!kind) throw new UsageError(`unknown option --${name} (see ${see})`);
    let value: string | true;
    if (inline !== undefined) value = inline;
    else if (kind === 'flag') value = true;
    else {
      const next = argv[i + 1];
      if (next !== undefined && (kind === 'value' || !next.startsWith('--'))) {
        value = next;
        i++;
      } else if (kind === 'optional') value = true;
      else throw new UsageError(`--${name} needs a value (see ${see})`);
    }
    const before = map.get(name);
    if (before !== undefined && !spec.repeated?.includes(name)) throw new UsageError(`--${name} is given twice`);
    map.set(name, spec.repeated?.includes(name) && typeof before === 'string' ? `${before}\n${value}` : value);
  }
  return map;
}

/** Reads the file an option names; a file that cannot be read is a usage error (exit 2). */
function readInput(f: Map<string, string | true>, name: string): Buffer {
  const path = need(f, name);
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--${name}: cannot read ${path} (${code === 'ENOENT' ? 'no such file' : code ?? oneLine(error)})`);
  }
}

function parseTimeout(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`--timeout takes a duration like 90s or 10m, got "${text}"`);
  const ms = Math.round(Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!);
  if (ms <= 0) throw new UsageError(`--timeout takes a positive duration like 90s or 10m, got "${text}"`);
  return ms;
}

async function publishCommand(f: Map<string, string | true>, out: Out, err: Out): Promise<number> {
  const broker = checkBroker(need(f, 'broker'));
  const node = f.get('node');
  const group = f.get('group');
  if ((typeof node === 'string') === (group !== undefined)) throw new UsageError('give --node ID (one or more) or --group all');
  if (group !== undefined && group !== 'all') throw new UsageError(`--group takes all, got "${group}"`);
  const host = checkHost(f, err, 'publish');
  const portText = f.get('port');
  const port = typeof portText === 'string' ? parseInteger(portText, '--port', 1, 65535) : undefined;
  const timeout = f.get('timeout');
  const timeoutMs = typeof timeout === 'string' ? parseTimeout(timeout) : undefined;
  const manifest = new Uint8Array(readInput(f, 'manifest'));
  const image = new Uint8Array(readInput(f, 'image'));
  const { publishUpdate, BrokerUnreachable } = await import('./ota-publish');
  try {
    const result = await publishUpdate({
      broker,
      manifest,
      image,
      nodes: typeof node === 'string' ? node.split('\n') : 'all',
      host,
      port,
      timeoutMs,
      out,
      warn: err,
    });
    return result.code;
  } catch (error) {
    if (error instanceof BrokerUnreachable) throw new UsageError(error.message);
    throw new Failure(oneLine(error));
  }
}

function checkBroker(broker: string): string {
  if (!/^mqtts?:\/\/[^/]+$/.test(broker.replace(/\/$/, ''))) throw new UsageError(`--broker takes mqtt://host:port, got "${broker}"`);
  return broker;
}

function checkHost(f: Map<string, string | true>, err: Out, verb: string): string {
  const host = f.get('host') ?? '127.0.0.1';
  if (typeof host !== 'string' || !(isIP(host) || host === 'localhost') || host === '0.0.0.0' || host === '::') {
    throw new UsageError(`--host takes the IP address the nodes reach this machine on, like 127.0.0.1 or 192.168.1.20, got "${host}"`);
  }
  if (!isLoopback(host)) {
    err(`pipewatch ota ${verb}: warning: --host ${host}: the image is served over plain HTTP to anyone who reaches this address (the nodes check its signed SHA-256 before using it)`);
  }
  return host;
}

/** `--to all|line:L|file:IDS` as device ids (or 'all'). */
function resolveTargets(to: string, f: Map<string, string | true>): string[] | 'all' {
  if (to === 'all') return 'all';
  if (to.startsWith('file:')) {
    const path = to.slice(5);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new UsageError(`--to file:${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
    }
    const ids = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
    for (const id of ids) if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new UsageError(`--to file:${path}: "${id}" is not a device id (1 to 64 of A-Z a-z 0-9 _ . -)`);
    if (new Set(ids).size !== ids.length) throw new UsageError(`--to file:${path}: a device id is listed twice`);
    if (ids.length === 0) throw new UsageError(`--to file:${path}: no device id in it`);
    return ids;
  }
  if (to.startsWith('line:') && to.length > 5) {
    const line = to.slice(5);
    const plant = f.get('plant');
    const registry = f.get('registry');
    let entries: Array<{ id: string; line: string }>;
    if (typeof plant === 'string') {
      entries = readPlantFile(plant).nodes;
    } else if (typeof registry === 'string') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(registry, 'utf8'));
      } catch (error) {
        throw new UsageError(`--registry ${registry}: ${oneLine(error)}`);
      }
      if (!Array.isArray(parsed) || !parsed.every((e) => e && typeof e.id === 'string' && typeof e.line === 'string')) {
        throw new UsageError(`--registry ${registry}: takes a JSON list of {"id":"pipe-7","line":"L1"}`);
      }
      entries = parsed as Array<{ id: string; line: string }>;
    } else throw new UsageError('--to line:L needs --plant FILE or --registry FILE (which node is on which line)');
    const ids = entries.filter((e) => e.line === line).map((e) => e.id);
    if (ids.length === 0) throw new UsageError(`--to line:${line}: no node on line ${line} (lines: ${[...new Set(entries.map((e) => e.line))].join(', ')})`);
    return ids;
  }
  throw new UsageError(`--to takes all, line:L or file:IDS, got "${to}"`);
}

async function rolloutCommand(f: Map<string, string | true>, out: Out, err: Out): Promise<number> {
  const resume = f.get('resume') === true;
  const json = f.get('json') === true;
  const host = checkHost(f, err, 'rollout');
  const portText = f.get('port');
  const port = typeof portText === 'string' ? parseInteger(portText, '--port', 1, 65535) : undefined;
  const { runRollout, StateError, readState } = await import('./ota-rollout');
  const { parseWaves, parsePercent } = await import('./fleet/rollout');
  let options: Parameters<typeof runRollout>[0];
  if (resume) {
    for (const name of ['key', 'manifest', 'to', 'waves', 'abort-above', 'min-nodes', 'max-concurrent', 'board', 'version', 'counter', 'plant', 'registry']) {
      if (f.has(name)) throw new UsageError(`--resume continues the rollout of the state file as it was started; --${name} cannot change it`);
    }
    const statePath = typeof f.get('state') === 'string' ? (f.get('state') as string) : latestState();
    let broker: string;
    try {
      broker = typeof f.get('broker') === 'string' ? checkBroker(f.get('broker') as string) : readState(statePath).broker;
    } catch (error) {
      if (error instanceof StateError) throw new UsageError(error.message);
      throw error;
    }
    const image = typeof f.get('image') === 'string' ? new Uint8Array(readInput(f, 'image')) : undefined;
    options = { broker, statePath, resume: true, image, imagePath: typeof f.get('image') === 'string' ? (f.get('image') as string) : undefined, host, port };
  } else {
    const broker = checkBroker(need(f, 'broker'));
    const to = need(f, 'to');
    const targets = resolveTargets(to, f);
    const waves = parseWaves(typeof f.get('waves') === 'string' ? (f.get('waves') as string) : '1%,10%,50%,100%');
    if (typeof waves === 'string') throw new UsageError(`--waves: ${waves}`);
    const abortText = typeof f.get('abort-above') === 'string' ? (f.get('abort-above') as string) : '5%';
    const abortAbovePct = parsePercent(abortText);
    if (abortAbovePct === undefined) throw new UsageError(`--abort-above takes a percentage from 0% to 100%, like 5%, got "${abortText}"`);
    const minNodes = typeof f.get('min-nodes') === 'string' ? parseInteger(f.get('min-nodes') as string, '--min-nodes', 1, 10_000_000) : 10;
    const maxConcurrent = typeof f.get('max-concurrent') === 'string' ? parseInteger(f.get('max-concurrent') as string, '--max-concurrent', 1, 100_000) : 50;
    const nodeTimeoutMs = typeof f.get('node-timeout') === 'string' ? parseDuration(f.get('node-timeout') as string, '--node-timeout') : 30 * 60_000;
    const offlineWaitMs = typeof f.get('offline-wait') === 'string' ? parseDuration(f.get('offline-wait') as string, '--offline-wait') : 3_600_000;
    const image = new Uint8Array(readInput(f, 'image'));
    let manifest: Uint8Array;
    if (f.has('manifest')) {
      if (f.has('key') || f.has('board') || f.has('version') || f.has('counter')) throw new UsageError('give --manifest F (signed already) or --key KEY --board BOARD, not both');
      manifest = new Uint8Array(readInput(f, 'manifest'));
    } else {
      if (!f.has('key')) throw new UsageError('give --key KEY --board BOARD (to sign the image) or --manifest F (signed already)');
      const board = need(f, 'board');
      const counterText = f.get('counter');
      const counter = typeof counterText === 'string' ? parseInteger(counterText, '--counter', 0, 0xffffffff) : 0;
      manifest = signFor(loadPrivateKey(f), image, { version: typeof f.get('version') === 'string' ? (f.get('version') as string) : undefined, board, counter }).manifest;
    }
    const parsed = parseManifest(manifest);
    if (!parsed.ok) throw new Failure(`--manifest: it does not parse (${parsed.reason})`);
    const statePath = typeof f.get('state') === 'string' ? (f.get('state') as string) : join('.pipewatch', `rollout-${versionText(parsed.manifest.version)}.json`);
    if (existsSync(statePath)) {
      throw new UsageError(`the state file ${statePath} exists: continue that rollout with --resume${f.has('state') ? ` --state ${statePath}` : ''}, or give another --state`);
    }
    options = {
      broker, manifest, image, imagePath: need(f, 'image'), targets, to, statePath, host, port,
      rules: { waves, abortAbovePct, minNodes, maxConcurrent, nodeTimeoutMs, offlineWaitMs },
    };
  }
  const { BrokerUnreachable } = await import('./ota-publish');
  try {
    const result = await runRollout({ ...options, out, warn: err, tty: json ? false : undefined });
    if (json) out(JSON.stringify(result.summary));
    return result.code;
  } catch (error) {
    if (error instanceof BrokerUnreachable || error instanceof StateError) throw new UsageError(error.message);
    throw new Failure(oneLine(error));
  }
}

/** The newest .pipewatch/rollout-*.json (for --resume without --state). */
function latestState(): string {
  let names: string[] = [];
  try {
    names = readdirSync('.pipewatch').filter((n) => /^rollout-.*\.json$/.test(n));
  } catch {
    // no folder: no state
  }
  if (names.length === 0) throw new UsageError('--resume: no .pipewatch/rollout-*.json here; give --state FILE');
  names.sort((a, b) => statSync(join('.pipewatch', b)).mtimeMs - statSync(join('.pipewatch', a)).mtimeMs);
  return join('.pipewatch', names[0]!);
}

function need(f: Map<string, string | true>, name: string): string {
  const v = f.get(name);
  if (typeof v !== 'string') throw new UsageError(`--${name} is required`);
  return v;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function loadPublicKey(text: string): Uint8Array {
  const source = existsSync(text) ? readFileSync(text, 'utf8').trim() : text.trim();
  if (source.startsWith('-----BEGIN')) {
    try {
      return rawPublicKey(createPublicKey(source));
    } catch (error) {
      throw new UsageError(`--pub: not a PEM key (${oneLine(error)})`);
    }
  }
  const raw = fromHex(source);
  if (!raw || raw.length !== 32) throw new UsageError('--pub takes 64 hex digits, a file holding them, or a PEM public key');
  return raw;
}

export function firmwareKeySource(publicKey: Uint8Array): string {
  return `/*
 * The Ed25519 public key that signs this firmware's OTA updates (written by
 * \`pipewatch ota keygen --firmware-key\`). The private key never leaves the signing machine.
 */
import { fromHex } from '../crypto/hex';

export const OTA_PUBLIC_KEY_HEX = '${toHex(publicKey)}';

/** A fresh copy of the key each call (no shared mutable bytes). */
export function otaPublicKey(): Uint8Array {
  return fromHex(OTA_PUBLIC_KEY_HEX)!;
}
`;
}

function keygen(f: Map<string, string | true>, out: Out): number {
  const path = need(f, 'out');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  if (existsSync(path)) throw new UsageError(`--out: ${path} exists; a key is never overwritten`);
  try {
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new UsageError(`--out: cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
  }
  const raw = rawPublicKey(publicKey);
  writeFileSync(`${path}.pub`, toHex(raw) + '\n', { flag: 'wx' });
  out(`public key ${toHex(raw)}`);
  const fw = f.get('firmware-key');
  if (fw !== undefined) {
    const target = typeof fw === 'string' ? fw : join(dirname(fileURLToPath(import.meta.url)), '..', 'firmware', 'ota', 'public-key.ts');
    writeFileSync(target, firmwareKeySource(raw));
    out(`wrote ${target}`);
  }
  return 0;
}

/** Why `image` must not be signed for `board` as `version`, or undefined. */
function imageRefusal(image: Uint8Array, board: string, version: string): string | undefined {
  const chip = chipOfBoard(board);
  const head = readAppHead(image);
  if (!head || image[0] !== ESP_IMAGE_MAGIC) return 'the image is not an ESP-IDF app image (no 0xE9 image header)';
  if (chip === undefined) return `--board ${board} names no ESP32 chip (board ids start with the chip: esp32-, esp32s3-, esp32c3-, ...)`;
  if (head.chip !== chip) return `the image is built for ${chipName(head.chip)}, but --board ${board} is an ${chipName(chip)}`;
  const reason = checkAppHead(image, image.length, { chip, version });
  if (reason === 'versionMismatch') return `the image's app descriptor says version "${head.version}", not ${version} (set the ESP-IDF app version)`;
  if (reason !== undefined) return `the image header is invalid (${reason})`;
  const whole = verifyAppImage((buffer, offset) => buffer.set(image.subarray(offset, offset + buffer.length)), image.length, chip, head.minChipRevFull, new Uint8Array(4096));
  if (whole !== undefined) return `the image fails ESP-IDF's check (${whole})`;
  return undefined;
}

function loadPrivateKey(f: Map<string, string | true>): KeyObject {
  const pem = readInput(f, 'key');
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new UsageError(`--key takes a PEM private key (from ota keygen); ${need(f, 'key')} is not one`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--key takes an Ed25519 private key; ${need(f, 'key')} is ${key.asymmetricKeyType}`);
  return key;
}

/**
 * Signs `image` for `board` as `version` (default: the image's app descriptor version); throws a
 * UsageError for bad arguments and a Failure for an image that must not be signed.
 */
export function signFor(privateKey: KeyObject, image: Uint8Array, o: { version?: string; board: string; counter?: number; url?: string }): { manifest: Uint8Array; version: string } {
  const versionArg = o.version ?? readAppHead(image)?.version?.replace(/^v/, '');
  if (versionArg === undefined) throw new Failure('the image is not an ESP-IDF app image (no app descriptor version); nothing signed');
  if (packVersion(versionArg) < 0) throw new UsageError(`--version takes MAJOR.MINOR.PATCH like 1.2.3 (each 0..255, patch 0..65535), got "${versionArg}"`);
  if (!/^[a-z0-9._-]{1,32}$/.test(o.board)) throw new UsageError(`--board takes 1 to 32 of a-z 0-9 . _ -, got "${o.board}"`);
  const unsigned = encodeUnsignedManifest({
    version: versionArg,
    board: o.board,
    securityCounter: o.counter ?? 0,
    imageBytes: image.length,
    imageSha256: sha256(image),
    url: o.url ?? '',
  });
  const version = versionText(packVersion(versionArg));
  const refusal = imageRefusal(image, o.board, version);
  if (refusal !== undefined) throw new Failure(`${refusal}; nothing signed`);
  const manifest = attachSignature(unsigned, new Uint8Array(sign(null, unsigned, privateKey)));
  const check = verifySignedManifest(manifest, rawPublicKey(createPublicKey(privateKey)));
  if (!check.ok) throw new Failure(`the signed manifest does not verify (${check.reason})`);
  return { manifest, version };
}

function signCommand(f: Map<string, string | true>, out: Out): number {
  const versionArg = need(f, 'version');
  if (packVersion(versionArg) < 0) throw new UsageError(`--version takes MAJOR.MINOR.PATCH like 1.2.3 (each 0..255, patch 0..65535), got "${versionArg}"`);
  const boardArg = f.get('board');
  if (typeof boardArg === 'string' && !/^[a-z0-9._-]{1,32}$/.test(boardArg)) throw new UsageError(`--board takes 1 to 32 of a-z 0-9 . _ -, got "${boardArg}"`);
  const counterText = f.get('counter');
  const counter = typeof counterText === 'string' ? parseInteger(counterText, '--counter', 0, 0xffffffff) : 0;
  const urlArg = f.get('url');
  if (typeof urlArg === 'string' && !/^https?:\/\/[\x21-\x7e]{1,392}$/.test(urlArg)) throw new UsageError(`--url takes an http:// or https:// URL of at most 400 characters, got "${urlArg}"`);
  const privateKey = loadPrivateKey(f);
  const image = new Uint8Array(readInput(f, 'image'));
  const { manifest } = signFor(privateKey, image, { version: versionArg, board: need(f, 'board'), counter, url: typeof urlArg === 'string' ? urlArg : undefined });
  const check = verifySignedManifest(manifest, rawPublicKey(createPublicKey(privateKey)));
  if (!check.ok) throw new Failure(`the signed manifest does not verify (${check.reason})`);
  try {
    writeFileSync(need(f, 'out'), manifest);
  } catch (error) {
    throw new UsageError(`--out: cannot write ${need(f, 'out')} (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
  }
  out(`signed ${check.manifest.board} ${versionText(check.manifest.version)} counter ${check.manifest.securityCounter}, ${image.length} bytes, sha256 ${toHex(check.manifest.imageSha256)}`);
  return 0;
}

function verifyCommand(f: Map<string, string | true>, out: Out): number {
  const publicKey = loadPublicKey(need(f, 'pub'));
  const bytes = new Uint8Array(readInput(f, 'manifest'));
  const checked = verifySignedManifest(bytes, publicKey);
  if (!checked.ok) throw new Failure(`INVALID manifest: ${checked.reason}`);
  const m = checked.manifest;
  out(`manifest OK: board ${m.board}, version ${versionText(m.version)}, counter ${m.securityCounter}, ${m.imageBytes} bytes, url ${m.url || '(from the offer)'}`);
  const board = f.get('board');
  if (typeof board === 'string' && board !== m.board) throw new Failure(`INVALID: built for ${m.board}, not ${board}`);
  if (typeof f.get('image') === 'string') {
    const image = new Uint8Array(readInput(f, 'image'));
    if (image.length !== m.imageBytes || toHex(sha256(image)) !== toHex(m.imageSha256)) {
      throw new Failure(`INVALID image: size ${image.length} / sha256 ${toHex(sha256(image))} do not match the manifest`);
    }
    out('image OK');
  }
  return 0;
}

export async function otaCommand(
  argv: string[],
  out: Out = (l) => process.stdout.write(l + '\n'),
  err: Out = (l) => process.stderr.write(l + '\n'),
): Promise<number> {
  const [sub, ...rest] = argv;
  const prefix = `pipewatch ota${sub && VERBS[sub] ? ` ${sub}` : ''}`;
  const help = (text: string) => (out(text), 0);
  try {
    if (sub === undefined) throw new UsageError(`give a verb: keygen, sign, verify, publish or rollout (see npx pipewatch ota --help)`);
    if (sub === '--help' || sub === '-h' || sub === 'help') return help(OTA_USAGE);
    const verb = VERBS[sub];
    if (!verb) throw new UsageError(`unknown verb "${sub}": give keygen, sign, verify, publish or rollout (see npx pipewatch ota --help)`);
    if (wantsHelp(rest)) return help(verb.usage);
    const f = flags(rest, sub);
    if (sub === 'keygen') return keygen(f, out);
    if (sub === 'sign') return signCommand(f, out);
    if (sub === 'verify') return verifyCommand(f, out);
    if (sub === 'rollout') return await rolloutCommand(f, out, err);
    return await publishCommand(f, out, err);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${prefix}: ${error.message}`);
      return 2;
    }
    if (error instanceof Failure) {
      err(`${prefix}: ${error.message}`);
      return 1;
    }
    err(`${prefix}: ${oneLine(error)}`);
    return 1;
  }
}
