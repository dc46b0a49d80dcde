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
 * - No operation throws: a device fault is counted (`stats.failed` for appends, `stats.faults`
 *   for every absorbed fault); a peek returns what it could read, an acknowledgement that could
 *   not be written leaves the readings pending (they are sent again).
 * - `peek(out, max)` fills `out[0..n)` with the oldest unacknowledged readings in sequence
 *   order and returns n. The objects in `out` are reused: the caller allocates them once.
 *   With `alertsOnly`, only unacknowledged alerts are returned (they go ahead of the backlog).
 * - `acknowledge(seq)` marks one reading delivered; `acknowledgeThrough(seq)` every reading
 *   with a sequence number up to and including seq. Acknowledged readings are never returned
 *   again (for a durable store: not even after a reboot).
 */

/** What a value measures; the unit is fixed per kind. */
export const ReadingKind = Object.freeze({
  /** Temperature in milli-degrees Celsius. */
  milliCelsius: 0,
  /** Relative humidity in milli-percent RH. */
  milliPercentRH: 1,
  /** Pressure in pascal. */
  pascal: 2,
} as const);
export type ReadingKindValue = (typeof ReadingKind)[keyof typeof ReadingKind];

export interface Reading {
  seq: number;
  /** Wall-clock ms since the Unix epoch when `synced`, else monotonic ms since boot. */
  timeMs: number;
  synced: boolean;
  /** Sensor channel index on this node, 0..255. */
  channel: number;
  kind: ReadingKindValue;
  /** Fixed-point value in the kind's unit (an int32). */
  value: number;
  alert: boolean;
}

export type NewReading = Omit<Reading, 'seq'>;

export interface StoreStats {
  appended: number;
  /** Readings dropped (oldest first) because the store was full. */
  dropped: number;
  /** Appends that failed outright (device fault, or a reading outside the format). */
  failed: number;
  /** Device operations that threw and were absorbed (durable stores; the store went on). */
  faults?: number;
  /** The last such fault, for the log and health reports. */
  lastFault?: string;
}

export interface ReadingStore {
  append(reading: NewReading): number;
  peek(out: Reading[], max: number, alertsOnly?: boolean): number;
  acknowledge(seq: number): void;
  acknowledgeThrough(seq: number): void;
  /** Unacknowledged readings held. */
  readonly pending: number;
  readonly stats: StoreStats;
}

export function newReading(): Reading {
  return { seq: 0, timeMs: 0, synced: false, channel: 0, kind: 0, value: 0, alert: false };
}

export function copyReading(to: Reading, from: Reading): void {
  to.seq = from.seq;
  to.timeMs = from.timeMs;
  to.synced = from.synced;
  to.channel = from.channel;
  to.kind = from.kind;
  to.value = from.value;
  to.alert = from.alert;
}
