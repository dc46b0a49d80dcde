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
 * The part has no id register: the constructor writes the fault thresholds and the
 * configuration, starts the automatic fault-detection cycle, and reads everything back
 * (E_CHIP_ID if it does not stick). The thresholds are set to the codes of the configured range
 * (−200..+850 °C by default), so an RTD beyond it sets a fault bit in the part itself.
 *
 * Fault-detection cycle (Table 3, "Fault Detection Cycle (D3:D2)"): written as 100X010Xb, it
 * runs for up to 600 µs ("Automatic Fault Detection Cycle Time") and clears D3:D2 to 00b when
 * done; only then do D5..D3 of the Fault Status hold its result. It is never waited for: the
 * next `read()` polls D3:D2 (E_NOT_READY while they are not 00b; E_STUCK, and the cycle run
 * again, if they still are 600 µs + 100 ms after it started), then reads the status. It runs at
 * configuration, and again after any conversion that flagged a fault, to tell the causes of
 * Tables 10-12 apart; a cycle that finds a fault is repeated at each read until it comes back
 * clean, then conversions resume.
 *
 * Fault Status Clear (D1) works only "while writing 0 to bits D5, D3, and D2": every clear is a
 * write of its own, never combined with 1-shot, so one transient fault cannot latch.
 *
 * Never a plausible wrong number; each label names what to fix (Table 7 bits, causes from
 * Tables 10-12 "Decoding RTD Faults"):
 * - D2 over/undervoltage (an input above VDD or below GND1; the ADC halts) → E_OVERVOLTAGE;
 * - D5 REFIN- > 0.85 × VBIAS (open RTD element, FORCE+ or FORCE- unconnected), or D7 with a
 *   full-scale code (open RTD element, RTDIN+ shorted high) → E_OPEN;
 * - D4 REFIN- < 0.85 × VBIAS or D3 RTDIN- < 0.85 × VBIAS, both with the FORCE- switch open (an
 *   RTDIN-, FORCE-, RTDIN+ or FORCE+ lead shorted low; the data may "appear to be valid") →
 *   E_SHORT_GND;
 * - D6 below R(−200 °C) (RTD element shorted, RTDIN+ to RTDIN-; the cycle that follows reports
 *   E_SHORT_GND instead when RTDIN+ is shorted to ground) → E_SHORT;
 * - D7/D6 otherwise (a real temperature beyond the configured range, which the thresholds
 *   encode) → E_RANGE; the RTD LSB fault flag without a status bit → E_RTD_FAULT;
 * - a block of all 0s or all 1s → E_FRAME; the configuration back at power-on (VBIAS off) →
 *   E_POWER_ON_VALUE, and reconfigured; a temperature outside the configured range → E_RANGE;
 * - 1-shot or the fault-detection cycle still running long after their time, or a value
 *   unchanged longer than `stuckMs` → E_STUCK; the IO class throwing → E_BUS.
 */
import type { SPI, SPIConstructor } from '../host';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf, releaseQuietly } from './fault';
import { openSPI, spiHz, SPIRegisters } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

const PART = 'MAX31865';

/** Table 1 "Register Names, Addresses, and Default States" (write = address | 80h). */
export const Register = deepFreeze({
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
} as const);
/** Configuration register bits (Table 2). */
export const Config = deepFreeze({
  VBIAS: 0x80,
  AUTO: 0x40,
  ONE_SHOT: 0x20,
  THREE_WIRE: 0x10,
  FAULT_CYCLE_AUTO: 0x84,
  FAULT_CYCLE_MASK: 0x0c,
  FAULT_CLEAR: 0x02,
  FILTER_50HZ: 0x01,
} as const);
/** RTD LSB bit 0: a fault is flagged in the Fault Status register. */
export const RTD_FAULT_FLAG = 0x01 as const;
/** Fault Status register (Table 7). */
export const FaultStatus = deepFreeze({
  HIGH_THRESHOLD: 0x80,
  LOW_THRESHOLD: 0x40,
  REFIN_HIGH: 0x20,
  REFIN_LOW_FORCE_OPEN: 0x10,
  RTDIN_LOW_FORCE_OPEN: 0x08,
  OVER_UNDER_VOLTAGE: 0x04,
} as const);
/** The fault status bits only a fault-detection cycle sets (section "Fault Detection and Input Protection"), plus D2. */
export const CYCLE_FAULTS = 0x3c as const;
/** Electrical Characteristics: one-shot conversion time, ms (60 Hz, 50 Hz filter). */
export const CONVERSION_MS_60HZ = 52;
export const CONVERSION_MS_50HZ = 62.5;
/** Electrical Characteristics: automatic fault-detection cycle time, CS high to complete, maximum, ms. */
export const FAULT_CYCLE_MS = 0.6;
export const STUCK_MARGIN_MS = 100;
export const MAX_HZ = 5_000_000;
/** A code this close to full scale means an open RTD or lead. */
export const FULL_SCALE_CODE = 0x7ff0;

/** Callendar–Van Dusen coefficients of IEC 60751 (α = 0.00385). */
export const CVD = deepFreeze({ A: 3.9083e-3, B: -5.775e-7, C: -4.183e-12 } as const);

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
  static readonly channels = deepFreeze([{ kind: 'milliCelsius', name: 'temperature' }] as const);

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
  /** A fault-detection cycle was started and its result not read yet. */
  #detecting = false;
  #detectStartedAt = 0;
  #detectPolls = 0;

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
    if (this.#detecting) return this.#finishDetection(io, now);
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
    if (!this.#configHeld(config)) return this.#reset(config);
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
    if (lsb & RTD_FAULT_FLAG || status) {
      const result = this.#conversionFault(code, status);
      // Clear, then let the fault-detection cycle tell the causes apart before converting again.
      this.#startDetection(io, now, true);
      return result;
    }
    const result = this.#decode(out, code, now);
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

  /** A fault flagged by a conversion (RTD LSB D0, Fault Status D7/D6, or D2 at any time). */
  #conversionFault(code: number, status: number): 0 {
    if (status & CYCLE_FAULTS) return this.#cycleFault(status);
    if (status & FaultStatus.HIGH_THRESHOLD && code >= FULL_SCALE_CODE) {
      return this.#fail(SensorErrorCode.OPEN, `open RTD element (or RTDIN+ shorted high): full-scale code ${code} (D7, fault status ${status})`);
    }
    const ohms = (code * this.#referenceOhms) / 32768;
    if (status & FaultStatus.LOW_THRESHOLD && ohms < rtdOhms(-200, this.#r0)) {
      return this.#fail(SensorErrorCode.SHORT, `RTD element shorted (RTDIN+ to RTDIN-): ${ohms.toFixed(2)} Ω (D6, fault status ${status})`);
    }
    if (status & (FaultStatus.HIGH_THRESHOLD | FaultStatus.LOW_THRESHOLD)) {
      // The thresholds are the configured range: a real temperature beyond it.
      return this.#fail(SensorErrorCode.RANGE, `${ohms.toFixed(2)} Ω beyond the configured range (fault status ${status})`);
    }
    return this.#fail(SensorErrorCode.RTD_FAULT, `fault flag set, fault status ${status}, code ${code}`);
  }

  /** A fault the fault-detection cycle found (D5..D3), or an over/undervoltage (D2). */
  #cycleFault(status: number): 0 {
    if (status & FaultStatus.OVER_UNDER_VOLTAGE) {
      return this.#fail(SensorErrorCode.OVERVOLTAGE, `an RTD input above VDD or below GND1: a lead touching another voltage (D2, fault status ${status})`);
    }
    if (status & FaultStatus.REFIN_HIGH) {
      return this.#fail(SensorErrorCode.OPEN, `open RTD element or FORCE+/FORCE- lead: REFIN- > 0.85 × VBIAS (D5, fault status ${status})`);
    }
    return this.#fail(
      SensorErrorCode.SHORT_GND,
      `an RTD lead (RTDIN-, FORCE-, RTDIN+ or FORCE+) shorted to ground: ${status & FaultStatus.REFIN_LOW_FORCE_OPEN ? 'REFIN-' : 'RTDIN-'} < 0.85 × VBIAS with FORCE- open (D4/D3, fault status ${status})`,
    );
  }

  /** Polls the fault-detection cycle; reads its result once D3:D2 are back to 00b. */
  #finishDetection(io: SPI, now: number): number {
    if (!this.#readBlock(io)) return 0;
    const fill = this.#regs.blockFill();
    if (fill >= 0) return this.#fail(SensorErrorCode.FRAME, `all-${fill ? 'ones' : 'zero'} register block`);
    const b = this.#regs.block;
    const config = b[1 + Register.CONFIG]!;
    if (!this.#configHeld(config)) return this.#reset(config);
    if (config & Config.FAULT_CYCLE_MASK) {
      const polls = ++this.#detectPolls;
      const elapsed = now - this.#detectStartedAt;
      if (this.#now ? elapsed > FAULT_CYCLE_MS + STUCK_MARGIN_MS : polls > 1) {
        this.#startDetection(io, now, false);
        return this.#fail(SensorErrorCode.STUCK, `fault-detection cycle not done (D3:D2 ${(config >> 2) & 3}) after ${this.#now ? `${elapsed} ms` : `${polls} reads`}`);
      }
      this.lastError = SensorErrorCode.NOT_READY;
      return this.#fault.notReady('fault-detection cycle under way');
    }
    const status = b[1 + Register.FAULT_STATUS]!;
    if (status & CYCLE_FAULTS) {
      const result = this.#cycleFault(status);
      this.#startDetection(io, now, true);
      return result;
    }
    this.#detecting = false;
    this.#startConversion(io, now, status !== 0);
    return this.#pending ? this.#fault.notReady('fault-detection cycle clean, conversion started') : 0;
  }

  /** Clears the fault status if asked (a write of its own: D5, D3, D2 at 0), then starts the cycle. */
  #startDetection(io: SPI, now: number, clearFaults: boolean): void {
    this.#pending = false;
    this.#detecting = true;
    this.#detectStartedAt = now;
    this.#detectPolls = 0;
    try {
      if (clearFaults) this.#regs.write(io, Register.CONFIG, this.#config | Config.FAULT_CLEAR);
      this.#regs.write(io, Register.CONFIG, this.#faultCycleCommand());
    } catch (error) {
      this.#fail(SensorErrorCode.BUS, messageOf(error));
    }
  }

  /** 100X010Xb (Table 3): VBIAS on, normally off, automatic fault detection; wiring and filter kept. */
  #faultCycleCommand(): number {
    return Config.FAULT_CYCLE_AUTO | (this.#config & (Config.THREE_WIRE | Config.FILTER_50HZ));
  }

  /** The configuration register still holds our settings (1-shot and D3:D2 aside). */
  #configHeld(config: number): boolean {
    return (config & ~(Config.ONE_SHOT | Config.FAULT_CYCLE_MASK)) === this.#config;
  }

  /** The part lost its configuration (a power-on reset): reconfigure. */
  #reset(config: number): 0 {
    this.#pending = false;
    this.#detecting = false;
    this.#configurePart();
    return this.#fail(SensorErrorCode.POWER_ON_VALUE, `configuration ${config}: the part reset; reconfigured`);
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

  /** Starts a one-shot conversion; a fault clear first is a write of its own (D1 needs D5 at 0). */
  #startConversion(io: SPI, now: number, clearFaults: boolean): void {
    try {
      if (clearFaults) this.#regs.write(io, Register.CONFIG, this.#config | Config.FAULT_CLEAR);
      this.#regs.write(io, Register.CONFIG, this.#config | Config.ONE_SHOT);
    } catch (error) {
      this.#pending = false;
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return;
    }
    this.#pending = true;
    this.#startedAt = now;
    if (this.lastError === undefined) this.lastError = SensorErrorCode.NOT_READY;
  }

  /**
   * Thresholds, configuration (VBIAS on, status cleared), then the automatic fault-detection
   * cycle, whose result the next `read()` collects; reads the settings back. Returns an error
   * code or undefined.
   */
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
    this.#pending = false;
    this.#detecting = false;
    const now = this.#now ? this.#now() : 0;
    try {
      io.write(s);
      regs.write(io, Register.CONFIG, this.#config | Config.FAULT_CLEAR);
      regs.write(io, Register.CONFIG, this.#faultCycleCommand());
      this.#detecting = true;
      this.#detectStartedAt = now;
      this.#detectPolls = 0;
      if (!this.#readBlock(io)) return SensorErrorCode.BUS;
    } catch (error) {
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return SensorErrorCode.BUS;
    }
    const b = regs.block;
    const config = b[1 + Register.CONFIG]!;
    const cycle = config & Config.FAULT_CYCLE_MASK;
    if (
      (config & ~Config.FAULT_CYCLE_MASK) !== this.#config ||
      (cycle !== 0 && cycle !== (Config.FAULT_CYCLE_AUTO & Config.FAULT_CYCLE_MASK)) ||
      b[1 + Register.HFT_MSB] !== s[1] ||
      b[1 + Register.HFT_LSB] !== s[2] ||
      b[1 + Register.LFT_MSB] !== s[3] ||
      b[1 + Register.LFT_LSB] !== s[4]
    ) {
      this.#detecting = false;
      this.#fail(SensorErrorCode.CHIP_ID, `read back configuration ${b[1]}, thresholds ${b[4]} ${b[5]} ${b[6]} ${b[7]}`);
      return SensorErrorCode.CHIP_ID;
    }
    return undefined;
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
