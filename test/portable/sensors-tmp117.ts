/*
 * TMP117 driver against the register-level simulated TMP117 (datasheet SNOSD82D).
 * Runs on Node and inside XS.
 */
import TMP117 from '../../firmware/sensors/tmp117';
import { SensorError, SensorErrorCode, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { SimTMP117, TMP117Register } from '../../simulator/devices/tmp117';
import type { I2C, I2CConstructor, I2COptions } from '../../firmware/host';
import { deepEqual, equal, ok, throws } from '../harness/assert';

interface Rig {
  env: FixedEnv;
  bus: SimI2CBus;
  device: SimTMP117;
  sensor: TMP117;
  errors: SensorError[];
  out: Int32Array;
  open: { count: number };
}

/** An I2C class that counts open handles, to prove a failed constructor leaves nothing open. */
function counting(base: I2CConstructor, open: { count: number }): I2CConstructor {
  return class {
    #io: I2C;
    #closed = false;
    constructor(options: I2COptions) {
      this.#io = new base(options);
      open.count++;
    }
    read(x: any, stop?: boolean): any {
      return this.#io.read(x, stop);
    }
    write(x: any, stop?: boolean): void {
      this.#io.write(x, stop);
    }
    close(): void {
      if (!this.#closed) open.count--;
      this.#closed = true;
      this.#io.close();
    }
  } as unknown as I2CConstructor;
}

function rig(options: { temperatureC?: number; withClock?: boolean } = {}): Rig {
  const env = new FixedEnv();
  env.temperatureC = options.temperatureC ?? 25;
  const bus = new SimI2CBus();
  const device = new SimTMP117(env);
  bus.attach(0x48, device);
  env.time = 10;
  const errors: SensorError[] = [];
  const open = { count: 0 };
  const sensor = new TMP117({
    sensor: { io: counting(bus.classes().I2C, open), address: 0x48, hz: 400_000 },
    onError: (error) => errors.push(error),
    now: options.withClock === false ? undefined : () => env.now(),
  });
  return { env, bus, device, sensor, errors, out: new Int32Array(1), open };
}

/** Default settings (8 averages, 1 s cycle) restarted at t=10: results at 135, 1135, 2135... */
const FIRST_RESULT_MS = 10 + 125;

function expectFault(r: Rig, code: SensorErrorCodeValue): void {
  const before = r.errors.length;
  equal(r.sensor.read(r.out), 0, `read() with ${code}`);
  equal(r.errors.length, before + 1, 'onError called once');
  const error = r.errors[r.errors.length - 1]!;
  ok(error instanceof SensorError, 'a SensorError');
  equal(error.code, code);
  equal(error.part, 'TMP117');
}

/** SNOSD82D §7.3.3 Table 7-1, "16-bit temperature data format": °C and register hex. */
const TABLE_7_1: ReadonlyArray<readonly [number, number]> = [
  [-25, 0xf380],
  [-0.125, 0xfff0],
  [-0.0078125, 0xffff],
  [0, 0x0000],
  [0.0078125, 0x0001],
  [0.125, 0x0010],
  [1, 0x0080],
  [25, 0x0c80],
  [100, 0x3200],
];

export const tests = {
  'Table 7-1: register values and temperatures (incl. negative)'() {
    const r = rig();
    let t = FIRST_RESULT_MS;
    for (const [celsius, hex] of TABLE_7_1) {
      r.env.temperatureC = celsius;
      r.env.time = t;
      equal(r.device.peek(TMP117Register.TEMP_RESULT), hex, `register for ${celsius} °C`);
      const sample = r.sensor.sample();
      ok(sample, `sample at ${celsius} °C`);
      equal(sample.temperature, celsius, 'temperature, °C');
      equal(r.sensor.read(r.out), 1);
      equal(r.out[0], Math.round(celsius * 1000), 'milli-°C');
      t += 1000;
    }
    equal(r.errors.length, 0);
  },

  'Table 7-1 ends: -256 °C (8000h) is the power-on value, 255.99 °C (7FFFh) is out of range'() {
    const r = rig({ temperatureC: 255.9921875 });
    r.env.time = FIRST_RESULT_MS;
    equal(r.device.peek(TMP117Register.TEMP_RESULT), 0x7fff);
    expectFault(r, SensorErrorCode.RANGE);
    r.env.temperatureC = -256;
    r.env.time += 1000;
    equal(r.device.peek(TMP117Register.TEMP_RESULT), 0x8000);
    expectFault(r, SensorErrorCode.POWER_ON_VALUE);
  },

  'resolution: one LSB is 7.8125 m°C; milli-°C is rounded'() {
    const r = rig({ temperatureC: 21 + 3 / 128 });
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 21023, '21.0234375 °C');
    equal(r.sensor.sample()!.temperature, 21.0234375);
    r.env.temperatureC = -(40 + 5 / 128);
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], -40039, '-40.0390625 °C');
    r.env.temperatureC = 22.5 + 0.3 / 128;
    r.env.time += 1000;
    equal(r.sensor.sample()!.temperature, 22.5, 'below one LSB is not resolved');
  },

  'operating range -55..150 °C (§6.3): limits pass, beyond is E_RANGE'() {
    const r = rig({ temperatureC: -55 });
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.sample()!.temperature, -55);
    r.env.temperatureC = 150;
    r.env.time += 1000;
    equal(r.sensor.sample()!.temperature, 150);
    r.env.temperatureC = 150.0078125;
    r.env.time += 1000;
    expectFault(r, SensorErrorCode.RANGE);
    r.env.temperatureC = -55.0078125;
    r.env.time += 1000;
    expectFault(r, SensorErrorCode.RANGE);
    equal(r.sensor.faults.E_RANGE, 2);
  },

  'power-on: E_NOT_READY until the first conversion completes (§7.3.1)'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS - 1;
    expectFault(r, SensorErrorCode.NOT_READY);
    equal(r.sensor.sample(), undefined);
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.sample()!.temperature, 25);
    equal(r.sensor.faults.E_NOT_READY, 0, 'reported, not counted as a fault (errors.ts)');
  },

  'between conversions the last result is returned; Data_Ready is cleared by reading'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    equal(r.device.peek(TMP117Register.CONFIGURATION) & 0x2000, 0, 'Data_Ready cleared');
    r.env.temperatureC = 30;
    r.env.time += 500;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 25000, 'no new conversion yet: last result');
    r.env.time += 500;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 30000, 'next cycle');
    equal(r.errors.length, 0);
  },

  'configure: 64 averages take 1 s (§7.3.2); cycle times from Table 7-7'() {
    const r = rig();
    r.env.time = 50;
    r.sensor.configure({ averaging: 64, cycleMs: 4000 });
    r.env.time = 50 + 999;
    expectFault(r, SensorErrorCode.NOT_READY);
    r.env.time = 50 + 1000;
    equal(r.sensor.read(r.out), 1);
    const conversions = r.device.conversions;
    r.env.time = 50 + 1000 + 3999;
    equal(r.sensor.read(r.out), 1);
    equal(r.device.conversions, conversions, 'no conversion before the 4 s cycle ends');
    r.env.time = 50 + 1000 + 4000;
    equal(r.sensor.read(r.out), 1);
    equal(r.device.conversions, conversions + 1);
    equal(r.device.peek(TMP117Register.CONFIGURATION) & 0x0ffc, (5 << 7) | (3 << 5));
  },

  'configure rejects what the part cannot do, with E_CONFIG'() {
    const r = rig();
    throws(() => r.sensor.configure({ averaging: 16 as 8 }), /E_CONFIG/);
    throws(() => r.sensor.configure({ averaging: 64, cycleMs: 125 }), /E_CONFIG/, '64 averages need 1 s');
    throws(() => r.sensor.configure({ cycleMs: 2000 }), /E_CONFIG/);
    throws(() => r.sensor.configure({ stuckMs: -1 }), /E_CONFIG/);
    const noClock = rig({ withClock: false });
    throws(() => noClock.sensor.configure({ stuckMs: 1000 }), /E_CONFIG/, 'stuckMs needs a clock');
  },

  'wrong chip id: constructor throws E_CHIP_ID and leaves nothing open'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    const device = new SimTMP117(env);
    device.faults.chipId = 0x1116; // a TMP116 at the same address
    bus.attach(0x48, device);
    env.time = 5;
    const open = { count: 0 };
    throws(() => new TMP117({ sensor: { io: counting(bus.classes().I2C, open), address: 0x48 } }), /E_CHIP_ID/);
    equal(open.count, 0);
    device.faults.chipId = 0x1117;
    const sensor = new TMP117({ sensor: { io: counting(bus.classes().I2C, open), address: 0x48 } });
    equal(open.count, 1, 'REV bits 15:12 are not part of the id');
    sensor.close();
    equal(open.count, 0);
  },

  'no device at the address: constructor throws E_BUS and leaves nothing open'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x48, new SimTMP117(env));
    env.time = 5;
    const open = { count: 0 };
    throws(() => new TMP117({ sensor: { io: counting(bus.classes().I2C, open), address: 0x49 } }), /E_BUS/);
    equal(open.count, 0);
  },

  'the part NAKs for 1.5 ms after power-up (§7.3.1)'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x48, new SimTMP117(env));
    env.time = 1;
    throws(() => new TMP117({ sensor: { io: bus.classes().I2C } }), /E_BUS/);
    env.time = 1.5;
    new TMP117({ sensor: { io: bus.classes().I2C } }).close();
  },

  'bus NAK and time-out: E_BUS, counted, no temperature; recovers'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    r.bus.inject(0x48, 'nak');
    expectFault(r, SensorErrorCode.BUS);
    equal(r.sensor.sample(), undefined);
    r.bus.inject(0x48, 'timeout');
    expectFault(r, SensorErrorCode.BUS);
    equal(r.sensor.faults.E_BUS, 3);
    r.bus.inject(0x48, undefined);
    equal(r.sensor.sample()!.temperature, 25);
  },

  'NAK between the configuration and the result read: E_BUS'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    r.bus.nakAfter(0x48, 2);
    expectFault(r, SensorErrorCode.BUS);
  },

  'all-zero and all-ones frames: E_FRAME'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    r.bus.inject(0x48, 'zeros');
    expectFault(r, SensorErrorCode.FRAME);
    r.bus.inject(0x48, 'ones');
    expectFault(r, SensorErrorCode.FRAME);
    equal(r.sensor.faults.E_FRAME, 2);
    r.bus.inject(0x48, undefined);
    equal(r.sensor.read(r.out), 1);
  },

  'all-zero frame with an all-zero configuration (1 average, 15.5 ms cycle): still E_FRAME'() {
    const r = rig();
    r.sensor.configure({ averaging: 1, cycleMs: 15.5 });
    r.env.time = 10 + 16;
    equal(r.sensor.read(r.out), 1);
    r.bus.inject(0x48, 'zeros');
    r.env.time += 16;
    expectFault(r, SensorErrorCode.FRAME);
  },

  'stuck value: E_STUCK once unchanged longer than stuckMs'() {
    const r = rig();
    r.sensor.configure({ stuckMs: 5000 });
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    r.device.faults.stuck = true;
    r.env.temperatureC = 40;
    r.env.time += 5000;
    equal(r.sensor.read(r.out), 1, 'exactly stuckMs is still accepted');
    equal(r.out[0], 25000);
    r.env.time += 1000;
    expectFault(r, SensorErrorCode.STUCK);
    r.device.faults.stuck = false;
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 40000);
  },

  'dead converter: E_STUCK after two cycles without Data_Ready'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    r.device.faults.dead = true;
    r.env.time += 2100;
    equal(r.sensor.read(r.out), 1, 'within 2 cycles + 100 ms');
    r.env.time += 1;
    expectFault(r, SensorErrorCode.STUCK);
  },

  'brown-out with default settings: power-on value -256 °C is E_POWER_ON_VALUE'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    equal(r.sensor.read(r.out), 1);
    r.env.time += 100;
    r.device.powerCycle();
    r.env.time += 2;
    expectFault(r, SensorErrorCode.POWER_ON_VALUE);
  },

  'brown-out with custom settings: E_CONFIG, settings rewritten, then readings resume'() {
    const r = rig();
    r.sensor.configure({ averaging: 32 });
    r.env.time = 10 + 500;
    equal(r.sensor.read(r.out), 1);
    r.device.powerCycle();
    r.env.time += 2;
    expectFault(r, SensorErrorCode.CONFIG);
    equal(r.device.peek(TMP117Register.CONFIGURATION) & 0x0ffc, (4 << 7) | (2 << 5), 'rewritten');
    expectFault(r, SensorErrorCode.NOT_READY);
    r.env.time += 500;
    equal(r.sensor.read(r.out), 1);
  },

  'close: shutdown mode, safe twice, read after close is E_BUS'() {
    const r = rig();
    r.env.time = FIRST_RESULT_MS;
    r.sensor.close();
    r.sensor.close();
    equal(r.open.count, 0);
    equal(r.device.peek(TMP117Register.CONFIGURATION) & 0x0c00, 0x0400, 'MOD = 01 shutdown');
    expectFault(r, SensorErrorCode.BUS);
    throws(() => r.sensor.configure({ averaging: 64 }), /E_BUS/);
  },

  'close with the part gone still releases the bus'() {
    const r = rig();
    r.bus.inject(0x48, 'nak');
    r.sensor.close();
    equal(r.open.count, 0);
  },

  'channels describe out[]'() {
    deepEqual(TMP117.channels, [{ kind: 'milliCelsius', name: 'temperature' }]);
  },

  'simulated part: configuration power-on 0220h, MOD=10 reads 00, unknown pointer NAKs'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    const device = new SimTMP117(env);
    bus.attach(0x48, device);
    env.time = 2;
    const { SMBus } = bus.classes();
    const smbus = new SMBus({ address: 0x48 });
    equal(smbus.readUint16(0x0f, true), 0x0117, 'Device_ID');
    equal(smbus.readUint16(0x01, true), 0x0220, 'Configuration');
    equal(smbus.readUint16(0x02, true), 0x6000, 'THigh_Limit');
    equal(smbus.readUint16(0x03, true), 0x8000, 'TLow_Limit');
    equal(smbus.readUint16(0x00, true), 0x8000, 'Temp_Result before the first conversion');
    smbus.writeUint16(0x01, 0x0800 | 0x0220, true);
    equal(smbus.readUint16(0x01, true) & 0x0c00, 0, 'MOD=10 reads back as continuous');
    throws(() => smbus.readUint16(0x09, true), /NAK/);
    smbus.writeUint16(0x00, 0x1234, true);
    equal(device.peek(0), 0x8000, 'Temp_Result is read-only');
    smbus.close();
    throws(() => smbus.readUint16(0x00, true), /closed/);
  },

  'simulated part: one-shot converts once then reads back shutdown (§7.4.3)'() {
    const env = new FixedEnv();
    env.temperatureC = -12.5;
    const bus = new SimI2CBus();
    const device = new SimTMP117(env);
    bus.attach(0x48, device);
    env.time = 2;
    const smbus = new (bus.classes().SMBus)({ address: 0x48 });
    smbus.writeUint16(0x01, 0x0c00 | (1 << 5), true);
    env.time = 2 + 124;
    equal(smbus.readUint16(0x00, true), 0x8000);
    env.time = 2 + 125;
    equal(smbus.readUint16(0x01, true) & 0x2c00, 0x2400, 'Data_Ready and MOD=01');
    equal(smbus.readUint16(0x00, true), 0xf9c0, '-12.5 °C');
    env.time += 10_000;
    equal(device.conversions, 1);
  },

  'simulated part: alert mode flags, cleared by reading configuration (§7.6.3)'() {
    const env = new FixedEnv();
    env.temperatureC = 40;
    const bus = new SimI2CBus();
    bus.attach(0x48, new SimTMP117(env));
    env.time = 2;
    const smbus = new (bus.classes().SMBus)({ address: 0x48 });
    smbus.writeUint16(0x02, 30 * 128, true);
    env.time = 2 + 1.5 + 125;
    equal(smbus.readUint16(0x01, true) & 0xe000, 0xa000, 'HIGH_Alert and Data_Ready');
    equal(smbus.readUint16(0x01, true) & 0xe000, 0, 'cleared by the read');
  },
};
