/*
 * A simulated I2C bus, byte by byte, with ECMA-419 shaped `I2C` and `SMBus` classes bound to it.
 *
 * Devices attach by 7-bit address and see the bus as the silicon does: a START (or repeated
 * START) with the R/W bit, data bytes they ACK or NAK, and a STOP. Register pointers, repeated
 * starts and SMBus PEC are therefore modelled by the device, not by the bus.
 *
 * What the controller classes do, like Moddable's I2C on an ESP32:
 * - a transaction to an address nobody ACKs throws (NAK); so does a data byte the device NAKs;
 *   after a NAK the controller sends STOP.
 * - `write(buffer, false)` / `read(n, false)` leave the bus claimed: the next transaction starts
 *   with a repeated START.
 * - a clock faster than the device's `maxHz` fails the transaction (a strict fake: real parts
 *   misbehave there).
 *
 * Fault injection per address (`inject(address, fault)`): 'nak' (address phase NAKed), 'timeout'
 * (the device holds SCL low past the controller's time-out), 'zeros' / 'ones' (SDA stuck: every
 * data byte the device sends reads 0x00 / 0xFF), or undefined to clear. `nakAfter(address, n)`
 * lets n more transactions through, then NAKs.
 */
import type { Bytes, I2C, I2CConstructor, I2COptions, SMBus, SMBusConstructor } from '../../firmware/host';

/** A device as seen from its bus pins. */
export interface SimI2CDevice {
  /** Fastest SCL the part supports (Hz). */
  readonly maxHz: number;
  /** START or repeated START addressed to this device; false NAKs the address byte. */
  start(read: boolean): boolean;
  /** One byte from the controller; false NAKs it. */
  writeByte(byte: number): boolean;
  /** One byte to the controller; `last` is true when the controller will NAK it (end of read). */
  readByte(last: boolean): number;
  /** STOP condition. */
  stop(): void;
}

export type SimI2CFault = 'nak' | 'timeout' | 'zeros' | 'ones' | undefined;

interface Slot {
  device: SimI2CDevice;
  fault: SimI2CFault;
  /** Transactions still allowed before NAKing; -1 = unlimited. */
  allowance: number;
}

/** Counters a test can inspect. */
export interface SimI2CStats {
  transactions: number;
  naks: number;
  timeouts: number;
}

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected an ArrayBuffer or a view of one');
}

/** SMBus PEC: CRC-8, polynomial x^8 + x^2 + x + 1 (0x07), initial value 0 (SMBus 3.0 §6.4). */
function pecUpdate(crc: number, byte: number): number {
  crc ^= byte;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  return crc;
}

export class SimI2CBus {
  readonly stats: SimI2CStats = { transactions: 0, naks: 0, timeouts: 0 };
  #slots = new Map<number, Slot>();
  /** Address of the transaction left open by a `stop = false` call, or -1. */
  #open = -1;

  attach(address: number, device: SimI2CDevice): void {
    checkAddress(address);
    if (this.#slots.has(address)) throw new Error(`address 0x${address.toString(16)} already in use`);
    this.#slots.set(address, { device, fault: undefined, allowance: -1 });
  }

  detach(address: number): void {
    this.#slots.delete(address);
    if (this.#open === address) this.#open = -1;
  }

  device(address: number): SimI2CDevice | undefined {
    return this.#slots.get(address)?.device;
  }

  inject(address: number, fault: SimI2CFault): void {
    const slot = this.#slots.get(address);
    if (!slot) throw new Error(`no device at 0x${address.toString(16)}`);
    slot.fault = fault;
    slot.allowance = -1;
  }

  /** Lets `count` more transactions through to `address`, then NAKs every one after. */
  nakAfter(address: number, count: number): void {
    const slot = this.#slots.get(address);
    if (!slot) throw new Error(`no device at 0x${address.toString(16)}`);
    slot.allowance = count;
  }

  /** Byte-level write transaction. Throws on NAK or time-out (after sending STOP). */
  transferWrite(address: number, hz: number, bytes: Uint8Array, stop: boolean): void {
    const slot = this.#begin(address, hz, false);
    for (let i = 0; i < bytes.length; i++) {
      if (!slot.device.writeByte(bytes[i]!)) {
        this.#end(slot, true);
        this.stats.naks++;
        throw new Error(`I2C NAK on byte ${i} to 0x${address.toString(16)}`);
      }
    }
    this.#end(slot, stop);
  }

  /** Byte-level read transaction into `into`. Throws on NAK or time-out (after sending STOP). */
  transferRead(address: number, hz: number, into: Uint8Array, stop: boolean): void {
    const slot = this.#begin(address, hz, true);
    const last = into.length - 1;
    for (let i = 0; i <= last; i++) {
      const byte = slot.device.readByte(i === last) & 0xff;
      into[i] = slot.fault === 'zeros' ? 0x00 : slot.fault === 'ones' ? 0xff : byte;
    }
    this.#end(slot, stop);
  }

  #begin(address: number, hz: number, read: boolean): Slot {
    this.stats.transactions++;
    const open = this.#open;
    if (open >= 0 && open !== address) {
      const other = this.#slots.get(open);
      this.#open = -1;
      other?.device.stop();
    }
    const slot = this.#slots.get(address);
    if (!slot) {
      this.#open = -1;
      this.stats.naks++;
      throw new Error(`I2C NAK: no device at 0x${address.toString(16)}`);
    }
    if (slot.fault === 'timeout') {
      this.#open = -1;
      this.stats.timeouts++;
      throw new Error(`I2C time-out at 0x${address.toString(16)}`);
    }
    let nak = slot.fault === 'nak' || slot.allowance === 0 || hz > slot.device.maxHz;
    if (slot.allowance > 0) slot.allowance--;
    if (!nak && !slot.device.start(read)) nak = true;
    if (nak) {
      this.#end(slot, true);
      this.stats.naks++;
      throw new Error(`I2C NAK from 0x${address.toString(16)}`);
    }
    this.#open = address;
    return slot;
  }

  #end(slot: Slot, stop: boolean): void {
    if (!stop) return;
    this.#open = -1;
    slot.device.stop();
  }

  /** ECMA-419 shaped classes whose instances talk to this bus. */
  classes(): { I2C: I2CConstructor; SMBus: SMBusConstructor } {
    const bus = this;

    class SimI2C implements I2C {
      readonly #address: number;
      readonly #hz: number;
      #closed = false;

      constructor(options: I2COptions) {
        if (!options || typeof options !== 'object') throw new TypeError('options required');
        checkAddress(options.address);
        // As strict as Moddable's ESP32 I2C (modules/io/i2c/esp32/_i2c.c: _xs_i2c_constructor): a
        // key that is present must hold a usable value — `data: undefined` is no pin, and
        // `timeout: undefined` would be a 0 ms time-out.
        for (const key of ['data', 'clock', 'port', 'timeout', 'hz'] as const) {
          if (key in options && options[key] === undefined) throw new TypeError(`I2C option "${key}" is present but undefined`);
        }
        for (const key of ['data', 'clock', 'port'] as const) {
          const value = options[key];
          if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new RangeError(`invalid ${key} ${value}`);
        }
        if (options.timeout !== undefined && (!Number.isInteger(options.timeout) || options.timeout < -1)) {
          throw new RangeError(`invalid timeout ${options.timeout}`);
        }
        const hz = options.hz ?? 100_000;
        if (!Number.isFinite(hz) || hz <= 0 || hz > 20_000_000) throw new RangeError(`invalid hz ${hz}`);
        this.#address = options.address;
        this.#hz = hz;
      }

      read(lengthOrBuffer: number | Bytes, stop = true): any {
        this.#check();
        if (typeof lengthOrBuffer === 'number') {
          if (!Number.isInteger(lengthOrBuffer) || lengthOrBuffer < 1) throw new RangeError('invalid length');
          const out = new Uint8Array(lengthOrBuffer);
          bus.transferRead(this.#address, this.#hz, out, stop);
          return out.buffer;
        }
        bus.transferRead(this.#address, this.#hz, bytesOf(lengthOrBuffer), stop);
        return undefined;
      }

      write(buffer: Bytes, stop = true): void {
        this.#check();
        bus.transferWrite(this.#address, this.#hz, bytesOf(buffer), stop);
      }

      close(): void {
        this.#closed = true;
      }

      protected get address(): number {
        return this.#address;
      }

      #check(): void {
        if (this.#closed) throw new Error('I2C closed');
      }
    }

    class SimSMBus extends SimI2C implements SMBus {
      readonly #pec: boolean;
      readonly #one = new Uint8Array(1);
      readonly #two = new Uint8Array(2);

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
        const data = bytesOf(buffer);
        this.#one[0] = register;
        this.write(this.#one, false);
        if (!this.#pec) {
          this.read(data);
          return;
        }
        const frame = new Uint8Array(data.length + 1);
        this.read(frame);
        let crc = pecUpdate(0, this.address << 1);
        crc = pecUpdate(crc, register);
        crc = pecUpdate(crc, (this.address << 1) | 1);
        for (let i = 0; i < data.length; i++) crc = pecUpdate(crc, (data[i] = frame[i]!));
        if (crc !== frame[data.length]) throw new Error('SMBus PEC mismatch');
      }

      writeBuffer(register: number, buffer: Bytes): void {
        const data = bytesOf(buffer);
        const frame = new Uint8Array(data.length + 1 + (this.#pec ? 1 : 0));
        frame[0] = register;
        frame.set(data, 1);
        if (this.#pec) {
          let crc = pecUpdate(0, this.address << 1);
          for (let i = 0; i <= data.length; i++) crc = pecUpdate(crc, frame[i]!);
          frame[data.length + 1] = crc;
        }
        this.write(frame);
      }

      sendByte(command: number): void {
        const frame = this.#pec ? this.#two : this.#one;
        frame[0] = command;
        if (this.#pec) frame[1] = pecUpdate(pecUpdate(0, this.address << 1), command);
        this.write(frame);
      }

      receiveByte(): number {
        if (!this.#pec) {
          this.read(this.#one);
          return this.#one[0]!;
        }
        const frame = this.#two;
        this.read(frame);
        if (pecUpdate(pecUpdate(0, (this.address << 1) | 1), frame[0]!) !== frame[1]) {
          throw new Error('SMBus PEC mismatch');
        }
        return frame[0]!;
      }
    }
    return { I2C: SimI2C as unknown as I2CConstructor, SMBus: SimSMBus as unknown as SMBusConstructor };
  }

}

function checkAddress(address: unknown): asserts address is number {
  if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address > 0x7f) {
    throw new RangeError(`invalid 7-bit I2C address ${String(address)}`);
  }
}
