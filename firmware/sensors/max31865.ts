/*
 * MAX31865 RTD-to-digital converter (Maxim 19-6478) for PT100/PT1000, SPI (mode 1 or 3,
 * ≤ 5 MHz). ECMA-419 sensor class.
 *
 *   const rtd = new MAX31865({ sensor: { io: host.io.SPI, select: 5 }, rtd: { r0: 100, referenceOhms: 430 },
 *                              wires: 4, now, onError });
 *   rtd.read(out)   // out[0] milli-°C; returns 1, or 0
 *   rtd.sample()    // { temperature } in °C (one object, reused), or undefined
 *
 * One-shot conversions, scheduled, never waited for: VBIAS stays on; `read()` reads the
 * registers, and if 1-shot has cleared (Table 2: the bit clears itself when the conversion is
 * done) converts the RTD code and sets 1-shot again. The reading is one sample interval old.
 * The resistance is code × R_REF / 2^15 (section "RTD Data Registers"); the temperature is the
 * inverse of Callendar–Van Dusen (IEC 60751): closed form above 0 °C, Newton's method below.
 *
 * The part has no id register: the constructor writes the configuration and the fault
 * thresholds, runs the automatic fault-detection cycle, and reads everything back (E_CHIP_ID if
 * it does not stick). The thresholds are set to the codes of the configured range
 * (−200..+850 °C by default), so an RTD beyond it sets a fault bit in the part itself.
 *
 * Never a plausible wrong number:
 * - RTD LSB fault flag / Fault Status (Table 7): a full-scale code with D7, or D3/D4 (FORCE-
 *   open) → E_OPEN; D5 (REFIN-), D2 (over/undervoltage), or D6 below R(−200 °C) (a shorted
 *   RTD) → E_RTD_FAULT; D7/D6 otherwise (a real temperature beyond the configured range, which
 *   the thresholds encode) → E_RANGE. Faults are then cleared for the next conversion;
 * - a block of all 0s or all 1s → E_FRAME; the configuration back at power-on (VBIAS off) →
 *   E_POWER_ON_VALUE, and reconfigured; a temperature outside the configured range → E_RANGE;
 * - 1-shot still set long after the conversion time, or a value unchanged longer than
 *   `stuckMs` → E_STUCK; the IO class throwing → E_BUS.
 */
import type { SPI, SPIConstructor } from '../host';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf, releaseQuietly } from './fault';
import { openSPI, spiHz, SPIRegisters } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';

const PART = 'MAX31865';

/** Table 1 "Register Names, Addresses, and Default States" (write = address | 80h). */
export const Register = {
  CONFIG: 0x00,
  RTD_MSB: 0x01,
  RTD_LSB: 0x02,
  HFT_MSB: 0x03,
  HFT_LSB: 0x04,
  LFT_MSB: 0x05,
  LFT_LSB: 0x06,
  FAULT_STATUS: 0x07,
  WRITE: 0x80,
  COUNT: 8,
} as const;
/** Configuration register bits (Table 2). */
export const Config = {
  VBIAS: 0x80,
  AUTO: 0x40,
  ONE_SHOT: 0x20,
  THREE_WIRE: 0x10,
  FAULT_CYCLE_AUTO: 0x84,
  FAULT_CYCLE_MASK: 0x0c,
  FAULT_CLEAR: 0x02,
  FILTER_50HZ: 0x01,
} as const;
/** RTD LSB bit 0: a fault is flagged in the Fault Status register. */
export const RTD_FAULT_FLAG = 0x01 as const;
/** Fault Status register (Table 7). */
export const FaultStatus = {
  HIGH_THRESHOLD: 0x80,
  LOW_THRESHOLD: 0x40,
  REFIN_HIGH: 0x20,
  REFIN_LOW_FORCE_OPEN: 0x10,
  RTDIN_LOW_FORCE_OPEN: 0x08,
  OVER_UNDER_VOLTAGE: 0x04,
} as const;
/** Electrical Characteristics: one-shot conversion time, ms (60 Hz, 50 Hz filter). */
export const CONVERSION_MS_60HZ = 52;
export const CONVERSION_MS_50HZ = 62.5;
export const STUCK_MARGIN_MS = 100;
export const MAX_HZ = 5_000_000;
/** A code this close to full scale means an open RTD or lead. */
export const FULL_SCALE_CODE = 0x7ff0;

/** Callendar–Van Dusen coefficients of IEC 60751 (α = 0.00385). */
export const CVD = { A: 3.9083e-3, B: -5.775e-7, C: -4.183e-12 } as const;

/** R(T) per Callendar–Van Dusen, ohms. */
export function rtdOhms(celsius: number, r0: number): number {
  const t = celsius;
  const r = 1 + CVD.A * t + CVD.B * t * t;
  return t >= 0 ? r0 * r : r0 * (r + CVD.C * (t - 100) * t * t * t);
}

/** T(R): the inverse of Callendar–Van Dusen, °C. Exact above 0 °C; Newton (|error| < 1e-9 °C) below. */
export function rtdCelsius(ohms: number, r0: number): number {
  const ratio = ohms / r0;
  const { A, B, C } = CVD;
  let t = (-A + Math.sqrt(A * A - 4 * B * (1 - ratio))) / (2 * B);
  if (ratio >= 1) return t;
  if (!(t === t)) t = -242; // below the quadratic's domain: start at the bottom of the range
  for (let i = 0; i < 8; i++) {
    const f = 1 + A * t + B * t * t + C * (t - 100) * t * t * t - ratio;
    const df = A + 2 * B * t + C * (4 * t * t * t - 300 * t * t);
    const step = f / df;
    t -= step;
    if (step < 1e-10 && step > -1e-10) break;
  }
  return t;
}

export interface Max31865Configuration {
  /** 2, 3 or 4 wires (3 sets the 3-wire bit). */
  wires?: 2 | 3 | 4;
  filterHz?: 50 | 60;
  /** Valid range, milli-°C; default −200..+850 °C (IEC 60751). Also sets the part's thresholds. */
  minMilliCelsius?: number;
  maxMilliCelsius?: number;
  /** E_STUCK when the value has not changed for longer than this, ms; 0 = off. */
  stuckMs?: number;
}

export interface Max31865Options extends Max31865Configuration {
  sensor: { io: SPIConstructor; select?: number; hz?: number; mode?: 1 | 3; port?: number; out?: number; in?: number; clock?: number };
  /** PT100: r0 100, PT1000: r0 1000; referenceOhms: the board's R_REF (430 / 4300 typical). */
  rtd?: { r0?: number; referenceOhms?: number };
  onError?: (error: SensorError) => void;
  now?: () => number;
}

export interface Max31865Sample {
  temperature: number;
}

export default class MAX31865 {
  static readonly channels = [{ kind: 'milliCelsius', name: 'temperature' }] as const;

  readonly faults: FaultCounts;
  lastError: SensorErrorCodeValue | undefined;
  readonly #fault: FaultReporter;

  #io: SPI | undefined;
  readonly #now: (() => number) | undefined;
  readonly #r0: number;
  readonly #referenceOhms: number;
  readonly #stuck = new StuckDetector();
  readonly #regs = new SPIRegisters(Register.COUNT, Register.WRITE);
  /** Write both thresholds in one transaction. */
  readonly #setup = new Uint8Array(5);
  readonly #out = new Int32Array(1);
  readonly #sample: Max31865Sample = { temperature: 0 };
  #config: number = Config.VBIAS;
  #minMilliC = -200_000;
  #maxMilliC = 850_000;
  #lowCode = 0;
  #highCode = 0x7fff;
  #pending = false;
  #startedAt = 0;

  constructor(options: Max31865Options) {
    const sensor = options?.sensor;
    if (!sensor || typeof sensor.io !== 'function') throw new TypeError(`${PART}: options.sensor.io required`);
    this.#fault = new FaultReporter(PART, options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    this.#r0 = options.rtd?.r0 ?? 100;
    this.#referenceOhms = options.rtd?.referenceOhms ?? (this.#r0 >= 1000 ? 4300 : 430);
    if (!(this.#r0 > 0) || !(this.#referenceOhms > this.#r0)) {
      this.#fault.invalid(`r0 ${this.#r0} / referenceOhms ${this.#referenceOhms}`);
    }
    const hz = spiHz(PART, sensor, MAX_HZ);
    this.#apply(options);
    this.#io = openSPI(PART, sensor, hz, 1);
    const code = this.#configurePart();
    if (code) {
      this.close();
      throw this.#fault.error(code, 'configuration did not read back: no MAX31865 on this chip select?');
    }
  }

  configure(options: Max31865Configuration = {}): void {
    if (!this.#io) throw new Error(`${PART}: closed`);
    this.#apply(options);
    const code = this.#configurePart();
    if (code) throw this.#fault.error(code, 'configuration did not read back');
  }

  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) throw new Error(`${PART}: closed`);
    const now = this.#now ? this.#now() : 0;
    if (!this.#pending) {
      this.#startConversion(io, now, false);
      return this.#pending ? this.#fault.notReady('conversion started') : 0;
    }
    if (!this.#readBlock(io)) return 0;
    const fill = this.#regs.blockFill();
    if (fill >= 0) {
      this.#pending = false;
      return this.#fail(SensorErrorCode.FRAME, `all-${fill ? 'ones' : 'zero'} register block`);
    }
    const b = this.#regs.block;
    const config = b[1 + Register.CONFIG]!;
    if ((config & ~Config.ONE_SHOT) !== this.#config) {
      this.#pending = false;
      this.#configurePart();
      return this.#fail(SensorErrorCode.POWER_ON_VALUE, `configuration ${config}: the part reset; reconfigured`);
    }
    if (config & Config.ONE_SHOT) {
      if (this.#now && now - this.#startedAt > this.#conversionMs() + STUCK_MARGIN_MS) {
        this.#pending = false;
        return this.#fail(SensorErrorCode.STUCK, `conversion not done after ${now - this.#startedAt} ms`);
      }
      this.lastError = SensorErrorCode.NOT_READY;
      return this.#fault.notReady('conversion under way');
    }
    const lsb = b[1 + Register.RTD_LSB]!;
    const code = ((b[1 + Register.RTD_MSB]! << 8) | lsb) >> 1;
    const status = b[1 + Register.FAULT_STATUS]!;
    let result: number;
    if (lsb & RTD_FAULT_FLAG || status) {
      result = this.#fault31865(code, status);
      this.#startConversion(io, now, true);
      return result;
    }
    result = this.#decode(out, code, now);
    this.#startConversion(io, now, false);
    if (result) this.lastError = undefined;
    return result;
  }

  sample(): Max31865Sample | undefined {
    if (!this.read(this.#out)) return undefined;
    this.#sample.temperature = this.#out[0]! / 1000;
    return this.#sample;
  }

  /** Turns VBIAS off (best effort) and releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    releaseQuietly(io, () => this.#regs.write(io, Register.CONFIG, 0));
  }

  /** A fault flagged by the part itself (RTD LSB D0, Fault Status). */
  #fault31865(code: number, status: number): 0 {
    if (status & (FaultStatus.REFIN_LOW_FORCE_OPEN | FaultStatus.RTDIN_LOW_FORCE_OPEN)) {
      return this.#fail(SensorErrorCode.OPEN, `FORCE- open (fault status ${status})`);
    }
    if (status & FaultStatus.HIGH_THRESHOLD && code >= FULL_SCALE_CODE) {
      return this.#fail(SensorErrorCode.OPEN, `RTD open: full-scale code ${code}`);
    }
    if (status & (FaultStatus.REFIN_HIGH | FaultStatus.OVER_UNDER_VOLTAGE)) {
      return this.#fail(SensorErrorCode.RTD_FAULT, `fault status ${status}, code ${code}`);
    }
    const ohms = (code * this.#referenceOhms) / 32768;
    if (status & FaultStatus.LOW_THRESHOLD && ohms < rtdOhms(-200, this.#r0)) {
      return this.#fail(SensorErrorCode.RTD_FAULT, `RTD shorted: ${ohms.toFixed(2)} Ω (fault status ${status})`);
    }
    // The thresholds are the configured range: a real temperature beyond it.
    return this.#fail(SensorErrorCode.RANGE, `${ohms.toFixed(2)} Ω beyond the configured range (fault status ${status})`);
  }

  #decode(out: Int32Array, code: number, now: number): number {
    const ohms = (code * this.#referenceOhms) / 32768;
    const milliC = Math.round(rtdCelsius(ohms, this.#r0) * 1000);
    // The range in codes, as the thresholds hold it (one code of slack each way).
    if (code < this.#lowCode || code > this.#highCode) {
      return this.#fail(SensorErrorCode.RANGE, `${milliC / 1000} °C (${ohms.toFixed(2)} Ω)`);
    }
    const unchangedMs = this.#stuck.update(now, code);
    if (unchangedMs) return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
    out[0] = milliC;
    return 1;
  }

  #readBlock(io: SPI): boolean {
    try {
      this.#regs.readBlock(io, Register.CONFIG);
      return true;
    } catch (error) {
      this.#pending = false;
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return false;
    }
  }

  #startConversion(io: SPI, now: number, clearFaults: boolean): void {
    try {
      this.#regs.write(io, Register.CONFIG, this.#config | Config.ONE_SHOT | (clearFaults ? Config.FAULT_CLEAR : 0));
    } catch (error) {
      this.#pending = false;
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return;
    }
    this.#pending = true;
    this.#startedAt = now;
    if (!clearFaults && this.lastError === undefined) this.lastError = SensorErrorCode.NOT_READY;
  }

  /** Thresholds, fault-detection cycle, configuration; reads them back. Returns an error code or undefined. */
  #configurePart(): SensorErrorCodeValue | undefined {
    const io = this.#io!;
    const high = (this.#highCode = this.#thresholdCode(this.#maxMilliC, 1));
    const low = (this.#lowCode = this.#thresholdCode(this.#minMilliC, 0));
    const s = this.#setup;
    s[0] = Register.WRITE | Register.HFT_MSB;
    s[1] = high >> 7;
    s[2] = (high << 1) & 0xfe;
    s[3] = low >> 7;
    s[4] = (low << 1) & 0xfe;
    const regs = this.#regs;
    try {
      io.write(s);
      regs.write(io, Register.CONFIG, Config.FAULT_CYCLE_AUTO | (this.#config & Config.THREE_WIRE) | (this.#config & Config.FILTER_50HZ));
      if (!this.#readBlock(io)) return SensorErrorCode.BUS;
      const b = regs.block;
      const status = b[1 + Register.FAULT_STATUS]!;
      regs.write(io, Register.CONFIG, this.#config | Config.FAULT_CLEAR);
      if (!this.#readBlock(io)) return SensorErrorCode.BUS;
      this.#pending = false;
      if (
        b[1 + Register.CONFIG] !== this.#config ||
        b[1 + Register.HFT_MSB] !== s[1] ||
        b[1 + Register.HFT_LSB] !== s[2] ||
        b[1 + Register.LFT_MSB] !== s[3] ||
        b[1 + Register.LFT_LSB] !== s[4]
      ) {
        this.#fail(SensorErrorCode.CHIP_ID, `read back configuration ${b[1]}, thresholds ${b[4]} ${b[5]} ${b[6]} ${b[7]}`);
        return SensorErrorCode.CHIP_ID;
      }
      if (status & (FaultStatus.REFIN_LOW_FORCE_OPEN | FaultStatus.RTDIN_LOW_FORCE_OPEN)) {
        // Reported now, and again by read() if it persists: the part itself is there.
        this.#fail(SensorErrorCode.OPEN, `fault-detection cycle: FORCE- open (status ${status})`);
      }
      return undefined;
    } catch (error) {
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return SensorErrorCode.BUS;
    }
  }

  /** The 15-bit code of a temperature (rounded outward by one code). */
  #thresholdCode(milliC: number, up: number): number {
    const code = (rtdOhms(milliC / 1000, this.#r0) * 32768) / this.#referenceOhms;
    return Math.max(0, Math.min(0x7fff, up ? Math.ceil(code) + 1 : Math.floor(code) - 1));
  }

  #conversionMs(): number {
    return this.#config & Config.FILTER_50HZ ? CONVERSION_MS_50HZ : CONVERSION_MS_60HZ;
  }

  #apply(options: Max31865Configuration): void {
    const { wires, filterHz, minMilliCelsius: min, maxMilliCelsius: max, stuckMs } = options;
    let config = this.#config;
    if (wires !== undefined) {
      if (wires !== 2 && wires !== 3 && wires !== 4) this.#fault.invalid(`wires ${wires}`);
      config = wires === 3 ? config | Config.THREE_WIRE : config & ~Config.THREE_WIRE;
    }
    if (filterHz !== undefined) {
      if (filterHz !== 50 && filterHz !== 60) this.#fault.invalid(`filterHz ${filterHz}`);
      config = filterHz === 50 ? config | Config.FILTER_50HZ : config & ~Config.FILTER_50HZ;
    }
    const lo = min ?? this.#minMilliC;
    const hi = max ?? this.#maxMilliC;
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo >= hi || lo < -200_000 || hi > 850_000) {
      this.#fault.invalid(`range ${lo}..${hi} m°C (IEC 60751: −200..+850 °C)`);
    }
    if (stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, stuckMs, !!this.#now);
    this.#config = config;
    this.#minMilliC = lo;
    this.#maxMilliC = hi;
  }

  #fail(code: SensorErrorCodeValue, message: string): 0 {
    this.lastError = code;
    return this.#fault.fail(code, message);
  }
}
