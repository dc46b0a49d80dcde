/*
 * Signing keys and images for simulated nodes (Node side of the simulator).
 *
 * `loadSimKey(path?)`: the Ed25519 key the simulated nodes trust. Without a path, a throwaway
 * key pair is generated at first use as `.pipewatch/sim-ota.pem` (mode 0600, never overwritten)
 * and `.pipewatch/sim-ota.pem.pub` (hex) in the working directory, then reused.
 * `simImage(version, extra?)` builds a simulated image: a valid ESP-IDF app image for the
 * simulated board's chip (a classic ESP32; simulator/ota/esp-image.ts) whose app descriptor
 * carries `version`; `signImage` signs one.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { attachSignature, encodeUnsignedManifest } from '../../firmware/ota/manifest';
import { sha256 } from '../../firmware/crypto/sha256';
import { toHex } from '../../firmware/crypto/hex';
import { chipOfBoard } from '../../firmware/ota/esp-image';
import { buildAppImage } from './esp-image';

export const SIM_BOARD = 'pipewatch-sim';
export const SIM_FACTORY_VERSION = '1.0.0';

export interface SimKey {
  privateKey: KeyObject;
  publicKey: Uint8Array;
  publicKeyHex: string;
  /** Where the private key lives (for the hint printed at start-up). */
  path: string;
  generated: boolean;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

export function loadSimKey(path?: string, cwd = process.cwd()): SimKey {
  let generated = false;
  const file = path ? resolve(cwd, path) : join(cwd, '.pipewatch', 'sim-ota.pem');
  if (!existsSync(file)) {
    if (path) throw new Error(`--ota-key: no such file ${path}`);
    mkdirSync(join(cwd, '.pipewatch'), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600, flag: 'wx' });
    generated = true;
  }
  const privateKey = createPrivateKey(readFileSync(file));
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: not an Ed25519 private key`);
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  if (generated) writeFileSync(`${file}.pub`, toHex(publicKey) + '\n');
  return { privateKey, publicKey, publicKeyHex: toHex(publicKey), path: file, generated };
}

/** A simulated image: an ESP-IDF app image with a readable banner and optional extra text (e.g. a fault marker). */
export function simImage(version: string, extra = '', bytes = 24 * 1024): Uint8Array {
  return buildAppImage({
    chip: chipOfBoard(SIM_BOARD)!,
    version,
    bytes,
    text: `pipewatch simulated firmware ${version}\n${extra}`,
    seed: version.length * 7 + 1,
  });
}

export function signImage(
  key: KeyObject,
  image: Uint8Array,
  o: { version: string; board?: string; securityCounter?: number; url?: string },
): Uint8Array {
  const unsigned = encodeUnsignedManifest({
    version: o.version,
    board: o.board ?? SIM_BOARD,
    securityCounter: o.securityCounter ?? 0,
    imageBytes: image.length,
    imageSha256: sha256(image),
    url: o.url ?? '',
  });
  return attachSignature(unsigned, new Uint8Array(sign(null, unsigned, key)));
}
