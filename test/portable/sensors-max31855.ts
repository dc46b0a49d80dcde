/*
 * MAX31855 driver against the simulated part (Maxim MAX31855 datasheet 19-5793) on the
 * simulated SPI bus, plus the datasheet's bit patterns fed straight to the driver.
 */
import type { SPIConstructor } from '../../firmware/host';
import { type SensorError, SensorErrorCode } from '../../firmware/sensors/errors';
import MAX31855 from '../../firmware/sensors/max31855';
import { FixedEnv } from '../../simulator/devices/env';
import { SimMax31855 } from '../../simulator/devices/max31855';
import { SimSPIBus } from '../../simulator/devices/spi-bus';
import { equal, near, ok, throws } from '../harness/assert';

function rig(config: { stuckMs?: number; minMilliCelsius?: number; maxMilliCelsius?: number } = {}) {
  const env = new FixedEnv();
  const bus = new SimSPIBus();
  const part = new SimMax31855(env);
  bus.attach(5, part);
  const errors: string[] = [];
  /** The channel each fault named (undefined: the whole part). */
  const channels: (number | undefined)[] = [];
  const { SPI } = bus.classes();
  const driver = new MAX31855({
    sensor: { io: SPI, select: 5 },
    now: () => env.now(),
    onError: (e: SensorError) => (errors.push(e.code), channels.push(e.channel)),
    ...config,
  });
  const out = new Int32Array(2);
  const next = () => {
    env.time += 100;
    return driver.read(out);
  };
  return { env, bus, part, driver, errors, channels, out, next, SPI };
}

/** An SPI whose every read returns this 32-bit frame: the datasheet's bit patterns, verbatim. */
function frameSpi(frame: number): SPIConstructor {
  return class {
    read(buffer: Uint8Array) {
      buffer[0] = frame >>> 24;
      buffer[1] = (frame >>> 16) & 0xff;
      buffer[2] = (frame >>> 8) & 0xff;
      buffer[3] = frame & 0xff;
    }
    write() {}
    transfer() {}
    close() {}
  } as unknown as SPIConstructor;
}

function decode(frame: number, config = {}) {
  const errors: string[] = [];
  const d = new MAX31855({ sensor: { io: frameSpi(frame) }, onError: (e) => errors.push(e.code), minMilliCelsius: -270_000, maxMilliCelsius: 1_800_000, ...config });
  const out = new Int32Array(2);
  const valid = d.read(out);
  return { valid, out, errors };
}

/** Table 4 "Thermocouple Temperature Data Format": °C, D31..D18 as in the table. */
const TABLE_4: [number, number][] = [
  [1600, 0b01100100000000],
  [1000, 0b00111110100000],
  [100.75, 0b00000110010011],
  [25, 0b00000001100100],
  [0, 0b00000000000000],
  [-0.25, 0b11111111111111],
  [-1, 0b11111111111100],
  [-250, 0b11110000011000],
];
/** Table 5 "Reference Junction Temperature Data Format": °C, D15..D4 as in the table. */
const TABLE_5: [number, number][] = [
  [127, 0b011111110000],
  [100.5625, 0b011001001001],
  [25, 0b000110010000],
  [0, 0b000000000000],
  [-0.0625, 0b111111111111],
  [-1, 0b111111110000],
  [-20, 0b111011000000],
  [-55, 0b110010010000],
];

export const tests = {
  'Table 4: thermocouple bit patterns decode to the table temperatures'() {
    for (const [celsius, bits] of TABLE_4) {
      const r = decode(((bits << 18) | (25 * 16) << 4) >>> 0);
      equal(r.valid, 0b11, `${celsius} °C`);
      equal(r.out[0], celsius * 1000, `${celsius} °C`);
    }
  },
  'Table 5: reference-junction bit patterns decode to the table temperatures (127 °C is E_RANGE)'() {
    for (const [celsius, bits] of TABLE_5) {
      const r = decode(((100 << 18) | (bits << 4)) >>> 0);
      if (celsius > 125) {
        equal(r.valid, 0);
        equal(r.errors[0], SensorErrorCode.RANGE, 'outside the −55..+125 °C cold-junction range');
        continue;
      }
      equal(r.valid, 0b11, `${celsius} °C`);
      equal(r.out[1], Math.floor(celsius * 1000), `${celsius} °C (milli-°C, rounded towards −∞)`);
    }
  },
  'the simulated part produces Table 4 / Table 5 patterns'() {
    const r = rig({ minMilliCelsius: -270_000, maxMilliCelsius: 1_800_000 });
    for (const [celsius, bits] of TABLE_4) {
      r.env.temperatureC = celsius;
      r.env.ambientC = 25;
      equal(r.next(), 0b11, `${celsius} °C`);
      equal((r.part.frame >>> 18) & 0x3fff, bits, `D31..D18 for ${celsius} °C`);
      equal(r.out[0], celsius * 1000);
    }
    for (const [celsius, bits] of TABLE_5.filter(([c]) => c <= 125)) {
      r.env.ambientC = celsius;
      r.env.temperatureC = 200 + celsius; // keep the thermocouple value moving
      equal(r.next(), 0b11, `${celsius} °C`);
      equal((r.part.frame >>> 4) & 0xfff, bits, `D15..D4 for ${celsius} °C`);
      equal(r.out[1], Math.floor(celsius * 1000));
    }
  },
  'sample(): temperature and cold junction in °C; 0.25 °C resolution'() {
    const r = rig();
    r.env.temperatureC = 412.3;
    r.env.ambientC = 31.07;
    equal(r.driver.sample(), undefined, 'within the first 100 ms (tCONV) after power-up');
    equal(r.driver.lastError, SensorErrorCode.NOT_READY);
    r.env.time += 100;
    const s = r.driver.sample()!;
    near(s.temperature!, 412.25, 1e-9);
    near(s.coldJunction!, 31.0625, 0.001);
    equal(r.errors.join(), SensorErrorCode.NOT_READY, 'E_NOT_READY reported through onError (not counted in faults)');
  },
  'E_OPEN, E_SHORT_GND, E_SHORT_VCC: fault bits D0..D2 with D16; thermocouple bits ignored, cold junction kept'() {
    const r = rig();
    r.env.temperatureC = 300;
    r.env.ambientC = 27.5;
    equal(r.next(), 0b11);
    const cases: [keyof SimMax31855 & ('open' | 'shortToGround' | 'shortToVcc'), string][] = [
      ['open', SensorErrorCode.OPEN],
      ['shortToGround', SensorErrorCode.SHORT_GND],
      ['shortToVcc', SensorErrorCode.SHORT_VCC],
    ];
    for (const [fault, code] of cases) {
      r.part[fault] = true;
      r.env.ambientC += 1;
      r.out.fill(0);
      equal(r.next(), 0b10, `${fault}: only the cold-junction bit`);
      equal(r.errors[r.errors.length - 1], code);
      equal(r.channels[r.channels.length - 1], 0, 'the fault names the thermocouple channel');
      equal(r.out[1], r.env.ambientC * 1000, 'the cold junction of this conversion');
      equal(r.out[0], 0, 'nothing written for the thermocouple');
      ok(((r.part.frame >>> 18) & 0x3fff) === 1200, 'the frame still carries a plausible 300 °C');
      r.env.time += 100;
      const s = r.driver.sample();
      ok(s, 'sample() keeps the valid channel');
      equal(s.temperature, undefined);
      equal(s.coldJunction, r.env.ambientC);
      r.part[fault] = false;
    }
    equal(r.driver.faults.E_OPEN + r.driver.faults.E_SHORT_GND + r.driver.faults.E_SHORT_VCC, 6);
    equal(r.next(), 0b11, 'recovers');
  },
  'Table 2 fault frames fed verbatim: the cold junction (D15..D4) survives OC, SCG, SCV'() {
    for (const bit of [1, 2, 4]) {
      // thermocouple bits 0 (undefined under a fault), D16, cold junction 25.0000 °C (0001 1001 0000)
      const { valid, out, errors } = decode(((1 << 16) | (0b000110010000 << 4) | bit) >>> 0);
      equal(valid, 0b10, `fault bit ${bit}`);
      equal(out[1], 25000);
      equal(errors.length, 1);
    }
    const cold = decode(((1 << 16) | (0b110010000000 << 4) | 1) >>> 0);
    equal(cold.valid, 0, 'a cold junction outside −55..+125 °C (−56 °C) keeps nothing');
  },
  'E_FRAME: all-zero and all-ones frames (MISO stuck, no chip on this select)'() {
    const r = rig();
    r.bus.inject(5, 'zeros');
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.FRAME);
    r.bus.inject(5, 'ones');
    equal(r.next(), 0);
    equal(r.errors[1], SensorErrorCode.FRAME);
    const empty = new MAX31855({ sensor: { io: r.SPI, select: 6 }, onError: (e) => r.errors.push(e.code) });
    equal(empty.read(r.out), 0, 'nothing on chip select 6');
    equal(r.errors[2], SensorErrorCode.FRAME);
  },
  'E_FRAME: reserved bits D17 / D3 set, or D16 disagreeing with D2..D0'() {
    equal(decode(((100 << 18) | (1 << 17) | (400 << 4)) >>> 0).errors[0], SensorErrorCode.FRAME);
    equal(decode(((100 << 18) | (400 << 4) | (1 << 3)) >>> 0).errors[0], SensorErrorCode.FRAME);
    equal(decode(((100 << 18) | (1 << 16) | (400 << 4)) >>> 0).errors[0], SensorErrorCode.FRAME);
    equal(decode(((100 << 18) | (400 << 4) | 1) >>> 0).errors[0], SensorErrorCode.FRAME);
  },
  'E_BUS: the SPI transaction throws'() {
    const r = rig();
    r.bus.inject(5, 'error');
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.BUS);
  },
  'E_RANGE: beyond the K-type range −200..+1350 °C, on the thermocouple channel; cold junction kept'() {
    const r = rig();
    r.env.ambientC = 22;
    r.env.temperatureC = 1400;
    equal(r.next(), 0b10);
    equal(r.errors[0], SensorErrorCode.RANGE);
    equal(r.channels[0], 0);
    equal(r.out[1], 22000);
    r.env.temperatureC = -210;
    equal(r.next(), 0b10);
    equal(r.errors[1], SensorErrorCode.RANGE);
  },
  'E_STUCK: the register stops updating'() {
    const r = rig({ stuckMs: 1000 });
    r.env.temperatureC = 250;
    equal(r.next(), 0b11);
    r.part.stuck = true;
    r.env.temperatureC = 260;
    for (let i = 0; i < 10; i++) equal(r.next(), 0b11, `${(i + 1) * 100} ms`);
    equal(r.next(), 0);
    equal(r.errors[0], SensorErrorCode.STUCK);
  },
  'E_CONFIG: SCK above 5 MHz, empty range, stuckMs without a clock'() {
    const { SPI } = new SimSPIBus().classes();
    throws(() => new MAX31855({ sensor: { io: SPI, hz: 6_000_000 } }), /E_CONFIG/);
    throws(() => new MAX31855({ sensor: { io: SPI }, minMilliCelsius: 10, maxMilliCelsius: 0 }), /E_CONFIG/);
    throws(() => new MAX31855({ sensor: { io: SPI }, stuckMs: 10 }), /E_CONFIG/);
  },
  'close() twice is safe'() {
    const r = rig();
    r.driver.close();
    r.driver.close();
    throws(() => r.driver.read(r.out), /closed/);
  },
};
