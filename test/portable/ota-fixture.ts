/*
 * Shared fixture for the OTA tests: throw-away keys, images and signed manifests, and a rig
 * factory. Signing uses the test-only signer (crypto-sign.ts) so it runs inside XS too.
 */
import { numberedKey, testSign, type TestKey } from './crypto-sign';
import { attachSignature, encodeUnsignedManifest, type ManifestFields } from '../../firmware/ota/manifest';
import { sha256 } from '../../firmware/crypto/sha256';
import { OtaRig, type OtaRigOptions } from '../../simulator/ota/rig';
import { buildAppImage, type AppImageOptions } from '../../simulator/ota/esp-image';
import { chipOfBoard } from '../../firmware/ota/esp-image';

export const BOARD = 'esp32-c3-tmp117';
export const IMAGE_URL = 'http://10.0.0.2:8080/fw/pipewatch.bin';

let cachedKey: TestKey | undefined;
let cachedOther: TestKey | undefined;
export function vendorKey(): TestKey {
  cachedKey ??= numberedKey(1);
  return cachedKey;
}
export function otherKey(): TestKey {
  cachedOther ??= numberedKey(2);
  return cachedOther;
}

export function image(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A valid ESP-IDF app image for BOARD's chip (an ESP32-C3) carrying `version`, exactly `bytes` long. */
export function appImage(version: string, bytes: number, seed: number, o: Partial<AppImageOptions> = {}): Uint8Array {
  return buildAppImage({ chip: chipOfBoard(BOARD)!, version, bytes, seed, ...o });
}

/** An image of exactly `bytes` bytes for `version` (any length, for the alignment tests). */
export function sizedImage(bytes: number, version: string): Uint8Array {
  return appImage(version, bytes, bytes + version.length);
}

export function signManifest(fields: Partial<ManifestFields> & { image?: Uint8Array }, key = vendorKey()): Uint8Array {
  const img = fields.image ?? image(1000, 1);
  const unsigned = encodeUnsignedManifest({
    version: fields.version ?? '1.0.0',
    securityCounter: fields.securityCounter ?? 1,
    board: fields.board ?? BOARD,
    imageBytes: fields.imageBytes ?? img.length,
    imageSha256: fields.imageSha256 ?? sha256(img),
    url: fields.url ?? IMAGE_URL,
  });
  return attachSignature(unsigned, testSign(key, unsigned));
}

/** Re-signs manifest bytes after a test patched them (a validly signed, out-of-range manifest). */
export function resign(manifest: Uint8Array, key = vendorKey()): Uint8Array {
  const unsigned = manifest.subarray(0, manifest.length - 64);
  return attachSignature(unsigned, testSign(key, unsigned));
}

export const FACTORY_IMAGE = appImage('1.0.0', 10_000, 100);
export const NEW_IMAGE = appImage('1.1.0', 21_000, 200);

let factoryManifest: Uint8Array | undefined;
let newManifest: Uint8Array | undefined;
export function factoryManifestBytes(): Uint8Array {
  factoryManifest ??= signManifest({ version: '1.0.0', securityCounter: 1, image: FACTORY_IMAGE });
  return factoryManifest;
}
export function newManifestBytes(): Uint8Array {
  newManifest ??= signManifest({ version: '1.1.0', securityCounter: 2, image: NEW_IMAGE });
  return newManifest;
}

export function makeRig(options: Partial<OtaRigOptions> = {}): OtaRig {
  const rig = new OtaRig({
    publicKey: vendorKey().publicKey,
    board: BOARD,
    factory: { manifest: factoryManifestBytes(), image: FACTORY_IMAGE, securityCounter: 1 },
    ...options,
  });
  rig.server.images.set('/fw/pipewatch.bin', NEW_IMAGE);
  const out = rig.powerOn();
  if (!out.ok) throw new Error('factory image did not boot');
  return rig;
}
