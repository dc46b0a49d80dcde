/*
 * The outbox contract: where the sampler puts readings and where the uplink takes them from.
 * Two implementations: `RamStore` (firmware/outbox.ts, volatile, for nodes without a cache
 * partition) and the flash ring cache (firmware/cache/), which is durable across reboots.
 *
 * Contract
 * - `append` assigns the sequence number: strictly increasing per device, never reused, also
 *   across reboots for a durable store. It never throws because the store is full: it drops the
 *   oldest non-alert reading (alerts last), counts it in `stats.dropped`, and still appends.
 *   It returns the new sequence number, or -1 when the reading could not be stored at all
 *   (a device fault; counted in `stats.failed`).
 * - `peek(out, max)` fills `out[0..n)` with the oldest unacknowledged readings in sequence
 *   order and returns n. The objects in `out` are reused: the caller allocates them once.
 *   With `alertsOnly`, only unacknowledged alerts are returned (they go ahead of the backlog).
 * - `acknowledge(seq)` marks one reading delivered; `acknowledgeThrough(seq)` every reading
 *   with a sequence number up to and including seq. Acknowledged readings are never returned
 *   again (for a durable store: not even after a reboot).
 */
/** What a value measures; the unit is fixed per kind. */
export const ReadingKind = {
    /** Temperature in milli-degrees Celsius. */
    milliCelsius: 0,
    /** Relative humidity in milli-percent RH. */
    milliPercentRH: 1,
    /** Pressure in pascal. */
    pascal: 2,
};
export function newReading() {
    return { seq: 0, timeMs: 0, synced: false, channel: 0, kind: 0, value: 0, alert: false };
}
export function copyReading(to, from) {
    to.seq = from.seq;
    to.timeMs = from.timeMs;
    to.synced = from.synced;
    to.channel = from.channel;
    to.kind = from.kind;
    to.value = from.value;
    to.alert = from.alert;
}
//# sourceMappingURL=store.js.map