/*
 * Ed25519 signing (RFC 8032 §5.1.5-5.1.6) for tests only: lets the portable OTA tests sign
 * manifests with throw-away keys inside XS too. Firmware never signs; the real signer is
 * `pipewatch ota sign` (node:crypto). Checked against the RFC 8032 vectors in ota-manifest.
 */
import { BASE, encodePoint, hashToScalar, L, scalarMul } from '../../firmware/crypto/edwards';
import { Sha512 } from '../../firmware/crypto/sha512';

export interface TestKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  scalar: bigint;
  prefix: Uint8Array;
}

export function testKey(seed: Uint8Array): TestKey {
  const h = new Sha512().update(seed).digest();
  h[0]! &= 248;
  h[31]! &= 127;
  h[31]! |= 64;
  let scalar = 0n;
  for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(h[i]!);
  const publicKey = new Uint8Array(32);
  encodePoint(scalarMul(scalar, BASE), publicKey, 0);
  return { seed, publicKey, scalar, prefix: h.slice(32, 64) };
}

export function testSign(key: TestKey, message: Uint8Array): Uint8Array {
  const r = hashToScalar([key.prefix, message]);
  const out = new Uint8Array(64);
  encodePoint(scalarMul(r, BASE), out, 0);
  const k = hashToScalar([out.subarray(0, 32), key.publicKey, message]);
  let s = (r + k * key.scalar) % L;
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

/** A deterministic throw-away key from a small number. */
export function numberedKey(n: number): TestKey {
  const seed = new Uint8Array(32);
  for (let i = 0; i < 32; i++) seed[i] = (n * 37 + i * 11) & 0xff;
  return testKey(seed);
}
