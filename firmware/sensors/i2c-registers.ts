/*
 * I2C plumbing shared by the I2C sensor drivers: opening the IO class the driver is given
 * (ECMA-419 style), and register access through buffers allocated once.
 *
 *   const io = openI2C('TMP117', options.sensor, 0x48, 400_000);
 *   readonly #bus = new I2CRegisters();
 *   const word = this.#bus.readWord(io, Register.CONFIGURATION, this.#rx2);   // big-endian
 *   this.#bus.writeWord(io, Register.CONFIGURATION, settings);
 *
 * Register names and datasheet sections stay in each driver. Every method lets the IO class's
 * exception through: the driver turns it into E_BUS.
 */
import type { I2C, I2CConstructor, I2COptions } from '../host';
import { SensorError, SensorErrorCode } from './errors';
import { messageOf } from './fault';

/** The `sensor` option of every I2C driver: the IO class and its settings. */
export interface I2CSensorOptions {
  io: I2CConstructor;
  address?: number;
  hz?: number;
  data?: number;
  clock?: number;
  port?: number;
  timeout?: number;
}

/**
 * Constructs the driver's I2C handle with the part's default address and clock; E_BUS when the IO
 * class refuses. Only the settings the caller gave are passed: a key present with the value
 * undefined is not "use the default" to every host (Moddable's ESP32 I2C reads a present `data`
 * or `clock` as a pin and rejects undefined; a present `timeout: undefined` would become 0 ms),
 * and a host provider's `{...boardPins, ...options}` would let it replace the board's pin.
 */
export function openI2C(part: string, sensor: I2CSensorOptions, address: number, hz: number): I2C {
  const options: I2COptions = { address: sensor.address ?? address, hz: sensor.hz ?? hz };
  if (sensor.data !== undefined) options.data = sensor.data;
  if (sensor.clock !== undefined) options.clock = sensor.clock;
  if (sensor.port !== undefined) options.port = sensor.port;
  if (sensor.timeout !== undefined) options.timeout = sensor.timeout;
  try {
    return new sensor.io(options);
  } catch (error) {
    throw new SensorError(part, SensorErrorCode.BUS, `cannot open I2C: ${messageOf(error)}`);
  }
}

export class I2CRegisters {
  readonly #pointer = new Uint8Array(1);
  readonly #command = new Uint8Array(3);
  readonly #command2: Uint8Array;

  constructor() {
    this.#command2 = this.#command.subarray(0, 2);
  }

  /** Register pointer (repeated start, no stop), then `into.length` bytes from it. */
  readInto(io: I2C, register: number, into: Uint8Array): void {
    this.#pointer[0] = register;
    io.write(this.#pointer, false);
    io.read(into);
  }

  /** `readInto` two bytes, as a big-endian word. */
  readWord(io: I2C, register: number, into: Uint8Array): number {
    this.#pointer[0] = register;
    io.write(this.#pointer, false);
    io.read(into);
    return (into[0]! << 8) | into[1]!;
  }

  /** Register, then one data byte. */
  writeByte(io: I2C, register: number, value: number): void {
    const command = this.#command2;
    command[0] = register;
    command[1] = value;
    io.write(command);
  }

  /** Register, then a big-endian word. */
  writeWord(io: I2C, register: number, value: number): void {
    const command = this.#command;
    command[0] = register;
    command[1] = value >> 8;
    command[2] = value & 0xff;
    io.write(command);
  }

  /** A one-byte command (with stop). */
  command8(io: I2C, command: number): void {
    const pointer = this.#pointer;
    pointer[0] = command;
    io.write(pointer);
  }

  /** A big-endian 16-bit command (with stop), e.g. Sensirion SHT3x. */
  command16(io: I2C, command: number): void {
    const bytes = this.#command2;
    bytes[0] = command >> 8;
    bytes[1] = command & 0xff;
    io.write(bytes);
  }
}
