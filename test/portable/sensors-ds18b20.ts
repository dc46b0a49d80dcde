/*
 * DS18B20 driver against the simulated part on a simulated 1-Wire bus (Maxim DS18B20 datasheet
 * 19-7487). Runs on Node and in XS.
 */
import DS18B20, { parseRom, romToString } from '../../firmware/sensors/ds18b20';
import { crc8Dallas } from '../../firmware/sensors/crc-dallas';
import { type SensorError, SensorErrorCode } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimDs18b20 } from '../../simulator/devices/ds18b20';
import { SimOneWireBus } from '../../simulator/devices/onewire-bus';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';

function rig(options: { resolution?: number; stuckMs?: number; serials?: number[]; useRom?: boolean } = {}) {
  const env = new FixedEnv();
  env.time = 1000;
  const bus = new SimOneWireBus();
  const devices = (options.serials ?? [0x1234]).map((serial) => new SimDs18b20(env, serial));
  for (const d of devices) bus.attach(d);
  const errors: string[] = [];
  const { OneWire } = bus.classes();
  const make = (rom?: string) =>
    new DS18B20({
      sensor: { io: OneWire, pin: 4, ...(rom ? { rom } : {}) },
      now: () => env.now(),
      onError: (e: SensorError) => errors.push(e.code),
      resolution: options.resolution,
      stuckMs: options.stuckMs,
    });
  const driver = make(options.useRom === false ? undefined : romToString(devices[0]!.rom));
  const out = new Int32Array(1);
  /** Advances past the conversion time, then reads. */
  const next = (ms = 750) => {
    env.time += ms;
    return driver.read(out);
  };
  return { env, bus, devices, driver, errors, out, next, make };
}

/** DS18B20 datasheet Table 1 "Temperature/Data Relationship" (12-bit). */
const TABLE_1: [number, number][] = [
  [125, 0x07d0],
  [85, 0x0550],
  [25.0625, 0x0191],
  [10.125, 0x00a2],
  [0.5, 0x0008],
  [0, 0x0000],
  [-0.5, 0xfff8],
  [-10.125, 0xff5e],
  [-25.0625, 0xfe6f],
  [-55, 0xfc90],
];

/**
 * Dallas CRC-8 written the other way round (MSB-first, polynomial 31h over bit-reversed bytes,
 * result reversed), as an oracle independent of the driver's reflected LSB-first loop.
 */
function crc8Reference(bytes: Uint8Array): number {
  const reverse = (b: number) => {
    let r = 0;
    for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
    return r;
  };
  let crc = 0;
  for (const byte of bytes) {
    crc ^= reverse(byte);
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x31) & 0xff : (crc << 1) & 0xff;
  }
  return reverse(crc);
}

export const tests = {
  'Dallas CRC-8: power-on scratchpad 50 05 4B 46 7F FF 0C 10 has CRC 1C'() {
    equal(crc8Dallas(new Uint8Array([0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10])), 0x1c);
  },
  'Dallas CRC-8: Maxim AN27 example ROM 02 1C B8 01 00 00 00 has CRC A2'() {
    equal(crc8Dallas(new Uint8Array([0x02, 0x1c, 0xb8, 0x01, 0x00, 0x00, 0x00])), 0xa2);
  },
  'Table 1: every row, sim register and driver reading, including negatives'() {
    for (const [celsius, raw] of TABLE_1) {
      const r = rig();
      r.env.temperatureC = celsius;
      equal(r.next(), 1, `${celsius} °C`);
      equal(r.devices[0]!.raw, raw, `raw for ${celsius} °C`);
      equal(r.out[0], Math.floor(celsius * 1000), `milli-°C for ${celsius} °C`);
      equal(r.driver.sample(), undefined, 'the next conversion has just started');
    }
  },
  'sample() is the float view of read(); nothing while a conversion runs'() {
    const r = rig();
    r.env.temperatureC = -10.125;
    equal(r.driver.sample(), undefined, 'conversion just started');
    equal(r.driver.lastError, SensorErrorCode.NOT_READY);
    r.env.time += 749;
    equal(r.driver.sample(), undefined, '1 ms before the 750 ms maximum (Table 2)');
    r.env.time += 1;
    near(r.driver.sample()!.temperature, -10.125, 0.001);
    deepEqual(r.errors, [SensorErrorCode.NOT_READY, SensorErrorCode.NOT_READY], 'E_NOT_READY reported through onError');
    equal(r.driver.faults.E_NOT_READY, 0, 'and not counted as a fault');
  },
  'Table 2: resolution, conversion time and undefined low bits, 9..12 bits'() {
    const times = [93.75, 187.5, 375, 750];
    for (let bits = 9; bits <= 12; bits++) {
      const r = rig({ resolution: bits });
      r.env.temperatureC = 23.99;
      equal(r.devices[0]!.resolution, bits);
      equal(r.next(times[bits - 9]! - 0.25), 0, `${bits} bits: not ready before tCONV`);
      r.env.time += 0.25;
      equal(r.driver.read(r.out), 1, `${bits} bits: ready at tCONV`);
      const step = 1000 / (1 << (bits - 8));
      const expected = Math.floor(Math.floor((23.99 * 1000) / step) * step);
      equal(r.out[0], expected, `${bits} bits: quantised, noise bits masked`);
    }
  },
  'configure() rejects a resolution outside 9..12 with E_CONFIG'() {
    const r = rig();
    throws(() => r.driver.configure({ resolution: 13 }), /E_CONFIG/);
    throws(() => r.driver.configure({ resolution: 8 }), /E_CONFIG/);
  },
  'several sensors on one bus: search, then one driver per ROM id'() {
    const r = rig({ serials: [0x1234, 0xabcdef, 0x42] });
    const { OneWire } = r.bus.classes();
    const raw = new OneWire({ pin: 4 });
    const found = DS18B20.search(raw);
    equal(found.roms.length, 3);
    equal(found.rejected, 0);
    for (const d of r.devices) ok(found.roms.includes(romToString(d.rom)), 'every id found');
    raw.close();
    const temps = [21.5, -3.25, 60.0625];
    const drivers = r.devices.map((d) => r.make(romToString(d.rom)));
    // a different temperature per device: only device i follows the environment in round i
    const out = new Int32Array(1);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) r.devices[j]!.stuck = j !== i;
      r.env.temperatureC = temps[i]!;
      r.env.time += 750;
      drivers[i]!.read(out); // result of the conversion started before the switch
      r.env.time += 750;
      equal(drivers[i]!.read(out), 1);
      equal(out[0], Math.floor(temps[i]! * 1000), `device ${i}`);
    }
    for (const d of drivers) {
      d.close();
      d.close();
    }
  },
  'Skip ROM with two devices collides: E_CRC, never a number'() {
    const r = rig({ serials: [1, 2], useRom: false });
    r.devices[0]!.stuck = true; // different registers so that the AND is corrupt
    r.env.temperatureC = 20;
    let got = 0;
    for (let i = 0; i < 3; i++) got |= r.next();
    equal(got, 0);
    ok(r.errors.includes(SensorErrorCode.CRC) || r.errors.includes(SensorErrorCode.POWER_ON_VALUE), r.errors.join());
  },
  'E_DISCONNECTED: no presence pulse'() {
    const r = rig();
    r.devices[0]!.connected = false;
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.DISCONNECTED);
    equal(r.driver.faults.E_DISCONNECTED, 1);
    r.devices[0]!.connected = true;
    equal(r.next(), 0, 'reconnected: conversion restarted, not ready yet');
    equal(r.next(), 1, 'then a reading');
  },
  'E_DISCONNECTED: a ROM id that is not on the bus reads all 1s'() {
    const r = rig({ serials: [7] });
    const other = new SimDs18b20(r.env, 8);
    const d = r.make(romToString(other.rom));
    r.env.time += 750;
    equal(d.read(r.out), 0);
    ok(r.errors.includes(SensorErrorCode.DISCONNECTED), r.errors.join());
  },
  'E_FRAME: DQ shorted to ground reads an all-zero scratchpad (whose CRC is 0)'() {
    const r = rig();
    r.bus.shortToGround = true;
    equal(r.next(), 0);
    equal(r.errors[r.errors.length - 1], SensorErrorCode.FRAME);
  },
  'E_CRC: corrupted scratchpad byte'() {
    const r = rig();
    r.devices[0]!.crcError = true;
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.CRC);
    r.devices[0]!.crcError = false;
    r.bus.noiseBit = 3;
    equal(r.next(), 0, 'a bit flipped on the wire');
    equal(r.errors[1], SensorErrorCode.CRC);
    equal(r.driver.faults.E_CRC, 2);
  },
  'E_BUS: the IO class throws'() {
    const r = rig();
    r.bus.busError = true;
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.BUS);
    r.bus.busError = false;
    equal(r.next(), 0);
    equal(r.next(), 1, 'recovers');
  },
  'E_POWER_ON_VALUE: a part that reset between Convert T and the read'() {
    const r = rig();
    r.env.temperatureC = 30;
    equal(r.next(), 1);
    r.devices[0]!.powerCycle();
    r.env.time += 750;
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.POWER_ON_VALUE);
    equal(r.next(), 1, 'reconfigured, converts again');
    equal(r.out[0], 30000);
  },
  'a pipe that sits at +85.0 °C from power-up reads +85.0 °C, at every resolution'() {
    for (let bits = 9; bits <= 12; bits++) {
      // 85.0..85.4 °C is 0550h once the resolution leaves the low bits undefined (Table 2)
      const top = bits === 12 ? 85 : 85 + (1 / (1 << (bits - 8))) - 0.0625;
      for (const celsius of [85, top]) {
        const r = rig({ resolution: bits });
        r.env.temperatureC = celsius;
        for (let i = 0; i < 4; i++) {
          equal(r.next(), 1, `${bits} bits, ${celsius} °C, conversion ${i + 1}`);
          equal(r.out[0], 85000);
        }
        equal(r.devices[0]!.raw & ~((1 << (12 - bits)) - 1), 0x0550, 'the register holds the power-on value');
        equal(r.driver.faults.E_POWER_ON_VALUE, 0);
      }
    }
  },
  'E_POWER_ON_VALUE: a power-on reset at +85 °C is still refused (TH/TL back from EEPROM)'() {
    const r = rig();
    r.env.temperatureC = 85;
    equal(r.next(), 1);
    equal(r.out[0], 85000);
    r.devices[0]!.powerCycle();
    r.env.time += 750;
    equal(r.driver.read(r.out), 0, 'power-up scratchpad: 0550h with the factory TH/TL');
    deepEqual(r.errors, [SensorErrorCode.POWER_ON_VALUE]);
    equal(r.driver.faults.E_POWER_ON_VALUE, 1);
    equal(r.next(), 1, 'reconfigured, converts again');
    equal(r.out[0], 85000);
  },
  'E_POWER_ON_VALUE: conversions that never run leave +85 °C forever'() {
    const r = rig();
    r.devices[0]!.conversionFails = true;
    r.devices[0]!.powerCycle();
    for (let i = 0; i < 5; i++) equal(r.next(), 0);
    ok(r.errors.length >= 4 && r.errors.every((e) => e === SensorErrorCode.POWER_ON_VALUE), r.errors.join());
  },
  'a real +85 °C after other values is a reading'() {
    const r = rig();
    r.env.temperatureC = 84.9375;
    equal(r.next(), 1);
    r.env.temperatureC = 85;
    equal(r.next(), 1);
    equal(r.out[0], 85000);
  },
  'search() finds a part whose ROM CRC byte is 00h; the driver reads it'() {
    // 28 FF 64 1E 0F 67 00 | CRC 00: serial 00670F1E64FFh
    const r = rig({ serials: [0x670f1e64ff, 0x1234] });
    const zero = r.devices[0]!;
    equal(romToString(zero.rom), '28ff641e0f670000');
    equal(crc8Reference(zero.rom.subarray(0, 7)), 0, 'CRC-8 of the 7 bytes is 00h (reference, MSB-first form)');
    const { OneWire } = r.bus.classes();
    const raw = new OneWire({ pin: 4 });
    const found = DS18B20.search(raw);
    raw.close();
    equal(found.rejected, 0);
    equal(found.roms.length, 2);
    ok(found.roms.includes('28ff641e0f670000'), found.roms.join());
    equal(romToString(parseRom('28ff641e0f670000')), '28ff641e0f670000');
    r.env.temperatureC = 21.5;
    equal(r.next(), 1);
    equal(r.out[0], 21500);
  },
  'search() still rejects a shorted bus (all-zero id) and a corrupt id'() {
    const r = rig({ serials: [0x42] });
    const { OneWire } = r.bus.classes();
    const raw = new OneWire({ pin: 4 });
    r.bus.shortToGround = true;
    deepEqual(DS18B20.search(raw), { roms: [], rejected: 1 });
    r.bus.shortToGround = false;
    const fake = { search: () => [Uint8Array.of(0x28, 0xff, 0x64, 0x1e, 0x0f, 0x67, 0x01, 0x00).buffer] };
    deepEqual(DS18B20.search(fake as never), { roms: [], rejected: 1 }, 'one serial bit off: CRC 00h no longer checks');
    raw.close();
  },
  'E_RANGE: a raw value outside −55..+125 °C with a valid CRC'() {
    const r = rig();
    r.devices[0]!.rawOverride = 0xf810; // −127 °C
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.RANGE);
    r.devices[0]!.rawOverride = 0x0800; // +128 °C
    equal(r.next(), 0);
    equal(r.errors[1], SensorErrorCode.RANGE);
  },
  'E_STUCK: unchanged for longer than stuckMs'() {
    const r = rig({ stuckMs: 2000 });
    r.env.temperatureC = 40;
    equal(r.next(), 1);
    r.devices[0]!.stuck = true;
    r.env.temperatureC = 41;
    equal(r.next(), 1, '750 ms unchanged');
    equal(r.next(), 1, '1500 ms unchanged');
    equal(r.next(), 0, '2250 ms unchanged');
    equal(r.errors[0], SensorErrorCode.STUCK);
    r.devices[0]!.stuck = false;
    equal(r.next(), 1);
    equal(r.out[0], 41000);
  },
  'ROM ids are validated: length, hex, CRC, family'() {
    throws(() => parseRom('28ff'), /16 hex/);
    throws(() => parseRom('28ff641e0f00004z'), /bad ROM/);
    const good = new SimDs18b20(new FixedEnv(), 99).rom;
    equal(romToString(parseRom(romToString(good))), romToString(good));
    const bad = good.slice();
    bad[3] ^= 1;
    throws(() => parseRom(bad), /CRC/);
    const ds18s20 = new Uint8Array([0x10, 1, 2, 3, 4, 5, 6, 0]);
    ds18s20[7] = crc8Dallas(ds18s20, 0, 7);
    throws(() => parseRom(ds18s20), /family/);
  },
  'close() twice is safe; read() after close throws'() {
    const r = rig();
    r.driver.close();
    r.driver.close();
    throws(() => r.driver.read(r.out), /closed/);
  },
};
