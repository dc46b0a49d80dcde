/*
 * hosts/esp32/onewire.ts, the firmware's OneWire over Moddable's `onewire` module, against a
 * strict model of that module on an ESP32 driving the simulated 1-Wire bus. Runs on Node and XS.
 */
import { crc8Dallas } from '../../firmware/sensors/crc-dallas';
import DS18B20, { romToString } from '../../firmware/sensors/ds18b20';
import { boardOneWire, type NativeOneWire } from '../../hosts/esp32/onewire';
import { FixedEnv } from '../../simulator/devices/env';
import { SimDs18b20 } from '../../simulator/devices/ds18b20';
import { SimOneWireBus } from '../../simulator/devices/onewire-bus';
import { deepEqual, equal, ok } from '../harness/assert';

/**
 * Moddable's onewire module as $MODDABLE/modules/drivers/onewire/esp32/modonewire.c behaves
 * (not as its onewire.d.ts says), over ESP-IDF's onewire_bus device iterator:
 * - xs_onewire_write: `uint8_t value = xsmcToInteger(xsArg(0))`: one byte; anything else is
 *   converted as XS converts it (an array of several bytes is NaN, so 0), the range check on a
 *   uint8_t never fires;
 * - xs_onewire_read: with a count, a new ArrayBuffer of that many bytes; without, one number;
 * - xs_onewire_search: each onewire_device_iter_get_next address (ROM bytes in wire order in a
 *   uint64_t) goes through `swap(…, 8)`, so each ArrayBuffer holds the CRC first and the family
 *   code last; the iterator ends the search at the first id whose CRC fails (ESP_ERR_INVALID_CRC
 *   from onewire_device.c), as at its last device.
 */
class ModdableEsp32OneWire implements NativeOneWire {
  static bus: SimOneWireBus;
  readonly #bus = ModdableEsp32OneWire.bus;
  writes: number[] = [];
  constructor(options: { pin: number }) {
    if (!Number.isInteger(options?.pin)) throw new Error('pin required');
  }
  reset(): boolean {
    return this.#bus.reset();
  }
  write(data: number): void {
    const n = Math.trunc(Number(data));
    const value = (Number.isNaN(n) ? 0 : n) & 0xff;
    this.#bus.writeByte(value);
  }
  read(count: number): ArrayBuffer;
  read(): number;
  read(count?: number): ArrayBuffer | number {
    if (count === undefined) return this.#bus.readByte();
    const buffer = new ArrayBuffer(count);
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < count; i++) bytes[i] = this.#bus.readByte();
    return buffer;
  }
  search(): ArrayBuffer[] {
    const out: ArrayBuffer[] = [];
    for (const rom of this.#bus.search()) {
      if (crc8Dallas(rom, 0, 7) !== rom[7]) break;
      const swapped = rom.slice();
      swapped.reverse();
      out.push(swapped.buffer);
    }
    return out;
  }
  close(): void {}
}

function rig(serials: number[]) {
  const env = new FixedEnv();
  env.time = 1000;
  const bus = new SimOneWireBus();
  const parts = serials.map((s) => new SimDs18b20(env, s));
  for (const p of parts) bus.attach(p);
  ModdableEsp32OneWire.bus = bus;
  const OneWire = boardOneWire(ModdableEsp32OneWire);
  return { env, bus, parts, OneWire };
}

export const tests = {
  'search() returns ids family code first, whatever order the module gives them in'() {
    // 28FF641E0F670000: a ROM whose CRC byte is 00h
    const r = rig([0x670f1e64ff, 0x1234]);
    const io = new r.OneWire({ pin: 4 });
    const ids = io.search().map((b) => romToString(new Uint8Array(b)));
    deepEqual(ids.slice().sort(), r.parts.map((p) => romToString(p.rom)).sort());
    const found = DS18B20.search(io);
    equal(found.rejected, 0);
    ok(found.roms.includes('28ff641e0f670000'), found.roms.join());
    io.close();
  },
  'a DS18B20 reads through the adapter: commands written byte by byte, scratchpad read into the buffer'() {
    const r = rig([0x42]);
    r.env.temperatureC = 71.25;
    const errors: string[] = [];
    const t = new DS18B20({
      sensor: { io: r.OneWire, pin: 4, rom: romToString(r.parts[0]!.rom) },
      now: () => r.env.now(),
      onError: (e) => errors.push(e.code),
    });
    const out = new Int32Array(1);
    r.env.time += 750;
    equal(t.read(out), 1, errors.join());
    equal(out[0], 71250);
    equal(r.parts[0]!.resolution, 12, 'the Write Scratchpad payload reached the part');
    deepEqual(errors, [], 'no fault');
    t.close();
  },
  'read(count) returns an ArrayBuffer; read(buffer) fills it; a closed bus throws'() {
    const r = rig([7]);
    const io = new r.OneWire({ pin: 4 });
    equal(io.reset(), true);
    io.write(Uint8Array.of(0xcc, 0xbe));
    const data = io.read(9);
    ok(data instanceof ArrayBuffer && data.byteLength === 9);
    equal(crc8Dallas(new Uint8Array(data)), 0, 'a whole scratchpad, CRC included');
    io.close();
    let threw = false;
    try {
      io.reset();
    } catch {
      threw = true;
    }
    ok(threw);
  },
};
