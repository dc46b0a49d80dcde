/*
 * SPI plumbing shared by the SPI sensor drivers: opening the IO class the driver is given
 * (ECMA-419 style) within the part's clock limit, and, for the MAX318xx converters, register
 * access through buffers allocated once. Those parts read a register block from an address
 * byte in one transaction (auto-increment) and write with address | 80h (MAX31856 Table 6,
 * MAX31865 Table 1).
 *
 *   const hz = spiHz('MAX31865', options.sensor, MAX_HZ);
 *   this.#io = openSPI('MAX31865', options.sensor, hz, 1);
 *   readonly #regs = new SPIRegisters(Register.COUNT, Register.WRITE);
 *   this.#regs.readBlock(io, Register.CONFIG);   // registers in #regs.block[1..]
 *   this.#regs.write(io, Register.CONFIG, config);
 *
 * Register names and datasheet sections stay in each driver.
 */
import type { SPI, SPIConstructor, SPIOptions } from '../host';
import { SensorError, SensorErrorCode } from './errors';
import { messageOf, uniformFill } from './fault';

/** The `sensor` option of every SPI driver: the IO class and its settings. */
export interface SPISensorOptions {
  io: SPIConstructor;
  select?: number;
  hz?: number;
  mode?: number;
  port?: number;
  out?: number;
  in?: number;
  clock?: number;
}

/** Default SCK for the converters: 4 MHz. */
export const DEFAULT_HZ = 4_000_000;

/** The requested SCK frequency (4 MHz by default); E_CONFIG above the part's maximum. */
export function spiHz(part: string, sensor: SPISensorOptions, maxHz: number): number {
  const hz = sensor.hz ?? DEFAULT_HZ;
  if (!(hz > 0 && hz <= maxHz)) throw new SensorError(part, SensorErrorCode.CONFIG, `hz ${hz} above ${maxHz / 1e6} MHz`);
  return hz;
}

/**
 * Constructs the driver's SPI handle; E_BUS when the IO class refuses. Only the pins the caller
 * gave are passed (see openI2C): Moddable's ESP32 SPI reads a present `select`, `out`, `in` or
 * `clock` as a pin and rejects undefined, and a present `port: undefined` is no SPI host.
 */
export function openSPI(part: string, sensor: SPISensorOptions, hz: number, mode: number): SPI {
  const options: SPIOptions = { hz, mode: (sensor.mode ?? mode) as 0 | 1 | 2 | 3 };
  if (sensor.select !== undefined) options.select = sensor.select;
  if (sensor.port !== undefined) options.port = sensor.port;
  if (sensor.out !== undefined) options.out = sensor.out;
  if (sensor.in !== undefined) options.in = sensor.in;
  if (sensor.clock !== undefined) options.clock = sensor.clock;
  try {
    return new sensor.io(options);
  } catch (error) {
    throw new SensorError(part, SensorErrorCode.BUS, `cannot open SPI: ${messageOf(error)}`);
  }
}

export class SPIRegisters {
  /** Address byte, then the registers of the last `readBlock`. */
  readonly block: Uint8Array;
  readonly #count: number;
  readonly #writeFlag: number;
  readonly #command = new Uint8Array(2);

  /** `count` registers from the block's first; `writeFlag` is ORed into a write's address byte. */
  constructor(count: number, writeFlag: number) {
    this.#count = count;
    this.#writeFlag = writeFlag;
    this.block = new Uint8Array(1 + count);
  }

  /** Reads every register from `first` in one transaction into block[1..]. */
  readBlock(io: SPI, first: number): void {
    const b = this.block;
    b.fill(0);
    b[0] = first;
    io.transfer(b);
  }

  /** 0 or 0xff when the whole block read that byte (MISO stuck, no part), otherwise -1. */
  blockFill(): number {
    return uniformFill(this.block, 1, 1 + this.#count);
  }

  /** Writes one register. */
  write(io: SPI, register: number, value: number): void {
    const c = this.#command;
    c[0] = this.#writeFlag | register;
    c[1] = value;
    io.write(c);
  }
}
