/*
 * Leak detector: a sudden rise of a temperature channel. A steam leak heats the pipe's
 * surroundings within a minute or two; the daily swing of a plant is a few degrees over hours.
 *
 * Rule, per channel: alert when the newest value exceeds the lowest value of the last
 * `windowMs` by at least `riseMilliCelsius`; after an alert the channel is held off for
 * `holdoffMs` (one alert per event, not one per sample). Pure bookkeeping over fixed arrays
 * allocated in the constructor; the caller passes time and value.
 */
export interface SpikeOptions {
  /** Rise that counts as a leak, milli-degrees Celsius (default 5 °C). */
  riseMilliCelsius?: number;
  /** Window the rise must happen within, ms (default 3 minutes). */
  windowMs?: number;
  /** Quiet time after an alert, ms (default 30 minutes). */
  holdoffMs?: number;
  /** Samples remembered per channel; older samples leave the window early (default 32). */
  depth?: number;
}

export class SpikeDetector {
  readonly #rise: number;
  readonly #windowMs: number;
  readonly #holdoffMs: number;
  readonly #depth: number;
  readonly #times: Float64Array;
  readonly #values: Int32Array;
  readonly #count: Uint8Array;
  readonly #next: Uint8Array;
  readonly #quietUntil: Float64Array;
  alerts = 0;

  constructor(channels: number, o: SpikeOptions = {}) {
    this.#rise = o.riseMilliCelsius ?? 5000;
    this.#windowMs = o.windowMs ?? 180_000;
    this.#holdoffMs = o.holdoffMs ?? 1_800_000;
    this.#depth = Math.min(255, Math.max(2, o.depth ?? 32));
    this.#times = new Float64Array(channels * this.#depth);
    this.#values = new Int32Array(channels * this.#depth);
    this.#count = new Uint8Array(channels);
    this.#next = new Uint8Array(channels);
    this.#quietUntil = new Float64Array(channels).fill(-Infinity);
  }

  /** Records a sample; returns true when it is the start of a leak-like rise. */
  update(channel: number, timeMs: number, milliCelsius: number): boolean {
    const depth = this.#depth;
    const base = channel * depth;
    let low = milliCelsius;
    const count = this.#count[channel]!;
    for (let i = 0; i < count; i++) {
      const k = base + i;
      if (timeMs - this.#times[k]! <= this.#windowMs && this.#values[k]! < low) low = this.#values[k]!;
    }
    const slot = this.#next[channel]!;
    this.#times[base + slot] = timeMs;
    this.#values[base + slot] = milliCelsius;
    this.#next[channel] = (slot + 1) % depth;
    if (count < depth) this.#count[channel] = count + 1;
    if (milliCelsius - low < this.#rise || timeMs < this.#quietUntil[channel]!) return false;
    this.#quietUntil[channel] = timeMs + this.#holdoffMs;
    this.alerts++;
    return true;
  }
}
