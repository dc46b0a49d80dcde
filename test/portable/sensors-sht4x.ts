/*
 * SHT4x driver against the simulated SHT4x (Sensirion datasheet version 6.5).
 * Runs on Node and inside XS.
 */
import SHT4x from '../../firmware/sensors/sht4x';
import { crc8Sensirion } from '../../firmware/sensors/crc';
import { SensorErrorCode, type SensorError, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { SimSHT4x } from '../../simulator/devices/sht4x';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';
import { counting, expectFault } from './sensors-i2c-rig';

function rig(temperatureC = 25, humidityRH = 40) {
  const env = new FixedEnv();
  env.temperatureC = temperatureC;
  env.humidityRH = humidityRH;
  const bus = new SimI2CBus();
  const device = new SimSHT4x(env);
  bus.attach(0x44, device);
  env.time = 10;
  const errors: SensorError[] = [];
  const open = { count: 0 };
  const sensor = new SHT4x({
    sensor: { io: counting(bus.classes().I2C, open), address: 0x44 },
    onError: (error) => errors.push(error),
    now: () => env.now(),
  });
  const out = new Int32Array(2);
  const fault = (code: SensorErrorCodeValue) => expectFault(sensor, errors, out, 'SHT4x', code);
  return { env, bus, device, sensor, errors, out, open, fault };
}

/** §4.6 equations: T = -45 + 175 S_T / 65535, RH = -6 + 125 S_RH / 65535 (rows: S_T, S_RH). */
const SECTION_4_6: ReadonlyArray<readonly [number, number]> = [
  [0x6666, 0x5c29],
  [0x3333, 0x8000],
  [0x1a2b, 0xd70a],
  [0xcccc, 0x0c4a],
];

export const tests = {
  '§4.6 conversion: ticks to °C and %RH (incl. negative)'() {
    for (const [st, srh] of SECTION_4_6) {
      const celsius = -45 + (175 * st) / 65535;
      const rh = -6 + (125 * srh) / 65535;
      const r = rig(celsius, rh);
      r.env.time += 1000;
      equal(r.sensor.read(r.out), 0b11, `at ${celsius} °C`);
      equal(r.out[0], Math.round((175000 * st) / 65535) - 45000);
      equal(r.out[1], Math.round((125000 * srh) / 65535) - 6000);
      const sample = r.sensor.sample();
      ok(sample);
      near(sample.thermometer.temperature, celsius, 0.0006);
      near(sample.hygrometer.humidity, rh, 0.0006);
      equal(r.errors.length, 0);
    }
  },

  'humidity outside 0..100 % is cropped (§4.6)'() {
    const r = rig(25, 103);
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[1], 100000);
    r.env.humidityRH = -3;
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[1], 100000, 'measured before the change');
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[1], 0);
  },

  'the part NAKs until the measurement time (Table 5): E_NOT_READY, never a wait'() {
    const r = rig();
    r.env.time = 10 + 8.2;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time = 10 + 8.3;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.sensor.read(r.out), 0b11, 'while the next one runs, the last one again');
    r.sensor.configure({ precision: 'low' });
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 0b11, 'the high-precision measurement triggered before');
    r.env.time += 1.7;
    equal(r.sensor.read(r.out), 0b11, 'low precision takes 1.7 ms');
    throws(() => r.sensor.configure({ precision: 'best' as 'high' }), /E_CONFIG/);
    throws(() => r.sensor.configure({ maxAgeMs: 0 }), /E_CONFIG/);
  },

  'each read returns the measurement triggered by the previous one; trigger() refreshes it'() {
    const r = rig(25);
    r.env.time += 10_000;
    r.env.temperatureC = 60;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[0], 25000, 'measured at the trigger, at construction');
    r.env.time += 5000;
    r.env.temperatureC = -10;
    r.sensor.trigger();
    r.sensor.trigger();
    r.env.temperatureC = 25;
    r.env.time += 10;
    equal(r.sensor.read(r.out), 0b11);
    equal(r.out[0], -10000, 'the early trigger measured -10 °C, not the 60 °C of the last read');
  },

  'a measurement older than maxAgeMs is discarded'() {
    const r = rig();
    r.sensor.configure({ maxAgeMs: 30_000 });
    r.env.time += 30_001;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 10;
    equal(r.sensor.read(r.out), 0b11);
  },

  'CRC mismatch: E_CRC'() {
    const r = rig();
    r.device.faults.crc = true;
    r.env.time += 100;
    r.fault(SensorErrorCode.CRC);
    r.device.faults.crc = false;
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
  },

  'all-zero and all-ones frames: E_FRAME'() {
    const r = rig();
    r.env.time += 100;
    r.bus.inject(0x44, 'zeros');
    r.fault(SensorErrorCode.FRAME);
    r.env.time += 100;
    r.bus.inject(0x44, 'ones');
    r.fault(SensorErrorCode.FRAME);
  },

  'bus NAK and time-out: E_BUS; a lost measurement (brown-out) is E_BUS and re-triggered'() {
    const r = rig();
    r.env.time += 100;
    r.bus.inject(0x44, 'nak');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x44, 'timeout');
    r.env.time += 100;
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x44, undefined);
    r.env.time += 100;
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    r.device.powerCycle();
    r.env.time += 100;
    r.fault(SensorErrorCode.BUS);
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
  },

  'serial number: all-zero or all-ones is E_CHIP_ID, bad CRC is E_CRC, absent part E_BUS; nothing left open'() {
    for (const [fault, code] of [
      [{ serial: 0 }, /E_CHIP_ID/],
      [{ serial: 0xffffffff }, /E_CHIP_ID/],
      [{ crc: true }, /E_CRC/],
    ] as const) {
      const env = new FixedEnv();
      const bus = new SimI2CBus();
      const device = new SimSHT4x(env);
      Object.assign(device.faults, fault);
      bus.attach(0x44, device);
      env.time = 2;
      const open = { count: 0 };
      throws(() => new SHT4x({ sensor: { io: counting(bus.classes().I2C, open) } }), code);
      equal(open.count, 0);
    }
    throws(() => new SHT4x({ sensor: { io: new SimI2CBus().classes().I2C } }), /E_BUS/);
    const r = rig();
    equal(r.sensor.serialNumber, 0x0badcafe);
  },

  'range -40..125 °C (Table 1): beyond is E_RANGE'() {
    const r = rig(126);
    r.env.time += 100;
    r.fault(SensorErrorCode.RANGE);
    r.env.temperatureC = -41;
    r.env.time += 100;
    r.fault(SensorErrorCode.RANGE);
  },

  'stuck values and a dead part'() {
    const r = rig();
    r.sensor.configure({ stuckMs: 1000 });
    r.env.time += 100;
    equal(r.sensor.read(r.out), 0b11);
    r.device.faults.stuck = true;
    r.env.temperatureC = 70;
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 0b11);
    r.env.time += 100;
    r.fault(SensorErrorCode.STUCK);
    r.device.faults.stuck = false;
    r.device.faults.dead = true;
    r.env.time += 100;
    r.fault(SensorErrorCode.BUS);
  },

  'close: safe twice, then E_BUS'() {
    const r = rig();
    r.sensor.close();
    r.sensor.close();
    equal(r.open.count, 0);
    r.fault(SensorErrorCode.BUS);
  },

  'simulated part: serial words with CRC; commands NAK while measuring; soft reset NAKs 1 ms'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x44, new SimSHT4x(env, { serial: 0x12345678 }));
    const i2c = new (bus.classes().I2C)({ address: 0x44 });
    throws(() => i2c.write(new Uint8Array([0x89])), /NAK/, 'power-up time');
    env.time = 1;
    i2c.write(new Uint8Array([0x89]));
    const serial = new Uint8Array(i2c.read(6));
    deepEqual(Array.from(serial), [0x12, 0x34, crc8Sensirion(serial, 0, 2), 0x56, 0x78, crc8Sensirion(serial, 3, 2)]);
    i2c.write(new Uint8Array([0xfd]));
    throws(() => i2c.write(new Uint8Array([0x89])), /NAK/);
    env.time = 1 + 8.3;
    i2c.read(6);
    throws(() => i2c.read(6), /NAK/, 'nothing to send');
    i2c.write(new Uint8Array([0x94]));
    throws(() => i2c.write(new Uint8Array([0xfd])), /NAK/);
  },

  'channels describe out[]'() {
    deepEqual(SHT4x.channels, [
      { kind: 'milliCelsius', name: 'temperature' },
      { kind: 'milliPercentRH', name: 'humidity' },
    ]);
  },
};
