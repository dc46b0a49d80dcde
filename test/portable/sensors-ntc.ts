/*
 * NTC thermistor driver on a simulated ESP32-style 12-bit ADC, Murata NCP18XH103F03RB (10 kΩ,
 * B25/50 = 3380 K) in a divider with a 10 kΩ series resistor, against the part's R-T table.
 */
import { type SensorError, SensorErrorCode } from '../../firmware/sensors/errors';
import NTC, { betaCelsius, type NtcOptions, steinhartHartCelsius, steinhartHartFromPoints } from '../../firmware/sensors/ntc';
import { SimAdc, SimNtcDivider } from '../../simulator/devices/analog';
import { FixedEnv } from '../../simulator/devices/env';
import { NCP18XH103_TABLE, SimNtc } from '../../simulator/devices/ntc';
import { equal, near, ok, throws } from '../harness/assert';

const T = NCP18XH103_TABLE;
/** Steinhart–Hart through the table's −20, 25 and 100 °C points. */
const SH = steinhartHartFromPoints([T[2]!, T[7]!, T[15]!]);

function rig(
  options: Partial<Pick<NtcOptions, 'thermistor' | 'topology' | 'stuckMs' | 'oversample' | 'minMilliCelsius' | 'maxMilliCelsius'>> & {
    resolution?: number;
  } = {},
) {
  const env = new FixedEnv();
  const ntc = new SimNtc(env);
  const adc = new SimAdc(3.3, 12);
  adc.attach(34, new SimNtcDivider(ntc, 10_000, 3.3, options.topology ?? 'ntc-low'));
  const errors: string[] = [];
  const { Analog } = adc.classes();
  const { resolution, thermistor, ...rest } = options;
  const driver = new NTC({
    sensor: { io: Analog, pin: 34, resolution },
    thermistor: thermistor ?? { steinhartHart: SH },
    seriesOhms: 10_000,
    now: () => env.now(),
    onError: (e: SensorError) => errors.push(e.code),
    ...rest,
  });
  const out = new Int32Array(1);
  return { env, ntc, adc, driver, errors, out, Analog };
}

export const tests = {
  'beta equation: exact at 25 °C and 50 °C, the B25/50 definition points of the R-T table'() {
    near(betaCelsius(10_000, 10_000, 3380), 25, 1e-9);
    near(betaCelsius(4160.9, 10_000, 3380), 50, 0.01);
  },
  'beta equation: its known error off 25..50 °C (3.7 °C at 120 °C): why Steinhart–Hart is offered'() {
    ok(betaCelsius(596.4, 10_000, 3380) - 120 > 3);
  },
  'Steinhart–Hart fitted at −20/25/100 °C: within 0.1 °C of the R-T table from −20 to 120 °C, 0.4 °C below'() {
    for (const [celsius, ohms] of T) {
      near(steinhartHartCelsius(ohms, ...SH), celsius, celsius < -20 ? 0.4 : 0.1, `${celsius} °C`);
    }
  },
  'end to end, 12-bit ADC, 8 reads averaged: within 0.25 °C from −30 to 110 °C, negatives included'() {
    const r = rig();
    for (const [celsius] of T) {
      if (celsius < -30 || celsius > 110) continue;
      r.env.temperatureC = celsius;
      equal(r.driver.read(r.out), 1, `${celsius} °C`);
      near(r.out[0]! / 1000, celsius, 0.25, `${celsius} °C`);
    }
  },
  'resolution limit: a 10-bit ADC is coarser but still within 0.6 °C from −20 to 100 °C'() {
    const r = rig({ resolution: 10 });
    for (const celsius of [-20, -7.5, 0, 33.3, 64, 100]) {
      r.env.temperatureC = celsius;
      equal(r.driver.read(r.out), 1);
      near(r.out[0]! / 1000, celsius, 0.6, `${celsius} °C`);
    }
  },
  "'ntc-high' topology and the beta model"() {
    const r = rig({ topology: 'ntc-high', thermistor: { r25: 10_000, beta: 3380 } });
    r.env.temperatureC = 37;
    near(r.driver.sample()!.temperature, 37, 0.2);
  },
  "E_OPEN / E_SHORT_GND ('ntc-low'): the pin at full scale / at zero"() {
    const r = rig();
    r.ntc.open = true;
    equal(r.driver.read(r.out), 0);
    r.ntc.open = false;
    r.ntc.shorted = true;
    equal(r.driver.read(r.out), 0);
    equal(r.errors.join(), [SensorErrorCode.OPEN, SensorErrorCode.SHORT_GND].join());
    r.ntc.shorted = false;
    equal(r.driver.read(r.out), 1);
  },
  "E_OPEN / E_SHORT_VCC ('ntc-high'): the pin at zero / at full scale"() {
    const r = rig({ topology: 'ntc-high' });
    r.ntc.open = true;
    equal(r.driver.read(r.out), 0);
    r.ntc.open = false;
    r.ntc.shorted = true;
    equal(r.driver.read(r.out), 0);
    equal(r.errors.join(), [SensorErrorCode.OPEN, SensorErrorCode.SHORT_VCC].join());
  },
  'E_FRAME: a floating input (reads spread over the scale)'() {
    const r = rig();
    r.adc.float(34, true);
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.FRAME);
  },
  'E_RANGE: beyond the operating range −40..+125 °C'() {
    const r = rig({ thermistor: { r25: 10_000, beta: 3380 } });
    r.env.temperatureC = 140;
    equal(r.driver.read(r.out), 0);
    r.env.temperatureC = -50;
    equal(r.driver.read(r.out), 0);
    equal(r.errors.join(), [SensorErrorCode.RANGE, SensorErrorCode.RANGE].join());
  },
  'E_STUCK: the converter returns one code for longer than stuckMs'() {
    const r = rig({ stuckMs: 5000 });
    r.env.temperatureC = 45;
    equal(r.driver.read(r.out), 1);
    r.adc.stick(34, 1500);
    for (let t = 0; t <= 5000; t += 1000) {
      r.env.time += 1000;
      r.env.temperatureC += 1;
      equal(r.driver.read(r.out), 1, `${t} ms`);
    }
    r.env.time += 1000;
    equal(r.driver.read(r.out), 0);
    equal(r.errors[0], SensorErrorCode.STUCK);
  },
  'E_BUS: no analog channel on the pin; E_CONFIG: bad options'() {
    const r = rig();
    throws(() => new NTC({ sensor: { io: r.Analog, pin: 35 }, thermistor: { r25: 1e4, beta: 3380 }, seriesOhms: 1e4 }), /E_BUS/);
    throws(() => new NTC({ sensor: { io: r.Analog, pin: 34 }, thermistor: { r25: 1e4, beta: 0 }, seriesOhms: 1e4 }), /E_CONFIG/);
    throws(() => new NTC({ sensor: { io: r.Analog, pin: 34 }, thermistor: { r25: 1e4, beta: 3380 }, seriesOhms: 0 }), /E_CONFIG/);
    throws(() => r.driver.configure({ oversample: 0 }), /E_CONFIG/);
  },
  'close() twice is safe'() {
    const r = rig();
    r.driver.close();
    r.driver.close();
    throws(() => r.driver.read(r.out), /closed/);
  },
};
