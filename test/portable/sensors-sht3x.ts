/*
 * SHT3x driver against the simulated SHT3x-DIS (Sensirion datasheet version 6).
 * Runs on Node and inside XS.
 */
import SHT3x from '../../firmware/sensors/sht3x';
import { crc8Sensirion } from '../../firmware/sensors/crc';
import { SensorErrorCode, type SensorError, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { SimSHT3x } from '../../simulator/devices/sht3x';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';
import { counting, expectFault } from './sensors-i2c-rig';

function rig(temperatureC = 25, humidityRH = 40) {
  const env = new FixedEnv();
  env.temperatureC = temperatureC;
  env.humidityRH = humidityRH;
  const bus = new SimI2CBus();
  const device = new SimSHT3x(env);
  bus.attach(0x44, device);
  env.time = 10;
  const errors: SensorError[] = [];
  const open = { count: 0 };
  const sensor = new SHT3x({
    sensor: { io: counting(bus.classes().I2C, open), address: 0x44 },
    onError: (error) => errors.push(error),
    now: () => env.now(),
  });
  const out = new Int32Array(2);
  const fault = (code: SensorErrorCodeValue) => expectFault(sensor, errors, out, 'SHT3x', code);
  return { env, bus, device, sensor, errors, out, open, fault };
}

/** Constructed at t=10 (break); periodic start at t=11; first measurement (high, 15 ms) at 26. */
function started(temperatureC = 25, humidityRH = 40) {
  const r = rig(temperatureC, humidityRH);
  r.env.time = 11;
  r.fault(SensorErrorCode.NOT_READY);
  r.env.time = 26;
  r.errors.length = 0;
  return r;
}

/** §4.13 equations 2 and 3, evaluated at the extremes and at exact fractions of 65535. */
const SECTION_4_13: ReadonlyArray<readonly [number, number, number]> = [
  // [ticks, T °C, RH %]
  [0x3333, -10, 20],
  [0x4925, -45 + (175 * 0x4925) / 65535, (100 * 0x4925) / 65535],
  [0x1a2b, -45 + (175 * 0x1a2b) / 65535, (100 * 0x1a2b) / 65535],
  [0x6666, 25, 40],
  [0x9999, 60, 60],
  [0xcccc, 95, 80],
];

export const tests = {
  'CRC-8 example of §4.12: 0xBEEF -> 0x92'() {
    equal(crc8Sensirion(new Uint8Array([0xbe, 0xef]), 0, 2), 0x92);
  },

  '§4.13 conversion: ticks to °C and %RH (incl. negative)'() {
    for (const [ticks, celsius, rh] of SECTION_4_13) {
      const r = started(celsius, rh);
      const sample = r.sensor.sample();
      ok(sample, `sample at ${celsius} °C`);
      near(sample.thermometer.temperature, celsius, 0.0015, 'temperature');
      near(sample.hygrometer.humidity, rh, 0.0015, 'humidity');
      equal(r.errors.length, 0);
      const expectedT = Math.round((175000 * ticks) / 65535) - 45000;
      r.env.time += 1000;
      equal(r.sensor.read(r.out), 0b11);
      equal(r.out[0], expectedT, `milli-°C for 0x${ticks.toString(16)}`);
    }
  },

  'resolution: one tick is 2.67 m°C and 1.5 m%RH'() {
    const r = started(25 + 175 / 65535, 40 + 100 / 65535);
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[0], 25003);
    equal(r.out[1], 40002);
  },

  'range: -40..125 °C (Table 2); beyond is E_RANGE'() {
    const r = started(-41);
    r.fault(SensorErrorCode.RANGE);
    r.env.temperatureC = 126;
    r.env.time += 1000;
    r.fault(SensorErrorCode.RANGE);
    r.env.temperatureC = -39.998;
    r.env.time += 1000;
    near(r.sensor.sample()!.thermometer.temperature, -39.998, 0.0015, 'the tick nearest -40 °C is just below it');
  },

  'start-up: E_NOT_READY until the first periodic measurement; none before 1 ms after the break'() {
    const r = rig();
    r.env.time = 10.5;
    r.fault(SensorErrorCode.NOT_READY);
    ok(!r.device.periodic, 'still idle');
    r.env.time = 11;
    r.fault(SensorErrorCode.NOT_READY);
    ok(r.device.periodic);
    r.env.time = 25.9;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time = 26;
    equal(r.sensor.read(r.out), 0b11);
    deepEqual(Array.from(r.out), [25000, 40000]);
  },

  'between measurements the last one is returned; a new one replaces it'() {
    const r = started();
    equal(r.sensor.read(r.out), 0b11);
    r.env.temperatureC = 60;
    r.env.time += 500;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[0], 25000);
    r.env.time += 500;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[0], 60000);
    equal(r.errors.length, 0);
  },

  'CRC mismatch: E_CRC'() {
    const r = started();
    r.device.faults.crc = true;
    r.fault(SensorErrorCode.CRC);
    r.device.faults.crc = false;
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.sensor.faults.E_CRC, 1);
  },

  'all-zero and all-ones frames: E_FRAME'() {
    const r = started();
    r.bus.inject(0x44, 'zeros');
    r.fault(SensorErrorCode.FRAME);
    r.env.time += 1000;
    r.bus.inject(0x44, 'ones');
    r.fault(SensorErrorCode.FRAME);
  },

  'bus NAK and time-out: E_BUS'() {
    const r = started();
    r.bus.inject(0x44, 'nak');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x44, 'timeout');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x44, undefined);
    equal(r.sensor.read(r.out), 0b11);
  },

  'not an SHT3x (reserved status bits) is E_CHIP_ID; a bad status CRC is E_CRC; nothing left open'() {
    for (const [fault, code] of [[{ status: 0x0020 }, /E_CHIP_ID/], [{ crc: true }, /E_CRC/]] as const) {
      const env = new FixedEnv();
      const bus = new SimI2CBus();
      const device = new SimSHT3x(env);
      Object.assign(device.faults, fault);
      bus.attach(0x44, device);
      env.time = 2;
      const open = { count: 0 };
      throws(() => new SHT3x({ sensor: { io: counting(bus.classes().I2C, open) } }), code);
      equal(open.count, 0);
    }
    const bus = new SimI2CBus();
    throws(() => new SHT3x({ sensor: { io: bus.classes().I2C } }), /E_BUS/, 'no part');
  },

  'stuck values: E_STUCK after stuckMs'() {
    const r = started();
    r.sensor.configure({ stuckMs: 3000 });
    equal(r.sensor.read(r.out), 0b11);
    r.device.faults.stuck = true;
    r.env.temperatureC = 50;
    r.env.time += 3000;
    equal(r.sensor.read(r.out), 0b11);
    r.env.time += 1000;
    r.fault(SensorErrorCode.STUCK);
  },

  'dead part: E_STUCK after two periods without a measurement, then restarted'() {
    const r = started();
    equal(r.sensor.read(r.out), 0b11);
    r.device.faults.dead = true;
    r.env.time += 2100;
    equal(r.sensor.read(r.out), 0b11, 'within 2 periods + 100 ms: the last measurement');
    r.env.time += 1;
    r.fault(SensorErrorCode.STUCK);
    r.device.faults.dead = false;
    r.env.time += 1;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 15;
    equal(r.sensor.read(r.out), 0b11);
  },

  'brown-out: the reset flag in the status register gives E_POWER_ON_VALUE; periodic mode restarts'() {
    const r = started();
    equal(r.sensor.read(r.out), 0b11);
    r.device.powerCycle();
    ok(!r.device.periodic);
    r.env.time += 2101;
    r.fault(SensorErrorCode.POWER_ON_VALUE);
    r.env.time += 1;
    r.fault(SensorErrorCode.NOT_READY);
    ok(r.device.periodic);
    r.env.time += 15;
    equal(r.sensor.read(r.out), 0b11);
  },

  'configure: 10 mps low repeatability (Table 10); invalid values are E_CONFIG'() {
    const r = started();
    r.sensor.configure({ mps: 10, repeatability: 'low' });
    r.env.time += 1;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 4;
    equal(r.sensor.read(r.out), 0b11);
    const count = r.device.measurements;
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.device.measurements, count + 1, 'one per 100 ms');
    throws(() => r.sensor.configure({ mps: 3 as 4 }), /E_CONFIG/);
    throws(() => r.sensor.configure({ repeatability: 'best' as 'high' }), /E_CONFIG/);
    throws(() => r.sensor.configure({ stuckMs: -5 }), /E_CONFIG/);
  },

  'close: break (idle), safe twice, then E_BUS'() {
    const r = started();
    r.sensor.close();
    r.sensor.close();
    equal(r.open.count, 0);
    ok(!r.device.periodic);
    r.fault(SensorErrorCode.BUS);
  },

  'simulated part: single shot NAKs the read header until done (Table 4); measurement commands NAK in periodic mode'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x44, new SimSHT3x(env));
    env.time = 1;
    const { I2C } = bus.classes();
    const i2c = new I2C({ address: 0x44 });
    throws(() => i2c.write(new Uint8Array([0x24, 0x00])), /NAK/, 'within t_PU');
    env.time = 2;
    i2c.write(new Uint8Array([0x24, 0x00]));
    env.time = 16.9;
    throws(() => i2c.read(6), /NAK/);
    env.time = 17;
    const frame = new Uint8Array(i2c.read(6));
    equal(frame[2], crc8Sensirion(frame, 0, 2));
    equal(frame[5], crc8Sensirion(frame, 3, 2));
    throws(() => i2c.read(6), /NAK/, 'memory cleared by the read');
    i2c.write(new Uint8Array([0x21, 0x30]));
    throws(() => i2c.write(new Uint8Array([0x24, 0x00])), /NAK/);
    i2c.write(new Uint8Array([0xf3, 0x2d]));
    const status = new Uint8Array(i2c.read(3));
    equal((status[0]! << 8) | status[1]!, 0x8010, 'status after power-up');
  },

  'channels describe out[]'() {
    deepEqual(SHT3x.channels, [
      { kind: 'milliCelsius', name: 'temperature' },
      { kind: 'milliPercentRH', name: 'humidity' },
    ]);
  },
};
