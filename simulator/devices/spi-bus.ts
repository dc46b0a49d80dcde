/*
 * A simulated SPI bus with devices by chip select, and an ECMA-419 shaped `SPI` class bound to it.
 *
 * Each `read`, `write` or `transfer` call is one transaction: chip select asserted, the bytes
 * clocked full duplex, chip select released (as Moddable's SPI on an ESP32 does with `select`).
 * The device sees `select()`, one `exchange(byteOut) → byteIn` per byte, and `deselect()`; what it
 * does on a rising CS (start a conversion, latch a write) is its own business.
 *
 * Like the wire:
 * - MISO of a chip select with no device floats: it reads `floating` (0xFF with the usual pull-up).
 * - a clock faster than the device's `maxHz`, or the wrong SPI mode, garbles what the controller
 *   samples (each byte arrives one bit late) and what the device receives; nothing throws, as on
 *   real hardware.
 *
 * Fault injection per chip select (`inject(select, fault)`): 'zeros' / 'ones' (MISO stuck low /
 * high), 'error' (the controller's transaction throws, e.g. a DMA or host time-out), or undefined.
 */
import type { Bytes, SPI, SPIConstructor, SPIOptions } from '../../firmware/host';

export interface SimSPIDevice {
  /** Fastest SCLK the part supports, Hz. */
  readonly maxHz: number;
  /** SPI modes the part accepts (CPOL/CPHA), e.g. [1, 3]. */
  readonly modes: readonly number[];
  select(): void;
  /** One byte each way: `out` is MOSI, the return value is MISO. */
  exchange(out: number): number;
  deselect(): void;
}

export type SimSPIFault = 'zeros' | 'ones' | 'error' | undefined;

export interface SimSPIStats {
  transactions: number;
  bytes: number;
}

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected an ArrayBuffer or a view of one');
}

interface Slot {
  device: SimSPIDevice;
  fault: SimSPIFault;
}

export class SimSPIBus {
  readonly stats: SimSPIStats = { transactions: 0, bytes: 0 };
  readonly #slots = new Map<number, Slot>();
  /** What MISO reads with nobody driving it. */
  floating = 0xff;

  attach(select: number, device: SimSPIDevice): void {
    if (!Number.isInteger(select) || select < 0) throw new RangeError(`invalid chip select ${select}`);
    if (this.#slots.has(select)) throw new Error(`chip select ${select} already in use`);
    this.#slots.set(select, { device, fault: undefined });
  }

  detach(select: number): void {
    this.#slots.delete(select);
  }

  device(select: number): SimSPIDevice | undefined {
    return this.#slots.get(select)?.device;
  }

  inject(select: number, fault: SimSPIFault): void {
    const slot = this.#slots.get(select);
    if (!slot) throw new Error(`no device on chip select ${select}`);
    slot.fault = fault;
  }

  /** One CS-framed full-duplex transaction: `data` is sent and replaced with what was received. */
  transaction(select: number, hz: number, mode: number, data: Uint8Array, keepOut: boolean): void {
    this.stats.transactions++;
    const slot = this.#slots.get(select);
    if (slot?.fault === 'error') throw new Error(`SPI transaction on chip select ${select} failed`);
    if (!slot) {
      if (!keepOut) data.fill(this.floating);
      return;
    }
    const { device } = slot;
    const garbled = hz > device.maxHz || device.modes.indexOf(mode) < 0;
    device.select();
    let carry = 1;
    for (let i = 0; i < data.length; i++) {
      this.stats.bytes++;
      const out = data[i]!;
      let byte = device.exchange(garbled ? (out >> 1) | 0x80 : out) & 0xff;
      if (garbled) {
        const next = byte & 1;
        byte = (byte >> 1) | (carry << 7);
        carry = next;
      }
      if (slot.fault === 'zeros') byte = 0;
      else if (slot.fault === 'ones') byte = 0xff;
      if (!keepOut) data[i] = byte;
    }
    device.deselect();
  }

  /** An ECMA-419 shaped class whose instances talk to this bus. */
  classes(): { SPI: SPIConstructor } {
    const bus = this;
    class SimSPI implements SPI {
      readonly #select: number;
      readonly #hz: number;
      readonly #mode: number;
      #closed = false;
      constructor(options: SPIOptions) {
        if (!options || typeof options !== 'object') throw new TypeError('options required');
        // As strict as Moddable's ESP32 SPI (modules/io/spi/esp/spi.c: xs_spi_constructor): a key
        // that is present must hold a usable value (a pin, a port), never undefined.
        for (const key of ['select', 'hz', 'mode', 'out', 'in', 'clock', 'port'] as const) {
          if (key in options && options[key] === undefined) throw new TypeError(`SPI option "${key}" is present but undefined`);
        }
        for (const key of ['out', 'in', 'clock', 'port'] as const) {
          const value = options[key];
          if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new RangeError(`invalid ${key} ${value}`);
        }
        const select = options.select ?? 0;
        if (!Number.isInteger(select) || select < 0) throw new RangeError(`invalid chip select ${select}`);
        const hz = options.hz ?? 1_000_000;
        if (!Number.isFinite(hz) || hz < 1 || hz > 40_000_000) throw new RangeError(`invalid hz ${hz}`);
        const mode = options.mode ?? 0;
        if (mode !== 0 && mode !== 1 && mode !== 2 && mode !== 3) throw new RangeError(`invalid mode ${mode}`);
        this.#select = select;
        this.#hz = hz;
        this.#mode = mode;
      }
      read(buffer: Bytes): void {
        this.#check();
        const data = bytesOf(buffer);
        data.fill(0);
        bus.transaction(this.#select, this.#hz, this.#mode, data, false);
      }
      write(buffer: Bytes): void {
        this.#check();
        bus.transaction(this.#select, this.#hz, this.#mode, bytesOf(buffer), true);
      }
      transfer(buffer: Bytes): void {
        this.#check();
        bus.transaction(this.#select, this.#hz, this.#mode, bytesOf(buffer), false);
      }
      flush(): void {
        this.#check();
      }
      close(): void {
        this.#closed = true;
      }
      #check(): void {
        if (this.#closed) throw new Error('SPI closed');
      }
    }
    return { SPI: SimSPI as unknown as SPIConstructor };
  }
}
