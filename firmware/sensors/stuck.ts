/*
 * Stuck-value detection shared by the sensor drivers: a reading whose raw value (up to three
 * words) has not changed for longer than `stuckMs` on the host's monotonic clock is E_STUCK.
 * `seen` says a value has been recorded since the last `forget()`: drivers that restart the
 * part forget, so the first value after a restart starts a new run.
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
  #seen = false;
  #a = 0;
  #b = 0;
  #c = 0;
  #changedAt = 0;

  /** A value has been recorded since construction or the last `forget()`. */
  get seen(): boolean {
    return this.#seen;
  }

  /** Drops the recorded value: the next one starts a new run. */
  forget(): void {
    this.#seen = false;
  }

  /**
   * Records the raw value read at `now`. Returns 0 when it changed (or is the first, or the
   * check is off), otherwise how long it has been unchanged when that exceeds `stuckMs`.
   */
  update(now: number, a: number, b = 0, c = 0): number {
    if (!this.#seen || a !== this.#a || b !== this.#b || c !== this.#c) {
      this.#seen = true;
      this.#a = a;
      this.#b = b;
      this.#c = c;
      this.#changedAt = now;
      return 0;
    }
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
