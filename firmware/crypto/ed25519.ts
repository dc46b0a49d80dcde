/*
 * Ed25519 signature verification (RFC 8032 §5.1.7), strict.
 *
 * `verify(signature, message, publicKey)` returns true only when every check below passes; it
 * starts from false, has one exit and never throws (a malformed argument is just "false").
 *
 * Rejected, beyond a failing group equation:
 * - arguments that are not Uint8Array, a signature that is not 64 bytes, a key that is not 32;
 * - S >= L (non-canonical scalar, RFC 8032 §5.1.7 step 1; signature malleability);
 * - a point encoding (A or R) with y >= p, one whose x would have to be 0 with the sign bit set,
 *   or one with no square root (not on the curve) (RFC 8032 §5.1.3);
 * - a small-order A or R (one of the 8 points of order 1, 2, 4 or 8). RFC 8032 does not demand
 *   it; we do, so that no key/signature pair can "verify" for unrelated messages. An honest
 *   signer never produces one.
 * The group equation is checked cofactored: [8]([S]B - [k]A - R) = 0 with
 * k = SHA-512(R || A || M) mod L, as RFC 8032 §5.1.7 step 3 recommends.
 *
 * Why not @noble/curves: it is audited and was the first choice, but its Point class builds
 * `static BASE = new Point(...)` inside its own class body, which the XS engine in the test
 * rig (@agoric/xsnap) rejects at load ("Point: get ?: not initialized yet"). This file is a
 * plain BigInt implementation with no classes, checked against the RFC 8032 vectors and, in
 * Node-only tests, against node:crypto and @noble/curves as oracles on random inputs.
 * Verification handles public data only, so BigInt's variable-time arithmetic leaks nothing.
 */
import { Sha512 } from './sha512';

/** Field prime p = 2^255 - 19. */
const P = (1n << 255n) - 19n;
/** Group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032 §5.1). */
export const L = (1n << 252n) + 27742317777372353535851937790883648493n;
/** Curve constant d = -121665/121666 mod p. */
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
const D2 = (2n * D) % P;
/** sqrt(-1) = 2^((p-1)/4) mod p. */
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;
/** Base point B (RFC 8032 §5.1). */
const BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202n;
const BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960n;

export const SIGNATURE_BYTES = 64;
export const PUBLIC_KEY_BYTES = 32;

/** Extended twisted-Edwards coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z. */
type Point = readonly [bigint, bigint, bigint, bigint];

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

const IDENTITY: Point = [0n, 1n, 1n, 0n];

/** add-2008-hwcd-3 (a = -1). */
function add(p: Point, q: Point): Point {
  const a = mod((p[1] - p[0]) * (q[1] - q[0]));
  const b = mod((p[1] + p[0]) * (q[1] + q[0]));
  const c = mod(p[3] * D2 * q[3]);
  const d = mod(2n * p[2] * q[2]);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

/** dbl-2008-hwcd (a = -1). */
function double(p: Point): Point {
  const a = mod(p[0] * p[0]);
  const b = mod(p[1] * p[1]);
  const c = mod(2n * p[2] * p[2]);
  const d = P - a;
  const xy = p[0] + p[1];
  const e = mod(xy * xy - a - b);
  const g = d + b;
  const f = g - c;
  const h = d - b;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function negate(p: Point): Point {
  return [mod(-p[0]), p[1], p[2], mod(-p[3])];
}

function isIdentity(p: Point): boolean {
  return mod(p[0]) === 0n && mod(p[1] - p[2]) === 0n;
}

function isSmallOrder(p: Point): boolean {
  return isIdentity(double(double(double(p))));
}

function bytesToBigLE(bytes: Uint8Array, start: number, end: number): bigint {
  let n = 0n;
  for (let i = end - 1; i >= start; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/** RFC 8032 §5.1.3 decoding; undefined for any non-canonical or off-curve encoding. */
function decodePoint(bytes: Uint8Array, start: number): Point | undefined {
  const last = bytes[start + 31]!;
  const sign = last >> 7;
  const y = bytesToBigLE(bytes, start, start + 31) | (BigInt(last & 0x7f) << 248n);
  if (y >= P) return undefined;
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  const v3 = (v * v % P) * v % P;
  const v7 = (v3 * v3 % P) * v % P;
  let x = (u * v3 % P) * pow(u * v7, (P - 5n) / 8n) % P;
  const vx2 = v * (x * x % P) % P;
  if (vx2 !== u) {
    if (vx2 === mod(-u)) x = x * SQRT_M1 % P;
    else return undefined;
  }
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = P - x;
  return [x, y, 1n, (x * y) % P];
}

/** [s]B + [k]Q by Shamir's trick over the bits of both scalars (both < 2^253). */
function doubleScalarMul(s: bigint, base: Point, k: bigint, q: Point): Point {
  const both = add(base, q);
  let acc = IDENTITY;
  for (let i = 255n; i >= 0n; i--) {
    acc = double(acc);
    const sb = (s >> i) & 1n;
    const kb = (k >> i) & 1n;
    if (sb && kb) acc = add(acc, both);
    else if (sb) acc = add(acc, base);
    else if (kb) acc = add(acc, q);
  }
  return acc;
}

const BASE: Point = [BX, BY, 1n, (BX * BY) % P];

/** Strict RFC 8032 Ed25519 verification; see the header for every rejection. Never throws. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  let valid = false;
  try {
    if (
      signature instanceof Uint8Array &&
      message instanceof Uint8Array &&
      publicKey instanceof Uint8Array &&
      signature.length === SIGNATURE_BYTES &&
      publicKey.length === PUBLIC_KEY_BYTES
    ) {
      const s = bytesToBigLE(signature, 32, 64);
      const a = s < L ? decodePoint(publicKey, 0) : undefined;
      const r = a ? decodePoint(signature, 0) : undefined;
      if (a && r && !isSmallOrder(a) && !isSmallOrder(r)) {
        const hash = new Sha512();
        hash.update(signature.subarray(0, 32)).update(publicKey).update(message);
        const k = bytesToBigLE(hash.digest(), 0, 64) % L;
        const check = add(doubleScalarMul(s, BASE, k, negate(a)), negate(r));
        valid = isIdentity(double(double(double(check))));
      }
    }
  } catch {
    valid = false;
  }
  return valid;
}

/** Exposed for tests: whether 32 bytes decode (strictly) to a point of small order. */
export function isSmallOrderEncoding(bytes: Uint8Array): boolean {
  const p = bytes.length === PUBLIC_KEY_BYTES ? decodePoint(bytes, 0) : undefined;
  return p !== undefined && isSmallOrder(p);
}

/** Exposed for tests: whether 32 bytes are a canonical encoding of a curve point. */
export function isValidPointEncoding(bytes: Uint8Array): boolean {
  return bytes.length === PUBLIC_KEY_BYTES && decodePoint(bytes, 0) !== undefined;
}
