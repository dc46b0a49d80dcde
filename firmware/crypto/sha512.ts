/*
 * SHA-512 (FIPS 180-4 §6.4), streaming through one fixed 128-byte block buffer. Needed by
 * Ed25519 (RFC 8032 §5.1: SHA-512 of R || A || M).
 *
 * Contract: as sha256.ts: `createSha512()` allocates everything once; `update(bytes)` never
 * allocates; `digest(out?)` writes 64 bytes and finishes the context until `reset()`.
 *
 * 64-bit words are held as (high, low) uint32 pairs: XS has BigInt but every BigInt operation
 * allocates, and this runs over every byte hashed.
 */
import { MdHash } from './md';

export const SHA512_BLOCK_BYTES = 128;
export const SHA512_DIGEST_BYTES = 64;

/** FIPS 180-4 §4.2.3: 80 constants as (high, low) pairs. */
const K = Object.freeze([
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd,
  0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019,
  0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe,
  0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1,
  0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3,
  0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483,
  0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210,
  0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725,
  0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926,
  0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8,
  0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001,
  0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910,
  0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53,
  0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb,
  0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60,
  0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9,
  0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207,
  0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6,
  0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493,
  0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a,
  0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817,
] as const);

/** FIPS 180-4 §5.3.5: initial hash value as (high, low) pairs. */
const H0 = Object.freeze([
  0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b,
  0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1,
  0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f,
  0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179,
] as const);

const TWO32 = 4294967296;

export class Sha512 extends MdHash {
  /** Message schedule: 80 words as (high, low) pairs. */
  private readonly w = new Uint32Array(160);

  constructor() {
    super('sha512', SHA512_BLOCK_BYTES, SHA512_DIGEST_BYTES, 16);
    this.reset();
  }

  protected override initState(): void {
    for (let i = 0; i < 16; i++) this.state[i] = H0[i]!;
  }

  protected override compress(data: Uint8Array, offset: number): void {
    const w = this.w;
    for (let t = 0; t < 32; t++) {
      const o = offset + t * 4;
      w[t] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
    }
    for (let t = 16; t < 80; t++) {
      const xh = w[2 * t - 30]!, xl = w[2 * t - 29]!;
      const yh = w[2 * t - 4]!, yl = w[2 * t - 3]!;
      // sigma0(x) = ROTR1 ^ ROTR8 ^ SHR7
      const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
      const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
      // sigma1(y) = ROTR19 ^ ROTR61 ^ SHR6
      const s1h = ((yh >>> 19) | (yl << 13)) ^ ((yl >>> 29) | (yh << 3)) ^ (yh >>> 6);
      const s1l = ((yl >>> 19) | (yh << 13)) ^ ((yh >>> 29) | (yl << 3)) ^ ((yl >>> 6) | (yh << 26));
      const lo = (w[2 * t - 31]! + (s0l >>> 0) + w[2 * t - 13]! + (s1l >>> 0));
      w[2 * t + 1] = lo;
      w[2 * t] = w[2 * t - 32]! + s0h + w[2 * t - 14]! + s1h + Math.floor(lo / TWO32);
    }
    const s = this.state;
    let ah = s[0]!, al = s[1]!, bh = s[2]!, bl = s[3]!, ch = s[4]!, cl = s[5]!, dh = s[6]!, dl = s[7]!;
    let eh = s[8]!, el = s[9]!, fh = s[10]!, fl = s[11]!, gh = s[12]!, gl = s[13]!, hh = s[14]!, hl = s[15]!;
    for (let t = 0; t < 80; t++) {
      // Sigma1(e) = ROTR14 ^ ROTR18 ^ ROTR41
      const S1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
      const S1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
      const chh = (eh & fh) ^ (~eh & gh);
      const chl = (el & fl) ^ (~el & gl);
      const t1l = (hl >>> 0) + (S1l >>> 0) + (chl >>> 0) + K[2 * t + 1]! + w[2 * t + 1]!;
      const t1h = hh + S1h + chh + K[2 * t]! + w[2 * t]! + Math.floor(t1l / TWO32);
      // Sigma0(a) = ROTR28 ^ ROTR34 ^ ROTR39
      const S0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
      const S0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
      const majh = (ah & bh) ^ (ah & ch) ^ (bh & ch);
      const majl = (al & bl) ^ (al & cl) ^ (bl & cl);
      const t2l = (S0l >>> 0) + (majl >>> 0);
      const t2h = S0h + majh + Math.floor(t2l / TWO32);
      hh = gh;
      hl = gl;
      gh = fh;
      gl = fl;
      fh = eh;
      fl = el;
      const el2 = (dl >>> 0) + (t1l >>> 0);
      eh = (dh + t1h + Math.floor(el2 / TWO32)) | 0;
      el = el2 | 0;
      dh = ch;
      dl = cl;
      ch = bh;
      cl = bl;
      bh = ah;
      bl = al;
      const al2 = (t1l >>> 0) + (t2l >>> 0);
      ah = (t1h + t2h + Math.floor(al2 / TWO32)) | 0;
      al = al2 | 0;
    }
    addTo(s, 0, ah, al);
    addTo(s, 2, bh, bl);
    addTo(s, 4, ch, cl);
    addTo(s, 6, dh, dl);
    addTo(s, 8, eh, el);
    addTo(s, 10, fh, fl);
    addTo(s, 12, gh, gl);
    addTo(s, 14, hh, hl);
  }
}

export function createSha512(): Sha512 {
  return new Sha512();
}

/** One-shot convenience (allocates a context): the digest of `bytes`. */
export function sha512(bytes: Uint8Array): Uint8Array {
  return new Sha512().update(bytes).digest();
}

function addTo(s: Uint32Array, i: number, high: number, low: number): void {
  const lo = s[i + 1]! + (low >>> 0);
  s[i + 1] = lo;
  s[i] = s[i]! + high + Math.floor(lo / TWO32);
}
