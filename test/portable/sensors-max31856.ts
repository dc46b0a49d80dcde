/*
 * MAX31856 driver against the simulated part (Maxim MAX31856 datasheet 19-7755) on the
 * simulated SPI bus.
 */
import { type SensorError, SensorErrorCode } from '../../firmware/sensors/errors';
import MAX31856, { type Max31856Configuration } from '../../firmware/sensors/max31856';
import { FixedEnv } from '../../simulator/devices/env';
import { Max31856Register, SimMax31856 } from '../../simulator/devices/max31856';
import { SimSPIBus } from '../../simulator/devices/spi-bus';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';

function rig(config: Max31856Configuration = {}) {
  const env = new FixedEnv();
  const bus = new SimSPIBus();
  const part = new SimMax31856(env);
  bus.attach(5, part);
  const errors: string[] = [];
  /** E_NOT_READY is reported too, not as a fault (errors.ts): kept apart, as the node logs it as debug. */
  const notReady: string[] = [];
  /** The channel each fault named (undefined: the whole part), one per entry of `errors`. */
  const channels: (number | undefined)[] = [];
  const { SPI } = bus.classes();
  const driver = new MAX31856({
    sensor: { io: SPI, select: 5 },
    now: () => env.now(),
    onError: (e: SensorError) => {
      if (e.code === SensorErrorCode.NOT_READY) notReady.push(e.code);
      else (errors.push(e.code), channels.push(e.channel));
    },
    ...config,
  });
  const out = new Int32Array(2);
  /** One conversion: start it, wait `ms`, read it. */
  const convert = (ms = 155) => {
    driver.read(out); // starts a one-shot if none is pending
    env.time += ms;
    return driver.read(out);
  };
  return { env, bus, part, driver, errors, channels, notReady, out, convert, SPI };
}

/** Writes one register of the simulated part directly (the driver never writes the thresholds). */
function poke(part: SimMax31856, address: number, value: number): void {
  part.select();
  part.exchange(0x80 | address);
  part.exchange(value);
  part.deselect();
}

/** Table 5 "Linearized Thermocouple Temperature Data Format" (19 bits, 2^-7 °C), °C → LTCB code. */
const TABLE_5: [number, number][] = [
  [1600, 0x32000],
  [1000, 0x1f400],
  [100.9375, 0x03278],
  [25, 0x00c80],
  [0, 0x00000],
  [-0.0078125, 0x7ffff],
  [-0.25, 0x7ffe0],
  [-1, 0x7ff80],
  [-250, 0x7830 << 4],
];
/** Table 4 "Cold-Junction Temperature Data Format" (14 bits, 2^-6 °C), °C → CJ code. */
const TABLE_4: [number, number][] = [
  [127.984375, 0x1fff],
  [127, 0x1fc0],
  [125, 0x1f40],
  [25, 0x0640],
  [0, 0x0000],
  [-0.015625, 0x3fff],
  [-1, 0x3fc0],
  [-55, 0x3240],
  [-64, 0x3000],
];

function ltcb(part: SimMax31856): number {
  return (part.register(Max31856Register.LTCBH) << 11) | (part.register(Max31856Register.LTCBM) << 3) | (part.register(Max31856Register.LTCBL) >> 5);
}
function cjCode(part: SimMax31856): number {
  return (part.register(Max31856Register.CJTH) << 6) | (part.register(Max31856Register.CJTL) >> 2);
}

export const tests = {
  'Table 6: power-on register values'() {
    const part = new SimMax31856(new FixedEnv());
    const values: number[] = [];
    for (let a = 0; a < 16; a++) values.push(part.register(a));
    deepEqual(values, [0x00, 0x03, 0xff, 0x7f, 0xc0, 0x7f, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
  },
  'Table 5: linearized thermocouple codes and readings (type K; B for 1600 °C; −250 °C is out of every type)'() {
    for (const [celsius, code] of TABLE_5) {
      const r = rig({ type: celsius > 1372 ? 'B' : 'K' });
      r.env.temperatureC = celsius;
      const valid = r.convert();
      if (celsius === -250) {
        equal(valid, 0b10, 'SR TC Range: the cold junction kept');
        equal(r.errors[0], SensorErrorCode.RANGE, 'SR TC Range');
        equal(r.channels[0], 0, 'on the thermocouple channel');
        continue;
      }
      equal(valid, 0b11, `${celsius} °C`);
      equal(ltcb(r.part), code, `LTCB for ${celsius} °C`);
      equal(r.out[0], Math.floor(celsius * 1000), `milli-°C for ${celsius} °C`);
    }
  },
  'Table 4: cold-junction codes and readings (beyond −55..+125 °C: SR CJ Range)'() {
    for (const [celsius, code] of TABLE_4) {
      const r = rig();
      r.env.ambientC = celsius;
      const valid = r.convert();
      equal(cjCode(r.part), code, `CJ code for ${celsius} °C`);
      if (celsius > 125 || celsius < -55) {
        equal(valid, 0, 'SR CJ Range: nothing kept (the thermocouple is compensated with it)');
        equal(r.errors[0], SensorErrorCode.RANGE);
        equal(r.channels[0], undefined, 'the whole part');
        continue;
      }
      equal(valid, 0b11, `${celsius} °C`);
      equal(r.out[1], Math.floor(celsius * 1000), `milli-°C for ${celsius} °C`);
    }
  },
  'one-shot timing: not ready before the maximum conversion time, by filter and averaging'() {
    const cases: [Max31856Configuration, number][] = [
      [{}, 155],
      [{ filterHz: 50 }, 185],
      [{ averaging: 16 }, 155 + 15 * 33.33],
      [{ filterHz: 50, averaging: 4 }, 185 + 3 * 40],
    ];
    for (const [config, ms] of cases) {
      const r = rig(config);
      r.env.temperatureC = 321;
      equal(r.driver.read(r.out), 0, 'starts the conversion');
      r.env.time += ms - 1;
      equal(r.driver.read(r.out), 0, `${JSON.stringify(config)}: 1 ms early`);
      equal(r.driver.lastError, SensorErrorCode.NOT_READY);
      r.env.time += 1;
      equal(r.driver.read(r.out), 0b11, `${JSON.stringify(config)}: at ${ms} ms`);
      equal(r.errors.length, 0);
      equal(r.notReady.length, 2, 'E_NOT_READY reported through onError at both early reads');
      equal(r.driver.faults.E_NOT_READY, 0, 'and not counted as a fault');
    }
  },
  'thermocouple types: type set in CR1, range per type (Table 3)'() {
    const r = rig({ type: 'T' });
    equal(r.part.register(Max31856Register.CR1) & 0x0f, 7);
    r.env.temperatureC = 399;
    equal(r.convert(), 0b11);
    r.env.temperatureC = 401;
    equal(r.convert(), 0b10, 'the cold junction kept');
    equal(r.errors[0], SensorErrorCode.RANGE);
    equal(r.channels[0], 0);
    r.driver.configure({ type: 'J' });
    equal(r.part.register(Max31856Register.CR1) & 0x0f, 2);
    equal(r.convert(), 0b11, 'type J goes to 1200 °C');
    throws(() => r.driver.configure({ type: 'X' as 'K' }), /E_CONFIG/);
  },
  'sample(): °C, negative values'() {
    const r = rig();
    r.env.temperatureC = -123.4567;
    r.env.ambientC = -12.34;
    r.driver.read(r.out);
    r.env.time += 155;
    const s = r.driver.sample()!;
    near(s.temperature!, -123.4609375, 0.001);
    near(s.coldJunction!, -12.34375, 0.001);
  },
  'E_OPEN: SR OPEN (open-circuit detection enabled by the driver), on the thermocouple channel; cold junction kept'() {
    const r = rig();
    ok((r.part.register(Max31856Register.CR0) & 0x30) !== 0, 'OCFAULT set');
    r.env.temperatureC = 300;
    r.env.ambientC = 24;
    equal(r.convert(), 0b11);
    r.part.open = true;
    r.env.ambientC = 26.5;
    r.out.fill(0);
    equal(r.convert(), 0b10, 'only the cold-junction bit');
    equal(r.errors[0], SensorErrorCode.OPEN);
    equal(r.channels[0], 0, 'the fault names the thermocouple channel');
    equal(r.out[1], 26500, 'the cold junction of this conversion');
    equal(r.out[0], 0, 'nothing written for the thermocouple');
    equal(r.driver.lastError, SensorErrorCode.OPEN);
    r.env.time += 155;
    const s = r.driver.sample();
    ok(s, 'sample() keeps the valid channel');
    equal(s.temperature, undefined);
    equal(s.coldJunction, 26.5);
    equal(r.driver.faults.E_OPEN, 2);
    r.part.open = false;
    equal(r.convert(), 0b11, 'recovers');
    equal(r.driver.lastError, undefined, 'no fault');
  },
  'E_TC_FAULT: SR OVUV for a thermocouple shorted to GND or to VCC: no conversion, so no stale cold junction either'() {
    const r = rig();
    r.env.ambientC = 24;
    equal(r.convert(), 0b11);
    r.env.ambientC = 30;
    r.part.shortToGround = true;
    equal(r.convert(), 0);
    equal(r.part.register(Max31856Register.CJTH), 24, 'the part left the cold junction at its last conversion');
    r.part.shortToGround = false;
    r.part.shortToVcc = true;
    equal(r.convert(), 0);
    deepEqual(r.errors, [SensorErrorCode.TC_FAULT, SensorErrorCode.TC_FAULT]);
    deepEqual(r.channels, [undefined, undefined], 'both channels lost');
    r.part.shortToVcc = false;
    equal(r.convert(), 0b11, 'recovers');
    equal(r.out[1], 30000);
  },
  'SR CJHIGH/CJLOW invalidate both channels; TCHIGH/TCLOW only the thermocouple (thresholds written behind the driver)'() {
    const r = rig();
    r.env.temperatureC = 200;
    r.env.ambientC = 40;
    poke(r.part, Max31856Register.CJHF, 35);
    equal(r.convert(), 0, 'CJHIGH (40 °C above a 35 °C threshold)');
    poke(r.part, Max31856Register.CJHF, 0x7f);
    poke(r.part, Max31856Register.CJLF, 45);
    equal(r.convert(), 0, 'CJLOW (40 °C below a 45 °C threshold)');
    deepEqual(r.errors, [SensorErrorCode.RANGE, SensorErrorCode.RANGE]);
    deepEqual(r.channels, [undefined, undefined]);
    poke(r.part, Max31856Register.CJLF, 0xc0);
    equal(r.convert(), 0b11, 'power-on thresholds: no alarm');
    poke(r.part, Max31856Register.LTHFTH, (150 * 16) >> 8);
    poke(r.part, Max31856Register.LTHFTL, (150 * 16) & 0xff);
    equal(r.convert(), 0b10, 'TCHIGH (200 °C above 150 °C): the cold junction kept');
    equal(r.out[1], 40000);
    equal(r.errors[2], SensorErrorCode.RANGE);
    equal(r.channels[2], 0);
    equal(r.part.register(Max31856Register.SR), 0x08, 'TCHIGH alone: SR TC Range is clear');
  },
  'E_POWER_ON_VALUE: a brown-out resets CR0/CR1 (and LTCB reads 0 °C); reconfigured'() {
    const r = rig();
    r.env.temperatureC = 500;
    equal(r.convert(), 0b11);
    r.part.powerCycle();
    r.env.time += 155;
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.POWER_ON_VALUE);
    equal(r.convert(), 0b11);
    equal(r.out[0], 500000);
  },
  'E_CHIP_ID: nothing on the chip select, or the wrong SPI mode, fails the read-back at construction'() {
    const r = rig();
    throws(() => new MAX31856({ sensor: { io: r.SPI, select: 6 } }), /E_CHIP_ID/);
    throws(() => new MAX31856({ sensor: { io: r.SPI, select: 5, mode: 0 as 1 } }), /E_CHIP_ID/);
  },
  'E_FRAME: MISO stuck low or high'() {
    const r = rig();
    r.driver.read(r.out);
    r.env.time += 155;
    r.bus.inject(5, 'zeros');
    equal(r.driver.read(r.out), 0);
    r.bus.inject(5, 'ones');
    r.driver.read(r.out);
    r.env.time += 155;
    equal(r.driver.read(r.out), 0);
    deepEqual(r.errors, [SensorErrorCode.FRAME, SensorErrorCode.FRAME]);
  },
  'E_BUS: the SPI transaction throws'() {
    const r = rig();
    r.bus.inject(5, 'error');
    equal(r.convert(), 0);
    equal(r.errors[0], SensorErrorCode.BUS);
    r.bus.inject(5, undefined);
    equal(r.convert(), 0b11);
  },
  'E_STUCK: 1SHOT never clears, or the value never changes'() {
    const r = rig({ stuckMs: 1000 });
    r.part.hung = true;
    r.driver.read(r.out);
    r.env.time += 256;
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.STUCK);
    r.part.hung = false;
    r.env.temperatureC = 77;
    equal(r.convert(), 0b11);
    r.part.stuck = true;
    r.env.temperatureC = 78;
    for (let t = 0; t < 1000; t += 200) r.convert(200);
    equal(r.driver.read(r.out), 0);
    equal(r.errors[r.errors.length - 1], SensorErrorCode.STUCK);
  },
  'close() twice is safe'() {
    const r = rig();
    r.driver.close();
    r.driver.close();
    throws(() => r.driver.read(r.out), /closed/);
  },
};
