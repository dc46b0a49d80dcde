/*
 * Microchip MCP9808 at the register level, per its datasheet (DS25095A).
 *
 * - §5.1 register map (pointer register, Register 5-1): 01h CONFIG (0000h), 02h T_UPPER,
 *   03h T_LOWER, 04h T_CRIT (0000h), 05h T_A (0000h at POR), 06h manufacturer ID (0054h),
 *   07h device ID / revision (0400h), 08h resolution (8 bits, 03h). 16-bit registers MSB first.
 * - §5.1.3 Register 5-4 T_A: bit 15 T_A >= T_CRIT, 14 T_A > T_UPPER, 13 T_A < T_LOWER, 12 sign,
 *   11:0 magnitude; 13-bit two's complement at 0.0625 °C. With a coarser resolution the unused
 *   low bits stay 0 (the value is truncated to the step). T_A reads 0000h (0 °C!) from POR until
 *   the first conversion completes.
 * - §5.1.6 resolution register and its conversion time table: 0.5 °C 30 ms, 0.25 °C 65 ms,
 *   0.125 °C 130 ms, 0.0625 °C 250 ms (POR default). Conversions run back to back.
 * - §5.1.1 CONFIG bit 8 SHDN: shutdown, no conversions, T_A keeps the last value.
 * - Limits (T_UPPER/T_LOWER/T_CRIT) hold bits 12:2 (0.25 °C); others read 0.
 *
 * Pointers beyond 08h are NAKed. Faults: `faults.manufacturerId`, `faults.deviceId`,
 * `faults.stuck` (T_A stops changing), `faults.dead` (no more conversions), `powerCycle()`.
 * Bus faults are injected on the SimI2CBus.
 */
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

export const MCP9808Register = {
  CONFIG: 0x01,
  T_UPPER: 0x02,
  T_LOWER: 0x03,
  T_CRIT: 0x04,
  T_A: 0x05,
  MANUFACTURER_ID: 0x06,
  DEVICE_ID: 0x07,
  RESOLUTION: 0x08,
} as const;

const SHDN = 0x0100;
const LIMIT_MASK = 0x1ffc;
/** Conversion time per resolution code 0..3, ms (typical). */
export const MCP9808_CONVERSION_MS = [30, 65, 130, 250] as const;

export interface SimMCP9808Faults {
  manufacturerId?: number;
  deviceId?: number;
  stuck?: boolean;
  dead?: boolean;
}

export class SimMCP9808 implements SimI2CDevice {
  readonly maxHz = 400_000;
  readonly faults: SimMCP9808Faults = {};
  conversions = 0;
  readonly #env: SimEnv;
  readonly #regs = new Uint16Array(9);
  #seriesStart = 0;
  #seriesDone = 0;
  #pointer = 0;
  #writeCount = -1;
  #msb = 0;
  #readValue = 0;
  #readIndex = 0;
  #readWidth = 2;

  constructor(env: SimEnv, options: { poweredAt?: number } = {}) {
    this.#env = env;
    this.#reset(options.poweredAt ?? env.now());
  }

  powerCycle(): void {
    this.#reset(this.#env.now());
  }

  peek(register: number): number {
    this.#advance(this.#env.now());
    return this.#register(register);
  }

  start(read: boolean): boolean {
    this.#advance(this.#env.now());
    if (!read) {
      this.#writeCount = 0;
      return true;
    }
    this.#writeCount = -1;
    this.#readValue = this.#register(this.#pointer);
    this.#readWidth = this.#pointer === MCP9808Register.RESOLUTION ? 1 : 2;
    this.#readIndex = 0;
    return true;
  }

  writeByte(byte: number): boolean {
    const count = this.#writeCount;
    if (count < 0) return false;
    if (count === 0) {
      if (byte > MCP9808Register.RESOLUTION) return false;
      this.#pointer = byte;
    } else if (this.#pointer === MCP9808Register.RESOLUTION) {
      if (count > 1) return false;
      this.#store(MCP9808Register.RESOLUTION, byte);
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
    const index = this.#readIndex++;
    if (this.#readWidth === 1) return this.#readValue & 0xff;
    return index & 1 ? this.#readValue & 0xff : this.#readValue >> 8;
  }

  stop(): void {
    this.#writeCount = -1;
  }

  #register(register: number): number {
    if (register === MCP9808Register.MANUFACTURER_ID) return this.faults.manufacturerId ?? 0x0054;
    if (register === MCP9808Register.DEVICE_ID) return this.faults.deviceId ?? 0x0400;
    return this.#regs[register] ?? 0;
  }

  #reset(at: number): void {
    this.#regs.fill(0);
    this.#regs[MCP9808Register.RESOLUTION] = 0x03;
    this.#seriesStart = at;
    this.#seriesDone = 0;
    this.#writeCount = -1;
    this.#pointer = 0;
  }

  #store(register: number, value: number): void {
    const regs = this.#regs;
    switch (register) {
      case MCP9808Register.CONFIG: {
        const wasShutdown = (regs[1]! & SHDN) !== 0;
        regs[1] = value & 0x07ff;
        if (wasShutdown && !(value & SHDN)) this.#restart();
        return;
      }
      case MCP9808Register.T_UPPER:
      case MCP9808Register.T_LOWER:
      case MCP9808Register.T_CRIT:
        regs[register] = value & LIMIT_MASK;
        return;
      case MCP9808Register.RESOLUTION:
        regs[register] = value & 0x03;
        this.#restart();
        return;
      default:
        return;
    }
  }

  #restart(): void {
    this.#seriesStart = this.#env.now();
    this.#seriesDone = 0;
  }

  #advance(now: number): void {
    const regs = this.#regs;
    if (regs[1]! & SHDN) return;
    const tconv = MCP9808_CONVERSION_MS[regs[MCP9808Register.RESOLUTION]! & 3]!;
    const completed = Math.floor((now - this.#seriesStart) / tconv);
    if (completed > this.#seriesDone) {
      this.#seriesDone = completed;
      this.#complete();
    }
  }

  #complete(): void {
    if (this.faults.dead) return;
    this.conversions++;
    const regs = this.#regs;
    let value = (regs[MCP9808Register.T_A]! << 19) >> 19;
    if (!this.faults.stuck) {
      const dropBits = 3 - (regs[MCP9808Register.RESOLUTION]! & 3);
      value = Math.floor(this.#env.temperature() * 16);
      value = value < -4096 ? -4096 : value > 4095 ? 4095 : value;
      value = (value >> dropBits) << dropBits;
    }
    const upper = (regs[MCP9808Register.T_UPPER]! << 19) >> 19;
    const lower = (regs[MCP9808Register.T_LOWER]! << 19) >> 19;
    const crit = (regs[MCP9808Register.T_CRIT]! << 19) >> 19;
    let flags = 0;
    if (value >= crit) flags |= 0x8000;
    if (value > upper) flags |= 0x4000;
    if (value < lower) flags |= 0x2000;
    regs[MCP9808Register.T_A] = flags | (value & 0x1fff);
  }
}
