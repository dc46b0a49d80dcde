/*
 * MAX31856 precision thermocouple-to-digital converter with linearization (Maxim 19-7755), SPI
 * (mode 1 or 3, ≤ 5 MHz). ECMA-419 sensor class.
 *
 *   const tc = new MAX31856({ sensor: { io: host.io.SPI, select: 5 }, type: 'K', now, onError });
 *   tc.read(out)   // out[0] thermocouple, out[1] cold junction, milli-°C; a bit per valid channel
 *   tc.sample()    // { temperature, coldJunction } in °C (one object, reused; a failed channel
 *                  // undefined), or undefined
 *
 * One-shot conversions, scheduled, never waited for: `read()` checks that the part cleared
 * 1SHOT (it does so when the conversion is done: CR0 bit 6), reads every register in one
 * transaction, then sets 1SHOT for the next conversion. The reading is one sample interval old.
 * The part has no id register: the constructor writes CR0, CR1 and MASK and reads them back
 * (E_CHIP_ID if they do not stick: no part, or another part, on this chip select).
 *
 * Never a plausible wrong number. The Fault Status Register (SR, Table 6, 0Fh; comparator mode,
 * FAULT = 0: the bits follow the last conversion) decides which channel a fault takes:
 * - thermocouple faults, the cold junction kept (`read()` returns 0b10 with out[1] and reports
 *   the fault with `channel` 0): SR OPEN (D0, open-circuit detection is always enabled,
 *   OCFAULT = 01) → E_OPEN; SR TC Range (D6, hot junction outside the type's range) and TCHIGH /
 *   TCLOW (D3/D2, beyond the LTHFT/LTLFT thresholds, left at their power-on ±2048 °C: outside
 *   every type's range) → E_RANGE. The cold junction is the part's internal sensor, converted
 *   apart from the thermocouple input: these bits say nothing about it;
 * - faults of the cold junction, both channels lost (the thermocouple value is compensated with
 *   it): SR CJ Range (D7, outside −55..+125 °C) and CJHIGH / CJLOW (D5/D4, beyond the CJHF/CJLF
 *   thresholds, left at their power-on +127 / −64 °C: outside the cold-junction range too) →
 *   E_RANGE;
 * - SR OVUV (D1, an input below GND or above VDD: the thermocouple shorted to GND or VCC, the
 *   part does not say which) → E_TC_FAULT for both: while it lasts the part does not convert
 *   (Analog Devices' note on the MAX31856 and OVUV: "conversions are not occurring"), so the
 *   cold-junction registers hold a stale value;
 * - the block reads all 0s or all 1s, or reserved bits set → E_FRAME;
 * - CR0/CR1 back at their power-on values (a brown-out) → E_POWER_ON_VALUE, and reconfigured;
 * - 1SHOT still set long after the maximum conversion time → E_STUCK; a value unchanged for
 *   longer than `stuckMs` → E_STUCK; the IO class throwing → E_BUS.
 */
import type { SPI, SPIConstructor } from '../host';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf } from './fault';
import { openSPI, spiHz, SPIRegisters } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

const PART = 'MAX31856';

/** Table 6 "Register Memory Map and Descriptions" (read addresses; write = address | 80h). */
export const Register = deepFreeze({
  CR0: 0x00,
  CR1: 0x01,
  MASK: 0x02,
  CJTO: 0x09,
  CJTH: 0x0a,
  CJTL: 0x0b,
  LTCBH: 0x0c,
  LTCBM: 0x0d,
  LTCBL: 0x0e,
  SR: 0x0f,
  WRITE: 0x80,
  COUNT: 16,
} as const);
/** CR0 bits (Table 6, 00h). */
export const CR0 = deepFreeze({
  CMODE: 0x80,
  ONE_SHOT: 0x40,
  OCFAULT_01: 0x10,
  CJ_DISABLE: 0x08,
  FAULT_INTERRUPT: 0x04,
  FAULTCLR: 0x02,
  FILTER_50HZ: 0x01,
} as const);
/** CR1 fields (Table 6, 01h). */
export const CR1 = deepFreeze({
  RESERVED: 0x80,
  AVGSEL_SHIFT: 4,
  TC_TYPE_MASK: 0x0f,
  POWER_ON: 0x03,
} as const);
/** MASK: bits 7:6 reserved (read 1). Masks only the FAULT pin; all masked (FFh) here. */
export const MASK_ALL = 0xff as const;
/** Fault Status Register (Table 6, 0Fh). */
export const SR = deepFreeze({
  CJ_RANGE: 0x80,
  TC_RANGE: 0x40,
  CJ_HIGH: 0x20,
  CJ_LOW: 0x10,
  TC_HIGH: 0x08,
  TC_LOW: 0x04,
  OVUV: 0x02,
  OPEN: 0x01,
} as const);
/** SR bits that invalidate both channels: the cold junction itself, or no conversion (OVUV). */
const SR_BOTH = SR.CJ_RANGE | SR.CJ_HIGH | SR.CJ_LOW | SR.OVUV;
/** SR bits of the thermocouple alone: the cold junction of the same conversion is kept. */
const SR_THERMOCOUPLE = SR.OPEN | SR.TC_RANGE | SR.TC_HIGH | SR.TC_LOW;
/** Channel indexes (bits of the `read` result), as in `MAX31856.channels`. */
const CHANNEL_THERMOCOUPLE = 0;
/** TC TYPE codes (CR1[3:0]). */
export const TC_TYPES = deepFreeze({ B: 0, E: 1, J: 2, K: 3, N: 4, R: 5, S: 6, T: 7 } as const);
export type ThermocoupleType = keyof typeof TC_TYPES;
/** Electrical Characteristics: one-shot conversion time, 1 sample, ms (60 Hz, 50 Hz). */
export const CONVERSION_MS_60HZ = 155;
export const CONVERSION_MS_50HZ = 185;
/** Added per additional averaged sample, ms (60 Hz, 50 Hz). */
export const AVERAGE_MS_60HZ = 33.33;
export const AVERAGE_MS_50HZ = 40;
/** Margin before a conversion that never finishes is E_STUCK, ms. */
export const STUCK_MARGIN_MS = 100;
export const MAX_HZ = 5_000_000;

export interface Max31856Configuration {
  type?: ThermocoupleType;
  /** Samples averaged per conversion: 1, 2, 4, 8 or 16. */
  averaging?: 1 | 2 | 4 | 8 | 16;
  /** Mains rejection filter. */
  filterHz?: 50 | 60;
  /** E_STUCK when the thermocouple value has not changed for longer than this, ms; 0 = off. */
  stuckMs?: number;
}

export interface Max31856Options extends Max31856Configuration {
  sensor: { io: SPIConstructor; select?: number; hz?: number; mode?: 1 | 3; port?: number; out?: number; in?: number; clock?: number };
  onError?: (error: SensorError) => void;
  now?: () => number;
}

/** One object, reused; a channel that failed in this read is undefined. */
export interface Max31856Sample {
  temperature: number | undefined;
  coldJunction: number | undefined;
}

const AVERAGES = deepFreeze([1, 2, 4, 8, 16] as const);

export default class MAX31856 {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliCelsius', name: 'coldJunction' },
  ] as const);

  readonly faults: FaultCounts;
  lastError: SensorErrorCodeValue | undefined;
  readonly #fault: FaultReporter;

  #io: SPI | undefined;
  readonly #now: (() => number) | undefined;
  readonly #stuck = new StuckDetector();
  /** Address byte + 16 registers. */
  readonly #regs = new SPIRegisters(Register.COUNT, Register.WRITE);
  /** Write CR0, CR1, MASK in one transaction. */
  readonly #setup = new Uint8Array(4);
  readonly #out = new Int32Array(2);
  readonly #sample: Max31856Sample = { temperature: 0, coldJunction: 0 };
  #cr0: number = CR0.OCFAULT_01;
  #cr1: number = (0 << CR1.AVGSEL_SHIFT) | TC_TYPES.K;
  #pending = false;
  #startedAt = 0;

  constructor(options: Max31856Options) {
    const sensor = options?.sensor;
    if (!sensor || typeof sensor.io !== 'function') throw new TypeError(`${PART}: options.sensor.io required`);
    this.#fault = new FaultReporter(PART, options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    const hz = spiHz(PART, sensor, MAX_HZ);
    this.#apply(options);
    this.#io = openSPI(PART, sensor, hz, 1);
    const code = this.#configurePart();
    if (code) {
      this.close();
      throw this.#fault.error(code, 'configuration did not read back: no MAX31856 on this chip select?');
    }
  }

  /** Changes type, averaging, filter or stuck time; rewrites the part (throws SensorError on failure). */
  configure(options: Max31856Configuration = {}): void {
    if (!this.#io) throw new Error(`${PART}: closed`);
    this.#apply(options);
    const code = this.#configurePart();
    if (code) throw this.#fault.error(code, 'configuration did not read back');
  }

  /**
   * out[0] thermocouple, out[1] cold junction, milli-°C; returns 0b11, 0b10 (a thermocouple
   * fault: the cold junction kept), or 0 (see the header).
   */
  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) throw new Error(`${PART}: closed`);
    const now = this.#now ? this.#now() : 0;
    if (!this.#pending) {
      this.#startConversion(io, now);
      return this.#pending ? this.#fault.notReady('conversion started') : 0;
    }
    const regs = this.#regs;
    try {
      regs.readBlock(io, Register.CR0);
    } catch (error) {
      this.#pending = false;
      return this.#fail(SensorErrorCode.BUS, messageOf(error));
    }
    const fill = regs.blockFill();
    if (fill >= 0) {
      this.#pending = false;
      return this.#fail(SensorErrorCode.FRAME, `all-${fill ? 'ones' : 'zero'} register block`);
    }
    const b = regs.block;
    const cr0 = b[1 + Register.CR0]!;
    const cr1 = b[1 + Register.CR1]!;
    if (cr1 & CR1.RESERVED) {
      this.#pending = false;
      return this.#fail(SensorErrorCode.FRAME, 'reserved CR1 bit 7 set');
    }
    if ((cr0 & ~CR0.ONE_SHOT) !== this.#cr0 || cr1 !== this.#cr1) {
      this.#pending = false;
      this.#configurePart();
      return this.#fail(SensorErrorCode.POWER_ON_VALUE, `CR0 ${cr0} CR1 ${cr1}: the part reset; reconfigured`);
    }
    if (cr0 & CR0.ONE_SHOT) {
      if (this.#now && now - this.#startedAt > this.#conversionMs() + STUCK_MARGIN_MS) {
        this.#pending = false;
        return this.#fail(SensorErrorCode.STUCK, `conversion not done after ${now - this.#startedAt} ms`);
      }
      this.lastError = SensorErrorCode.NOT_READY;
      return this.#fault.notReady('conversion under way');
    }
    const result = this.#decode(out, now);
    this.#startConversion(io, now);
    if (result === 0b11) this.lastError = undefined;
    return result;
  }

  /** `{ temperature, coldJunction }` in °C; a channel `read()` did not validate is undefined. */
  sample(): Max31856Sample | undefined {
    const valid = this.read(this.#out);
    if (!valid) return undefined;
    this.#sample.temperature = valid & 0b01 ? this.#out[0]! / 1000 : undefined;
    this.#sample.coldJunction = valid & 0b10 ? this.#out[1]! / 1000 : undefined;
    return this.#sample;
  }

  /** Releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  #decode(out: Int32Array, now: number): number {
    const b = this.#regs.block;
    const sr = b[1 + Register.SR]!;
    if (sr & SR_BOTH) {
      if (sr & SR.OVUV) return this.#fail(SensorErrorCode.TC_FAULT, 'input over/under-voltage (SR OVUV): shorted to GND or VCC; no conversion');
      return this.#fail(SensorErrorCode.RANGE, sr & SR.CJ_RANGE ? 'cold junction outside −55..+125 °C (SR CJ Range)' : 'cold junction beyond its threshold (SR CJHIGH/CJLOW)');
    }
    // Table 4: 14-bit two's complement, 2^-6 °C, CJTL[1:0] unused.
    const cjRaw = ((b[1 + Register.CJTH]! << 24) | (b[1 + Register.CJTL]! << 16)) >> 18;
    if (sr & SR_THERMOCOUPLE) {
      const open = sr & SR.OPEN;
      const code = open ? SensorErrorCode.OPEN : SensorErrorCode.RANGE;
      const what = open ? 'open (SR OPEN)' : sr & SR.TC_RANGE ? 'outside its type range (SR TC Range)' : 'beyond its threshold (SR TCHIGH/TCLOW)';
      this.lastError = code;
      this.#fault.fail(code, `thermocouple ${what}; cold junction kept`, CHANNEL_THERMOCOUPLE);
      out[1] = Math.floor((cjRaw * 125) / 8);
      return 0b10;
    }
    // Table 5: 19-bit two's complement, 2^-7 °C, LTCBL[4:0] unused.
    const tcRaw = ((b[1 + Register.LTCBH]! << 24) | (b[1 + Register.LTCBM]! << 16) | (b[1 + Register.LTCBL]! << 8)) >> 13;
    const unchangedMs = this.#stuck.update(now, tcRaw);
    if (unchangedMs) return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
    out[0] = Math.floor((tcRaw * 125) / 16);
    out[1] = Math.floor((cjRaw * 125) / 8);
    return 0b11;
  }

  /** Sets 1SHOT for the next conversion; on a bus error reports E_BUS and nothing is pending. */
  #startConversion(io: SPI, now: number): void {
    try {
      this.#regs.write(io, Register.CR0, this.#cr0 | CR0.ONE_SHOT);
    } catch (error) {
      this.#pending = false;
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return;
    }
    this.#pending = true;
    this.#startedAt = now;
    if (this.lastError === undefined || this.lastError === SensorErrorCode.NOT_READY) this.lastError = SensorErrorCode.NOT_READY;
  }

  /** Writes CR0/CR1/MASK and reads them back; returns an error code, or undefined. */
  #configurePart(): SensorErrorCodeValue | undefined {
    const io = this.#io!;
    const s = this.#setup;
    s[0] = Register.WRITE | Register.CR0;
    s[1] = this.#cr0 | CR0.FAULTCLR;
    s[2] = this.#cr1;
    s[3] = MASK_ALL;
    try {
      io.write(s);
      this.#regs.readBlock(io, Register.CR0);
    } catch (error) {
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return SensorErrorCode.BUS;
    }
    this.#pending = false;
    const b = this.#regs.block;
    if (b[1] !== this.#cr0 || b[2] !== this.#cr1 || b[3] !== MASK_ALL) {
      this.#fail(SensorErrorCode.CHIP_ID, `read back CR0 ${b[1]} CR1 ${b[2]} MASK ${b[3]}`);
      return SensorErrorCode.CHIP_ID;
    }
    return undefined;
  }

  #conversionMs(): number {
    const samples = AVERAGES[(this.#cr1 >> CR1.AVGSEL_SHIFT) & 7]!;
    return this.#cr0 & CR0.FILTER_50HZ
      ? CONVERSION_MS_50HZ + (samples - 1) * AVERAGE_MS_50HZ
      : CONVERSION_MS_60HZ + (samples - 1) * AVERAGE_MS_60HZ;
  }

  #apply(options: Max31856Configuration): void {
    const { type, averaging, filterHz, stuckMs } = options;
    let cr0 = this.#cr0;
    let cr1 = this.#cr1;
    if (type !== undefined) {
      if (!Object.prototype.hasOwnProperty.call(TC_TYPES, type)) this.#fault.invalid(`thermocouple type ${type}`);
      cr1 = (cr1 & ~CR1.TC_TYPE_MASK) | TC_TYPES[type];
    }
    if (averaging !== undefined) {
      const i = AVERAGES.indexOf(averaging);
      if (i < 0) this.#fault.invalid(`averaging ${averaging}`);
      cr1 = (cr1 & CR1.TC_TYPE_MASK) | (i << CR1.AVGSEL_SHIFT);
    }
    if (filterHz !== undefined) {
      if (filterHz !== 50 && filterHz !== 60) this.#fault.invalid(`filterHz ${filterHz}`);
      cr0 = filterHz === 50 ? cr0 | CR0.FILTER_50HZ : cr0 & ~CR0.FILTER_50HZ;
    }
    if (stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, stuckMs, !!this.#now);
    this.#cr0 = cr0;
    this.#cr1 = cr1;
  }

  #fail(code: SensorErrorCodeValue, message: string): 0 {
    this.lastError = code;
    return this.#fault.fail(code, message);
  }
}
