/*
 * Sensirion SHT3x-DIS humidity and temperature sensor, per its datasheet (version 6, 2019).
 *
 * - §4.3-4.5 commands are 16 bits, MSB first, executed when the second byte arrives. Table 9
 *   single shot (2C06/2C0D/2C10 with clock stretching, 2400/240B/2416 without), Table 10 periodic
 *   (2032.. 0.5 mps up to 2737.. 10 mps), §4.6 fetch data E000, §4.7 ART 2B32, §4.8 break 3093,
 *   §4.9 soft reset 30A2, §4.10 heater 306D/3066, §4.11 status F32D / clear status 3041.
 * - Table 4 measurement duration (max): high 15 ms, medium 6 ms, low 4 ms repeatability.
 * - Reads: 6 bytes T(2) CRC RH(2) CRC, or 3 bytes status CRC after F32D. A read header while a
 *   measurement runs, or with no data in memory, is NAKed (§4.4, §4.6); fetch clears the memory.
 * - §4.12 CRC-8 0x31, init 0xFF. §4.13 S_T = (T + 45) / 175 x 65535, S_RH = RH / 100 x 65535.
 * - §2.2 / Table 5: the part NAKs for t_PU = 1.5 ms after power-up and after a soft reset, and
 *   for 1 ms after a break. In periodic mode only fetch, ART, break, soft reset, heater and status
 *   commands are taken; a measurement command NAKs until a break.
 * - §4.11 status: bit 15 alert pending and bit 4 reset detected set at reset (8010h), bit 13 heater.
 * With clock stretching, the fake NAKs a read header before the measurement ends instead of
 * holding SCL (it cannot pause the simulated clock).
 *
 * Faults: `faults.crc` (corrupts every CRC byte sent), `faults.status` (status word override, for
 * another part), `faults.stuck` (measurements repeat the last value), `faults.dead` (no new
 * measurement), `powerCycle()`. Bus faults are injected on the SimI2CBus.
 */
import { crc8Sensirion } from '../../firmware/sensors/crc';
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

export const SHT3xCommand = {
  SINGLE_HIGH_STRETCH: 0x2c06,
  SINGLE_MEDIUM_STRETCH: 0x2c0d,
  SINGLE_LOW_STRETCH: 0x2c10,
  SINGLE_HIGH: 0x2400,
  SINGLE_MEDIUM: 0x240b,
  SINGLE_LOW: 0x2416,
  FETCH: 0xe000,
  ART: 0x2b32,
  BREAK: 0x3093,
  SOFT_RESET: 0x30a2,
  HEATER_ON: 0x306d,
  HEATER_OFF: 0x3066,
  STATUS: 0xf32d,
  CLEAR_STATUS: 0x3041,
} as const;

/** Table 10: periodic commands, [mps index][repeatability high, medium, low]; mps 0.5, 1, 2, 4, 10. */
export const SHT3X_PERIODIC = [
  [0x2032, 0x2024, 0x202f],
  [0x2130, 0x2126, 0x212d],
  [0x2236, 0x2220, 0x222b],
  [0x2334, 0x2322, 0x2329],
  [0x2737, 0x2721, 0x272a],
] as const;
export const SHT3X_MPS = [0.5, 1, 2, 4, 10] as const;
/** Table 4: measurement duration, max, ms, for high, medium, low repeatability. */
export const SHT3X_DURATION_MS = [15, 6, 4] as const;
const SINGLE = [
  [0x2400, 0x240b, 0x2416],
  [0x2c06, 0x2c0d, 0x2c10],
] as const;

const POWER_UP_MS = 1.5;
const BREAK_MS = 1;
const STATUS_RESET = 0x8010;
const STATUS_HEATER = 0x2000;

export interface SimSHT3xFaults {
  crc?: boolean;
  status?: number;
  stuck?: boolean;
  dead?: boolean;
}

export class SimSHT3x implements SimI2CDevice {
  readonly maxHz = 1_000_000;
  readonly faults: SimSHT3xFaults = {};
  measurements = 0;
  readonly #env: SimEnv;
  readonly #data = new Uint8Array(6);
  readonly #tx = new Uint8Array(6);
  #txLength = 0;
  #txIndex = 0;
  #hasData = false;
  #busyUntil = 0;
  #status = STATUS_RESET;
  /** Single shot in progress: completion time, or -1. */
  #singleAt = -1;
  #singleRepeatability = 0;
  /** Periodic mode: period (ms, 0 = idle), start, done count, repeatability. */
  #periodMs = 0;
  #periodStart = 0;
  #periodDone = 0;
  #periodRepeatability = 0;
  #command = 0;
  #writeCount = -1;
  #statusPending = false;
  #lastT = 0;
  #lastRH = 0;

  constructor(env: SimEnv, options: { poweredAt?: number } = {}) {
    this.#env = env;
    this.#reset(options.poweredAt ?? env.now());
  }

  powerCycle(): void {
    this.#reset(this.#env.now());
  }

  /** True when the part is in periodic mode (for tests). */
  get periodic(): boolean {
    return this.#periodMs > 0;
  }

  start(read: boolean): boolean {
    const now = this.#env.now();
    if (now < this.#busyUntil) return false;
    this.#advance(now);
    if (!read) {
      this.#writeCount = 0;
      return true;
    }
    this.#writeCount = -1;
    if (this.#statusPending) {
      this.#statusPending = false;
      const status = this.faults.status ?? this.#status;
      this.#tx[0] = status >> 8;
      this.#tx[1] = status & 0xff;
      this.#tx[2] = this.#crc(this.#tx, 0);
      this.#txLength = 3;
    } else {
      if (this.#singleAt >= 0 || !this.#hasData) return false;
      this.#tx.set(this.#data);
      this.#txLength = 6;
      this.#hasData = false;
    }
    this.#txIndex = 0;
    return true;
  }

  writeByte(byte: number): boolean {
    const count = this.#writeCount;
    if (count < 0 || count > 1) return false;
    if (count === 0) {
      this.#command = byte << 8;
      this.#writeCount = 1;
      return true;
    }
    this.#writeCount = 2;
    return this.#execute(this.#command | byte);
  }

  readByte(_last: boolean): number {
    const index = this.#txIndex++;
    return index < this.#txLength ? this.#tx[index]! : 0xff;
  }

  stop(): void {
    this.#writeCount = -1;
  }

  #execute(command: number): boolean {
    const now = this.#env.now();
    this.#statusPending = false;
    switch (command) {
      case SHT3xCommand.BREAK:
        this.#periodMs = 0;
        this.#busyUntil = now + BREAK_MS;
        return true;
      case SHT3xCommand.SOFT_RESET:
        this.#reset(now);
        return true;
      case SHT3xCommand.HEATER_ON:
        this.#status |= STATUS_HEATER;
        return true;
      case SHT3xCommand.HEATER_OFF:
        this.#status &= ~STATUS_HEATER;
        return true;
      case SHT3xCommand.STATUS:
        this.#statusPending = true;
        return true;
      case SHT3xCommand.CLEAR_STATUS:
        this.#status &= ~0x8c10;
        return true;
      case SHT3xCommand.FETCH:
        return this.#periodMs > 0;
      case SHT3xCommand.ART:
        if (this.#singleAt >= 0) return false;
        this.#startPeriodic(now, 250, 0);
        return true;
      default:
        break;
    }
    if (this.#periodMs > 0 || this.#singleAt >= 0) return false;
    for (let stretch = 0; stretch < 2; stretch++) {
      const r = SINGLE[stretch]!.indexOf(command as never);
      if (r >= 0) {
        this.#singleAt = now + SHT3X_DURATION_MS[r]!;
        this.#singleRepeatability = r;
        this.#hasData = false;
        return true;
      }
    }
    for (let m = 0; m < SHT3X_PERIODIC.length; m++) {
      const r = SHT3X_PERIODIC[m]!.indexOf(command as never);
      if (r >= 0) {
        this.#startPeriodic(now, 1000 / SHT3X_MPS[m]!, r);
        return true;
      }
    }
    return false;
  }

  #startPeriodic(now: number, periodMs: number, repeatability: number): void {
    this.#periodMs = periodMs;
    this.#periodStart = now;
    this.#periodDone = 0;
    this.#periodRepeatability = repeatability;
    this.#hasData = false;
  }

  #advance(now: number): void {
    if (this.#singleAt >= 0 && now >= this.#singleAt) {
      this.#singleAt = -1;
      this.#measure();
    }
    if (this.#periodMs > 0) {
      const first = this.#periodStart + SHT3X_DURATION_MS[this.#periodRepeatability]!;
      if (now < first) return;
      const done = Math.floor((now - first) / this.#periodMs) + 1;
      if (done > this.#periodDone) {
        this.#periodDone = done;
        this.#measure();
      }
    }
  }

  #measure(): void {
    if (this.faults.dead) return;
    this.measurements++;
    if (!this.faults.stuck) {
      this.#lastT = clamp16(Math.round(((this.#env.temperature() + 45) / 175) * 65535));
      this.#lastRH = clamp16(Math.round((this.#env.humidity() / 100) * 65535));
    }
    const data = this.#data;
    data[0] = this.#lastT >> 8;
    data[1] = this.#lastT & 0xff;
    data[2] = this.#crc(data, 0);
    data[3] = this.#lastRH >> 8;
    data[4] = this.#lastRH & 0xff;
    data[5] = this.#crc(data, 3);
    this.#hasData = true;
  }

  #crc(bytes: Uint8Array, offset: number): number {
    const crc = crc8Sensirion(bytes, offset, 2);
    return this.faults.crc ? crc ^ 0x01 : crc;
  }

  #reset(at: number): void {
    this.#busyUntil = at + POWER_UP_MS;
    this.#status = STATUS_RESET;
    this.#singleAt = -1;
    this.#periodMs = 0;
    this.#hasData = false;
    this.#statusPending = false;
    this.#writeCount = -1;
  }
}

function clamp16(value: number): number {
  return value < 0 ? 0 : value > 65535 ? 65535 : value;
}
