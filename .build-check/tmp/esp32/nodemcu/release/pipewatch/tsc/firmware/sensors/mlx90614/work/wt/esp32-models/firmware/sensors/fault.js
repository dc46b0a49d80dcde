/*
 * Fault reporting shared by the sensor drivers. Every fault becomes a SensorError through
 * `onError` and is counted in `counts` (the driver's public `faults`); the read that hit it
 * returns 0, so no number is published. E_NOT_READY is reported the same way (the node logs it
 * as debug) but never counted: it is not an error of the part (errors.ts).
 *
 *   readonly #fault = new FaultReporter('TMP117', options.onError);
 *   readonly faults = this.#fault.counts;
 *   if (bad) return this.#fault.fail(SensorErrorCode.FRAME, 'all-zero frame');
 *
 * A SensorError is built only when there is an `onError` to take it.
 */
import { newFaultCounts, SensorError, SensorErrorCode } from './errors';
export class FaultReporter {
    /** One counter per code, allocated once; E_NOT_READY stays 0. */
    counts = newFaultCounts();
    part;
    #onError;
    constructor(part, onError) {
        this.part = part;
        this.#onError = onError;
    }
    /**
     * Counts `code` (unless it is E_NOT_READY) and reports it; returns 0, the "nothing valid" read
     * result. `channel`: the one channel the fault is about, when the read keeps the others.
     */
    fail(code, message, channel) {
        if (code !== SensorErrorCode.NOT_READY)
            this.counts[code]++;
        this.#onError?.(new SensorError(this.part, code, message, channel));
        return 0;
    }
    /** E_NOT_READY: no value yet (a conversion under way); reported, not counted. Returns 0. */
    notReady(message) {
        this.#onError?.(new SensorError(this.part, SensorErrorCode.NOT_READY, message));
        return 0;
    }
    /** A SensorError of this part, for a constructor or `configure()` to throw. */
    error(code, message) {
        return new SensorError(this.part, code, message);
    }
    /** Throws E_CONFIG: an option the part does not support. */
    invalid(message) {
        throw new SensorError(this.part, SensorErrorCode.CONFIG, message);
    }
}
/** The message of whatever an IO class threw. */
export function messageOf(error) {
    return String(error?.message ?? error);
}
/**
 * Runs the part's set-up on a freshly opened bus handle. On failure the handle is closed (no
 * half-built driver keeps the bus) and the SensorError is rethrown; anything else the IO class
 * threw becomes E_BUS.
 */
export function setUpOrClose(part, io, setUp) {
    try {
        setUp(io);
    }
    catch (error) {
        io.close();
        if (error instanceof SensorError)
            throw error;
        throw new SensorError(part, SensorErrorCode.BUS, messageOf(error));
    }
}
/**
 * Best-effort last command (shutdown, bias off) before releasing the handle: a part that is gone
 * or a bus that is down leaves nothing more to release on it.
 */
export function releaseQuietly(io, last) {
    if (last) {
        try {
            last(io);
        }
        catch {
            // Nothing more to switch off on a part that does not answer.
        }
    }
    io.close();
}
/**
 * 0 when bytes[from..to) are all 00h, 0xff when all FFh (a floating or stuck bus, no part),
 * otherwise -1.
 */
export function uniformFill(bytes, from, to) {
    const first = bytes[from];
    if (first !== 0 && first !== 0xff)
        return -1;
    for (let i = from + 1; i < to; i++)
        if (bytes[i] !== first)
            return -1;
    return first;
}
//# sourceMappingURL=fault.js.map