/*
 * Leak detector: the edge rule a node runs on each temperature channel (docs/leaks.md).
 *
 * A steam leak heats the pipe's surroundings: a large jet by tens of °C within a minute, a small
 * seep by a few °C over ten minutes or more. The plant's own changes are slower (the daily swing,
 * a few °C over hours) or are shared by a whole line (a restart; the fleet module tells those
 * apart, see tools/fleet/incidents.ts). Per channel, per sample:
 *
 * - baseline: an EWMA of the channel (time constant `baselineMs`, 30 min; a door draught's
 *   dip of a few minutes moves it little, so the return is no rise). While the channel is more than
 *   `freezeMilliCelsius` above it, or alerted, it moves with the slow `baselineAlertMs` (2 h),
 *   so a rise is measured against the level before it, and a lasting new level is accepted in
 *   the end. A step of more than `glitchMilliCelsius` moves it by that much at most.
 * - rate rule: the least-squares slope over the last `windowSamples` samples is at least
 *   `slopeMilliCelsiusPerMinute` and the channel at least half of `riseMilliCelsius` above
 *   baseline on `confirmSamples` consecutive samples, the last of them fully `riseMilliCelsius`.
 * - CUSUM rule (small persistent rises): S += (min(rise, cap) - slack) x minutes since the last
 *   sample, never below 0; fires when S reaches `cusumLimitMilliCelsiusMinutes`.
 * - Either rule must hold on `confirmSamples` consecutive samples (one glitch never alerts); for
 *   the CUSUM rule the channel is at least `cusumSlackMilliCelsius` above baseline on each.
 * - An alerted channel clears (event `cleared`) when it is back within `clearMilliCelsius` of
 *   its baseline for `confirmSamples` samples; it may alert again when cleared and `holdoffMs`
 *   after its last alert.
 * - recovery: the channel remembers its operating level (it follows the baseline up at once and
 *   down with `operatingMs`, 12 h). When the value falls more than `recoveryMilliCelsius`
 *   below it (a steam line shut down), the channel is recovering: its baseline follows the value
 *   back up to the operating level at once, so a restart is not a rise; only a rise above the
 *   old operating level counts. Recovery ends when the value is back within half of
 *   `recoveryMilliCelsius` of that level and steady (slope under 500 m°C/min; the value becomes
 *   the baseline), or after `recoveryHoldMs` (the new level is accepted).
 * - A sensor fault (`fault()`: no valid reading, a power-on or stuck value refused by the driver)
 *   cancels any confirmation under way and the next `guardSamples` samples confirm nothing; a
 *   gap of more than `maxGapMs` or the first sample starts the channel again (baseline = value,
 *   no alert for `windowSamples` samples).
 *
 * Fixed memory: typed arrays allocated in the constructor, nothing allocated per sample. After an
 * `alert` or `cleared` event the evidence is in `rule`, `riseMilliCelsius`,
 * `slopeMilliCelsiusPerMinute` and `baselineMilliCelsius` until the next update.
 */

/** What `update()` returns. */
export const DetectEvent = Object.freeze({ none: 0, alert: 1, cleared: 2 } as const);
export type DetectEventValue = (typeof DetectEvent)[keyof typeof DetectEvent];

/** Which rule fired (`rule` after an alert). */
export const DetectRule = Object.freeze({ none: 0, rate: 1, cusum: 2 } as const);
export type DetectRuleValue = (typeof DetectRule)[keyof typeof DetectRule];
export const RULE_NAMES: readonly string[] = Object.freeze(['none', 'rate', 'cusum']);

export interface LeakOptions {
  /** Rate rule: rise over baseline, m°C (default 5000). */
  riseMilliCelsius?: number;
  /** Rate rule: least-squares slope, m°C per minute (default 1000). */
  slopeMilliCelsiusPerMinute?: number;
  /** Samples in the slope window, 3..32 (default 6: one minute at 10 s sampling). */
  windowSamples?: number;
  /** CUSUM: rise over baseline that counts nothing, m°C (default 2000). */
  cusumSlackMilliCelsius?: number;
  /** CUSUM: alarm level, m°C x minutes (default 6000: 1 °C above the slack for 6 minutes). */
  cusumLimitMilliCelsiusMinutes?: number;
  /** CUSUM: a rise counts at most this much, m°C (default 8000; a glitch adds little). */
  cusumCapMilliCelsius?: number;
  /** Consecutive samples a rule must hold (default 2). */
  confirmSamples?: number;
  /** Clear when back within this of baseline, m°C (default 1500). */
  clearMilliCelsius?: number;
  /** No second alert within this of the last, ms (default 10 minutes). */
  holdoffMs?: number;
  /** Baseline time constant, ms (default 30 minutes). */
  baselineMs?: number;
  /** Baseline time constant above baseline + freeze and while alerted, ms (default 2 hours). */
  baselineAlertMs?: number;
  /** Above baseline by more than this the baseline moves slowly, m°C (default 1000). */
  freezeMilliCelsius?: number;
  /** Largest step a single sample moves the baseline by, m°C (default 5000). */
  glitchMilliCelsius?: number;
  /** Samples after a fault that confirm nothing (default 2). */
  guardSamples?: number;
  /** A longer gap between samples starts the channel again, ms (default 5 minutes). */
  maxGapMs?: number;
  /** A baseline this far below the operating level is a shutdown: recovery, m°C (default 10000). */
  recoveryMilliCelsius?: number;
  /** Time constant of the operating level going down, ms (default 12 hours). */
  operatingMs?: number;
  /** Longest recovery; then the new level is accepted, ms (default 24 hours). */
  recoveryHoldMs?: number;
}

/** The defaults, documented in docs/leaks.md. */
export const LEAK_DEFAULTS: Readonly<Required<LeakOptions>> = Object.freeze({
  riseMilliCelsius: 5000,
  slopeMilliCelsiusPerMinute: 1000,
  windowSamples: 6,
  cusumSlackMilliCelsius: 2000,
  cusumLimitMilliCelsiusMinutes: 6000,
  cusumCapMilliCelsius: 8000,
  confirmSamples: 2,
  clearMilliCelsius: 1500,
  holdoffMs: 600_000,
  baselineMs: 1_800_000,
  baselineAlertMs: 7_200_000,
  freezeMilliCelsius: 1000,
  glitchMilliCelsius: 5000,
  guardSamples: 2,
  maxGapMs: 300_000,
  recoveryMilliCelsius: 10_000,
  operatingMs: 43_200_000,
  recoveryHoldMs: 86_400_000,
});

const MAX_WINDOW = 32;
/** Per-channel parameters, in this order, in one Float64Array row. */
const P_RISE = 0, P_SLOPE = 1, P_SLACK = 2, P_LIMIT = 3, P_CAP = 4, P_CONFIRM = 5, P_CLEAR = 6, P_HOLDOFF = 7,
  P_BASE = 8, P_BASE_ALERT = 9, P_FREEZE = 10, P_GLITCH = 11, P_GUARD = 12, P_GAP = 13, P_WINDOW = 14,
  P_RECOVERY = 15, P_OPERATING = 16, P_RECOVERY_HOLD = 17, P_COUNT = 18;
const SETTLED_SLOPE = 500;

function check(o: LeakOptions, key: keyof LeakOptions, min: number, max: number): number {
  const v = o[key] ?? LEAK_DEFAULTS[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`leak detector: ${key} must be a number in ${min}..${max}, got ${String(v)}`);
  }
  return v;
}

export class LeakDetector {
  readonly channels: number;
  readonly #p: Float64Array;
  readonly #times: Float64Array;
  readonly #values: Int32Array;
  readonly #count: Uint8Array;
  readonly #next: Uint8Array;
  readonly #baseline: Float64Array;
  readonly #cusum: Float64Array;
  readonly #last: Float64Array;
  readonly #lastAlert: Float64Array;
  readonly #rateRun: Uint8Array;
  readonly #cusumRun: Uint8Array;
  readonly #clearRun: Uint8Array;
  readonly #guard: Uint8Array;
  readonly #alerted: Uint8Array;
  readonly #operating: Float64Array;
  readonly #recoverySince: Float64Array;
  readonly #recovering: Uint8Array;
  /** The per-channel state arrays, in `saveState` order. */
  readonly #stateF64: Float64Array[];
  readonly #stateU8: Uint8Array[];
  /** Alerts raised, cleared, and faults noted, all channels. */
  alerts = 0;
  clears = 0;
  faults = 0;
  /** Evidence of the last `alert` or `cleared` event. */
  rule: DetectRuleValue = DetectRule.none;
  riseMilliCelsius = 0;
  slopeMilliCelsiusPerMinute = 0;
  baselineMilliCelsius = 0;

  /**
   * `options` applies to every channel; `perChannel[c]` (if given) overrides it for channel c
   * (a thermocouple on the pipe is not an air sensor beside it). Throws RangeError on a value
   * out of range, before anything is allocated.
   */
  constructor(channels: number, options: LeakOptions = {}, perChannel: ReadonlyArray<LeakOptions | undefined> = []) {
    if (!Number.isInteger(channels) || channels < 0 || channels > 255) throw new RangeError(`leak detector: channels must be 0..255, got ${channels}`);
    const p = new Float64Array(channels * P_COUNT);
    for (let c = 0; c < channels; c++) {
      const o = { ...options, ...perChannel[c] };
      const row = c * P_COUNT;
      p[row + P_RISE] = check(o, 'riseMilliCelsius', 1, 1_000_000);
      p[row + P_SLOPE] = check(o, 'slopeMilliCelsiusPerMinute', 0, 1_000_000);
      p[row + P_SLACK] = check(o, 'cusumSlackMilliCelsius', 1, 1_000_000);
      p[row + P_LIMIT] = check(o, 'cusumLimitMilliCelsiusMinutes', 1, 1e9);
      p[row + P_CAP] = check(o, 'cusumCapMilliCelsius', 1, 1_000_000);
      p[row + P_CONFIRM] = check(o, 'confirmSamples', 1, 255);
      p[row + P_CLEAR] = check(o, 'clearMilliCelsius', 0, 1_000_000);
      p[row + P_HOLDOFF] = check(o, 'holdoffMs', 0, 1e10);
      p[row + P_BASE] = check(o, 'baselineMs', 1000, 1e10);
      p[row + P_BASE_ALERT] = check(o, 'baselineAlertMs', 1000, 1e10);
      p[row + P_FREEZE] = check(o, 'freezeMilliCelsius', 0, 1_000_000);
      p[row + P_GLITCH] = check(o, 'glitchMilliCelsius', 1, 1_000_000);
      p[row + P_GUARD] = check(o, 'guardSamples', 0, 255);
      p[row + P_GAP] = check(o, 'maxGapMs', 1000, 1e10);
      p[row + P_WINDOW] = Math.round(check(o, 'windowSamples', 3, MAX_WINDOW));
      p[row + P_RECOVERY] = check(o, 'recoveryMilliCelsius', 1, 1_000_000);
      p[row + P_OPERATING] = check(o, 'operatingMs', 1000, 1e11);
      p[row + P_RECOVERY_HOLD] = check(o, 'recoveryHoldMs', 1000, 1e11);
    }
    this.channels = channels;
    this.#p = p;
    this.#times = new Float64Array(channels * MAX_WINDOW);
    this.#values = new Int32Array(channels * MAX_WINDOW);
    this.#count = new Uint8Array(channels);
    this.#next = new Uint8Array(channels);
    this.#baseline = new Float64Array(channels);
    this.#cusum = new Float64Array(channels);
    this.#last = new Float64Array(channels);
    this.#lastAlert = new Float64Array(channels).fill(-Infinity);
    this.#rateRun = new Uint8Array(channels);
    this.#cusumRun = new Uint8Array(channels);
    this.#clearRun = new Uint8Array(channels);
    this.#guard = new Uint8Array(channels);
    this.#alerted = new Uint8Array(channels);
    this.#operating = new Float64Array(channels);
    this.#recoverySince = new Float64Array(channels);
    this.#recovering = new Uint8Array(channels);
    this.#stateF64 = [this.#baseline, this.#cusum, this.#last, this.#lastAlert, this.#operating, this.#recoverySince];
    this.#stateU8 = [this.#count, this.#next, this.#rateRun, this.#cusumRun, this.#clearRun, this.#guard, this.#alerted, this.#recovering];
  }

  /**
   * Bytes `saveState` writes: every channel's state (not the options, which come from the
   * configuration at each boot). For the retained memory across deep sleep (firmware/power.ts).
   */
  get stateBytes(): number {
    return 16 + this.channels * (MAX_WINDOW * 12 + 8 * 8 + 9);
  }

  /** Writes the state at `offset` in `view` (stateBytes long). */
  saveState(view: DataView, offset: number): void {
    view.setUint32(offset, this.alerts, true);
    view.setUint32(offset + 4, this.clears, true);
    view.setUint32(offset + 8, this.faults, true);
    view.setUint32(offset + 12, this.channels, true);
    let p = offset + 16;
    const n = this.channels * MAX_WINDOW;
    for (let i = 0; i < n; i++, p += 8) view.setFloat64(p, this.#times[i]!, true);
    for (let i = 0; i < n; i++, p += 4) view.setInt32(p, this.#values[i]!, true);
    for (let k = 0; k < this.#stateF64.length; k++) {
      const a = this.#stateF64[k]!;
      for (let c = 0; c < this.channels; c++, p += 8) view.setFloat64(p, a[c]!, true);
    }
    // Two spare doubles per channel keep the layout's size stable for later fields.
    for (let c = 0; c < this.channels * 2; c++, p += 8) view.setFloat64(p, 0, true);
    for (let k = 0; k < this.#stateU8.length; k++) {
      const a = this.#stateU8[k]!;
      for (let c = 0; c < this.channels; c++, p += 1) view.setUint8(p, a[c]!);
    }
    for (let c = 0; c < this.channels; c++, p += 1) view.setUint8(p, 0);
  }

  /**
   * Restores a state `saveState` wrote. Returns false (and changes nothing) when it was written
   * for another channel count or holds values out of range: the caller starts afresh.
   */
  restoreState(view: DataView, offset: number): boolean {
    if (view.getUint32(offset + 12, true) !== this.channels) return false;
    const counts = offset + 16 + this.channels * (MAX_WINDOW * 12 + 8 * 8);
    for (let c = 0; c < this.channels; c++) {
      if (view.getUint8(counts + c) > MAX_WINDOW || view.getUint8(counts + this.channels + c) >= MAX_WINDOW) return false;
    }
    this.alerts = view.getUint32(offset, true);
    this.clears = view.getUint32(offset + 4, true);
    this.faults = view.getUint32(offset + 8, true);
    let p = offset + 16;
    const n = this.channels * MAX_WINDOW;
    for (let i = 0; i < n; i++, p += 8) this.#times[i] = view.getFloat64(p, true);
    for (let i = 0; i < n; i++, p += 4) this.#values[i] = view.getInt32(p, true);
    for (let k = 0; k < this.#stateF64.length; k++) {
      const a = this.#stateF64[k]!;
      for (let c = 0; c < this.channels; c++, p += 8) a[c] = view.getFloat64(p, true);
    }
    p += this.channels * 2 * 8;
    for (let k = 0; k < this.#stateU8.length; k++) {
      const a = this.#stateU8[k]!;
      for (let c = 0; c < this.channels; c++, p += 1) a[c] = view.getUint8(p);
    }
    return true;
  }

  /** Forgets every channel's state (as after a power cut). */
  resetState(): void {
    this.#times.fill(0);
    this.#values.fill(0);
    this.#count.fill(0);
    this.#next.fill(0);
    this.#baseline.fill(0);
    this.#cusum.fill(0);
    this.#last.fill(0);
    this.#lastAlert.fill(-Infinity);
    this.#rateRun.fill(0);
    this.#cusumRun.fill(0);
    this.#clearRun.fill(0);
    this.#guard.fill(0);
    this.#alerted.fill(0);
    this.#operating.fill(0);
    this.#recoverySince.fill(0);
    this.#recovering.fill(0);
  }

  /** True while the channel recovers from a shutdown (see above). */
  isRecovering(channel: number): boolean {
    return this.#recovering[channel] === 1;
  }

  /** The channel's baseline, m°C (NaN before its first sample). */
  baseline(channel: number): number {
    return this.#count[channel] ? Math.round(this.#baseline[channel]!) : NaN;
  }

  /** True while the channel is alerted (not yet cleared). */
  isAlerted(channel: number): boolean {
    return this.#alerted[channel] === 1;
  }

  /** The channel had no valid reading (sensor fault, power-on or stuck value refused). */
  fault(channel: number): void {
    if (channel < 0 || channel >= this.channels) return;
    this.faults++;
    this.#rateRun[channel] = 0;
    this.#cusumRun[channel] = 0;
    this.#guard[channel] = this.#p[channel * P_COUNT + P_GUARD]!;
  }

  /** Records a sample (monotonic ms, m°C); returns DetectEvent.none, .alert or .cleared. */
  update(channel: number, timeMs: number, milliCelsius: number): DetectEventValue {
    if (channel < 0 || channel >= this.channels) return DetectEvent.none;
    const p = this.#p;
    const row = channel * P_COUNT;
    const window = p[row + P_WINDOW]!;
    const base = channel * MAX_WINDOW;
    const count = this.#count[channel]!;
    const dtMs = timeMs - this.#last[channel]!;
    if (count === 0 || dtMs > p[row + P_GAP]! || dtMs <= 0) {
      // First sample, a long gap or time going backwards: start again from this value.
      this.#baseline[channel] = milliCelsius;
      this.#operating[channel] = milliCelsius;
      this.#recovering[channel] = 0;
      this.#cusum[channel] = 0;
      this.#count[channel] = 1;
      this.#next[channel] = 1 % window;
      this.#times[base] = timeMs;
      this.#values[base] = milliCelsius;
      this.#last[channel] = timeMs;
      this.#rateRun[channel] = 0;
      this.#cusumRun[channel] = 0;
      this.#clearRun[channel] = 0;
      return DetectEvent.none;
    }
    this.#last[channel] = timeMs;
    const slot = this.#next[channel]!;
    this.#times[base + slot] = timeMs;
    this.#values[base + slot] = milliCelsius;
    this.#next[channel] = (slot + 1) % window;
    const n = count < window ? count + 1 : window;
    this.#count[channel] = n;

    // Least-squares slope over the window, m°C per minute (times relative to this sample).
    let st = 0, sv = 0;
    for (let i = 0; i < n; i++) {
      st += this.#times[base + i]! - timeMs;
      sv += this.#values[base + i]!;
    }
    const mt = st / n, mv = sv / n;
    let stt = 0, stv = 0;
    for (let i = 0; i < n; i++) {
      const dt = this.#times[base + i]! - timeMs - mt;
      stt += dt * dt;
      stv += dt * (this.#values[base + i]! - mv);
    }
    const slope = stt > 0 ? (stv / stt) * 60_000 : 0;

    const operating = this.#operating[channel]!;
    let recovering = this.#recovering[channel] === 1;
    if (recovering) {
      // Back at the operating level and steady, or too long: recovery is over.
      const settled = milliCelsius >= operating - p[row + P_RECOVERY]! / 2 && slope < SETTLED_SLOPE && slope > -SETTLED_SLOPE;
      if (settled || timeMs - this.#recoverySince[channel]! > p[row + P_RECOVERY_HOLD]!) {
        recovering = false;
        this.#recovering[channel] = 0;
        if (settled && milliCelsius < operating + p[row + P_RISE]!) this.#baseline[channel] = milliCelsius;
        this.#cusum[channel] = 0;
      } else if (milliCelsius > this.#baseline[channel]!) {
        this.#baseline[channel] = milliCelsius < operating ? milliCelsius : Math.max(this.#baseline[channel]!, operating);
      }
    }
    const baseline = this.#baseline[channel]!;
    const rise = milliCelsius - baseline;
    const alerted = this.#alerted[channel] === 1;
    const minutes = Math.min(dtMs, 60_000) / 60_000;

    // Baseline: fast down, normal near it, slow above it or while alerted; one step is bounded.
    const glitch = p[row + P_GLITCH]!;
    const step = rise > glitch ? glitch : rise < -glitch ? -glitch : rise;
    const tau = alerted || rise > p[row + P_FREEZE]! ? p[row + P_BASE_ALERT]! : p[row + P_BASE]!;
    const next = baseline + step * (1 - Math.exp(-dtMs / tau));
    this.#baseline[channel] = next;
    // Operating level: up with the baseline at once, down slowly; frozen while recovering.
    if (!recovering) {
      if (next >= operating) this.#operating[channel] = next;
      else this.#operating[channel] = operating + (next - operating) * (1 - Math.exp(-dtMs / p[row + P_OPERATING]!));
      if (milliCelsius < this.#operating[channel]! - p[row + P_RECOVERY]!) {
        this.#recovering[channel] = 1;
        this.#recoverySince[channel] = timeMs;
      }
    }

    const slack = p[row + P_SLACK]!;
    const cap = p[row + P_CAP]!;
    const s = this.#cusum[channel]! + ((rise < cap ? rise : cap) - slack) * minutes;
    this.#cusum[channel] = s > 0 ? s : 0;

    const confirm = p[row + P_CONFIRM]!;
    if (alerted) {
      if (rise <= p[row + P_CLEAR]!) {
        if (++this.#clearRun[channel]! >= confirm) {
          this.#alerted[channel] = 0;
          this.#clearRun[channel] = 0;
          this.#cusum[channel] = 0;
          this.clears++;
          this.#evidence(DetectRule.none, rise, slope, baseline);
          return DetectEvent.cleared;
        }
      } else this.#clearRun[channel] = 0;
      return DetectEvent.none;
    }

    if (this.#guard[channel]! > 0 || n < window) {
      if (this.#guard[channel]! > 0) this.#guard[channel]!--;
      this.#rateRun[channel] = 0;
      this.#cusumRun[channel] = 0;
      return DetectEvent.none;
    }
    // The rate rule's run counts samples rising fast and half-way up; it fires on one fully up.
    const rising = rise >= p[row + P_RISE]! / 2 && slope >= p[row + P_SLOPE]!;
    const cusum = rise >= slack && this.#cusum[channel]! >= p[row + P_LIMIT]!;
    this.#rateRun[channel] = rising ? Math.min(255, this.#rateRun[channel]! + 1) : 0;
    this.#cusumRun[channel] = cusum ? Math.min(255, this.#cusumRun[channel]! + 1) : 0;
    const rate = this.#rateRun[channel]! >= confirm && rise >= p[row + P_RISE]!;
    const rule = rate ? DetectRule.rate : this.#cusumRun[channel]! >= confirm ? DetectRule.cusum : DetectRule.none;
    if (rule === DetectRule.none || timeMs - this.#lastAlert[channel]! < p[row + P_HOLDOFF]!) return DetectEvent.none;
    this.#alerted[channel] = 1;
    this.#lastAlert[channel] = timeMs;
    this.#rateRun[channel] = 0;
    this.#cusumRun[channel] = 0;
    this.#clearRun[channel] = 0;
    this.alerts++;
    this.#evidence(rule, rise, slope, baseline);
    return DetectEvent.alert;
  }

  #evidence(rule: DetectRuleValue, rise: number, slope: number, baseline: number): void {
    this.rule = rule;
    this.riseMilliCelsius = Math.round(rise);
    this.slopeMilliCelsiusPerMinute = Math.round(slope);
    this.baselineMilliCelsius = Math.round(baseline);
  }
}

/**
 * The former single rule, kept for comparison in the benchmark (tools/bench/leaks.ts): alert
 * when the newest value exceeds the lowest of the last `windowMs` by `riseMilliCelsius`, then
 * hold off for `holdoffMs`.
 */
export interface SpikeOptions {
  riseMilliCelsius?: number;
  windowMs?: number;
  holdoffMs?: number;
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
