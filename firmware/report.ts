/*
 * Report by exception (docs/payload.md, "Report by exception"): the node samples at the rate the
 * leak detector needs and publishes a channel's reading only when
 * - it moved by more than the channel's `deadband` since the last published reading, or
 * - `maxIntervalMs` passed since the last published reading (a heartbeat value), or
 * - it is an alert or a clear, or the first valid reading (at boot, after a fault).
 * A consumer may infer that between two published readings the channel stayed within the
 * deadband of the first (and that no more than `maxIntervalMs` passes without a reading while the
 * sensor answers). A published reading keeps the no-loss rule: it is stored, sent with QoS 1 and
 * removed only after its PUBACK, like every reading.
 *
 * Without a deadband (the default) every sample is published: today's behaviour.
 *
 * Fixed memory: typed arrays per channel, allocated once. `save`/`restore` keep the filter in the
 * retained memory across deep sleep (firmware/power.ts).
 */

export interface ReportChannelOptions {
  /** Publish when the value moved by more than this, in the channel's unit (m°C, m%RH, Pa); 0 or absent: every sample. */
  deadband?: number;
  /** Publish at least this often, ms (default 15 min; 1 s .. 7 days). */
  maxIntervalMs?: number;
}

export interface ReportOptions extends ReportChannelOptions {
  /** `channels[c]` overrides the options above for channel c. */
  channels?: Array<ReportChannelOptions | undefined>;
}

export const DEFAULT_MAX_INTERVAL_MS = 15 * 60_000;

function check(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`report: ${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export class ReportFilter {
  readonly channels: number;
  readonly #deadband: Float64Array;
  readonly #maxInterval: Float64Array;
  /** Last published value and time (monotonic ms) per channel; `#have[c]` 0 until the first. */
  readonly #value: Float64Array;
  readonly #time: Float64Array;
  readonly #have: Uint8Array;
  /** Samples the filter held back (not published, within the deadband). */
  suppressed = 0;

  /** Throws RangeError on an option out of range, before anything is allocated. */
  constructor(channels: number, options: ReportOptions = {}) {
    const deadband = new Float64Array(channels);
    const maxInterval = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const o = { ...options, ...options.channels?.[c] };
      deadband[c] = check(o.deadband, 'deadband', 0, 1e9, 0);
      maxInterval[c] = check(o.maxIntervalMs, 'maxIntervalMs', 1000, 7 * 86_400_000, DEFAULT_MAX_INTERVAL_MS);
    }
    this.channels = channels;
    this.#deadband = deadband;
    this.#maxInterval = maxInterval;
    this.#value = new Float64Array(channels);
    this.#time = new Float64Array(channels);
    this.#have = new Uint8Array(channels);
  }

  /** True when some channel has a deadband (report by exception is on). */
  get active(): boolean {
    for (let c = 0; c < this.channels; c++) if (this.#deadband[c]! > 0) return true;
    return false;
  }

  /**
   * Decides whether the sample is published; `urgent` (an alert or a clear) always is. A
   * published sample becomes the reference for the deadband and the interval.
   */
  decide(channel: number, timeMs: number, value: number, urgent: boolean): boolean {
    if (channel < 0 || channel >= this.channels) return true;
    const band = this.#deadband[channel]!;
    const publish = urgent || band <= 0 || this.#have[channel] === 0
      || Math.abs(value - this.#value[channel]!) > band
      || timeMs - this.#time[channel]! >= this.#maxInterval[channel]!;
    if (!publish) {
      this.suppressed++;
      return false;
    }
    this.#have[channel] = 1;
    this.#value[channel] = value;
    this.#time[channel] = timeMs;
    return true;
  }

  /** The channel had no valid reading: its next valid one is published. */
  forget(channel: number): void {
    if (channel >= 0 && channel < this.channels) this.#have[channel] = 0;
  }

  /** Every channel's next valid reading is published (a clean start; `suppressed` keeps counting). */
  reset(): void {
    for (let c = 0; c < this.channels; c++) this.#have[c] = 0;
  }

  /** Bytes `save` writes for this filter. */
  get byteLength(): number {
    return 4 + this.channels * 17;
  }

  save(view: DataView, offset: number): void {
    view.setUint32(offset, this.suppressed, true);
    let p = offset + 4;
    for (let c = 0; c < this.channels; c++, p += 17) {
      view.setFloat64(p, this.#value[c]!, true);
      view.setFloat64(p + 8, this.#time[c]!, true);
      view.setUint8(p + 16, this.#have[c]!);
    }
  }

  restore(view: DataView, offset: number): void {
    this.suppressed = view.getUint32(offset, true);
    let p = offset + 4;
    for (let c = 0; c < this.channels; c++, p += 17) {
      this.#value[c] = view.getFloat64(p, true);
      this.#time[c] = view.getFloat64(p + 8, true);
      this.#have[c] = view.getUint8(p + 16) === 1 ? 1 : 0;
    }
  }
}
