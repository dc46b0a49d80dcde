/*
 * TI TMP117 at the register level, per its datasheet (SNOSD82D).
 *
 * - §7.6 register map: 00h Temp_Result (R, 8000h), 01h Configuration (R/W, 0220h),
 *   02h THigh_Limit (6000h), 03h TLow_Limit (8000h), 04h EEPROM_UL, 05h/06h/08h EEPROM1-3,
 *   07h Temp_Offset (0000h), 0Fh Device_ID (0117h). Registers are 16 bits, MSB first.
 * - §7.5.2 pointer register: the first byte written selects the register; a write of three bytes
 *   (pointer, MSB, LSB) stores a value when its LSB arrives; a read returns the selected register
 *   MSB first (and repeats it when the controller keeps reading).
 * - §7.3.1 power up: the part NAKs for 1.5 ms after power is applied or a soft reset; the result
 *   register reads -256 °C (8000h) until the first conversion, including averaging, completes.
 * - §7.4.1 continuous conversion: a conversion (15.5 ms x averages) starts each cycle; the cycle
 *   time is Table 7-7 (CONV[2:0] x AVG[1:0]). §7.4.2 shutdown: the conversion in progress
 *   completes, then the part idles. §7.4.3 one-shot: one conversion then shutdown (MOD reads 01).
 * - §7.6.3 configuration: Data_Ready (bit 13) is set when a conversion completes and cleared by
 *   reading the configuration or the result register; HIGH_Alert/LOW_Alert in alert mode are set
 *   by a result beyond the limits and cleared by reading the configuration register; in therm
 *   mode HIGH_Alert sets above THigh and clears below TLow. MOD = 10 reads back as 00.
 * - §7.6.8 Temp_Offset is added to every result.
 *
 * Conversions are evaluated lazily from `env.now()` at each bus access; the temperature latched is
 * the environment's at that access. Register pointers to addresses the map does not define are
 * NAKed (the datasheet leaves them undefined; a driver must not rely on them).
 *
 * Faults: `faults.chipId` (Device_ID reads this instead), `faults.stuck` (the result register
 * stops changing while Data_Ready keeps setting), `faults.dead` (no conversion ever completes
 * again), `powerCycle()` (brown-out: back to power-on values). Bus faults (NAK, time-out,
 * all-zero / all-ones frames) are injected on the SimI2CBus.
 */
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

/** §7.6 register map. */
export const TMP117Register = {
  TEMP_RESULT: 0x00,
  CONFIGURATION: 0x01,
  THIGH_LIMIT: 0x02,
  TLOW_LIMIT: 0x03,
  EEPROM_UL: 0x04,
  EEPROM1: 0x05,
  EEPROM2: 0x06,
  TEMP_OFFSET: 0x07,
  EEPROM3: 0x08,
  DEVICE_ID: 0x0f,
} as const;

/** §7.6.3 configuration register fields. */
const HIGH_ALERT = 0x8000;
const LOW_ALERT = 0x4000;
const DATA_READY = 0x2000;
const MOD_MASK = 0x0c00;
const MOD_SHIFT = 10;
const CONV_MASK = 0x0380;
const CONV_SHIFT = 7;
const AVG_MASK = 0x0060;
const AVG_SHIFT = 5;
const THERM = 0x0010;
const SOFT_RESET = 0x0002;
/** Bits a write can change (11:2; bit 1 is the self-clearing soft reset, bit 0 reserved). */
const WRITABLE = 0x0ffc;

const POWER_ON_CONFIGURATION = 0x0220;
const POWER_ON_RESULT = 0x8000;
const DEVICE_ID = 0x0117;
/** §6.5 / §7.3.1: power-up (and soft reset) time, ms. */
const POWER_UP_MS = 1.5;
/** §7.3.2: active conversion time for AVG = 00, 01, 10, 11 (1, 8, 32, 64 averages), ms. */
const ACTIVE_MS = [15.5, 125, 500, 1000] as const;
/** §7.4.1 Table 7-7: conversion cycle time, [CONV][AVG], ms. */
const CYCLE_MS = [
  [15.5, 125, 500, 1000],
  [125, 125, 500, 1000],
  [250, 250, 500, 1000],
  [500, 500, 500, 1000],
  [1000, 1000, 1000, 1000],
  [4000, 4000, 4000, 4000],
  [8000, 8000, 8000, 8000],
  [16000, 16000, 16000, 16000],
] as const;

export interface SimTMP117Options {
  /** When power was applied, ms on env's clock (default: at construction). */
  poweredAt?: number;
  /** Peak-to-peak-ish noise added to each result, in LSB (default 0); deterministic. */
  noiseLsb?: number;
  seed?: number;
}

export interface SimTMP117Faults {
  chipId?: number;
  stuck?: boolean;
  dead?: boolean;
}

export class SimTMP117 implements SimI2CDevice {
  readonly maxHz = 400_000;
  readonly faults: SimTMP117Faults = {};
  /** Conversions completed since power-on (for tests). */
  conversions = 0;

  readonly #env: SimEnv;
  readonly #noiseLsb: number;
  #seed: number;
  readonly #regs = new Uint16Array(16);
  #readyAt = 0;
  /** Continuous mode: start of the current series of cycles, and conversions done in it. */
  #seriesStart = 0;
  #seriesDone = 0;
  /** A single pending conversion (one-shot, or the one finishing before shutdown); -1 = none. */
  #pendingAt = -1;
  #pointer = 0;
  /** Bytes received in the current write transaction, -1 outside one. */
  #writeCount = -1;
  #msb = 0;
  /** Value being sent in the current read, and the byte index. */
  #readValue = 0;
  #readIndex = 0;

  constructor(env: SimEnv, options: SimTMP117Options = {}) {
    this.#env = env;
    this.#noiseLsb = options.noiseLsb ?? 0;
    this.#seed = (options.seed ?? 0x117) >>> 0 || 1;
    this.#reset(options.poweredAt ?? env.now());
  }

  /** Brown-out or power cycle at the current time: every register back to its power-on value. */
  powerCycle(): void {
    this.#reset(this.#env.now());
  }

  /** Register contents, for tests (advances conversions first, clears nothing). */
  peek(register: number): number {
    this.#advance(this.#env.now());
    return this.#register(register);
  }

  start(read: boolean): boolean {
    const now = this.#env.now();
    if (now < this.#readyAt) return false;
    this.#advance(now);
    if (!read) {
      this.#writeCount = 0;
      return true;
    }
    this.#writeCount = -1;
    this.#readValue = this.#register(this.#pointer);
    this.#readIndex = 0;
    const regs = this.#regs;
    if (this.#pointer === TMP117Register.TEMP_RESULT) regs[1]! &= ~DATA_READY;
    if (this.#pointer === TMP117Register.CONFIGURATION) {
      const therm = (regs[1]! & THERM) !== 0;
      regs[1]! &= therm ? ~DATA_READY : ~(DATA_READY | HIGH_ALERT | LOW_ALERT);
    }
    return true;
  }

  writeByte(byte: number): boolean {
    const count = this.#writeCount;
    if (count < 0) return false;
    if (count === 0) {
      if (!isDefined(byte)) return false;
      this.#pointer = byte;
    } else if (count === 1) {
      this.#msb = byte;
    } else if (count === 2) {
      this.#store(this.#pointer, (this.#msb << 8) | byte);
    } else {
      return false;
    }
    this.#writeCount = count + 1;
    return true;
  }

  readByte(_last: boolean): number {
    const byte = this.#readIndex & 1 ? this.#readValue & 0xff : this.#readValue >> 8;
    this.#readIndex++;
    return byte;
  }

  stop(): void {
    this.#writeCount = -1;
  }

  #register(register: number): number {
    if (register === TMP117Register.DEVICE_ID) return this.faults.chipId ?? DEVICE_ID;
    return this.#regs[register]!;
  }

  #reset(at: number): void {
    const regs = this.#regs;
    regs.fill(0);
    regs[TMP117Register.TEMP_RESULT] = POWER_ON_RESULT;
    regs[TMP117Register.CONFIGURATION] = POWER_ON_CONFIGURATION;
    regs[TMP117Register.THIGH_LIMIT] = 0x6000;
    regs[TMP117Register.TLOW_LIMIT] = 0x8000;
    this.#readyAt = at + POWER_UP_MS;
    this.#seriesStart = this.#readyAt;
    this.#seriesDone = 0;
    this.#pendingAt = -1;
    this.#pointer = 0;
    this.#writeCount = -1;
  }

  #store(register: number, value: number): void {
    const regs = this.#regs;
    const now = this.#env.now();
    switch (register) {
      case TMP117Register.CONFIGURATION: {
        if (value & SOFT_RESET) {
          this.#reset(now);
          return;
        }
        const before = regs[1]!;
        const wasContinuous = (before & MOD_MASK) === 0;
        let next = (before & ~WRITABLE) | (value & WRITABLE);
        let mode = (next & MOD_MASK) >> MOD_SHIFT;
        if (mode === 2) {
          next &= ~MOD_MASK;
          mode = 0;
        }
        regs[1] = next;
        if (mode === 0) {
          this.#pendingAt = -1;
          this.#seriesStart = now;
          this.#seriesDone = 0;
        } else if (mode === 3) {
          this.#pendingAt = now + ACTIVE_MS[(next & AVG_MASK) >> AVG_SHIFT]!;
        } else if (wasContinuous) {
          this.#pendingAt = this.#inProgressEnd(now, before);
        }
        return;
      }
      case TMP117Register.THIGH_LIMIT:
      case TMP117Register.TLOW_LIMIT:
      case TMP117Register.EEPROM_UL:
      case TMP117Register.EEPROM1:
      case TMP117Register.EEPROM2:
      case TMP117Register.TEMP_OFFSET:
      case TMP117Register.EEPROM3:
        regs[register] = value;
        return;
      default:
        return;
    }
  }

  /** End of the conversion in progress at `now` in continuous mode with config `config`, or -1. */
  #inProgressEnd(now: number, config: number): number {
    const avg = (config & AVG_MASK) >> AVG_SHIFT;
    const cycle = CYCLE_MS[(config & CONV_MASK) >> CONV_SHIFT]![avg]!;
    const active = ACTIVE_MS[avg]!;
    if (now < this.#seriesStart) return -1;
    const intoCycle = (now - this.#seriesStart) % cycle;
    return intoCycle < active ? now - intoCycle + active : -1;
  }

  #advance(now: number): void {
    const regs = this.#regs;
    const config = regs[1]!;
    const mode = (config & MOD_MASK) >> MOD_SHIFT;
    if (mode === 0) {
      const avg = (config & AVG_MASK) >> AVG_SHIFT;
      const cycle = CYCLE_MS[(config & CONV_MASK) >> CONV_SHIFT]![avg]!;
      const first = this.#seriesStart + ACTIVE_MS[avg]!;
      if (now < first) return;
      const completed = Math.floor((now - first) / cycle) + 1;
      if (completed > this.#seriesDone) {
        this.#seriesDone = completed;
        this.#complete();
      }
      return;
    }
    if (this.#pendingAt >= 0 && now >= this.#pendingAt) {
      this.#pendingAt = -1;
      if (mode === 3) regs[1] = (config & ~MOD_MASK) | (1 << MOD_SHIFT);
      this.#complete();
    }
  }

  /** A conversion finished: latch the result, set Data_Ready, evaluate the alert flags. */
  #complete(): void {
    if (this.faults.dead) return;
    this.conversions++;
    const regs = this.#regs;
    if (!this.faults.stuck) {
      let raw = Math.round(this.#env.temperature() * 128) + this.#noise();
      raw += (regs[TMP117Register.TEMP_OFFSET]! << 16) >> 16;
      raw = raw < -32768 ? -32768 : raw > 32767 ? 32767 : raw;
      regs[TMP117Register.TEMP_RESULT] = raw & 0xffff;
    }
    const result = (regs[0]! << 16) >> 16;
    const high = (regs[TMP117Register.THIGH_LIMIT]! << 16) >> 16;
    const low = (regs[TMP117Register.TLOW_LIMIT]! << 16) >> 16;
    let config = regs[1]! | DATA_READY;
    if (config & THERM) {
      if (result > high) config |= HIGH_ALERT;
      else if (result < low) config &= ~HIGH_ALERT;
    } else {
      if (result > high) config |= HIGH_ALERT;
      if (result < low) config |= LOW_ALERT;
    }
    regs[1] = config;
  }

  #noise(): number {
    const span = this.#noiseLsb;
    if (span <= 0) return 0;
    let x = this.#seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#seed = x >>> 0;
    return (this.#seed % (2 * span + 1)) - span;
  }
}

function isDefined(register: number): boolean {
  return register <= 0x08 || register === TMP117Register.DEVICE_ID;
}
