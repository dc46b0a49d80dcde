/*
 * Edwards25519 group arithmetic for ed25519.ts (and for the test-only signer): field elements
 * are BigInt mod p = 2^255 - 19, points are extended coordinates (X : Y : Z : T).
 * Formulas: add-2008-hwcd-3 and dbl-2008-hwcd (Hisil, Wong, Carter, Dawson 2008) with a = -1;
 * decoding per RFC 8032 §5.1.3. Constants are from RFC 8032 §5.1. Variable-time: only for
 * public data (verification) or test keys.
 */
import { Sha512 } from './sha512';
/** Field prime p = 2^255 - 19. */
export const P = (1n << 255n) - 19n;
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
export function mod(a) {
    const r = a % P;
    return r < 0n ? r + P : r;
}
export function pow(base, exponent) {
    let result = 1n;
    let b = mod(base);
    let e = exponent;
    while (e > 0n) {
        if (e & 1n)
            result = (result * b) % P;
        b = (b * b) % P;
        e >>= 1n;
    }
    return result;
}
export const IDENTITY = [0n, 1n, 1n, 0n];
/** add-2008-hwcd-3 (a = -1). */
export function add(p, q) {
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
export function double(p) {
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
export function negate(p) {
    return [mod(-p[0]), p[1], p[2], mod(-p[3])];
}
export function isIdentity(p) {
    return mod(p[0]) === 0n && mod(p[1] - p[2]) === 0n;
}
export function isSmallOrder(p) {
    return isIdentity(double(double(double(p))));
}
export function bytesToBigLE(bytes, start, end) {
    let n = 0n;
    for (let i = end - 1; i >= start; i--)
        n = (n << 8n) | BigInt(bytes[i]);
    return n;
}
/** RFC 8032 §5.1.3 decoding; undefined for any non-canonical or off-curve encoding. */
export function decodePoint(bytes, start) {
    const last = bytes[start + 31];
    const sign = last >> 7;
    const y = bytesToBigLE(bytes, start, start + 31) | (BigInt(last & 0x7f) << 248n);
    if (y >= P)
        return undefined;
    const y2 = (y * y) % P;
    const u = mod(y2 - 1n);
    const v = mod(D * y2 + 1n);
    const v3 = (v * v % P) * v % P;
    const v7 = (v3 * v3 % P) * v % P;
    let x = (u * v3 % P) * pow(u * v7, (P - 5n) / 8n) % P;
    const vx2 = v * (x * x % P) % P;
    if (vx2 !== u) {
        if (vx2 === mod(-u))
            x = x * SQRT_M1 % P;
        else
            return undefined;
    }
    if (x === 0n && sign === 1)
        return undefined;
    if (Number(x & 1n) !== sign)
        x = P - x;
    return [x, y, 1n, (x * y) % P];
}
/** [s]B + [k]Q by Shamir's trick over the bits of both scalars (both < 2^253). */
export function doubleScalarMul(s, base, k, q) {
    const both = add(base, q);
    let acc = IDENTITY;
    for (let i = 255n; i >= 0n; i--) {
        acc = double(acc);
        const sb = (s >> i) & 1n;
        const kb = (k >> i) & 1n;
        if (sb && kb)
            acc = add(acc, both);
        else if (sb)
            acc = add(acc, base);
        else if (kb)
            acc = add(acc, q);
    }
    return acc;
}
export const BASE = [BX, BY, 1n, (BX * BY) % P];
/** RFC 8032 §5.1.2 encoding: y little-endian with the sign of x in bit 255. */
export function encodePoint(p, out, offset) {
    const zi = pow(p[2], P - 2n);
    const x = mod(p[0] * zi);
    let y = mod(p[1] * zi);
    for (let i = 0; i < 32; i++) {
        out[offset + i] = Number(y & 0xffn);
        y >>= 8n;
    }
    if (x & 1n)
        out[offset + 31] |= 0x80;
}
/** [n]Q by double-and-add; for test signing and key derivation. */
export function scalarMul(n, q) {
    let acc = IDENTITY;
    for (let i = 255n; i >= 0n; i--) {
        acc = double(acc);
        if ((n >> i) & 1n)
            acc = add(acc, q);
    }
    return acc;
}
/** SHA-512 of the concatenation, as a little-endian integer mod L. */
export function hashToScalar(parts) {
    const h = new Sha512();
    for (const part of parts)
        h.update(part);
    return bytesToBigLE(h.digest(), 0, 64) % L;
}
//# sourceMappingURL=edwards.js.map