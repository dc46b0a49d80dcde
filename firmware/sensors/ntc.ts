/*
 * NTC thermistor on an analog input, in a ratiometric divider with a series resistor.
 * ECMA-419 sensor class.
 *
 *   const t = new NTC({ sensor: { io: host.io.Analog, pin: 34 },
 *                       thermistor: { r25: 10_000, beta: 3380 }, seriesOhms: 10_000, onError });
 *   t.read(out)   // out[0] milli-°C; returns 1, or 0
 *   t.sample()    // { temperature } in °C (one object, reused), or undefined
 *
 * Conversion: the code (averaged over `oversample` reads, taken at mid-code) gives the divider
 * ratio, hence R_NTC; the temperature follows from the beta equation
 * 1/T = 1/T25 + ln(R/R25)/B, or Steinhart–Hart 1/T = A + B ln R + C (ln R)^3 (T in kelvin),
 * whose coefficients `steinhartHartFromPoints()` fits to three (°C, Ω) points of the part's table.
 * Reading an ADC takes microseconds: nothing is scheduled.
 *
 * Never a plausible wrong number:
 * - a code at the rail the open thermistor drives the pin to (full scale for 'ntc-low', 0 for
 *   'ntc-high') → E_OPEN; the other rail (thermistor shorted, pin to GND or VCC) → E_SHORT_GND
 *   ('ntc-low') / E_SHORT_VCC ('ntc-high');
 * - the oversampled reads spread wider than `maxSpreadCodes` (a floating or noisy input)
 *   → E_FRAME;
 * - outside the configured range (the part's operating range, default −40..+125 °C) → E_RANGE;
 * - unchanged for longer than `stuckMs` → E_STUCK; the IO class throwing → E_BUS.
 * There is no CRC and no chip id on an analog input.
 */
import type { Analog, AnalogConstructor } from '../host';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf } from './fault';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

const PART = 'NTC';
const KELVIN = 273.15;
/** Codes this close to a rail count as the rail. */
export const RAIL_CODES = 1;

/** 1/T = 1/T25 + ln(R/R25)/β → °C. */
export function betaCelsius(ohms: number, r25: number, beta: number): number {
  return 1 / (1 / (25 + KELVIN) + Math.log(ohms / r25) / beta) - KELVIN;
}

/** 1/T = A + B ln R + C (ln R)^3 → °C. */
export function steinhartHartCelsius(ohms: number, a: number, b: number, c: number): number {
  const l = Math.log(ohms);
  return 1 / (a + b * l + c * l * l * l) - KELVIN;
}

/** Steinhart–Hart coefficients [A, B, C] through three (°C, Ω) points. */
export function steinhartHartFromPoints(points: readonly (readonly [number, number])[]): [number, number, number] {
  if (points.length !== 3) throw new RangeError('three (°C, Ω) points');
  const [l1, l2, l3] = points.map((p) => Math.log(p[1]));
  const [y1, y2, y3] = points.map((p) => 1 / (p[0] + KELVIN));
  const g2 = (y2! - y1!) / (l2! - l1!);
  const g3 = (y3! - y1!) / (l3! - l1!);
  const c = (g3 - g2) / (l3! - l2!) / (l1! + l2! + l3!);
  const b = g2 - c * (l1! * l1! + l1! * l2! + l2! * l2!);
  const a = y1! - (b + l1! * l1! * c) * l1!;
  return [a, b, c];
}

export interface NtcConfiguration {
  /** Reads averaged per sample, 1..64. Default 8. */
  oversample?: number;
  /** Largest spread (max − min code) among the oversampled reads. Default 2^resolution / 64. */
  maxSpreadCodes?: number;
  /** Valid range, milli-°C. Default −40..+125 °C. */
  minMilliCelsius?: number;
  maxMilliCelsius?: number;
  /** E_STUCK when the code has not changed for longer than this, ms; 0 = off. */
  stuckMs?: number;
}

export interface NtcOptions extends NtcConfiguration {
  sensor: { io: AnalogConstructor; pin: number; resolution?: number };
  /** Either beta (with r25) or Steinhart–Hart coefficients. */
  thermistor: { r25: number; beta: number } | { steinhartHart: readonly [number, number, number] };
  /** The divider's fixed resistor, Ω. */
  seriesOhms: number;
  /** 'ntc-low': NTC between pin and ground (default); 'ntc-high': NTC between supply and pin. */
  topology?: 'ntc-low' | 'ntc-high';
  onError?: (error: SensorError) => void;
  now?: () => number;
}

export interface NtcSample {
  temperature: number;
}

export default class NTC {
  static readonly channels = deepFreeze([{ kind: 'milliCelsius', name: 'temperature' }] as const);

  readonly faults: FaultCounts;
  lastError: SensorErrorCodeValue | undefined;
  readonly #fault: FaultReporter;

  #io: Analog | undefined;
  readonly #now: (() => number) | undefined;
  readonly #full: number;
  readonly #seriesOhms: number;
  readonly #low: boolean;
  readonly #r25: number;
  readonly #beta: number;
  readonly #sh: readonly [number, number, number] | undefined;
  readonly #out = new Int32Array(1);
  readonly #sample: NtcSample = { temperature: 0 };
  #oversample = 8;
  #maxSpread: number;
  #minMilliC = -40_000;
  #maxMilliC = 125_000;
  readonly #stuck = new StuckDetector();

  constructor(options: NtcOptions) {
    const sensor = options?.sensor;
    if (!sensor || typeof sensor.io !== 'function') throw new TypeError(`${PART}: options.sensor.io required`);
    this.#fault = new FaultReporter(PART, options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    const th = options.thermistor;
    if (th && 'steinhartHart' in th) {
      const [a, b, c] = th.steinhartHart;
      if (![a, b, c].every((x) => typeof x === 'number' && Number.isFinite(x)) || !(b > 0)) this.#invalid('steinhartHart');
      this.#sh = [a, b, c];
      this.#r25 = 0;
      this.#beta = 0;
    } else if (th && th.r25 > 0 && th.beta > 0) {
      this.#r25 = th.r25;
      this.#beta = th.beta;
    } else this.#invalid('thermistor: { r25, beta } or { steinhartHart }');
    if (!(options.seriesOhms > 0)) this.#invalid(`seriesOhms ${options.seriesOhms}`);
    this.#seriesOhms = options.seriesOhms;
    const topology = options.topology ?? 'ntc-low';
    if (topology !== 'ntc-low' && topology !== 'ntc-high') this.#invalid(`topology ${topology}`);
    this.#low = topology === 'ntc-low';
    try {
      this.#io = new sensor.io({ pin: sensor.pin, resolution: sensor.resolution });
    } catch (error) {
      throw this.#fault.error(SensorErrorCode.BUS, `cannot open analog pin: ${messageOf(error)}`);
    }
    const resolution = this.#io.resolution;
    if (!(Number.isInteger(resolution) && resolution >= 8 && resolution <= 16)) {
      this.#io.close();
      this.#invalid(`ADC resolution ${resolution}: 8..16 bits`);
    }
    this.#full = 2 ** resolution;
    this.#maxSpread = Math.max(4, this.#full / 64);
    try {
      this.configure(options);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  configure(options: NtcConfiguration = {}): void {
    const { oversample, maxSpreadCodes, minMilliCelsius: min, maxMilliCelsius: max, stuckMs } = options;
    if (oversample !== undefined && !(Number.isInteger(oversample) && oversample >= 1 && oversample <= 64)) {
      this.#invalid(`oversample ${oversample}`);
    }
    if (maxSpreadCodes !== undefined && !(maxSpreadCodes >= 0)) this.#invalid(`maxSpreadCodes ${maxSpreadCodes}`);
    const lo = min ?? this.#minMilliC;
    const hi = max ?? this.#maxMilliC;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo >= hi) this.#invalid(`range ${lo}..${hi}`);
    if (stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, stuckMs, !!this.#now);
    if (oversample !== undefined) this.#oversample = oversample;
    if (maxSpreadCodes !== undefined) this.#maxSpread = maxSpreadCodes;
    this.#minMilliC = lo;
    this.#maxMilliC = hi;
  }

  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) throw new Error(`${PART}: closed`);
    let sum = 0;
    let min = this.#full;
    let max = -1;
    const top = this.#full - 1;
    try {
      for (let i = 0; i < this.#oversample; i++) {
        const code = io.read();
        if (!(code >= 0 && code <= top)) return this.#fail(SensorErrorCode.FRAME, `code ${code} outside 0..${top}`);
        sum += code;
        if (code < min) min = code;
        if (code > max) max = code;
      }
    } catch (error) {
      return this.#fail(SensorErrorCode.BUS, messageOf(error));
    }
    if (max - min > this.#maxSpread) return this.#fail(SensorErrorCode.FRAME, `reads spread over ${max - min} codes`);
    if (min >= top - RAIL_CODES) {
      return this.#low
        ? this.#fail(SensorErrorCode.OPEN, 'full-scale code: thermistor open')
        : this.#fail(SensorErrorCode.SHORT_VCC, 'full-scale code: thermistor shorted (pin at supply)');
    }
    if (max <= RAIL_CODES) {
      return this.#low
        ? this.#fail(SensorErrorCode.SHORT_GND, 'zero code: thermistor shorted (pin at ground)')
        : this.#fail(SensorErrorCode.OPEN, 'zero code: thermistor open');
    }
    const ratio = (sum / this.#oversample + 0.5) / this.#full;
    const rs = this.#seriesOhms;
    const ohms = this.#low ? (rs * ratio) / (1 - ratio) : (rs * (1 - ratio)) / ratio;
    const sh = this.#sh;
    const celsius = sh ? steinhartHartCelsius(ohms, sh[0], sh[1], sh[2]) : betaCelsius(ohms, this.#r25, this.#beta);
    const milliC = Math.round(celsius * 1000);
    if (!(milliC >= this.#minMilliC && milliC <= this.#maxMilliC)) {
      return this.#fail(SensorErrorCode.RANGE, `${milliC / 1000} °C (${Math.round(ohms)} Ω)`);
    }
    const now = this.#now ? this.#now() : 0;
    const unchangedMs = this.#stuck.update(now, sum);
    if (unchangedMs) return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
    out[0] = milliC;
    this.lastError = undefined;
    return 1;
  }

  sample(): NtcSample | undefined {
    if (!this.read(this.#out)) return undefined;
    this.#sample.temperature = this.#out[0]! / 1000;
    return this.#sample;
  }

  /** Releases the analog input; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  #fail(code: SensorErrorCodeValue, message: string): 0 {
    this.lastError = code;
    return this.#fault.fail(code, message);
  }

  #invalid(message: string): never {
    return this.#fault.invalid(message);
  }
}
