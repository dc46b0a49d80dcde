import {
  BACKOFF_EXHAUSTED,
  DEFAULT_BASE_MS,
  DEFAULT_CAP_MS,
  MAX_DELAY_MS,
  ceilingMs,
  createBackoff,
  createFixedInterval,
  nextBackoff,
  noteConnected,
  noteDisconnected,
  reset,
  type BackoffState,
} from '../../firmware/uplink/backoff';
import { Xoshiro128 } from '../../firmware/util/prng';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';

/** The largest value `next()` can return: 1 - 2^-32. */
const ALMOST_ONE = 4294967295 / 4294967296;

/**
 * backoffAlgorithm's ceiling sequence, written from its C source as an independent oracle:
 * nextJitterMax starts at the base; after each attempt it doubles while below maxBackoffDelay / 2,
 * otherwise it becomes maxBackoffDelay.
 */
function coreMqttCeilings(base: number, cap: number, count: number): number[] {
  const out: number[] = [];
  let nextJitterMax = base;
  for (let i = 0; i < count; i++) {
    out.push(nextJitterMax);
    if (nextJitterMax < Math.floor(cap / 2)) nextJitterMax += nextJitterMax;
    else nextJitterMax = cap;
  }
  return out;
}

export const tests = {
  'xoshiro128** matches the reference C output for state 1,2,3,4'() {
    // Produced by the reference xoshiro128plusplus.c/xoshiro128starstar.c (prng.di.unimi.it), state {1,2,3,4}.
    const prng = Xoshiro128.fromState(1, 2, 3, 4);
    const first: number[] = [];
    for (let i = 0; i < 8; i++) first.push(prng.nextUint32());
    deepEqual(first, [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
    for (let i = 0; i < 992; i++) prng.nextUint32();
    equal(prng.nextUint32(), 136054147, 'output 1001');
  },

  'xoshiro128** is deterministic per seed and seeds give different streams'() {
    const a = new Xoshiro128(42);
    const b = new Xoshiro128(42);
    const c = new Xoshiro128(43);
    let same = 0;
    for (let i = 0; i < 1000; i++) {
      const x = a.nextUint32();
      equal(x, b.nextUint32(), `draw ${i}`);
      if (x === c.nextUint32()) same++;
    }
    ok(same < 3, `seeds 42 and 43 agree on ${same} of 1000 draws`);
    equal(new Xoshiro128(2 ** 32 + 7).nextUint32(), new Xoshiro128(7).nextUint32(), 'only the low 32 bits of the seed count');
  },

  'xoshiro128** next() is in [0, 1) and uniform'() {
    const prng = new Xoshiro128(1);
    const buckets = new Array<number>(16).fill(0);
    let sum = 0;
    const draws = 32000;
    for (let i = 0; i < draws; i++) {
      const x = prng.next();
      ok(x >= 0 && x < 1, `draw ${x} out of range`);
      sum += x;
      buckets[Math.floor(x * 16)]! += 1;
    }
    near(sum / draws, 0.5, 0.01, 'mean');
    let chi2 = 0;
    const expected = draws / 16;
    for (const count of buckets) chi2 += ((count - expected) * (count - expected)) / expected;
    ok(chi2 < 37.7, `chi-square ${chi2} over 16 buckets (df 15, p = 0.001 limit 37.7)`);
    const u = prng.nextUint32();
    ok(Number.isInteger(u) && u >= 0 && u <= 0xffffffff, 'nextUint32 is a uint32');
  },

  'xoshiro128** rejects bad seeds and the all-zero state'() {
    throws(() => new Xoshiro128(Number.NaN), /seed/);
    throws(() => new Xoshiro128(Infinity), /seed/);
    throws(() => Xoshiro128.fromState(0, 0, 0, 0), /all-zero/);
    throws(() => Xoshiro128.fromState(2 ** 32, 0, 0, 0), /all-zero/, 'words are taken modulo 2^32');
    ok(new Xoshiro128(0).nextUint32() >= 0, 'seed 0 is fine');
  },

  'defaults are 1 s base and 300 s cap, retry forever'() {
    const state = createBackoff();
    equal(state.baseMs, DEFAULT_BASE_MS);
    equal(state.baseMs, 1000);
    equal(state.capMs, DEFAULT_CAP_MS);
    equal(state.capMs, 300_000);
    equal(state.attempts, 0);
    for (let i = 0; i < 1000; i++) ok(nextBackoff(state, 0.5) >= 0, 'never exhausted');
  },

  'the ceiling sequence is the backoffAlgorithm one'() {
    for (const [base, cap] of [
      [1000, 300_000],
      [500, 60_000],
      [1, 4],
      [7, 7],
      [1000, 1999],
      [3, MAX_DELAY_MS],
    ] as const) {
      const state = createBackoff({ baseMs: base, capMs: cap });
      const ceilings: number[] = [];
      for (let i = 0; i < 40; i++) {
        ceilings.push(ceilingMs(state));
        nextBackoff(state, 0);
      }
      deepEqual(ceilings, coreMqttCeilings(base, cap, 40), `base ${base} cap ${cap}`);
    }
  },

  'the one documented difference: an odd cap reached through (cap - 1) / 2'() {
    // backoffAlgorithm compares with the integer cap / 2 and so jumps from (cap - 1) / 2 straight
    // to the cap; min(cap, base * 2^n) goes to cap - 1 first. One ms, at one attempt.
    deepEqual(coreMqttCeilings(1, 3, 3), [1, 3, 3]);
    const state = createBackoff({ baseMs: 1, capMs: 3 });
    const ceilings: number[] = [];
    for (let i = 0; i < 3; i++) {
      ceilings.push(ceilingMs(state));
      nextBackoff(state, 0);
    }
    deepEqual(ceilings, [1, 2, 3]);
  },

  'full jitter: delay = floor(random01 * ceiling), in [0, ceiling)'() {
    const state = createBackoff();
    equal(nextBackoff(state, 0), 0, 'random 0 gives 0');
    equal(state.attempts, 1);
    equal(nextBackoff(state, ALMOST_ONE), 1999, 'the largest random value gives ceiling - 1');
    equal(nextBackoff(state, 0.5), 2000, 'half of the 4 s ceiling');
    equal(nextBackoff(state, 0.123456), Math.floor(0.123456 * 8000));
    const prng = new Xoshiro128(7);
    const fresh = createBackoff({ baseMs: 250, capMs: 10_000 });
    for (let i = 0; i < 2000; i++) {
      const ceiling = ceilingMs(fresh);
      const delay = nextBackoff(fresh, prng.next());
      ok(Number.isInteger(delay) && delay >= 0 && delay < ceiling, `delay ${delay} not in [0, ${ceiling})`);
      if (i % 13 === 12) reset(fresh);
    }
  },

  'full jitter is uniform over [0, ceiling) with a seeded PRNG'() {
    const prng = new Xoshiro128(2024);
    const state = createBackoff();
    const draws = 20000;
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    for (let i = 0; i < draws; i++) {
      state.attempts = 3;
      const delay = nextBackoff(state, prng.next());
      sum += delay;
      buckets[Math.floor(delay / 800)]! += 1;
    }
    near(sum / draws, 4000, 4000 * 0.02, 'mean of uniform [0, 8000)');
    let chi2 = 0;
    for (const count of buckets) chi2 += ((count - draws / 10) ** 2) / (draws / 10);
    ok(chi2 < 27.9, `chi-square ${chi2} over 10 buckets (df 9, p = 0.001 limit 27.9)`);
  },

  'the cap holds for ever'() {
    const prng = new Xoshiro128(99);
    const state = createBackoff({ baseMs: 1000, capMs: 300_000 });
    let largest = 0;
    for (let i = 0; i < 5000; i++) {
      const delay = nextBackoff(state, prng.next());
      ok(delay < 300_000, `delay ${delay} at attempt ${i}`);
      if (delay > largest) largest = delay;
    }
    ok(largest > 299_000, `the cap is reached (largest ${largest})`);
    equal(ceilingMs(state), 300_000);
  },

  'huge attempt counts neither overflow nor lose the cap'() {
    const state: BackoffState = { attempts: 0x7fffffff, baseMs: 1000, capMs: 300_000 };
    equal(ceilingMs(state), 300_000);
    equal(nextBackoff(state, ALMOST_ONE), 299_999);
    equal(state.attempts, 0x7fffffff, 'the count saturates');
    state.attempts = 1e300;
    equal(ceilingMs(state), 300_000);
    state.attempts = 1023;
    equal(ceilingMs(state), 300_000, '2^1023 * base is finite but over the cap');
    state.attempts = 1024;
    equal(ceilingMs(state), 300_000, '2^1024 is Infinity in doubles');
    const widest = createBackoff({ baseMs: MAX_DELAY_MS, capMs: MAX_DELAY_MS });
    for (let i = 0; i < 40; i++) ok(nextBackoff(widest, ALMOST_ONE) === MAX_DELAY_MS - 1);
    const literal: BackoffState = { attempts: 0, baseMs: 1000, capMs: 300_000 };
    equal(nextBackoff(literal, 0.5), 500, 'a plain literal state works');
  },

  'maxAttempts ends the sequence with BACKOFF_EXHAUSTED and leaves the state'() {
    const state = createBackoff({ maxAttempts: 3 });
    ok(nextBackoff(state, 0.1) >= 0);
    ok(nextBackoff(state, 0.1) >= 0);
    ok(nextBackoff(state, 0.1) >= 0);
    equal(nextBackoff(state, 0.1), BACKOFF_EXHAUSTED);
    equal(BACKOFF_EXHAUSTED, -1);
    equal(state.attempts, 3);
    reset(state);
    ok(nextBackoff(state, 0.1) >= 0, 'reset starts a new sequence');
  },

  'random01 outside [0, 1) is a RangeError'() {
    const state = createBackoff();
    for (const bad of [Number.NaN, 1, -0.001, 2, Infinity]) {
      throws(() => nextBackoff(state, bad), /random01/, String(bad));
    }
    equal(state.attempts, 0, 'a rejected call counts nothing');
  },

  'bad options are RangeErrors'() {
    throws(() => createBackoff({ baseMs: 0 }), /baseMs/);
    throws(() => createBackoff({ baseMs: 1.5 }), /baseMs/);
    throws(() => createBackoff({ baseMs: 1000, capMs: 999 }), /capMs/);
    throws(() => createBackoff({ capMs: MAX_DELAY_MS + 1 }), /capMs/);
    throws(() => createBackoff({ maxAttempts: -1 }), /maxAttempts/);
    throws(() => createFixedInterval({ intervalMs: 0 }), /intervalMs/);
    throws(() => createFixedInterval({ intervalMs: Number.NaN }), /intervalMs/);
  },

  'reset only after the connection stayed up for stableMs'() {
    const stableMs = 60_000;
    const state = createBackoff();
    for (let i = 0; i < 6; i++) nextBackoff(state, 0.3);
    equal(state.attempts, 6);
    equal(noteDisconnected(state, 5000, stableMs), false, 'no connection was up');
    equal(state.attempts, 6);

    noteConnected(state, 10_000);
    equal(noteDisconnected(state, 10_000 + stableMs - 1, stableMs), false, 'one ms short of stable');
    equal(state.attempts, 6, 'a flapping link keeps its backoff');
    nextBackoff(state, 0.3);
    equal(state.attempts, 7);

    noteConnected(state, 100_000);
    equal(noteDisconnected(state, 100_000 + stableMs, stableMs), true, 'exactly stableMs is stable');
    equal(state.attempts, 0);
    equal(ceilingMs(state), 1000);

    nextBackoff(state, 0.3);
    equal(noteDisconnected(state, 999_999, stableMs), false, 'a second disconnect without connect changes nothing');
    equal(state.attempts, 1);

    noteConnected(state, 500_000);
    equal(noteDisconnected(state, 400_000, stableMs), false, 'a clock going backwards is not stable');
    equal(state.attempts, 1);

    noteConnected(state, 0);
    equal(noteDisconnected(state, 0, 0), true, 'stableMs 0 always resets');
  },

  'fixed interval: same functions, always the interval, ignores the random value'() {
    const state = createFixedInterval({ intervalMs: 5000, maxAttempts: 4 });
    equal(nextBackoff(state, 0), 5000);
    equal(nextBackoff(state, ALMOST_ONE), 5000);
    equal(nextBackoff(state, 0.5), 5000);
    equal(nextBackoff(state, 0.5), 5000);
    equal(nextBackoff(state, 0.5), BACKOFF_EXHAUSTED);
    noteConnected(state, 1000);
    equal(noteDisconnected(state, 2000, 1000), true);
    equal(state.attempts, 0);
    equal(createFixedInterval().intervalMs, 5000, 'default 5 s');
    throws(() => nextBackoff(state, Number.NaN), /random01/, 'the random value is still checked');
  },
};
