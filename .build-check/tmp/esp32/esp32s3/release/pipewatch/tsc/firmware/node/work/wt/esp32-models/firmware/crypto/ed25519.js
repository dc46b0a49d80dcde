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
import { add, BASE, bytesToBigLE, decodePoint, double, doubleScalarMul, hashToScalar, isIdentity, isSmallOrder, L, negate, } from './edwards';
export { L };
export const SIGNATURE_BYTES = 64;
export const PUBLIC_KEY_BYTES = 32;
/** Strict RFC 8032 Ed25519 verification; see the header for every rejection. Never throws. */
export function verify(signature, message, publicKey) {
    let valid = false;
    try {
        if (signature instanceof Uint8Array &&
            message instanceof Uint8Array &&
            publicKey instanceof Uint8Array &&
            signature.length === SIGNATURE_BYTES &&
            publicKey.length === PUBLIC_KEY_BYTES) {
            const s = bytesToBigLE(signature, 32, 64);
            const a = s < L ? decodePoint(publicKey, 0) : undefined;
            const r = a ? decodePoint(signature, 0) : undefined;
            if (a && r && !isSmallOrder(a) && !isSmallOrder(r)) {
                const k = hashToScalar([signature.subarray(0, 32), publicKey, message]);
                const check = add(doubleScalarMul(s, BASE, k, negate(a)), negate(r));
                valid = isIdentity(double(double(double(check))));
            }
        }
    }
    catch {
        valid = false;
    }
    return valid;
}
/** Exposed for tests: whether 32 bytes decode (strictly) to a point of small order. */
export function isSmallOrderEncoding(bytes) {
    const p = bytes.length === PUBLIC_KEY_BYTES ? decodePoint(bytes, 0) : undefined;
    return p !== undefined && isSmallOrder(p);
}
/** Exposed for tests: whether 32 bytes are a canonical encoding of a curve point. */
export function isValidPointEncoding(bytes) {
    return bytes.length === PUBLIC_KEY_BYTES && decodePoint(bytes, 0) !== undefined;
}
//# sourceMappingURL=ed25519.js.map