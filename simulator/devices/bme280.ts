/*
 * Bosch BME280 at the register level, per its datasheet (BST-BME280-DS002).
 *
 * - §5.3 Table 18 memory map: trimming NVM 88h..A1h and E1h..E7h (§4.2.2 Table 16), id D0h = 60h,
 *   reset E0h (B6h), ctrl_hum F2h, status F3h (bit 3 measuring, bit 0 im_update), ctrl_meas F4h
 *   (osrs_t, osrs_p, mode), config F5h (t_sb, filter), data F7h..FEh (press, temp: 20 bits MSB
 *   first, xlsb in bits 7:4; hum: 16 bits).
 * - §6.2 I2C: a write is the register address then data; more pairs (address, data) may follow;
 *   a read starts at the pointer and auto-increments.
 * - §5.4.3 ctrl_hum only takes effect with the next ctrl_meas write. §3.3 modes: sleep (POR),
 *   forced (one measurement, then sleep), normal (measurement, t_standby, repeated).
 * - §9.1 measurement time, max: 1.25 + 2.3 osrs_t + (2.3 osrs_p + 0.575) + (2.3 osrs_h + 0.575)
 *   ms (terms of skipped measurements left out). §3.4: resolution 16 bits at x1 oversampling plus
 *   one bit per doubling; skipped measurements read 80000h (80000h / 8000h also after POR).
 * - §1 Table 1 / §5.4.4: start-up 2 ms, during which the NVM is copied (im_update); the fake
 *   NAKs during the first 1 ms.
 * The raw values are found by inverting the compensation functions exported by the driver
 * (binary search over the ADC code); the tests check those functions on their own against the
 * datasheet's worked example and its floating-point formulas.
 *
 * Faults: `faults.chipId`, `faults.blankNvm` (trimming reads all FFh), `faults.stuck` (data
 * registers stop changing), `faults.dead` (no more measurements), `powerCycle()`.
 */
import {
  bme280CentiCelsius,
  bme280HumidityQ10,
  bme280Pascal,
  bme280TFine,
  type BME280Trimming,
} from '../../firmware/sensors/bme280';
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

/** A plausible set of trimming parameters (a part's NVM is unique; §4.2.2 Table 16 layout). */
export const BME280_TYPICAL_TRIMMING: BME280Trimming = {
  T1: 28444, T2: 26571, T3: 50,
  P1: 37530, P2: -10593, P3: 3024, P4: 7488, P5: -148, P6: -7, P7: 9900, P8: -10230, P9: 4285,
  H1: 75, H2: 362, H3: 0, H4: 313, H5: 50, H6: 30,
};

const OVERSAMPLING = [0, 1, 2, 4, 8, 16, 16, 16] as const;
const STANDBY_MS = [0.5, 62.5, 125, 250, 500, 1000, 10, 20] as const;
const NAK_MS = 1;
const STARTUP_MS = 2;

export interface SimBME280Faults {
  chipId?: number;
  blankNvm?: boolean;
  stuck?: boolean;
  dead?: boolean;
}

export class SimBME280 implements SimI2CDevice {
  readonly maxHz = 3_400_000;
  readonly faults: SimBME280Faults = {};
  measurements = 0;
  readonly trimming: BME280Trimming;
  readonly #env: SimEnv;
  readonly #regs = new Uint8Array(256);
  #poweredAt = 0;
  #pointer = 0;
  #writeCount = -1;
  #latchedOsrsH = 0;
  /** Normal mode: series start and count; forced mode: completion time (-1 none). */
  #seriesStart = 0;
  #seriesDone = 0;
  #forcedAt = -1;

  constructor(env: SimEnv, options: { poweredAt?: number; trimming?: BME280Trimming } = {}) {
    this.#env = env;
    this.trimming = options.trimming ?? BME280_TYPICAL_TRIMMING;
    this.#reset(options.poweredAt ?? env.now());
  }

  powerCycle(): void {
    this.#reset(this.#env.now());
  }

  peek(register: number): number {
    this.#advance(this.#env.now());
    return this.#read(register);
  }

  start(read: boolean): boolean {
    const now = this.#env.now();
    if (now < this.#poweredAt + NAK_MS) return false;
    this.#advance(now);
    this.#writeCount = read ? -1 : 0;
    return true;
  }

  writeByte(byte: number): boolean {
    const count = this.#writeCount;
    if (count < 0) return false;
    if (count % 2 === 0) this.#pointer = byte;
    else this.#store(this.#pointer, byte);
    this.#writeCount = count + 1;
    return true;
  }

  readByte(_last: boolean): number {
    const value = this.#read(this.#pointer);
    this.#pointer = (this.#pointer + 1) & 0xff;
    return value;
  }

  stop(): void {
    this.#writeCount = -1;
  }

  #read(register: number): number {
    if (register === 0xd0) return this.faults.chipId ?? 0x60;
    if (this.faults.blankNvm && ((register >= 0x88 && register <= 0xa1) || (register >= 0xe1 && register <= 0xe7))) return 0xff;
    if (register === 0xf3) {
      const now = this.#env.now();
      return (this.#measuring(now) ? 0x08 : 0) | (now < this.#poweredAt + STARTUP_MS ? 0x01 : 0);
    }
    return this.#regs[register]!;
  }

  #store(register: number, value: number): void {
    const regs = this.#regs;
    const now = this.#env.now();
    switch (register) {
      case 0xe0:
        if (value === 0xb6) this.#reset(now);
        return;
      case 0xf2:
        regs[0xf2] = value & 0x07;
        return;
      case 0xf4: {
        regs[0xf4] = value;
        this.#latchedOsrsH = regs[0xf2]! & 0x07;
        const mode = value & 0x03;
        if (mode === 0x03) {
          this.#seriesStart = now;
          this.#seriesDone = 0;
          this.#forcedAt = -1;
        } else if (mode !== 0) {
          this.#forcedAt = now + this.#measurementMs();
        } else {
          this.#forcedAt = -1;
        }
        return;
      }
      case 0xf5:
        if ((regs[0xf4]! & 0x03) !== 0x03) regs[0xf5] = value & 0xfd;
        return;
      default:
        return;
    }
  }

  #measurementMs(): number {
    const ctrl = this.#regs[0xf4]!;
    const t = OVERSAMPLING[ctrl >> 5]!;
    const p = OVERSAMPLING[(ctrl >> 2) & 7]!;
    const h = OVERSAMPLING[this.#latchedOsrsH]!;
    return 1.25 + 2.3 * t + (p ? 2.3 * p + 0.575 : 0) + (h ? 2.3 * h + 0.575 : 0);
  }

  #measuring(now: number): boolean {
    const mode = this.#regs[0xf4]! & 0x03;
    if (mode === 0x03) {
      const period = this.#measurementMs() + STANDBY_MS[this.#regs[0xf5]! >> 5]!;
      return (now - this.#seriesStart) % period < this.#measurementMs();
    }
    return this.#forcedAt >= 0 && now < this.#forcedAt;
  }

  #advance(now: number): void {
    const regs = this.#regs;
    const mode = regs[0xf4]! & 0x03;
    if (mode === 0x03) {
      const tMeas = this.#measurementMs();
      const period = tMeas + STANDBY_MS[regs[0xf5]! >> 5]!;
      if (now < this.#seriesStart + tMeas) return;
      const done = Math.floor((now - this.#seriesStart - tMeas) / period) + 1;
      if (done > this.#seriesDone) {
        this.#seriesDone = done;
        this.#measure();
      }
    } else if (mode !== 0 && this.#forcedAt >= 0 && now >= this.#forcedAt) {
      this.#forcedAt = -1;
      regs[0xf4] = regs[0xf4]! & ~0x03;
      this.#measure();
    }
  }

  #measure(): void {
    if (this.faults.dead) return;
    this.measurements++;
    if (this.faults.stuck) return;
    const regs = this.#regs;
    const c = this.trimming;
    const osrsT = regs[0xf4]! >> 5;
    const osrsP = (regs[0xf4]! >> 2) & 7;
    const osrsH = this.#latchedOsrsH;
    const adcT = invert(0, 0xfffff, (adc) => bme280CentiCelsius(bme280TFine(c, adc)), Math.round(this.#env.temperature() * 100));
    const tFine = bme280TFine(c, adcT);
    const adcP = invert(0, 0xfffff, (adc) => -bme280Pascal(c, tFine, adc), -Math.round(this.#env.pressure()));
    const adcH = invert(0, 0xffff, (adc) => bme280HumidityQ10(c, tFine, adc), Math.round(this.#env.humidity() * 1024));
    put20(regs, 0xf7, osrsP ? truncate(adcP, osrsP) : 0x80000);
    put20(regs, 0xfa, osrsT ? truncate(adcT, osrsT) : 0x80000);
    const h = osrsH ? adcH : 0x8000;
    regs[0xfd] = h >> 8;
    regs[0xfe] = h & 0xff;
  }

  #reset(at: number): void {
    const regs = this.#regs;
    regs.fill(0);
    const c = this.trimming;
    const words = [c.T1, c.T2, c.T3, c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9];
    for (let i = 0; i < words.length; i++) {
      regs[0x88 + 2 * i] = words[i]! & 0xff;
      regs[0x89 + 2 * i] = (words[i]! >> 8) & 0xff;
    }
    regs[0xa1] = c.H1;
    regs[0xe1] = c.H2 & 0xff;
    regs[0xe2] = (c.H2 >> 8) & 0xff;
    regs[0xe3] = c.H3;
    regs[0xe4] = (c.H4 >> 4) & 0xff;
    regs[0xe5] = (c.H4 & 0x0f) | ((c.H5 & 0x0f) << 4);
    regs[0xe6] = (c.H5 >> 4) & 0xff;
    regs[0xe7] = c.H6 & 0xff;
    put20(regs, 0xf7, 0x80000);
    put20(regs, 0xfa, 0x80000);
    regs[0xfd] = 0x80;
    regs[0xfe] = 0x00;
    this.#poweredAt = at;
    this.#latchedOsrsH = 0;
    this.#forcedAt = -1;
    this.#writeCount = -1;
  }
}

/** Largest code in [low, high] whose (non-decreasing) f(code) <= target, or `low`. */
function invert(low: number, high: number, f: (code: number) => number, target: number): number {
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (f(mid) <= target) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Keeps the 16 + (osrs - 1) most significant of 20 bits (§3.4.3). */
function truncate(adc: number, osrs: number): number {
  const bits = Math.min(20, 15 + osrs);
  return (adc >> (20 - bits)) << (20 - bits);
}

function put20(regs: Uint8Array, at: number, value: number): void {
  regs[at] = (value >> 12) & 0xff;
  regs[at + 1] = (value >> 4) & 0xff;
  regs[at + 2] = (value & 0x0f) << 4;
}
