export class StuckDetector {
    /** E_STUCK after this long unchanged, ms; 0 turns the check off. */
    stuckMs = 0;
    /** A value has been recorded since construction or the last `forget()`. */
    seen = false;
    #a = 0;
    #b = 0;
    #changedAt = 0;
    /** Drops the recorded value: the next one starts a new run. */
    forget() {
        this.seen = false;
    }
    /**
     * Records the raw value read at `now`. Returns 0 when it changed (or is the first, or the
     * check is off), otherwise how long it has been unchanged when that exceeds `stuckMs`.
     */
    update(now, a) {
        if (a !== this.#a || !this.seen) {
            this.seen = true;
            this.#a = a;
            this.#changedAt = now;
            return 0;
        }
        return this.#unchangedMs(now);
    }
    /** `update` for a raw value held in two exact numbers. */
    update2(now, a, b) {
        if (a !== this.#a || b !== this.#b || !this.seen) {
            this.seen = true;
            this.#a = a;
            this.#b = b;
            this.#changedAt = now;
            return 0;
        }
        return this.#unchangedMs(now);
    }
    #unchangedMs(now) {
        const unchangedMs = now - this.#changedAt;
        return this.stuckMs > 0 && unchangedMs > this.stuckMs ? unchangedMs : 0;
    }
}
/** Validates a `stuckMs` option (E_CONFIG): a duration, and a clock to measure it with. */
export function checkStuckMs(fault, stuckMs, hasClock) {
    if (!(typeof stuckMs === 'number' && stuckMs >= 0))
        fault.invalid(`stuckMs ${stuckMs}`);
    if (stuckMs > 0 && !hasClock)
        fault.invalid('stuckMs needs the `now` clock option');
    return stuckMs;
}
//# sourceMappingURL=stuck.js.map