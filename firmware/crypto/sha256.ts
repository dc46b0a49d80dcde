/*
 * SHA-256 (FIPS 180-4 §6.2), streaming through one fixed 64-byte block buffer.
 *
 * Contract
 * - `createSha256()` allocates the whole context once (state, block, message schedule).
 * - `update(bytes)` never buffers more than one block and never allocates.
 * - `digest(out?)` pads, writes the 32-byte digest into `out` (or a new array) and leaves the
 *   context finished: `update`/`digest` then throw until `reset()`.
 * - `exportState(out)` / `importState(bytes)` save and restore the context at a block boundary
 *   (40 bytes: 8 state words big-endian, then the byte count as two big-endian uint32) so a
 *   download can resume hashing after a reboot. Exporting mid-block returns false; importing
 *   a malformed state returns false and leaves the context reset.
 *
 * Written here instead of taken from @noble/hashes: the same structure (one block buffer,
 * DataView-free word loads) but no classes with static initialisers, which the XS build used by
 * the tests cannot initialise (see ed25519.ts). On Moddable hardware a manifest may map this
 * module to one built on the native `Digest("SHA256")` with the same four methods.
 */
import { MdHash, readUint32BE, writeUint32BE } from './md';

export const SHA256_BLOCK_BYTES = 64;
export const SHA256_DIGEST_BYTES = 32;
export const SHA256_STATE_BYTES = 40;

/** FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Object.freeze([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
] as const);

/** FIPS 180-4 §5.3.3: initial hash value. */
const H0 = Object.freeze([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
] as const);

export class Sha256 extends MdHash {
  private readonly w = new Uint32Array(64);

  constructor() {
    super('sha256', SHA256_BLOCK_BYTES, SHA256_DIGEST_BYTES, 8);
    this.reset();
  }

  protected override initState(): void {
    for (let i = 0; i < 8; i++) this.state[i] = H0[i]!;
  }

  /** Writes the state at a block boundary into `out` (40 bytes); false mid-block or when finished. */
  exportState(out: Uint8Array): boolean {
    if (this.finished || this.used !== 0 || out.length < SHA256_STATE_BYTES) return false;
    for (let i = 0; i < 8; i++) writeUint32BE(out, i * 4, this.state[i]!);
    writeUint32BE(out, 32, Math.floor(this.byteCount / 0x100000000));
    writeUint32BE(out, 36, this.byteCount >>> 0);
    return true;
  }

  /** Restores a state written by `exportState`; false (and a reset context) when malformed. */
  importState(bytes: Uint8Array): boolean {
    this.reset();
    if (bytes.length !== SHA256_STATE_BYTES) return false;
    const high = readUint32BE(bytes, 32);
    const count = high * 0x100000000 + readUint32BE(bytes, 36);
    if (count % SHA256_BLOCK_BYTES !== 0 || count > Number.MAX_SAFE_INTEGER) return false;
    for (let i = 0; i < 8; i++) this.state[i] = readUint32BE(bytes, i * 4);
    this.byteCount = count;
    return true;
  }

  protected override compress(data: Uint8Array, offset: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const o = offset + t * 4;
      w[t] = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
    }
    const s = this.state;
    let a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!, e = s[4]!, f = s[5]!, g = s[6]!, h = s[7]!;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] = s[0]! + a;
    s[1] = s[1]! + b;
    s[2] = s[2]! + c;
    s[3] = s[3]! + d;
    s[4] = s[4]! + e;
    s[5] = s[5]! + f;
    s[6] = s[6]! + g;
    s[7] = s[7]! + h;
  }
}

export function createSha256(): Sha256 {
  return new Sha256();
}

/** One-shot convenience (allocates a context): the digest of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Sha256().update(bytes).digest();
}
