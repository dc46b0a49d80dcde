/*
 * The simulated I2C bus and its ECMA-419 shaped I2C / SMBus classes. Runs on Node and XS.
 */
import { pecOf } from '../../firmware/sensors/crc';
import { SimI2CBus, type SimI2CDevice } from '../../simulator/devices/i2c-bus';
import { deepEqual, equal, ok, throws } from '../harness/assert';

/** A register file with a pointer, that logs what it sees on the wire. */
class Probe implements SimI2CDevice {
  readonly maxHz = 400_000;
  readonly log: string[] = [];
  readonly regs = new Uint8Array(16).map((_, i) => 0xa0 + i);
  pointer = 0;
  first = true;
  nakByte = -1;
  start(read: boolean): boolean {
    this.log.push(read ? 'Sr' : 'Sw');
    this.first = true;
    return true;
  }
  writeByte(byte: number): boolean {
    this.log.push(`w${byte.toString(16)}`);
    if (byte === this.nakByte) return false;
    if (this.first) this.pointer = byte & 15;
    else this.regs[this.pointer++ & 15] = byte;
    this.first = false;
    return true;
  }
  readByte(last: boolean): number {
    this.log.push(last ? 'r!' : 'r');
    return this.regs[this.pointer++ & 15]!;
  }
  stop(): void {
    this.log.push('P');
  }
}

function setup() {
  const bus = new SimI2CBus();
  const probe = new Probe();
  bus.attach(0x20, probe);
  const { I2C, SMBus } = bus.classes();
  return { bus, probe, I2C, SMBus };
}

export const tests = {
  'write then read with a repeated start: no STOP in between'() {
    const { probe, I2C } = setup();
    const i2c = new I2C({ address: 0x20, hz: 400_000 });
    i2c.write(new Uint8Array([0x03]), false);
    const into = new Uint8Array(2);
    i2c.read(into);
    deepEqual(Array.from(into), [0xa3, 0xa4]);
    deepEqual(probe.log, ['Sw', 'w3', 'Sr', 'r', 'r!', 'P'], 'wire');
  },

  'read(n) returns a new ArrayBuffer; read(view) fills the view in place'() {
    const { I2C } = setup();
    const i2c = new I2C({ address: 0x20 });
    i2c.write(new Uint8Array([0]), false);
    const buffer = i2c.read(3);
    ok(buffer instanceof ArrayBuffer);
    deepEqual(Array.from(new Uint8Array(buffer)), [0xa0, 0xa1, 0xa2]);
    const big = new Uint8Array(6);
    i2c.write(new Uint8Array([1]), false);
    i2c.read(big.subarray(2, 4));
    deepEqual(Array.from(big), [0, 0, 0xa1, 0xa2, 0, 0]);
  },

  'absent address, a NAKed data byte, and a clock above the part’s maximum all throw, then STOP'() {
    const { bus, probe, I2C } = setup();
    throws(() => new I2C({ address: 0x21 }).write(new Uint8Array([0])), /NAK/);
    probe.nakByte = 0x55;
    throws(() => new I2C({ address: 0x20 }).write(new Uint8Array([0x01, 0x55, 0x66])), /NAK/);
    equal(probe.log[probe.log.length - 1], 'P');
    equal(probe.regs[1], 0xa1, 'nothing after the NAK was written');
    throws(() => new I2C({ address: 0x20, hz: 1_000_000 }).read(1), /NAK/);
    equal(bus.stats.naks, 3);
  },

  'injected faults: nak, timeout, zeros, ones, nakAfter'() {
    const { bus, I2C } = setup();
    const i2c = new I2C({ address: 0x20 });
    bus.inject(0x20, 'nak');
    throws(() => i2c.read(1), /NAK/);
    bus.inject(0x20, 'timeout');
    throws(() => i2c.read(1), /time-out/);
    bus.inject(0x20, 'zeros');
    deepEqual(Array.from(new Uint8Array(i2c.read(2))), [0, 0]);
    bus.inject(0x20, 'ones');
    deepEqual(Array.from(new Uint8Array(i2c.read(2))), [0xff, 0xff]);
    bus.inject(0x20, undefined);
    bus.nakAfter(0x20, 1);
    i2c.read(1);
    throws(() => i2c.read(1), /NAK/);
    equal(bus.stats.timeouts, 1);
  },

  'options are validated; a closed handle throws; close twice is fine'() {
    const { I2C } = setup();
    throws(() => new I2C({ address: 0x80 }), /address/);
    throws(() => new I2C({ address: 1.5 }), /address/);
    throws(() => new I2C({ address: 0x20, hz: -1 }), /hz/);
    const i2c = new I2C({ address: 0x20 });
    i2c.close();
    i2c.close();
    throws(() => i2c.read(1), /closed/);
    throws(() => i2c.write(new Uint8Array(1)), /closed/);
  },

  'attach refuses a taken address; detach frees it'() {
    const { bus, I2C } = setup();
    throws(() => bus.attach(0x20, new Probe()), /in use/);
    bus.detach(0x20);
    throws(() => new I2C({ address: 0x20 }).read(1), /NAK/);
    bus.attach(0x20, new Probe());
  },

  'SMBus: register helpers, endianness, and PEC on reads and writes'() {
    const { probe, SMBus } = setup();
    const smbus = new SMBus({ address: 0x20 });
    equal(smbus.readUint8(2), 0xa2);
    equal(smbus.readUint16(2), 0xa3a2);
    equal(smbus.readUint16(2, true), 0xa2a3);
    smbus.writeUint16(4, 0x1234, true);
    deepEqual(Array.from(probe.regs.subarray(4, 6)), [0x12, 0x34]);
    const pec = new SMBus({ address: 0x20, pec: true });
    probe.regs[8] = 0x11;
    probe.regs[9] = 0x22;
    probe.regs[10] = pecOf(new Uint8Array([0x40, 0x08, 0x41, 0x11, 0x22]), 0, 5);
    equal(pec.readUint16(8), 0x2211);
    probe.regs[10] ^= 1;
    throws(() => pec.readUint16(8), /PEC/);
    probe.log.length = 0;
    pec.writeUint8(12, 0x5a);
    equal(probe.regs[13], pecOf(new Uint8Array([0x40, 12, 0x5a]), 0, 3), 'PEC byte follows the data');
  },
};
