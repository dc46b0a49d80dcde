/*
 * Sensirion SHT4x humidity and temperature sensor, per its datasheet (version 6.5).
 *
 * - §4.5 commands are one byte: FD / F6 / E0 measure T & RH with high / medium / low
 *   precision; 89 read serial number; 94 soft reset; 39 / 32 / 2F / 24 / 1E / 15 heater
 *   (200 / 110 / 20 mW for 1 s / 0.1 s) followed by a high-precision measurement.
 * - Table 5 measurement duration (max): high 8.3 ms, medium 4.5 ms, low 1.7 ms.
 * - Every answer is 6 bytes: word, CRC, word, CRC (§4.4: CRC-8 0x31, init 0xFF).
 *   A read header while the part measures, or with nothing to send, is NAKed; a read clears it.
 * - §4.6: S_T = (T + 45) / 175 x 65535, S_RH = (RH + 6) / 125 x 65535 (the part can report
 *   RH slightly outside 0..100 %; the host crops).
 * - Table 4: power-up time and soft reset time 1 ms (the part NAKs meanwhile).
 * The environment is sampled when the measurement command arrives (the conversion follows at once).
 *
 * Faults: `faults.crc` (every CRC byte corrupted), `faults.serial` (serial number override),
 * `faults.stuck` (measurements repeat the last words), `faults.dead` (a measurement never
 * completes), `powerCycle()`. Bus faults are injected on the SimI2CBus.
 */
import { crc8Sensirion } from '../../firmware/sensors/crc';
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

export const SHT4xCommand = {
  MEASURE_HIGH: 0xfd,
  MEASURE_MEDIUM: 0xf6,
  MEASURE_LOW: 0xe0,
  SERIAL: 0x89,
  SOFT_RESET: 0x94,
} as const;

/** Table 5 (max), ms. */
export const SHT4X_DURATION_MS = { [0xfd]: 8.3, [0xf6]: 4.5, [0xe0]: 1.7 } as Record<number, number>;
/** §4.5 heater commands: heating time, ms (then a high-precision measurement). */
const HEATER_MS = { [0x39]: 1000, [0x32]: 100, [0x2f]: 1000, [0x24]: 100, [0x1e]: 1000, [0x15]: 100 } as Record<number, number>;
const RESET_MS = 1;

export interface SimSHT4xFaults {
  crc?: boolean;
  serial?: number;
  stuck?: boolean;
  dead?: boolean;
}

export class SimSHT4x implements SimI2CDevice {
  readonly maxHz = 1_000_000;
  readonly faults: SimSHT4xFaults = {};
  measurements = 0;
  readonly #env: SimEnv;
  readonly #serial: number;
  readonly #tx = new Uint8Array(6);
  #txReady = false;
  #txIndex = 0;
  #busyUntil = 0;
  /** Measurement completion time, or -1. */
  #measureAt = -1;
  #writeCount = -1;
  #lastT = 0;
  #lastRH = 0;

  constructor(env: SimEnv, options: { poweredAt?: number; serial?: number } = {}) {
    this.#env = env;
    this.#serial = (options.serial ?? 0x0bad_cafe) >>> 0;
    this.#reset(options.poweredAt ?? env.now());
  }

  powerCycle(): void {
    this.#reset(this.#env.now());
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
    if (this.#measureAt >= 0 || !this.#txReady) return false;
    this.#txReady = false;
    this.#txIndex = 0;
    return true;
  }

  writeByte(byte: number): boolean {
    if (this.#writeCount !== 0) return false;
    this.#writeCount = 1;
    const now = this.#env.now();
    if (this.#measureAt >= 0) return false;
    if (byte === SHT4xCommand.SOFT_RESET) {
      this.#reset(now);
      return true;
    }
    if (byte === SHT4xCommand.SERIAL) {
      const serial = (this.faults.serial ?? this.#serial) >>> 0;
      this.#words(serial >>> 16, serial & 0xffff);
      return true;
    }
    const duration = SHT4X_DURATION_MS[byte] ?? (HEATER_MS[byte] !== undefined ? HEATER_MS[byte]! + 8.3 : undefined);
    if (duration === undefined) return false;
    this.#txReady = false;
    this.#measureAt = now + duration;
    if (!this.faults.stuck) {
      this.#lastT = clamp16(Math.round(((this.#env.temperature() + 45) / 175) * 65535));
      this.#lastRH = clamp16(Math.round(((this.#env.humidity() + 6) / 125) * 65535));
    }
    return true;
  }

  readByte(_last: boolean): number {
    const index = this.#txIndex++;
    return index < 6 ? this.#tx[index]! : 0xff;
  }

  stop(): void {
    this.#writeCount = -1;
  }

  #advance(now: number): void {
    if (this.#measureAt < 0 || now < this.#measureAt || this.faults.dead) return;
    this.#measureAt = -1;
    this.measurements++;
    this.#words(this.#lastT, this.#lastRH);
  }

  #words(first: number, second: number): void {
    const tx = this.#tx;
    tx[0] = first >> 8;
    tx[1] = first & 0xff;
    tx[2] = crc8Sensirion(tx, 0, 2) ^ (this.faults.crc ? 1 : 0);
    tx[3] = second >> 8;
    tx[4] = second & 0xff;
    tx[5] = crc8Sensirion(tx, 3, 2) ^ (this.faults.crc ? 1 : 0);
    this.#txReady = true;
  }

  #reset(at: number): void {
    this.#busyUntil = at + RESET_MS;
    this.#measureAt = -1;
    this.#txReady = false;
    this.#writeCount = -1;
  }
}

function clamp16(value: number): number {
  return value < 0 ? 0 : value > 65535 ? 65535 : value;
}
