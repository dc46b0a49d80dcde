/*
 * Reconnect backoff: exponential with full jitter, in the style of AWS backoffAlgorithm
 * (FreeRTOS/backoffAlgorithm, `BackoffAlgorithm_GetNextBackoff`), plus a fixed-interval policy
 * with the same functions for comparison.
 *
 * Pure: every function works only on the state object it is given and on its arguments. It
 * never reads a clock, never draws a random number (the caller passes one in, from
 * `host.random.next()`), never sleeps and never allocates. The caller owns the one timer.
 *
 * Full jitter, attempt n = state.attempts (0 for the first retry):
 *   ceilingMs(n) = min(capMs, baseMs * 2^n)
 *   delayMs      = floor(random01 * ceilingMs(n))        uniform over the integers [0, ceilingMs(n) - 1]
 *   attempts     = n + 1
 * Where this matches backoffAlgorithm: the ceiling sequence base, 2 base, 4 base, ... , cap is the
 * same as its `nextJitterMax` (it doubles while below cap / 2, then holds the cap), with one
 * exception: it compares with the integer cap / 2, so for an odd cap reached through
 * (cap - 1) / 2 it jumps straight to the cap where min(cap, base * 2^n) gives cap - 1 for that
 * one attempt. The random value is an argument; `maxAttempts` (0 = retry forever) ends the
 * sequence with a distinct result, like `BackoffAlgorithmRetriesExhausted`.
 * Where it differs: backoffAlgorithm draws from the closed range [0, nextJitterMax] with
 * `randomValue % (nextJitterMax + 1)` on a uint32 (slightly biased, delays in 16-bit ms, so a
 * 65.5 s cap at most); here the draw is the half-open [0, ceiling) from a uniform [0, 1) value, so
 * it has no modulo bias and caps up to 2^31 ms. A base above the cap is clamped to the cap.
 *
 * The same delays apply to every failed attempt, whatever failed: DNS resolution, a refused or
 * reset TCP connection, a TLS handshake, or an MQTT CONNACK refusal.
 *
 * Stable-connection rule: the attempt count (and so the ceiling) goes back to zero only when a
 * connection that came up stayed up for at least `stableMs`. A link that flaps (connects, then
 * drops within `stableMs`) keeps backing off, so a fleet behind a broker that accepts and then
 * drops connections does not retry every second.
 *   noteConnected(state, nowMs)                 the connection is up (after CONNACK)
 *   noteDisconnected(state, nowMs, stableMs)    it went down; returns true when it reset the count
 * `nowMs` is the host's monotonic clock. A clock that appears to go backwards is treated as "not
 * stable" (keep backing off): the conservative choice for the fleet.
 */
/** Defaults from the issue: 1 s base, 300 s cap. */
export const DEFAULT_BASE_MS = 1000;
export const DEFAULT_CAP_MS = 300_000;
/** Fixed retry interval used by ESPHome-style firmware, for comparisons. */
export const DEFAULT_FIXED_INTERVAL_MS = 5000;
/** Largest delay any policy returns (fits a signed 32-bit timer value). */
export const MAX_DELAY_MS = 0x7fffffff;
/** Returned by `nextBackoff` when `maxAttempts` attempts have been used up. */
export const BACKOFF_EXHAUSTED = -1;
/** `connectedSinceMs` while no connection is up. */
export const NOT_CONNECTED = -1;
/** Beyond 2^53 ms every ceiling is the cap; `attempts` saturates here so it never loses precision. */
const MAX_ATTEMPTS_COUNT = 0x7fffffff;
/** 2^31 > MAX_DELAY_MS: from this exponent on, base * 2^n >= cap for every valid base and cap. */
const EXPONENT_LIMIT = 31;
function checkDelay(name, value, min) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_DELAY_MS) {
        throw new RangeError(`backoff: ${name} must be an integer in [${min}, ${MAX_DELAY_MS}], got ${String(value)}`);
    }
}
function checkMaxAttempts(value) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_ATTEMPTS_COUNT) {
        throw new RangeError(`backoff: maxAttempts must be an integer in [0, ${MAX_ATTEMPTS_COUNT}], got ${String(value)}`);
    }
}
/** A full-jitter state; throws a RangeError for a base below 1 ms, a cap below the base, or non-integers. */
export function createBackoff(options = {}) {
    const baseMs = options.baseMs ?? DEFAULT_BASE_MS;
    const capMs = options.capMs ?? DEFAULT_CAP_MS;
    const maxAttempts = options.maxAttempts ?? 0;
    checkDelay('baseMs', baseMs, 1);
    checkDelay('capMs', capMs, baseMs);
    checkMaxAttempts(maxAttempts);
    return { kind: 'fullJitter', attempts: 0, baseMs, capMs, maxAttempts, connectedSinceMs: NOT_CONNECTED };
}
/** A fixed-interval state; throws a RangeError for an interval below 1 ms or a non-integer. */
export function createFixedInterval(options = {}) {
    const intervalMs = options.intervalMs ?? DEFAULT_FIXED_INTERVAL_MS;
    const maxAttempts = options.maxAttempts ?? 0;
    checkDelay('intervalMs', intervalMs, 1);
    checkMaxAttempts(maxAttempts);
    return { kind: 'fixed', attempts: 0, intervalMs, maxAttempts, connectedSinceMs: NOT_CONNECTED };
}
/** The upper bound (exclusive) of the next full-jitter delay, without changing the state. */
export function ceilingMs(state) {
    const cap = state.capMs;
    const base = state.baseMs < cap ? state.baseMs : cap;
    const n = state.attempts;
    if (!(n >= 0))
        return base;
    if (n >= EXPONENT_LIMIT)
        return cap;
    const grown = base * 2 ** n;
    return grown < cap ? grown : cap;
}
/**
 * The delay in ms before the next attempt, and counts the attempt; BACKOFF_EXHAUSTED (-1) when
 * `maxAttempts` (non-zero) attempts were already counted: the state is then left unchanged.
 * `random01` must be in [0, 1) (host.random.next()); anything else throws a RangeError, since
 * it means a broken random source.
 */
export function nextBackoff(state, random01) {
    if (!(random01 >= 0 && random01 < 1)) {
        throw new RangeError(`backoff: random01 must be in [0, 1), got ${String(random01)}`);
    }
    const limit = state.maxAttempts ?? 0;
    if (limit > 0 && state.attempts >= limit)
        return BACKOFF_EXHAUSTED;
    let delayMs;
    if (state.kind === 'fixed') {
        delayMs = state.intervalMs;
    }
    else {
        delayMs = Math.floor(random01 * ceilingMs(state));
    }
    if (state.attempts < MAX_ATTEMPTS_COUNT)
        state.attempts += 1;
    return delayMs;
}
/** Back to the first ceiling (attempt 0). Does not change whether a connection is up. */
export function reset(state) {
    state.attempts = 0;
}
/** The connection is up (the broker accepted it) at `nowMs` (monotonic, >= 0). */
export function noteConnected(state, nowMs) {
    state.connectedSinceMs = nowMs;
}
/**
 * The connection went down at `nowMs`. Resets the attempt count when it had been up for at
 * least `stableMs` and returns true; otherwise keeps the count (the next delay keeps growing)
 * and returns false. Without a matching `noteConnected` it changes nothing and returns false.
 */
export function noteDisconnected(state, nowMs, stableMs) {
    const since = state.connectedSinceMs ?? NOT_CONNECTED;
    state.connectedSinceMs = NOT_CONNECTED;
    if (since === NOT_CONNECTED)
        return false;
    const upMs = nowMs - since;
    if (upMs >= 0 && upMs >= stableMs) {
        state.attempts = 0;
        return true;
    }
    return false;
}
/** Alias of `createBackoff`, the name firmware/uplink/uplink.ts imports. */
export const createBackoffState = createBackoff;
/** Alias of `nextBackoff`, the name firmware/uplink/uplink.ts imports. */
export const nextBackoffDelay = nextBackoff;
//# sourceMappingURL=backoff.js.map