/*
 * The simulated 1-Wire bus itself: presence, ROM commands, wired-AND, ROM search (Maxim AN187).
 */
import { checkCrc8Dallas } from '../../firmware/sensors/crc-dallas';
import { romToString } from '../../firmware/sensors/ds18b20';
import { FixedEnv } from '../../simulator/devices/env';
import { SimDs18b20 } from '../../simulator/devices/ds18b20';
import { OneWireRom, SimOneWireBus } from '../../simulator/devices/onewire-bus';
import { equal, ok, throws } from '../harness/assert';

function bus(serials: number[]) {
  const env = new FixedEnv();
  const b = new SimOneWireBus();
  const devices = serials.map((s) => new SimDs18b20(env, s));
  for (const d of devices) b.attach(d);
  const { OneWire } = b.classes();
  return { env, b, devices, ow: new OneWire({ pin: 4 }) };
}

export const tests = {
  'presence: none on an empty bus, yes with a device, none when it is unplugged'() {
    equal(bus([]).ow.reset(), false);
    const r = bus([1]);
    equal(r.ow.reset(), true);
    r.devices[0]!.connected = false;
    equal(r.ow.reset(), false);
  },
  'Read ROM returns the id of a lone device; with two it collides (wired-AND) and the CRC fails'() {
    const one = bus([0x123456]);
    one.ow.reset();
    one.ow.write(new Uint8Array([OneWireRom.READ]));
    const rom = new Uint8Array(one.ow.read(8));
    equal(romToString(rom), romToString(one.devices[0]!.rom));
    ok(checkCrc8Dallas(rom));
    const two = bus([0x0f0f0f, 0xf0f0f0]);
    two.ow.reset();
    two.ow.write(new Uint8Array([OneWireRom.READ]));
    ok(!checkCrc8Dallas(new Uint8Array(two.ow.read(8))), 'collision');
  },
  'ROM search finds every device, ids sharing long prefixes included'() {
    const serials = [0, 1, 2, 3, 0x800000000000, 0x800000000001, 0xffffffffffff, 0x123456789abc, 0x123456789abd, 0x5555];
    const r = bus(serials);
    const found = r.ow.search().map((id) => romToString(new Uint8Array(id)));
    equal(found.length, serials.length);
    for (const d of r.devices) ok(found.includes(romToString(d.rom)), romToString(d.rom));
    equal(new Set(found).size, found.length, 'no duplicates');
  },
  'search skips unplugged devices; an empty bus finds nothing'() {
    const r = bus([5, 6, 7]);
    r.devices[1]!.connected = false;
    equal(r.ow.search().length, 2);
    equal(bus([]).ow.search().length, 0);
  },
  'a shorted bus: presence always, reads zeros, search yields one all-zero id'() {
    const r = bus([5]);
    r.b.shortToGround = true;
    equal(r.ow.reset(), true);
    equal(new Uint8Array(r.ow.read(1))[0], 0);
    const ids = r.ow.search();
    equal(ids.length, 1);
    equal(romToString(new Uint8Array(ids[0]!)), '0000000000000000');
  },
  'bus errors throw from every operation; closed handles throw'() {
    const r = bus([5]);
    r.b.busError = true;
    throws(() => r.ow.reset(), /bus error/);
    throws(() => r.ow.search(), /bus error/);
    r.b.busError = false;
    r.ow.close();
    r.ow.close();
    throws(() => r.ow.reset(), /closed/);
  },
  'the same ROM id cannot be attached twice'() {
    const r = bus([5]);
    throws(() => r.b.attach(new SimDs18b20(r.env, 5)), /already/);
  },
};
