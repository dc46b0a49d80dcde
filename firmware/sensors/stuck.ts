/*
 * Stuck-value detection shared by the sensor drivers: a reading whose raw value (up to three
 * words) has not changed for longer than `stuckMs` on the host's monotonic clock is E_STUCK.
 * `seen` says a value has been recorded since the last `forget()`: drivers that restart the
 * part forget, so the first value after a restart starts a new run. Several raw words go in as
 * one exact number (two 16-bit words as `high * 65536 + low`) or, with `update2`, two.
 *
 *   readonly #stuck = new StuckDetector();
 *   this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
 *   const ms = this.#stuck.update(now, raw);
 *   if (ms) return this.#fault.fail(SensorErrorCode.STUCK, `value unchanged for ${ms} ms`);
 */
import type { FaultReporter } from './fault';

export class StuckDetector {
  /** E_STUCK after this long unchanged, ms; 0 turns the check off. */
  stuckMs = 0;
  /** A value has been recorded since construction or the last `forget()`. */
  seen = false;
  #a = 0;
  #b = 0;
  #changedAt = 0;

  /** Drops the recorded value: the next one starts a new run. */
  forget(): void {
    this.seen = false;
  }

  /**
   * Records the raw value read at `now`. Returns 0 when it changed (or is the first, or the
   * check is off), otherwise how long it has been unchanged when that exceeds `stuckMs`.
   */
  update(now: number, a: number): number {
    if (a !== this.#a || !this.seen) {
      this.seen = true;
      this.#a = a;
      this.#changedAt = now;
      return 0;
    }
    return this.#unchangedMs(now);
  }

  /** `update` for a raw value held in two exact numbers. */
  update2(now: number, a: number, b: number): number {
    if (a !== this.#a || b !== this.#b || !this.seen) {
      this.seen = true;
      this.#a = a;
      this.#b = b;
      this.#changedAt = now;
      return 0;
    }
    return this.#unchangedMs(now);
  }

  #unchangedMs(now: number): number {
    const unchangedMs = now - this.#changedAt;
    return this.stuckMs > 0 && unchangedMs > this.stuckMs ? unchangedMs : 0;
  }
}

/** Validates a `stuckMs` option (E_CONFIG): a duration, and a clock to measure it with. */
export function checkStuckMs(fault: FaultReporter, stuckMs: number, hasClock: boolean): number {
  if (!(typeof stuckMs === 'number' && stuckMs >= 0)) fault.invalid(`stuckMs ${stuckMs}`);
  if (stuckMs > 0 && !hasClock) fault.invalid('stuckMs needs the `now` clock option');
  return stuckMs;
}
