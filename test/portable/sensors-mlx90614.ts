/*
 * MLX90614 driver against the simulated MLX90614 (Melexis datasheet rev. 013).
 * Runs on Node and inside XS.
 */
import MLX90614 from '../../firmware/sensors/mlx90614';
import { pecOf } from '../../firmware/sensors/crc';
import { SensorErrorCode, type SensorError, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { MLX90614Ram, SimMLX90614 } from '../../simulator/devices/mlx90614';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';
import { counting, expectFault } from './sensors-i2c-rig';

function rig(objectC = 80, ambientC = 26.85) {
  const env = new FixedEnv();
  env.temperatureC = objectC;
  env.ambientC = ambientC;
  const bus = new SimI2CBus();
  const device = new SimMLX90614(env);
  bus.attach(0x5a, device);
  env.time = 300;
  const errors: SensorError[] = [];
  const open = { count: 0 };
  const sensor = new MLX90614({
    sensor: { io: counting(bus.classes().I2C, open), address: 0x5a },
    onError: (error) => errors.push(error),
    now: () => env.now(),
  });
  const out = new Int32Array(2);
  const fault = (code: SensorErrorCodeValue) => expectFault(sensor, errors, out, 'MLX90614', code);
  return { env, bus, device, sensor, errors, out, open, fault };
}

/** §8.3.3: T[K] = raw x 0.02. Rows: raw word, °C. */
const RAM_FORMAT: ReadonlyArray<readonly [number, number]> = [
  [0x3ad2, 28.01],
  [15000, 26.85],
  [11500, -43.15],
  [13658, 0.01],
  [13657, -0.01],
  [20000, 126.85],
  [32657, 379.99],
  [10160, -69.95],
];

/** One channel valid, the other reported as E_RANGE. */
function partial(r: ReturnType<typeof rig>, valid: number): void {
  const before = r.errors.length;
  equal(r.sensor.read(r.out), valid);
  equal(r.errors.length, before + 1);
  equal(r.errors[before]!.code, SensorErrorCode.RANGE);
}

export const tests = {
  'PEC: the datasheet read-word example (B4 07 B5 D2 3A -> 30h) and CRC-8/SMBUS check value'() {
    equal(pecOf(new Uint8Array([0xb4, 0x07, 0xb5, 0xd2, 0x3a]), 0, 5), 0x30);
    equal(pecOf(new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]), 0, 9), 0xf4);
  },

  '§8.3.3 RAM format: 0.02 K per LSB to milli-°C (object, incl. negative)'() {
    const r = rig();
    for (const [raw, celsius] of RAM_FORMAT) {
      r.env.temperatureC = celsius;
      equal(r.sensor.read(r.out), 0b11, `at ${celsius} °C`);
      equal(r.out[0], raw * 20 - 273150, 'object');
      equal(r.out[0], Math.round(celsius * 1000));
      equal(r.out[1], 26850, 'ambient: 15000 x 0.02 K');
    }
    const sample = r.sensor.sample();
    ok(sample);
    near(sample.temperature, -69.95, 1e-9);
    equal(sample.ambient.temperature, 26.85);
    equal(r.errors.length, 0);
  },

  'ranges: object outside -70..380 °C carries the error flag; ambient outside -40..125 °C: E_RANGE per channel'() {
    const r = rig(400);
    partial(r, 0b10);
    r.env.temperatureC = 80;
    r.env.ambientC = -45;
    const errors = r.errors.length;
    equal(r.sensor.read(r.out), 0b01, 'object valid, ambient not');
    equal(r.errors.length, errors + 1);
    equal(r.errors[errors]!.code, SensorErrorCode.RANGE);
    equal(r.sensor.sample(), undefined);
  },

  'error flag (bit 15 of T_OBJ): E_RANGE, object not published'() {
    const r = rig();
    r.device.faults.errorFlag = true;
    partial(r, 0b10);
    equal(r.sensor.faults.E_RANGE, 1);
  },

  'PEC mismatch: E_PEC'() {
    const r = rig();
    r.device.faults.pec = true;
    r.fault(SensorErrorCode.PEC);
    r.device.faults.pec = false;
    equal(r.sensor.read(r.out), 0b11);
  },

  'power-on: RAM reads 0 K for 0.25 s: E_POWER_ON_VALUE'() {
    const r = rig();
    r.device.powerCycle();
    r.env.time += 249;
    r.fault(SensorErrorCode.POWER_ON_VALUE);
    r.env.time += 1;
    equal(r.sensor.read(r.out), 0b11);
  },

  'all-zero and all-ones frames: E_FRAME; NAK and time-out: E_BUS'() {
    const r = rig();
    r.bus.inject(0x5a, 'zeros');
    r.fault(SensorErrorCode.FRAME);
    r.bus.inject(0x5a, 'ones');
    r.fault(SensorErrorCode.FRAME);
    r.bus.inject(0x5a, 'nak');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x5a, 'timeout');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x5a, undefined);
    r.bus.nakAfter(0x5a, 2);
    r.fault(SensorErrorCode.BUS);
  },

  'the part supports 100 kHz only (§8.4.1): a faster clock fails the transactions'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x5a, new SimMLX90614(env));
    throws(() => new MLX90614({ sensor: { io: bus.classes().I2C, hz: 400_000 } }), /E_BUS/);
  },

  'wrong address word in EEPROM 0Eh: E_CHIP_ID; nothing left open'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    const device = new SimMLX90614(env);
    device.faults.address = 0xbe5b;
    bus.attach(0x5a, device);
    const open = { count: 0 };
    throws(() => new MLX90614({ sensor: { io: counting(bus.classes().I2C, open) } }), /E_CHIP_ID/);
    equal(open.count, 0);
    device.faults.address = undefined;
    device.faults.pec = true;
    throws(() => new MLX90614({ sensor: { io: counting(bus.classes().I2C, open) } }), /E_PEC/);
    equal(open.count, 0);
  },

  'stuck values: E_STUCK after stuckMs'() {
    const r = rig();
    r.sensor.configure({ stuckMs: 1000 });
    equal(r.sensor.read(r.out), 0b11);
    r.device.faults.stuck = true;
    r.env.temperatureC = 120;
    r.env.time += 1000;
    equal(r.sensor.read(r.out), 0b11);
    r.env.time += 1;
    r.fault(SensorErrorCode.STUCK);
    throws(() => r.sensor.configure({ stuckMs: -1 }), /E_CONFIG/);
  },

  'close: safe twice, then E_BUS'() {
    const r = rig();
    r.sensor.close();
    r.sensor.close();
    equal(r.open.count, 0);
    r.fault(SensorErrorCode.BUS);
  },

  'simulated part: SMBus PEC class reads words; a STOP between command and read loses it'() {
    const env = new FixedEnv();
    env.ambientC = 28.01;
    const bus = new SimI2CBus();
    bus.attach(0x5a, new SimMLX90614(env));
    env.time = 250;
    const smbus = new (bus.classes().SMBus)({ address: 0x5a, hz: 100_000, pec: true });
    equal(smbus.readUint16(MLX90614Ram.T_A), 0x3ad2);
    equal(smbus.readUint16(0x2e) & 0xff, 0x5a);
    smbus.writeUint16(0x24, 0x1234);
    equal(smbus.readUint16(0x24), 0x1234, 'EEPROM written with a good PEC');
    const i2c = new (bus.classes().I2C)({ address: 0x5a, hz: 100_000 });
    i2c.write(new Uint8Array([0x24, 0x78, 0x56, 0x00]));
    equal(smbus.readUint16(0x24), 0x1234, 'a bad PEC is not executed');
    i2c.write(new Uint8Array([0x06]));
    throws(() => i2c.read(3), /NAK/);
  },

  'channels describe out[]'() {
    deepEqual(MLX90614.channels, [
      { kind: 'milliCelsius', name: 'object' },
      { kind: 'milliCelsius', name: 'ambient' },
    ]);
  },
};
