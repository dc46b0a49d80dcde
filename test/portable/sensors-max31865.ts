/*
 * MAX31865 driver against the simulated part (Maxim MAX31865 datasheet 19-6478) with PT100 and
 * PT1000 elements; Callendar–Van Dusen checked against IEC 60751 table values.
 */
import type { SPI, SPIConstructor } from '../../firmware/host';
import { type SensorError, SensorErrorCode } from '../../firmware/sensors/errors';
import MAX31865, { type Max31865Configuration, rtdCelsius, rtdOhms } from '../../firmware/sensors/max31865';
import { FixedEnv } from '../../simulator/devices/env';
import { Max31865Register, SimMax31865 } from '../../simulator/devices/max31865';
import { SimSPIBus } from '../../simulator/devices/spi-bus';
import { deepEqual, equal, near, ok, throws } from '../harness/assert';

/** IEC 60751:2008 Pt100 reference table (Table 1, α = 0.00385): °C → Ω. */
const IEC_60751: [number, number][] = [
  [-200, 18.52],
  [-100, 60.26],
  [-50, 80.31],
  [0, 100.0],
  [50, 119.4],
  [100, 138.51],
  [150, 157.33],
  [200, 175.86],
  [300, 212.05],
  [400, 247.09],
  [500, 280.98],
  [600, 313.71],
  [700, 345.28],
  [800, 375.7],
  [850, 390.48],
];

function rig(
  options: { r0?: number; referenceOhms?: number } & Max31865Configuration = {},
  build?: (part: SimMax31865) => void,
  { rawStart = false, wrap = (io: SPIConstructor) => io } = {},
) {
  const env = new FixedEnv();
  const bus = new SimSPIBus();
  const part = new SimMax31865(env, { r0: options.r0, referenceOhms: options.referenceOhms });
  build?.(part);
  bus.attach(5, part);
  const errors: string[] = [];
  /** E_NOT_READY is reported too, not as a fault (errors.ts): kept apart, as the node logs it as debug. */
  const notReady: string[] = [];
  const messages: string[] = [];
  const { SPI } = bus.classes();
  const { r0, referenceOhms, ...config } = options;
  const driver = new MAX31865({
    sensor: { io: wrap(SPI), select: 5 },
    rtd: { r0, referenceOhms },
    now: () => env.now(),
    onError: (e: SensorError) => {
      if (e.code === SensorErrorCode.NOT_READY) notReady.push(e.code);
      else errors.push(e.code), messages.push(e.message);
    },
    ...config,
  });
  const out = new Int32Array(1);
  const convert = (ms = 52) => {
    driver.read(out);
    env.time += ms;
    return driver.read(out);
  };
  /** After the fault-detection cycle's 600 µs: one read collects its result (and starts a conversion). */
  const detect = () => {
    env.time += 0.6;
    return driver.read(out);
  };
  if (!rawStart) {
    equal(detect(), 0, 'the cycle started at configuration is read first');
    notReady.length = 0;
  }
  return { env, bus, part, driver, errors, messages, notReady, out, convert, detect, SPI };
}

/** Every write to the configuration register (80h) a driver makes, in order. */
function configWrites(base: SPIConstructor, log: number[]): SPIConstructor {
  return class {
    #io: SPI;
    constructor(options: never) {
      this.#io = new base(options);
    }
    write(buffer: Uint8Array) {
      if (buffer[0] === 0x80) for (let i = 1; i < buffer.length; i++) log.push(buffer[i]!);
      this.#io.write(buffer);
    }
    read(buffer: Uint8Array) {
      this.#io.read(buffer);
    }
    transfer(buffer: Uint8Array) {
      if (buffer[0] === 0x80) for (let i = 1; i < buffer.length; i++) log.push(buffer[i]!);
      this.#io.transfer(buffer);
    }
    close() {
      this.#io.close();
    }
  } as unknown as SPIConstructor;
}

export const tests = {
  'Callendar–Van Dusen R(T) matches IEC 60751 to the table rounding (0.005 Ω)'() {
    for (const [celsius, ohms] of IEC_60751) near(rtdOhms(celsius, 100), ohms, 0.005, `${celsius} °C`);
  },
  'inverse T(R) of IEC 60751 table values, within 0.02 °C (the table rounds R to 0.01 Ω)'() {
    for (const [celsius, ohms] of IEC_60751) near(rtdCelsius(ohms, 100), celsius, 0.02, `${ohms} Ω`);
  },
  'inverse is exact to 1e-6 °C from −200 to +850 °C, both sides of 0 °C'() {
    for (let t = -200; t <= 850; t += 0.5) near(rtdCelsius(rtdOhms(t, 100), 100), t, 1e-6, `${t} °C`);
    for (let t = -1; t <= 1; t += 0.001) near(rtdCelsius(rtdOhms(t, 1000), 1000), t, 1e-6, `${t} °C`);
  },
  'Table 1: power-on register values'() {
    const part = new SimMax31865(new FixedEnv());
    const values: number[] = [];
    for (let a = 0; a < 8; a++) values.push(part.register(a));
    deepEqual(values, [0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00]);
  },
  'PT100, R_REF 430 Ω: IEC table temperatures within one ADC code (≤ 0.05 °C)'() {
    for (const [celsius] of IEC_60751) {
      const r = rig();
      r.env.temperatureC = celsius;
      equal(r.convert(), 1, `${celsius} °C`);
      near(r.out[0]! / 1000, celsius, 0.05, `${celsius} °C`);
    }
  },
  'PT1000, R_REF 4300 Ω, 3-wire, 50 Hz: negative temperatures'() {
    for (const celsius of [-195.5, -40, -0.1, 21.7]) {
      const r = rig({ r0: 1000, referenceOhms: 4300, wires: 3, filterHz: 50 });
      equal(r.part.register(Max31865Register.CONFIG) & 0x11, 0x11, '3-wire and 50 Hz bits');
      r.env.temperatureC = celsius;
      equal(r.convert(62.5), 1, `${celsius} °C`);
      near(r.out[0]! / 1000, celsius, 0.05, `${celsius} °C`);
    }
  },
  'one-shot timing: nothing before 52 ms (60 Hz), then the reading; sample() in °C'() {
    const r = rig();
    r.env.temperatureC = 123.4;
    equal(r.driver.sample(), undefined);
    r.env.time += 51;
    equal(r.driver.sample(), undefined);
    equal(r.driver.lastError, SensorErrorCode.NOT_READY);
    r.env.time += 1;
    near(r.driver.sample()!.temperature, 123.4, 0.05);
    equal(r.errors.length, 0);
    equal(r.notReady.length, 2, 'E_NOT_READY reported through onError at both early reads');
    equal(r.driver.faults.E_NOT_READY, 0, 'and not counted as a fault');
  },
  'thresholds: the part holds the codes of the configured range'() {
    const r = rig();
    const high = ((r.part.register(3) << 8) | r.part.register(4)) >> 1;
    const low = ((r.part.register(5) << 8) | r.part.register(6)) >> 1;
    near((high * 430) / 32768, 390.48, 0.05, 'high threshold ≈ R(850 °C)');
    near((low * 430) / 32768, 18.52, 0.05, 'low threshold ≈ R(−200 °C)');
  },
  'E_OPEN: open RTD element (D7 full-scale code, then D5 REFIN- > 0.85 × VBIAS in the cycle), recovers'() {
    const r = rig();
    r.part.open = true;
    equal(r.convert(), 0);
    deepEqual(r.errors, [SensorErrorCode.OPEN], 'the conversion: full-scale code with D7');
    ok(/D7/.test(r.messages[0]!), r.messages[0]);
    equal(r.detect(), 0);
    deepEqual(r.errors, [SensorErrorCode.OPEN, SensorErrorCode.OPEN], 'the cycle that follows');
    ok(/D5/.test(r.messages[1]!), `D5, not the FORCE- open bits D4/D3: ${r.messages[1]}`);
    r.part.open = false;
    equal(r.detect(), 0, 'a clean cycle: conversions resume');
    equal(r.convert(), 1, 'recovers');
    const o = rig({}, (part) => (part.open = true));
    deepEqual(o.errors, [SensorErrorCode.OPEN], 'seen by the fault-detection cycle started at construction');
  },
  'E_SHORT_GND: RTDIN- shorted low (D4, D3 with FORCE- open): data that appear valid are never published'() {
    const r = rig({}, (part) => (part.shortToGround = true));
    r.env.temperatureC = 40;
    deepEqual(r.errors, [SensorErrorCode.SHORT_GND], 'the cycle at construction');
    for (let i = 0; i < 5; i++) equal(r.convert(), 0, `read ${i}: the cycle repeats until it comes back clean`);
    ok(r.errors.every((e) => e === SensorErrorCode.SHORT_GND), r.errors.join());
    equal(r.driver.faults.E_OPEN, 0, 'not mistaken for an open circuit');
    r.part.shortToGround = false;
    equal(r.detect(), 0, 'clean cycle, conversion started');
    equal(r.convert(), 1);
    near(r.out[0]! / 1000, 40, 0.05);
  },
  'E_SHORT: RTD element shorted (D6, near-zero code, a clean cycle); E_OVERVOLTAGE: D2'() {
    const r = rig();
    r.part.shorted = true;
    equal(r.convert(), 0);
    deepEqual(r.errors, [SensorErrorCode.SHORT]);
    r.part.shorted = false;
    equal(r.detect(), 0);
    r.part.overvoltage = true;
    equal(r.convert(), 0);
    deepEqual(r.errors, [SensorErrorCode.SHORT, SensorErrorCode.OVERVOLTAGE]);
    equal(r.detect(), 0, 'D2 set again at once after the clear while it persists');
    deepEqual(r.errors, [SensorErrorCode.SHORT, SensorErrorCode.OVERVOLTAGE, SensorErrorCode.OVERVOLTAGE]);
    equal(r.driver.faults.E_RTD_FAULT, 0, 'each cause has its own label');
  },
  'a single transient fault cannot latch: the clear is its own write, D5, D3 and D2 at 0'() {
    const writes: number[] = [];
    const r = rig({}, undefined, { wrap: (io) => configWrites(io, writes) });
    r.env.temperatureC = 55;
    equal(r.convert(), 1);
    // the over/undervoltage lasts exactly the conversion started by that read
    r.part.overvoltage = true;
    r.env.time += 52;
    r.part.register(Max31865Register.CONFIG);
    r.part.overvoltage = false;
    equal(r.driver.read(r.out), 0, 'the conversion that ran under the fault');
    let got = 0;
    for (let i = 0; i < 3 && !got; i++) got = r.convert();
    equal(got, 1, 'a reading again once the fault is gone');
    near(r.out[0]! / 1000, 55, 0.05);
    for (let i = 0; i < 5; i++) equal(r.convert(), 1, `still a reading (${i})`);
    deepEqual(r.errors, [SensorErrorCode.OVERVOLTAGE]);
    const clears = writes.filter((w) => w & 0x02);
    ok(clears.length >= 2, 'at configuration and after the fault');
    for (const w of clears) equal(w & 0x2c, 0, `clear written as ${w}: D5, D3, D2 must be 0`);
    for (const w of writes) ok(!(w & 0x20 && w & 0x0c), `1-shot and a fault cycle in one write (${w}) are both ignored`);
  },
  'fault-detection cycle: its status is read only after D3:D2 self-clear (600 µs), polled, never waited for'() {
    const r = rig({}, (part) => (part.shortToGround = true), { rawStart: true });
    equal(r.part.register(Max31865Register.CONFIG) & 0x0c, 0x04, 'D3:D2 = 01b: automatic cycle running');
    equal(r.errors.length, 0, 'nothing read at construction: the cycle has not finished');
    r.env.time += 0.3;
    equal(r.driver.read(r.out), 0);
    deepEqual(r.notReady, [SensorErrorCode.NOT_READY], 'E_NOT_READY while D3:D2 = 01b');
    equal(r.errors.length, 0);
    r.env.time += 0.3;
    equal(r.part.register(Max31865Register.CONFIG) & 0x0c, 0, 'self-cleared after 600 µs');
    equal(r.driver.read(r.out), 0);
    deepEqual(r.errors, [SensorErrorCode.SHORT_GND], 'then the result');
  },
  'fault-detection cycle that never ends (D3:D2 left at 10b): E_STUCK after 600 µs + 100 ms, run again'() {
    const r = rig({}, undefined, { rawStart: true });
    r.env.temperatureC = 20;
    const raw = new r.SPI({ select: 5, mode: 1, hz: 1_000_000 });
    raw.write(Uint8Array.of(0x80, 0x88)); // 100X100Xb: manual cycle 1 waits for the master forever
    raw.close();
    r.env.time += 1;
    equal(r.driver.read(r.out), 0);
    equal(r.errors.length, 0, 'still within the bound: not ready');
    r.env.time += 100;
    equal(r.driver.read(r.out), 0);
    deepEqual(r.errors, [SensorErrorCode.STUCK]);
    equal(r.detect(), 0, 'the automatic cycle again, clean');
    equal(r.convert(), 1);
    near(r.out[0]! / 1000, 20, 0.05);
  },
  'simulated part: fault status clear only with D5, D3, D2 at 0; 1-shot with D3:D2 ignored'() {
    const env = new FixedEnv();
    const bus = new SimSPIBus();
    const part = new SimMax31865(env);
    bus.attach(5, part);
    const io = new (bus.classes().SPI)({ select: 5, mode: 1, hz: 1_000_000 });
    const config = (value: number) => io.write(Uint8Array.of(0x80, value));
    config(0x80);
    config(0xa0); // 1-shot, thresholds at power-on: FFFFh high, 0 low; a 0 °C code is fine
    part.shorted = true;
    env.time += 52;
    config(0xa0);
    env.time += 52;
    equal(part.register(Max31865Register.FAULT_STATUS), 0x40, 'code 0 ≤ the low threshold 0000h: D6');
    part.shorted = false;
    config(0xa2);
    equal(part.register(Max31865Register.FAULT_STATUS), 0x40, 'a clear written with 1-shot does nothing');
    env.time += 52;
    config(0x86);
    equal(part.register(Max31865Register.FAULT_STATUS), 0x40, 'nor with a fault-detection cycle');
    env.time += 1;
    config(0x82);
    equal(part.register(Max31865Register.FAULT_STATUS), 0, 'alone, it clears');
    equal(part.register(Max31865Register.RTD_LSB) & 1, 0, 'and the RTD LSB fault flag with it');
    const before = part.conversions;
    config(0xa4);
    env.time += 60;
    equal(part.conversions, before, '1-shot with D2: both commands ignored');
    equal(part.register(Max31865Register.CONFIG) & 0x2c, 0);
    io.close();
  },
  'E_RANGE: beyond a configured range (the part flags it through its thresholds)'() {
    const r = rig({ minMilliCelsius: 0, maxMilliCelsius: 400_000 });
    r.env.temperatureC = 450;
    equal(r.convert(), 0);
    r.env.temperatureC = -20;
    equal(r.detect(), 0, 'a clean fault-detection cycle after the flagged conversion');
    equal(r.convert(), 0);
    deepEqual(r.errors, [SensorErrorCode.RANGE, SensorErrorCode.RANGE]);
    throws(() => r.driver.configure({ maxMilliCelsius: 900_000 }), /E_CONFIG/);
  },
  'E_POWER_ON_VALUE: a brown-out turns VBIAS off and clears the thresholds; reconfigured'() {
    const r = rig();
    r.env.temperatureC = 60;
    equal(r.convert(), 1);
    r.part.powerCycle();
    r.env.time += 52;
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.POWER_ON_VALUE);
    equal(r.detect(), 0, 'the fault-detection cycle of the new configuration');
    equal(r.convert(), 1);
    near(r.out[0]! / 1000, 60, 0.05);
  },
  'E_CHIP_ID: nothing on the chip select, or the wrong SPI mode'() {
    const r = rig();
    throws(() => new MAX31865({ sensor: { io: r.SPI, select: 6 } }), /E_CHIP_ID/);
    throws(() => new MAX31865({ sensor: { io: r.SPI, select: 5, mode: 0 as 1 } }), /E_CHIP_ID/);
  },
  'E_FRAME and E_BUS: MISO stuck, transaction errors'() {
    const r = rig();
    r.driver.read(r.out);
    r.env.time += 52;
    r.bus.inject(5, 'ones');
    equal(r.driver.read(r.out), 0);
    r.bus.inject(5, 'zeros');
    r.driver.read(r.out);
    equal(r.driver.read(r.out), 0);
    r.bus.inject(5, 'error');
    equal(r.driver.read(r.out), 0);
    deepEqual(r.errors, [SensorErrorCode.FRAME, SensorErrorCode.FRAME, SensorErrorCode.BUS]);
    r.bus.inject(5, undefined);
    equal(r.convert(), 1);
  },
  'E_STUCK: the code never changes for longer than stuckMs'() {
    const r = rig({ stuckMs: 500 });
    r.env.temperatureC = 30;
    equal(r.convert(), 1);
    r.part.stuck = true;
    r.env.temperatureC = 31;
    let last = 1;
    for (let i = 0; i < 12; i++) last = r.convert(100);
    equal(last, 0);
    ok(r.errors.includes(SensorErrorCode.STUCK), r.errors.join());
  },
  'close() switches VBIAS off; twice is safe'() {
    const r = rig();
    r.driver.close();
    equal(r.part.register(Max31865Register.CONFIG) & 0x80, 0);
    r.driver.close();
    throws(() => r.driver.read(r.out), /closed/);
  },
};
