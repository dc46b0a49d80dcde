/*
 * The firmware's 1-Wire contract (firmware/host.ts `OneWire`) over Moddable's `onewire` module,
 * apart from host.ts so it runs (and is tested) off the device. What the module does on an
 * ESP32, from its C code ($MODDABLE/modules/drivers/onewire/esp32/modonewire.c), not from its
 * onewire.d.ts (which promises Uint8Arrays and array writes):
 * - `write(data)`, xs_onewire_write: one byte, `xsmcToInteger(data)` into a uint8_t; an array
 *   becomes NaN, so 0. The adapter writes byte by byte.
 * - `read(count)`, xs_onewire_read: an ArrayBuffer of `count` bytes (`read()`: one number).
 * - `search()`, xs_onewire_search: ArrayBuffers of the ESP-IDF device iterator's 64-bit
 *   addresses after `swap(…, 8)`: CRC first, family code last (its `select()` flips them back).
 *   The adapter returns ids in wire order, family code first, as DS18B20.search() and the
 *   Match ROM frame expect; nothing is filtered here (a CRC byte of 00h is a valid id).
 */
import type { Bytes, OneWire, OneWireOptions } from '../../firmware/host';

/** The part of Moddable's `onewire` class the adapter uses, typed as modonewire.c behaves. */
export interface NativeOneWire {
  reset(): boolean;
  write(byte: number): void;
  read(count: number): ArrayBuffer;
  search(): ArrayBuffer[];
  close(): void;
}

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The host's OneWire class over a native constructor (`new Native({ pin })`). */
export function boardOneWire(Native: new (options: { pin: number }) => NativeOneWire): new (options: OneWireOptions) => OneWire {
  return class BoardOneWire implements OneWire {
    #bus: NativeOneWire | undefined;

    constructor(options: OneWireOptions) {
      this.#bus = new Native({ pin: options.pin });
    }

    reset(): boolean {
      return this.#open().reset();
    }

    write(buffer: Bytes): void {
      const bus = this.#open();
      const bytes = bytesOf(buffer);
      for (let i = 0; i < bytes.length; i++) bus.write(bytes[i]!);
    }

    read(byteLength: number): ArrayBuffer;
    read(buffer: Bytes): void;
    read(target: number | Bytes): ArrayBuffer | void {
      const count = typeof target === 'number' ? target : target.byteLength;
      const data = this.#open().read(count);
      if (!(data instanceof ArrayBuffer) || data.byteLength !== count) throw new Error(`1-Wire read: expected ${count} bytes`);
      if (typeof target === 'number') return data;
      bytesOf(target).set(new Uint8Array(data));
    }

    search(): ArrayBuffer[] {
      const found = this.#open().search();
      const roms: ArrayBuffer[] = [];
      for (const id of found) {
        const flipped = new Uint8Array(id);
        const rom = new Uint8Array(flipped.length);
        for (let i = 0; i < flipped.length; i++) rom[i] = flipped[flipped.length - 1 - i]!;
        roms.push(rom.buffer);
      }
      return roms;
    }

    close(): void {
      const bus = this.#bus;
      this.#bus = undefined;
      bus?.close();
    }

    #open(): NativeOneWire {
      if (!this.#bus) throw new Error('1-Wire closed');
      return this.#bus;
    }
  };
}
