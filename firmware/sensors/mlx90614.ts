/*
 * Melexis MLX90614 infrared thermometer over SMBus with PEC (datasheet rev. 013). ECMA-419
 * sensor class: aims at the pipe, and reports the die (ambient) temperature as well.
 *
 *   const sensor = new MLX90614({ sensor: { io: host.io.I2C, address: 0x5a, hz: 100_000 }, onError, now });
 *   sensor.read(out)   // out[0] object milli-°C, out[1] ambient milli-°C; bit 0 / bit 1 valid
 *   sensor.sample()    // { temperature: object °C, ambient: { temperature: °C } } or undefined
 *
 * The driver talks plain I2C (an SMBus class works too) and checks the PEC itself, so a PEC
 * mismatch is its own code on every host: each word is read as Cmd, repeated start, LSB, MSB,
 * PEC, and the PEC (CRC-8 0x07) covers SA+W, Cmd, SA+R, LSB, MSB (§8.4.3). The part has no
 * model id: the constructor checks that EEPROM 0Eh (SMBus address, §8.3.2) holds the address it
 * answers on (else E_CHIP_ID). Codes from `read`: E_BUS, E_PEC, E_FRAME, E_POWER_ON_VALUE (RAM
 * reads 0000h for 0.25 s after power-on), E_RANGE (T_OBJ error flag bit 15, or outside
 * T_O -70..380 °C / T_A -40..125 °C), E_STUCK (both raw words unchanged for `stuckMs`).
 * Ambient and object are judged separately: the bitmask says which one is valid.
 */
import type { I2C } from '../host';
import { pecUpdate } from './crc';
import { SensorError, SensorErrorCode, type FaultCounts, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf } from './fault';
import { openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §8.4.2 commands: RAM (000xxxxx) and EEPROM (001xxxxx) addresses. */
const Command = deepFreeze({
  RAM_T_A: 0x06,
  RAM_T_OBJ1: 0x07,
  EEPROM_SMBUS_ADDRESS: 0x2e,
} as const);
const T_OBJ_ERROR = 0x8000;
/** §13 ranges, in 0.02 K: T_O -70..380 °C, T_A -40..125 °C. */
const OBJECT_MIN = Math.round((273.15 - 70) * 50);
const OBJECT_MAX = Math.round((273.15 + 380) * 50);
const AMBIENT_MIN = Math.round((273.15 - 40) * 50);
const AMBIENT_MAX = Math.round((273.15 + 125) * 50);
const OBJECT = 0b01;
const AMBIENT = 0b10;

export interface MLX90614Options {
  sensor: I2CSensorOptions;
  onError?: (error: SensorError) => void;
  now?: () => number;
}

export default class MLX90614 {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'object' },
    { kind: 'milliCelsius', name: 'ambient' },
  ] as const);

  readonly faults: FaultCounts;
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #address: number;
  readonly #now: (() => number) | undefined;
  readonly #command = new Uint8Array(1);
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(3);
  readonly #out = new Int32Array(2);
  readonly #sample = { temperature: 0, ambient: { temperature: 0 } };
  /** The word `#readWord` read last. */
  #word = 0;
  #message = '';

  constructor(options: MLX90614Options) {
    this.#fault = new FaultReporter('MLX90614', options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    this.#address = options.sensor.address ?? 0x5a;
    const io = openI2C('MLX90614', options.sensor, 0x5a, 100_000);
    try {
      const code = this.#readWord(io, Command.EEPROM_SMBUS_ADDRESS);
      if (code) throw this.#fault.error(code, this.#message);
      if ((this.#word & 0x7f) !== this.#address) {
        throw this.#fault.error(SensorErrorCode.CHIP_ID, `EEPROM address word 0x${this.#word.toString(16)}`);
      }
    } catch (error) {
      io.close();
      throw error;
    }
    this.#io = io;
  }

  configure(options: { stuckMs?: number }): void {
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
  }

  /** out[0] object, out[1] ambient, milli-°C; returns bit 0 (object) | bit 1 (ambient) valid. */
  read(out: Int32Array): number {
    const io = this.#io;
    const fault = this.#fault;
    if (!io) return fault.fail(SensorErrorCode.BUS, 'closed');
    let code = this.#readWord(io, Command.RAM_T_A);
    if (code) return fault.fail(code, this.#message);
    const ambient = this.#word;
    code = this.#readWord(io, Command.RAM_T_OBJ1);
    if (code) return fault.fail(code, this.#message);
    const object = this.#word;
    if (ambient === 0 && object === 0) return fault.fail(SensorErrorCode.POWER_ON_VALUE, 'RAM reads 0000h (0 K)');
    const now = this.#now ? this.#now() : 0;
    const unchangedMs = this.#stuck.update(now, object * 65536 + ambient);
    if (unchangedMs) return fault.fail(SensorErrorCode.STUCK, `values unchanged for ${unchangedMs} ms`);
    let valid = 0;
    if (ambient >= AMBIENT_MIN && ambient <= AMBIENT_MAX) {
      out[1] = ambient * 20 - 273150;
      valid |= AMBIENT;
    } else {
      fault.fail(SensorErrorCode.RANGE, `ambient ${(ambient * 20 - 273150) / 1000} °C`);
    }
    if (object & T_OBJ_ERROR) {
      fault.fail(SensorErrorCode.RANGE, 'T_OBJ error flag set');
    } else if (object < OBJECT_MIN || object > OBJECT_MAX) {
      fault.fail(SensorErrorCode.RANGE, `object ${(object * 20 - 273150) / 1000} °C`);
    } else {
      out[0] = object * 20 - 273150;
      valid |= OBJECT;
    }
    return valid;
  }

  /** Object and ambient in °C (one object, reused), or undefined unless both are valid. */
  sample(): { temperature: number; ambient: { temperature: number } } | undefined {
    const out = this.#out;
    if (this.read(out) !== (OBJECT | AMBIENT)) return undefined;
    const sample = this.#sample;
    sample.temperature = out[0]! / 1000;
    sample.ambient.temperature = out[1]! / 1000;
    return sample;
  }

  /** Releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  /** Reads one word into #word; returns an error code (message in #message) or undefined. */
  #readWord(io: I2C, command: number): SensorErrorCodeValue | undefined {
    const rx = this.#rx;
    this.#command[0] = command;
    try {
      io.write(this.#command, false);
      io.read(rx);
    } catch (error) {
      this.#message = messageOf(error);
      return SensorErrorCode.BUS;
    }
    if ((rx[0] === 0 && rx[1] === 0 && rx[2] === 0) || (rx[0] === 0xff && rx[1] === 0xff && rx[2] === 0xff)) {
      this.#message = 'all-zero or all-ones frame';
      return SensorErrorCode.FRAME;
    }
    const address = this.#address << 1;
    let pec = pecUpdate(0, address);
    pec = pecUpdate(pec, command);
    pec = pecUpdate(pec, address | 1);
    pec = pecUpdate(pecUpdate(pec, rx[0]!), rx[1]!);
    if (pec !== rx[2]) {
      this.#message = `PEC 0x${rx[2]!.toString(16)}, expected 0x${pec.toString(16)}`;
      return SensorErrorCode.PEC;
    }
    this.#word = rx[0]! | (rx[1]! << 8);
    return undefined;
  }
}
