/*
 * Linux IO classes for real sensors: ECMA-419 shaped `I2C`, `SMBus`, `SPI` and `Analog` over
 * the kernel's user-space interfaces, so the firmware's drivers run unchanged on a Raspberry Pi
 * or a PC with a USB–I2C/SPI adapter. Node only.
 *
 * - I2C / SMBus: `/dev/i2c-<port>` through the `i2c-bus` package (ioctl I2C_SLAVE + read/write,
 *   and the kernel's SMBus transfers). A `write(bytes, false)` of one register byte followed by
 *   a `read(n ≤ 32)` is sent as one SMBus "I2C block read": register write, repeated START,
 *   read, STOP. Other write-without-stop sequences are sent as two transactions (a STOP between
 *   them), which the common sensors accept; `i2c-bus` exposes no general combined transfer.
 *   SMBus PEC is computed and checked here in software (CRC-8 0x07 over address and data).
 * - SPI: `/dev/spidev<port>.<select>` through the `spi-device` package; one `transferSync` per
 *   call, chip select framed by the kernel.
 * - Analog: an IIO channel, `/sys/bus/iio/devices/iio:device<port>/in_voltage<pin>_raw`.
 * - 1-Wire: not offered. The kernel's w1 master driver owns the bus and exposes only finished
 *   readings per device (`w1_slave`), not ROM and function commands.
 *
 * The native packages are optional dependencies, loaded on first use: this module loads on any
 * machine, and a constructor without its package throws an Error saying what to install.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type {
  AnalogConstructor,
  AnalogOptions,
  Bytes,
  I2CConstructor,
  I2COptions,
  SMBusConstructor,
  SPIConstructor,
  SPIOptions,
} from '../../firmware/host';
import { pecUpdate } from '../../firmware/sensors/crc';

const require = createRequire(import.meta.url);

interface I2cBusModule {
  openSync(busNumber: number, options?: { forceAccess?: boolean }): I2cBusHandle;
}
interface I2cBusHandle {
  i2cReadSync(address: number, length: number, buffer: Buffer): number;
  i2cWriteSync(address: number, length: number, buffer: Buffer): number;
  readI2cBlockSync(address: number, command: number, length: number, buffer: Buffer): number;
  writeI2cBlockSync(address: number, command: number, length: number, buffer: Buffer): number;
  sendByteSync(address: number, byte: number): void;
  receiveByteSync(address: number): number;
  closeSync(): void;
}
interface SpiDeviceModule {
  openSync(busNumber: number, deviceNumber: number, options?: { mode?: number; maxSpeedHz?: number }): SpiDeviceHandle;
}
interface SpiDeviceHandle {
  transferSync(messages: { byteLength: number; sendBuffer?: Buffer; receiveBuffer?: Buffer; speedHz?: number }[]): void;
  closeSync(): void;
}

function load<T>(name: string, what: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    throw new Error(
      `${what} needs the npm package "${name}" (an optional dependency, built for Linux): ` +
        `install it with \`npm install ${name}\` (${(error as Error).message.split('\n')[0]})`,
    );
  }
}

function bufferOf(bytes: Bytes): Buffer {
  if (bytes instanceof ArrayBuffer) return Buffer.from(bytes);
  if (ArrayBuffer.isView(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('expected an ArrayBuffer or a view of one');
}

/** Max bytes of one SMBus I2C block transfer (I2C_SMBUS_BLOCK_MAX). */
const BLOCK_MAX = 32;

function checkAddress(address: unknown): number {
  if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address > 0x7f) {
    throw new RangeError(`invalid 7-bit I2C address ${String(address)}`);
  }
  return address;
}

class LinuxI2C {
  protected readonly bus: I2cBusHandle;
  protected readonly address: number;
  /** The register byte of a write(…, false) waiting for its read. */
  #pending = -1;
  #closed = false;

  constructor(options: I2COptions) {
    if (!options || typeof options !== 'object') throw new TypeError('options required');
    this.address = checkAddress(options.address);
    const port = options.port ?? 1;
    if (!Number.isInteger(port) || port < 0) throw new RangeError(`invalid I2C port ${port}`);
    const i2c = load<I2cBusModule>('i2c-bus', `I2C on /dev/i2c-${port}`);
    this.bus = i2c.openSync(port);
  }

  read(lengthOrBuffer: number | Bytes, stop = true): any {
    this.check();
    void stop;
    const out = typeof lengthOrBuffer === 'number' ? Buffer.alloc(lengthOrBuffer) : bufferOf(lengthOrBuffer);
    const pending = this.#pending;
    this.#pending = -1;
    let got: number;
    if (pending >= 0 && out.length <= BLOCK_MAX) got = this.bus.readI2cBlockSync(this.address, pending, out.length, out);
    else {
      if (pending >= 0) this.bus.sendByteSync(this.address, pending);
      got = this.bus.i2cReadSync(this.address, out.length, out);
    }
    if (got !== out.length) throw new Error(`I2C read from 0x${this.address.toString(16)}: ${got} of ${out.length} bytes`);
    if (typeof lengthOrBuffer === 'number') return out.buffer.slice(out.byteOffset, out.byteOffset + out.length);
    return undefined;
  }

  write(bytes: Bytes, stop = true): void {
    this.check();
    const data = bufferOf(bytes);
    if (this.#pending >= 0) {
      this.bus.sendByteSync(this.address, this.#pending);
      this.#pending = -1;
    }
    if (!stop && data.length === 1) {
      this.#pending = data[0]!;
      return;
    }
    const sent = this.bus.i2cWriteSync(this.address, data.length, data);
    if (sent !== data.length) throw new Error(`I2C write to 0x${this.address.toString(16)}: ${sent} of ${data.length} bytes`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.bus.closeSync();
  }

  protected check(): void {
    if (this.#closed) throw new Error('I2C closed');
  }
}

class LinuxSMBus extends LinuxI2C {
  readonly #pec: boolean;
  readonly #one = Buffer.alloc(1);
  readonly #two = Buffer.alloc(2);

  constructor(options: I2COptions & { pec?: boolean }) {
    super(options);
    this.#pec = options.pec === true;
  }

  readUint8(register: number): number {
    this.readBuffer(register, this.#one);
    return this.#one[0]!;
  }
  writeUint8(register: number, value: number): void {
    this.#one[0] = value;
    this.writeBuffer(register, this.#one);
  }
  readUint16(register: number, bigEndian = false): number {
    const b = this.#two;
    this.readBuffer(register, b);
    return bigEndian ? (b[0]! << 8) | b[1]! : (b[1]! << 8) | b[0]!;
  }
  writeUint16(register: number, value: number, bigEndian = false): void {
    const b = this.#two;
    b[0] = bigEndian ? (value >> 8) & 0xff : value & 0xff;
    b[1] = bigEndian ? value & 0xff : (value >> 8) & 0xff;
    this.writeBuffer(register, b);
  }
  readBuffer(register: number, buffer: Bytes): void {
    this.check();
    const data = bufferOf(buffer);
    const n = data.length + (this.#pec ? 1 : 0);
    if (n > BLOCK_MAX) throw new RangeError(`SMBus block of ${n} bytes (max ${BLOCK_MAX})`);
    const frame = this.#pec ? Buffer.alloc(n) : data;
    const got = this.bus.readI2cBlockSync(this.address, register, n, frame);
    if (got !== n) throw new Error(`SMBus read from 0x${this.address.toString(16)}: ${got} of ${n} bytes`);
    if (!this.#pec) return;
    let crc = pecUpdate(0, this.address << 1);
    crc = pecUpdate(crc, register);
    crc = pecUpdate(crc, (this.address << 1) | 1);
    for (let i = 0; i < data.length; i++) crc = pecUpdate(crc, (data[i] = frame[i]!));
    if (crc !== frame[data.length]) throw new Error('SMBus PEC mismatch');
  }
  writeBuffer(register: number, buffer: Bytes): void {
    this.check();
    const data = bufferOf(buffer);
    let frame = data;
    if (this.#pec) {
      frame = Buffer.alloc(data.length + 1);
      data.copy(frame);
      let crc = pecUpdate(pecUpdate(0, this.address << 1), register);
      for (let i = 0; i < data.length; i++) crc = pecUpdate(crc, data[i]!);
      frame[data.length] = crc;
    }
    if (frame.length > BLOCK_MAX) throw new RangeError(`SMBus block of ${frame.length} bytes (max ${BLOCK_MAX})`);
    this.bus.writeI2cBlockSync(this.address, register, frame.length, frame);
  }
  sendByte(command: number): void {
    this.check();
    if (!this.#pec) return this.bus.sendByteSync(this.address, command);
    this.#two[0] = command;
    this.#two[1] = pecUpdate(pecUpdate(0, this.address << 1), command);
    this.bus.i2cWriteSync(this.address, 2, this.#two);
  }
  receiveByte(): number {
    this.check();
    if (!this.#pec) return this.bus.receiveByteSync(this.address);
    if (this.bus.i2cReadSync(this.address, 2, this.#two) !== 2) throw new Error('SMBus receive byte: short read');
    if (pecUpdate(pecUpdate(0, (this.address << 1) | 1), this.#two[0]!) !== this.#two[1]) {
      throw new Error('SMBus PEC mismatch');
    }
    return this.#two[0]!;
  }
}

class LinuxSPI {
  readonly #device: SpiDeviceHandle;
  readonly #hz: number;
  #closed = false;

  constructor(options: SPIOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('options required');
    const port = options.port ?? 0;
    const select = options.select ?? 0;
    const mode = options.mode ?? 0;
    const hz = options.hz ?? 1_000_000;
    if (!Number.isInteger(port) || port < 0) throw new RangeError(`invalid SPI port ${port}`);
    if (!Number.isInteger(select) || select < 0) throw new RangeError(`invalid chip select ${select}`);
    if (mode !== 0 && mode !== 1 && mode !== 2 && mode !== 3) throw new RangeError(`invalid SPI mode ${mode}`);
    if (!(hz > 0)) throw new RangeError(`invalid hz ${hz}`);
    const spi = load<SpiDeviceModule>('spi-device', `SPI on /dev/spidev${port}.${select}`);
    this.#device = spi.openSync(port, select, { mode, maxSpeedHz: hz });
    this.#hz = hz;
  }
  read(buffer: Bytes): void {
    const data = bufferOf(buffer);
    data.fill(0);
    this.#transfer(data, true);
  }
  write(buffer: Bytes): void {
    this.#transfer(bufferOf(buffer), false);
  }
  transfer(buffer: Bytes): void {
    this.#transfer(bufferOf(buffer), true);
  }
  flush(): void {}
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#device.closeSync();
  }
  #transfer(data: Buffer, receive: boolean): void {
    if (this.#closed) throw new Error('SPI closed');
    if (data.length === 0) return;
    const rx = receive ? Buffer.alloc(data.length) : undefined;
    this.#device.transferSync([{ byteLength: data.length, sendBuffer: data, receiveBuffer: rx, speedHz: this.#hz }]);
    if (rx) rx.copy(data);
  }
}

/** IIO sysfs root; tests point it elsewhere. */
export const iio = { root: '/sys/bus/iio/devices' };

class LinuxAnalog {
  readonly resolution: number;
  readonly #path: string;
  #closed = false;
  constructor(options: AnalogOptions & { port?: number }) {
    if (!options || typeof options !== 'object') throw new TypeError('options required');
    const { pin, port = 0 } = options;
    if (!Number.isInteger(pin) || pin < 0) throw new RangeError(`invalid analog channel ${pin}`);
    this.resolution = options.resolution ?? 12;
    this.#path = `${iio.root}/iio:device${port}/in_voltage${pin}_raw`;
    this.read();
  }
  read(): number {
    if (this.#closed) throw new Error('Analog closed');
    const text = readFileSync(this.#path, 'ascii').trim();
    const code = Number(text);
    if (!/^\d+$/.test(text) || code >= 2 ** this.resolution) {
      throw new Error(`${this.#path}: "${text}" is not a ${this.resolution}-bit code`);
    }
    return code;
  }
  close(): void {
    this.#closed = true;
  }
}

export const I2C = LinuxI2C as unknown as I2CConstructor;
export const SMBus = LinuxSMBus as unknown as SMBusConstructor;
export const SPI = LinuxSPI as unknown as SPIConstructor;
export const Analog = LinuxAnalog as unknown as AnalogConstructor;

/** `/dev/i2c-1` → 1; `/dev/spidev0.1` → { port: 0, select: 1 }; undefined when the path is neither. */
export function parseBusPath(path: string): { kind: 'i2c'; port: number } | { kind: 'spi'; port: number; select: number } | { kind: 'iio'; port: number } | undefined {
  let m = /^\/dev\/i2c-(\d+)$/.exec(path);
  if (m) return { kind: 'i2c', port: Number(m[1]) };
  m = /^\/dev\/spidev(\d+)\.(\d+)$/.exec(path);
  if (m) return { kind: 'spi', port: Number(m[1]), select: Number(m[2]) };
  m = /^(?:\/sys\/bus\/iio\/devices\/)?iio:device(\d+)$/.exec(path);
  if (m) return { kind: 'iio', port: Number(m[1]) };
  return undefined;
}
