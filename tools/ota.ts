/*
 * `pipewatch ota ...`: keys, signing and checking of OTA updates (signing machine side).
 *
 *   ota keygen --out key.pem [--firmware-key [path]]
 *       Ed25519 key pair; the private key (PKCS#8 PEM) is written with mode 0600 and never
 *       overwritten; prints the public key in hex; with --firmware-key also writes it into
 *       firmware/ota/public-key.ts (or the given path), the key built into the firmware.
 *   ota sign --key key.pem --image fw.bin --version 1.2.3 --board esp32-c3-tmp117
 *            [--counter N] [--url U] --out fw.manifest
 *   ota verify --pub <hex|file> --manifest fw.manifest [--image fw.bin] [--board B]
 *
 * Exit codes: 0 success, 1 verification failed, 2 usage or IO error.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachSignature, encodeUnsignedManifest, verifySignedManifest, versionText } from '../firmware/ota/manifest';
import { sha256 } from '../firmware/crypto/sha256';
import { fromHex, toHex } from '../firmware/crypto/hex';

type Out = (line: string) => void;

function flags(argv: string[]): Map<string, string | true> {
  const map = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      map.set(a.slice(2), next);
      i++;
    } else map.set(a.slice(2), true);
  }
  return map;
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
    const f = flags(rest);
    if (sub === 'keygen') return keygen(f, out);
    if (sub === 'sign') return signCommand(f, out);
    if (sub === 'verify') return verifyCommand(f, out);
    if (sub === 'publish') {
      out('ota publish needs the MQTT uplink: serve the image with tools/ota-server.ts and announce the manifest on the node OTA topic');
      return 2;
    }
    out('usage: pipewatch ota keygen|sign|verify ... (see tools/ota.ts)');
    return 2;
  } catch (error) {
    out(`error: ${(error as Error).message}`);
    return 2;
  }
}
