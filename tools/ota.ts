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
 *
 * Exit codes: 0 success, 1 verification failed, 2 usage or IO error.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachSignature, encodeUnsignedManifest, packVersion, verifySignedManifest, versionText } from '../firmware/ota/manifest';
import { sha256 } from '../firmware/crypto/sha256';
import { fromHex, toHex } from '../firmware/crypto/hex';
import { checkAppHead, chipName, chipOfBoard, readAppHead, ESP_IMAGE_MAGIC } from '../firmware/ota/esp-image';
import { verifyAppImage } from '../simulator/ota/esp-image';

type Out = (line: string) => void;

function flags(argv: string[], repeated: string[] = []): Map<string, string | true> {
  const map = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const name = a.slice(2);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      const before = map.get(name);
      map.set(name, repeated.includes(name) && typeof before === 'string' ? `${before}\n${next}` : next);
      i++;
    } else map.set(name, true);
  }
  return map;
}

function parseTimeout(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`--timeout takes a duration like 90s or 10m, got "${text}"`);
  const ms = Math.round(Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!);
  if (ms <= 0) throw new Error('--timeout must be positive');
  return ms;
}

async function publishCommand(f: Map<string, string | true>, out: Out): Promise<number> {
  const broker = need(f, 'broker');
  if (!/^mqtts?:\/\/[^/]+$/.test(broker.replace(/\/$/, ''))) throw new Error(`--broker must look like mqtt://host:port, got "${broker}"`);
  const node = f.get('node');
  const group = f.get('group');
  if ((typeof node === 'string') === (group !== undefined)) throw new Error('give --node ID (one or more) or --group all');
  if (group !== undefined && group !== 'all') throw new Error('--group: only "all" is known');
  const host = f.get('host') ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') throw new Error('--host: the image server binds loopback only (127.0.0.1 or ::1)');
  const timeout = f.get('timeout');
  const { publishUpdate } = await import('./ota-publish');
  const result = await publishUpdate({
    broker,
    manifest: new Uint8Array(readFileSync(need(f, 'manifest'))),
    image: new Uint8Array(readFileSync(need(f, 'image'))),
    nodes: typeof node === 'string' ? node.split('\n') : 'all',
    host,
    timeoutMs: typeof timeout === 'string' ? parseTimeout(timeout) : undefined,
    out,
  });
  return result.code;
}

function need(f: Map<string, string | true>, name: string): string {
  const v = f.get(name);
  if (typeof v !== 'string') throw new Error(`--${name} is required`);
  return v;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function loadPublicKey(text: string): Uint8Array {
  const source = existsSync(text) ? readFileSync(text, 'utf8').trim() : text.trim();
  if (source.startsWith('-----BEGIN')) return rawPublicKey(createPublicKey(source));
  const raw = fromHex(source);
  if (!raw || raw.length !== 32) throw new Error('--pub: expected 64 hex digits, a file holding them, or a PEM key');
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
  writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
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

function signCommand(f: Map<string, string | true>, out: Out): number {
  const privateKey = createPrivateKey(readFileSync(need(f, 'key')));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('--key: not an Ed25519 private key');
  const image = new Uint8Array(readFileSync(need(f, 'image')));
  const counterText = f.get('counter');
  const counter = typeof counterText === 'string' ? Number(counterText) : 0;
  const unsigned = encodeUnsignedManifest({
    version: need(f, 'version'),
    board: need(f, 'board'),
    securityCounter: counter,
    imageBytes: image.length,
    imageSha256: sha256(image),
    url: typeof f.get('url') === 'string' ? (f.get('url') as string) : '',
  });
  const refusal = imageRefusal(image, need(f, 'board'), versionText(packVersion(need(f, 'version'))));
  if (refusal !== undefined) {
    out(`error: ${refusal}; nothing signed`);
    return 1;
  }
  const manifest = attachSignature(unsigned, new Uint8Array(sign(null, unsigned, privateKey)));
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  const check = verifySignedManifest(manifest, publicKey);
  if (!check.ok) throw new Error(`the signed manifest does not verify (${check.reason})`);
  writeFileSync(need(f, 'out'), manifest);
  out(`signed ${check.manifest.board} ${versionText(check.manifest.version)} counter ${check.manifest.securityCounter}, ${image.length} bytes, sha256 ${toHex(check.manifest.imageSha256)}`);
  return 0;
}

function verifyCommand(f: Map<string, string | true>, out: Out): number {
  const publicKey = loadPublicKey(need(f, 'pub'));
  const bytes = new Uint8Array(readFileSync(need(f, 'manifest')));
  const checked = verifySignedManifest(bytes, publicKey);
  if (!checked.ok) {
    out(`INVALID manifest: ${checked.reason}`);
    return 1;
  }
  const m = checked.manifest;
  out(`manifest OK: board ${m.board}, version ${versionText(m.version)}, counter ${m.securityCounter}, ${m.imageBytes} bytes, url ${m.url || '(from the offer)'}`);
  const board = f.get('board');
  if (typeof board === 'string' && board !== m.board) {
    out(`INVALID: built for ${m.board}, not ${board}`);
    return 1;
  }
  const imagePath = f.get('image');
  if (typeof imagePath === 'string') {
    const image = new Uint8Array(readFileSync(imagePath));
    if (image.length !== m.imageBytes || toHex(sha256(image)) !== toHex(m.imageSha256)) {
      out(`INVALID image: size ${image.length} / sha256 ${toHex(sha256(image))} do not match the manifest`);
      return 1;
    }
    out('image OK');
  }
  return 0;
}

export async function otaCommand(argv: string[], out: Out = (l) => process.stdout.write(l + '\n')): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    const f = flags(rest, ['node']);
    if (sub === 'keygen') return keygen(f, out);
    if (sub === 'sign') return signCommand(f, out);
    if (sub === 'verify') return verifyCommand(f, out);
    if (sub === 'publish') {
      try {
        return await publishCommand(f, out);
      } catch (error) {
        out(`error: ${(error as Error).message}`);
        return (error as Error).message.startsWith('--') || (error as Error).message.startsWith('give ') ? 2 : 1;
      }
    }
    out('usage: pipewatch ota keygen|sign|verify|publish ... (see tools/ota.ts)');
    return 2;
  } catch (error) {
    out(`error: ${(error as Error).message}`);
    return 2;
  }
}
