/*
 * Melexis MLX90614 infrared thermometer, SMBus side, per its datasheet (rev. 013).
 *
 * - §8.4.2 / §8.4.3: commands 000xxxxx read RAM, 001xxxxx read/write EEPROM, F0h read flags,
 *   FFh sleep. Read word: S SA+W Cmd Sr SA+R LSB MSB PEC P. Write word: S SA+W Cmd LSB MSB PEC P.
 *   PEC is CRC-8 (x^8+x^2+x+1) over every byte including the address bytes; a write with a wrong
 *   PEC is not executed.
 * - §8.3.3 RAM: 06h T_A, 07h T_OBJ1, 08h T_OBJ2; 0.02 K per LSB; bit 15 of T_OBJ is an error
 *   flag. EEPROM (§8.3.2): 04h emissivity (FFFFh), 05h config register 1, 0Eh SMBus address
 *   (low byte, default 5Ah), 1Ch-1Fh ID number.
 * - §8.4.1 / §13: maximum SMBus clock 100 kHz; valid data 0.25 s after power-on (RAM reads
 *   0000h before); measurement ranges T_A -40..125 °C, T_O -70..380 °C (outside: error flag).
 *
 * A read word needs the repeated start: a STOP after the command forgets it (the read NAKs).
 * The environment's `temperature()` is the object temperature and `ambient()` the die.
 * Faults: `faults.pec` (PEC of every answer corrupted), `faults.address` (EEPROM 0Eh override),
 * `faults.stuck` (RAM stops updating), `faults.errorFlag` (T_OBJ bit 15 set), `powerCycle()`.
 */
import { pecUpdate } from '../../firmware/sensors/crc';
import type { SimEnv } from './env';
import type { SimI2CDevice } from './i2c-bus';

export const MLX90614Ram = { T_A: 0x06, T_OBJ1: 0x07, T_OBJ2: 0x08 } as const;
export const MLX90614Eeprom = { EMISSIVITY: 0x04, CONFIG1: 0x05, SMBUS_ADDRESS: 0x0e, ID0: 0x1c } as const;
const POWER_UP_MS = 250;

export interface SimMLX90614Faults {
  pec?: boolean;
  address?: number;
  stuck?: boolean;
  errorFlag?: boolean;
}

export class SimMLX90614 implements SimI2CDevice {
  readonly maxHz = 100_000;
  readonly faults: SimMLX90614Faults = {};
  readonly address: number;
  readonly #env: SimEnv;
  readonly #eeprom = new Uint16Array(32);
  readonly #ram = new Uint16Array(32);
  readonly #rx = new Uint8Array(4);
  readonly #tx = new Uint8Array(3);
  #validAt = 0;
  #writeCount = -1;
  #command = -1;
  #txIndex = 0;

  constructor(env: SimEnv, options: { address?: number; poweredAt?: number } = {}) {
    this.#env = env;
    this.address = options.address ?? 0x5a;
    const eeprom = this.#eeprom;
    eeprom[0x00] = 0x9993;
    eeprom[0x01] = 0x62e3;
    eeprom[0x03] = 0xf71c;
    eeprom[MLX90614Eeprom.EMISSIVITY] = 0xffff;
    eeprom[MLX90614Eeprom.CONFIG1] = 0x9fb4;
    eeprom[MLX90614Eeprom.SMBUS_ADDRESS] = 0xbe00 | this.address;
    eeprom[0x1c] = 0x1234;
    eeprom[0x1d] = 0x5678;
    eeprom[0x1e] = 0x9abc;
    eeprom[0x1f] = 0xdef0;
    this.#reset(options.poweredAt ?? env.now());
  }

  powerCycle(): void {
    this.#reset(this.#env.now());
  }

  start(read: boolean): boolean {
    if (!read) {
      this.#writeCount = 0;
      return true;
    }
    const command = this.#command;
    this.#writeCount = -1;
    if (command < 0) return false;
    const word = this.#word(command);
    if (word === undefined) return false;
    const tx = this.#tx;
    tx[0] = word & 0xff;
    tx[1] = word >> 8;
    let pec = pecUpdate(0, this.address << 1);
    pec = pecUpdate(pec, command);
    pec = pecUpdate(pec, (this.address << 1) | 1);
    pec = pecUpdate(pecUpdate(pec, tx[0]), tx[1]);
    tx[2] = this.faults.pec ? pec ^ 0x01 : pec;
    this.#txIndex = 0;
    return true;
  }

  writeByte(byte: number): boolean {
    const count = this.#writeCount;
    if (count < 0 || count > 3) return false;
    this.#rx[count] = byte;
    this.#writeCount = count + 1;
    if (count === 0) {
      const isRam = byte < 0x20;
      const isEeprom = byte >= 0x20 && byte < 0x40;
      if (!isRam && !isEeprom && byte !== 0xf0) return false;
      this.#command = byte;
    }
    return true;
  }

  readByte(_last: boolean): number {
    const index = this.#txIndex++;
    return index < 3 ? this.#tx[index]! : 0xff;
  }

  stop(): void {
    if (this.#writeCount === 4) this.#writeWord();
    this.#command = -1;
    this.#writeCount = -1;
  }

  #writeWord(): void {
    const rx = this.#rx;
    let pec = pecUpdate(0, this.address << 1);
    for (let i = 0; i < 3; i++) pec = pecUpdate(pec, rx[i]!);
    if (pec !== rx[3] || rx[0]! < 0x20 || rx[0]! >= 0x40) return;
    this.#eeprom[rx[0]! - 0x20] = rx[1]! | (rx[2]! << 8);
  }

  #word(command: number): number | undefined {
    if (command === 0xf0) return this.#env.now() < this.#validAt ? 0x0080 : 0x0000;
    if (command >= 0x20) {
      const index = command - 0x20;
      if (index === MLX90614Eeprom.SMBUS_ADDRESS && this.faults.address !== undefined) return this.faults.address;
      return this.#eeprom[index];
    }
    this.#measure();
    return this.#ram[command];
  }

  #measure(): void {
    const ram = this.#ram;
    if (this.#env.now() < this.#validAt) {
      ram.fill(0);
      return;
    }
    if (!this.faults.stuck) {
      ram[MLX90614Ram.T_A] = kelvin50(this.#env.ambient());
      const object = this.#env.temperature();
      const outside = object < -70 || object > 380;
      ram[MLX90614Ram.T_OBJ1] = outside ? 0x8000 | kelvin50(Math.max(-70, Math.min(380, object))) : kelvin50(object);
      ram[MLX90614Ram.T_OBJ2] = ram[MLX90614Ram.T_OBJ1]!;
    }
    if (this.faults.errorFlag) ram[MLX90614Ram.T_OBJ1]! |= 0x8000;
  }

  #reset(at: number): void {
    this.#validAt = at + POWER_UP_MS;
    this.#ram.fill(0);
    this.#writeCount = -1;
    this.#command = -1;
  }
}

/** °C to the RAM format: 0.02 K per LSB, 15 bits. */
function kelvin50(celsius: number): number {
  const raw = Math.round((celsius + 273.15) * 50);
  return raw < 0 ? 0 : raw > 0x7fff ? 0x7fff : raw;
}
