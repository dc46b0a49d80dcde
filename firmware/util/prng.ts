/*
 * Seeded, deterministic pseudo-random numbers: xoshiro128** 1.1 (Blackman & Vigna, 2018).
 *
 * 128 bits of state in four uint32 words, period 2^128 - 1, passes BigCrush; not for
 * cryptography. Only 32-bit integer operations (`Math.imul`, shifts, `>>> 0`), so it runs the
 * same on XS and on Node and allocates nothing after construction.
 *
 * Seeding from one number: the four state words are the first four outputs of a SplitMix32
 * style generator (golden-ratio increment, MurmurHash3 fmix32 finaliser), so that nearby seeds
 * give unrelated streams and the state is never all zero.
 */

const GOLDEN_GAMMA = 0x9e3779b9;
const FMIX_C1 = 0x85ebca6b;
const FMIX_C2 = 0xc2b2ae35;
/** 2^-32: maps a uint32 onto [0, 1). */
const UINT32_TO_UNIT = 1 / 4294967296;

function fmix32(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), FMIX_C1);
  z = Math.imul(z ^ (z >>> 13), FMIX_C2);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Xoshiro128 {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  /** `seed` is any finite number; only its low 32 bits (as `seed >>> 0`) are used. */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new RangeError(`Xoshiro128: seed must be a finite number, got ${String(seed)}`);
    }
    let x = seed >>> 0;
    x = (x + GOLDEN_GAMMA) >>> 0;
    this.#s0 = fmix32(x);
    x = (x + GOLDEN_GAMMA) >>> 0;
    this.#s1 = fmix32(x);
    x = (x + GOLDEN_GAMMA) >>> 0;
    this.#s2 = fmix32(x);
    x = (x + GOLDEN_GAMMA) >>> 0;
    this.#s3 = fmix32(x);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** A generator with the given raw state words (not all zero), as in the reference C code. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128 {
    const prng = new Xoshiro128(0);
    prng.setState(s0, s1, s2, s3);
    return prng;
  }

  /** Replaces the state; throws a RangeError when all four words are zero (a fixed point). */
  setState(s0: number, s1: number, s2: number, s3: number): void {
    if (((s0 | s1 | s2 | s3) >>> 0) === 0) {
      throw new RangeError('Xoshiro128: the all-zero state is not allowed');
    }
    this.#s0 = s0 >>> 0;
    this.#s1 = s1 >>> 0;
    this.#s2 = s2 >>> 0;
    this.#s3 = s3 >>> 0;
  }

  /** The next uniformly distributed integer in [0, 2^32 - 1]. */
  nextUint32(): number {
    const s1 = this.#s1;
    const times5 = Math.imul(s1, 5);
    const rotated = (times5 << 7) | (times5 >>> 25);
    const result = Math.imul(rotated, 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }

  /** The next uniformly distributed number in [0, 1), in steps of 2^-32 (never 1). */
  next(): number {
    return this.nextUint32() * UINT32_TO_UNIT;
  }
}
