/*
 * MCP9808 driver against the register-level simulated MCP9808 (datasheet DS25095A).
 * Runs on Node and inside XS.
 */
import MCP9808 from '../../firmware/sensors/mcp9808';
import { SensorErrorCode, type SensorError, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { MCP9808Register, SimMCP9808 } from '../../simulator/devices/mcp9808';
import { deepEqual, equal, ok, throws } from '../harness/assert';
import { counting, expectFault } from './sensors-i2c-rig';

function rig(temperatureC = 25) {
  const env = new FixedEnv();
  env.temperatureC = temperatureC;
  const bus = new SimI2CBus();
  const device = new SimMCP9808(env);
  bus.attach(0x18, device);
  env.time = 300;
  const errors: SensorError[] = [];
  const open = { count: 0 };
  const sensor = new MCP9808({
    sensor: { io: counting(bus.classes().I2C, open), address: 0x18 },
    onError: (error) => errors.push(error),
    now: () => env.now(),
  });
  const out = new Int32Array(1);
  const fault = (code: SensorErrorCodeValue) => expectFault(sensor, errors, out, 'MCP9808', code);
  return { env, bus, device, sensor, errors, out, open, fault };
}

/** Construction at t=300 writes the resolution (restarting conversions) and is trusted 375 ms later. */
const READY_MS = 300 + 375;

/** DS25095A §5.1.3 Register 5-4 (T_A): 13-bit two's complement, 0.0625 °C per LSB. */
const REGISTER_5_4: ReadonlyArray<readonly [number, number]> = [
  [0.0625, 0x0001],
  [1, 0x0010],
  [25, 0x0190],
  [25.0625, 0x0191],
  [125, 0x07d0],
  [-0.0625, 0x1fff],
  [-1, 0x1ff0],
  [-25, 0x1e70],
  [-40, 0x1d80],
];

export const tests = {
  'Register 5-4: T_A codes and temperatures (incl. negative)'() {
    const r = rig();
    let t = READY_MS;
    for (const [celsius, code] of REGISTER_5_4) {
      r.env.temperatureC = celsius;
      r.env.time = t;
      equal(r.device.peek(MCP9808Register.T_A) & 0x1fff, code, `T_A for ${celsius} °C`);
      equal(r.sensor.sample()!.temperature, celsius);
      equal(r.sensor.read(r.out), 1);
      equal(r.out[0], Math.round(celsius * 1000));
      t += 250;
    }
    equal(r.errors.length, 0);
  },

  'T_A flags: bit 15 T_A >= T_CRIT, bit 13 T_A < T_LOWER (Register 5-4)'() {
    const r = rig(-41);
    r.env.time = READY_MS;
    equal(r.device.peek(MCP9808Register.T_A) & 0xe000, 0x2000, 'below the -40 °C T_LOWER the driver wrote');
    r.fault(SensorErrorCode.RANGE);
    r.env.temperatureC = 20;
    r.env.time += 250;
    equal(r.device.peek(MCP9808Register.T_A) & 0xe000, 0xc000, 'T_CRIT and T_UPPER are 0 at POR');
    equal(r.sensor.sample()!.temperature, 20, 'flags are not part of the value');
  },

  'resolution register and conversion times (§5.1.6): coarse steps truncate'() {
    const r = rig(25.3);
    r.env.time = READY_MS;
    r.sensor.configure({ resolution: 0.5 });
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 45;
    equal(r.sensor.sample()!.temperature, 25);
    r.env.temperatureC = -0.3;
    r.env.time += 30;
    equal(r.sensor.sample()!.temperature, -0.5, 'two\'s complement truncation goes down');
    r.sensor.configure({ resolution: 0.25 });
    r.env.time += 98;
    equal(r.sensor.sample()!.temperature, -0.5);
    r.sensor.configure({ resolution: 0.125 });
    r.env.time += 195;
    equal(r.sensor.sample()!.temperature, -0.375);
    equal(r.device.peek(MCP9808Register.RESOLUTION), 2);
    throws(() => r.sensor.configure({ resolution: 0.1 as 0.5 }), /E_CONFIG/);
  },

  'power-on: T_A reads 0 °C until the first conversion; the driver says E_NOT_READY'() {
    const env = new FixedEnv();
    env.temperatureC = 30;
    const bus = new SimI2CBus();
    const device = new SimMCP9808(env);
    bus.attach(0x18, device);
    env.time = 1;
    equal(device.peek(MCP9808Register.T_A), 0, 'POR value');
    const errors: SensorError[] = [];
    const sensor = new MCP9808({ sensor: { io: bus.classes().I2C }, onError: (e) => errors.push(e), now: () => env.now() });
    const out = new Int32Array(1);
    expectFault(sensor, errors, out, 'MCP9808', SensorErrorCode.NOT_READY);
    env.time = 1 + 374;
    expectFault(sensor, errors, out, 'MCP9808', SensorErrorCode.NOT_READY);
    env.time = 1 + 375;
    equal(sensor.read(out), 1);
    equal(out[0], 30000);
  },

  'brown-out: E_POWER_ON_VALUE, never the 0 °C POR value; settings rewritten'() {
    const r = rig(42);
    r.env.time = READY_MS;
    equal(r.sensor.read(r.out), 1);
    r.device.powerCycle();
    r.env.time += 260;
    r.fault(SensorErrorCode.POWER_ON_VALUE);
    r.fault(SensorErrorCode.NOT_READY);
    r.env.time += 375;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 42000);
  },

  'brown-out read before the first conversion is an all-zero frame'() {
    const r = rig(42);
    r.env.time = READY_MS;
    r.device.powerCycle();
    r.env.time += 10;
    r.fault(SensorErrorCode.FRAME);
  },

  'wrong manufacturer or device id: E_CHIP_ID, nothing left open'() {
    for (const fault of [{ manufacturerId: 0x0055 }, { deviceId: 0x0500 }]) {
      const env = new FixedEnv();
      const bus = new SimI2CBus();
      const device = new SimMCP9808(env);
      Object.assign(device.faults, fault);
      bus.attach(0x18, device);
      const open = { count: 0 };
      throws(() => new MCP9808({ sensor: { io: counting(bus.classes().I2C, open) }, now: () => env.now() }), /E_CHIP_ID/);
      equal(open.count, 0);
    }
  },

  'without the now clock: E_CONFIG'() {
    const bus = new SimI2CBus();
    bus.attach(0x18, new SimMCP9808(new FixedEnv()));
    throws(() => new MCP9808({ sensor: { io: bus.classes().I2C } } as never), /E_CONFIG/);
  },

  'bus NAK, time-out, and an absent part: E_BUS'() {
    const r = rig();
    r.env.time = READY_MS;
    r.bus.inject(0x18, 'nak');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x18, 'timeout');
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x18, undefined);
    r.bus.nakAfter(0x18, 3);
    r.fault(SensorErrorCode.BUS);
    r.bus.inject(0x18, undefined);
    equal(r.sensor.read(r.out), 1);
    equal(r.sensor.faults.E_BUS, 3);
    const open = { count: 0 };
    throws(() => new MCP9808({ sensor: { io: counting(r.bus.classes().I2C, open), address: 0x19 }, now: () => 0 }), /E_BUS/);
    equal(open.count, 0);
  },

  'all-zero and all-ones frames: E_FRAME'() {
    const r = rig(0);
    r.env.time = READY_MS;
    equal(r.sensor.read(r.out), 1);
    equal(r.out[0], 0, 'a true 0 °C passes');
    r.bus.inject(0x18, 'zeros');
    r.fault(SensorErrorCode.FRAME);
    r.bus.inject(0x18, 'ones');
    r.fault(SensorErrorCode.FRAME);
  },

  'another part answering: E_CHIP_ID'() {
    const r = rig();
    r.env.time = READY_MS;
    const smbus = new (r.bus.classes().SMBus)({ address: 0x18 });
    smbus.writeUint16(MCP9808Register.T_LOWER, 0x0100, true);
    r.fault(SensorErrorCode.CHIP_ID);
  },

  'operating range -40..+125 °C: beyond is E_RANGE'() {
    const r = rig(125.0625);
    r.env.time = READY_MS;
    r.fault(SensorErrorCode.RANGE);
    r.env.temperatureC = -40.0625;
    r.env.time += 250;
    r.fault(SensorErrorCode.RANGE);
  },

  'stuck value: E_STUCK after stuckMs'() {
    const r = rig();
    r.sensor.configure({ stuckMs: 2000 });
    r.env.time = READY_MS;
    equal(r.sensor.read(r.out), 1);
    r.device.faults.stuck = true;
    r.env.temperatureC = 30;
    r.env.time += 2000;
    equal(r.sensor.read(r.out), 1);
    r.env.time += 250;
    r.fault(SensorErrorCode.STUCK);
    throws(() => r.sensor.configure({ stuckMs: Number.NaN }), /E_CONFIG/);
  },

  'close: shutdown, safe twice, then E_BUS'() {
    const r = rig();
    r.sensor.close();
    r.sensor.close();
    equal(r.open.count, 0);
    equal(r.device.peek(MCP9808Register.CONFIG) & 0x0100, 0x0100);
    r.fault(SensorErrorCode.BUS);
    ok(r.sensor.sample() === undefined);
  },

  'simulated part: identification and POR registers; pointer past 08h NAKs'() {
    const env = new FixedEnv();
    const bus = new SimI2CBus();
    bus.attach(0x18, new SimMCP9808(env));
    const smbus = new (bus.classes().SMBus)({ address: 0x18 });
    equal(smbus.readUint16(0x06, true), 0x0054);
    equal(smbus.readUint16(0x07, true), 0x0400);
    equal(smbus.readUint8(0x08), 0x03);
    equal(smbus.readUint16(0x01, true), 0x0000);
    throws(() => smbus.readUint16(0x09, true), /NAK/);
  },

  'channels describe out[]'() {
    deepEqual(MCP9808.channels, [{ kind: 'milliCelsius', name: 'temperature' }]);
  },
};
