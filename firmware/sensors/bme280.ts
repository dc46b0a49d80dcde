/*
 * Bosch BME280 temperature, humidity and pressure sensor, I2C (datasheet BST-BME280-DS002).
 * ECMA-419 sensor class.
 *
 *   const sensor = new BME280({ sensor: { io: host.io.I2C, address: 0x76 }, onError, now });
 *   sensor.read(out)   // out[0] milli-°C, out[1] milli-%RH, out[2] Pa; a bit per valid channel (0b111)
 *   sensor.sample()    // { thermometer: { temperature }, hygrometer: { humidity }, barometer: { pressure } }
 *                      // (a channel that failed is undefined; no valid channel: undefined)
 *
 * The part runs in normal mode (§3.3.4: measurement, then t_standby, repeated), so `read` never
 * waits: one burst read of F3h..FEh (status, ctrl_meas, config, data: §5.3 Table 18) gives a
 * consistent set (data shadowing, §4) plus the settings to check. The trimming parameters are
 * read once from NVM (§4.2.2 Table 16) and validated; temperature and humidity are the
 * datasheet's 32-bit integer code (§4.2.3, C int32 arithmetic reproduced by Math.imul and `| 0`),
 * pressure its double-precision formula (§8.1, as precise as the 64-bit integer one), rounded to
 * the pascal.
 * `read` codes: E_BUS, E_FRAME, E_NOT_READY (no measurement yet: data hold 80000h / 8000h),
 * E_POWER_ON_VALUE (the part reset: settings lost, data back to 80000h; rewritten),
 * E_CONFIG (ctrl_meas changed under us; rewritten), E_RANGE (outside -40..85 °C: no channel;
 * outside 300..1100 hPa, §1 Table 1: the pressure channel only, reported with `channel` 2 while
 * temperature and humidity are kept, `read` returning 0b011), E_STUCK (all three raw values
 * unchanged for `stuckMs`).
 * Constructor: E_CHIP_ID (id D0h is not 60h, or the NVM trimming is blank), E_NOT_READY (NVM
 * still being copied, status im_update), E_BUS.
 */
import type { I2C } from '../host';
import { SensorError, SensorErrorCode, type FaultCounts } from './errors';
import { FaultReporter, messageOf, releaseQuietly, setUpOrClose, uniformFill } from './fault';
import { I2CRegisters, openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §5.3 Table 18 memory map. */
const Register = deepFreeze({
  CALIB_00: 0x88,
  CHIP_ID: 0xd0,
  CALIB_26: 0xe1,
  CTRL_HUM: 0xf2,
  STATUS: 0xf3,
  CTRL_MEAS: 0xf4,
  CONFIG: 0xf5,
} as const);
const CHIP_ID = 0x60;
/** §5.4.4 status bits. */
const STATUS_IM_UPDATE = 0x01;
/** §5.4.5 ctrl_meas: osrs_t x1 (001), osrs_p x1 (001), normal mode (11). */
const CTRL_MEAS_NORMAL = (1 << 5) | (1 << 2) | 0b11;
const CTRL_MEAS_SLEEP = (1 << 5) | (1 << 2);
/** §5.4.3 ctrl_hum: osrs_h x1. */
const CTRL_HUM = 0x01;
/** §5.4.6 config: t_sb per code (ms), filter off. */
const STANDBY_MS = deepFreeze([0.5, 62.5, 125, 250, 500, 1000, 10, 20] as const);
/** §4 skipped / power-on data values. */
const SKIPPED_20 = 0x80000;
const SKIPPED_16 = 0x8000;
/** Table 1 operating range. */
const MIN_CENTI_CELSIUS = -4000;
const MAX_CENTI_CELSIUS = 8500;
const MIN_PASCAL = 30000;
const MAX_PASCAL = 110000;

/** §4.2.2 Table 16 trimming parameters. */
export interface BME280Trimming {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}

/** §4.2.3 BME280_compensate_T_int32: returns t_fine; temperature in 0.01 °C is (t_fine * 5 + 128) >> 8. */
export function bme280TFine(c: BME280Trimming, adcT: number): number {
  const var1 = Math.imul((adcT >> 3) - (c.T1 << 1), c.T2) >> 11;
  const d = (adcT >> 4) - c.T1;
  const var2 = Math.imul(Math.imul(d, d) >> 12, c.T3) >> 14;
  return (var1 + var2) | 0;
}

export function bme280CentiCelsius(tFine: number): number {
  return (Math.imul(tFine, 5) + 128) >> 8;
}

/**
 * §8.1 bme280_compensate_P_double: pressure in Pa (a float; 0 when the trimming divides by
 * zero). The datasheet's double-precision form: as precise as its 64-bit integer version
 * (§4.2.3 BME280_compensate_P_int64, Q24.8 Pa), which XS could only run through BigInt, and
 * 1-3 Pa closer than the 32-bit one (§8.2). `tFine` is the integer t_fine of §4.2.3, the same
 * value the 64-bit version takes; every step below is exact or within an ulp in binary64.
 */
export function bme280Pascal(c: BME280Trimming, tFine: number, adcP: number): number {
  let var1 = tFine / 2 - 64000;
  let var2 = (var1 * var1 * c.P6) / 32768;
  var2 = var2 + var1 * c.P5 * 2;
  var2 = var2 / 4 + c.P4 * 65536;
  var1 = ((c.P3 * var1 * var1) / 524288 + c.P2 * var1) / 524288;
  var1 = (1 + var1 / 32768) * c.P1;
  if (var1 === 0) return 0;
  let p = 1048576 - adcP;
  p = ((p - var2 / 4096) * 6250) / var1;
  var1 = (c.P9 * p * p) / 2147483648;
  var2 = (p * c.P8) / 32768;
  return p + (var1 + var2 + c.P7) / 16;
}

/** §4.2.3 bme280_compensate_H_int32: humidity in %RH as Q22.10 (1024 = 1 %RH). */
export function bme280HumidityQ10(c: BME280Trimming, tFine: number, adcH: number): number {
  let v = (tFine - 76800) | 0;
  const a = ((((adcH << 14) - (c.H4 << 20) - Math.imul(c.H5, v)) | 0) + 16384) >> 15;
  const b = Math.imul(v, c.H6) >> 10;
  const inner = (Math.imul(b, ((Math.imul(v, c.H3) >> 11) + 32768) | 0) >> 10) + 2097152;
  const factor = (Math.imul(inner | 0, c.H2) + 8192) >> 14;
  v = Math.imul(a, factor);
  v = (v - (Math.imul(Math.imul(v >> 15, v >> 15) >> 7, c.H1) >> 4)) | 0;
  v = v < 0 ? 0 : v > 419430400 ? 419430400 : v;
  return v >> 12;
}

/** Reads the 32 bytes of trimming NVM (§4.2.2 Table 16) into a trimming record. */
export function bme280ParseTrimming(low: Uint8Array, high: Uint8Array, into: BME280Trimming): void {
  const u16 = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8);
  const s16 = (b: Uint8Array, i: number) => (u16(b, i) << 16) >> 16;
  into.T1 = u16(low, 0);
  into.T2 = s16(low, 2);
  into.T3 = s16(low, 4);
  into.P1 = u16(low, 6);
  into.P2 = s16(low, 8);
  into.P3 = s16(low, 10);
  into.P4 = s16(low, 12);
  into.P5 = s16(low, 14);
  into.P6 = s16(low, 16);
  into.P7 = s16(low, 18);
  into.P8 = s16(low, 20);
  into.P9 = s16(low, 22);
  into.H1 = low[25]!;
  into.H2 = s16(high, 0);
  into.H3 = high[2]!;
  into.H4 = (((high[3]! << 4) | (high[4]! & 0x0f)) << 20) >> 20;
  into.H5 = (((high[5]! << 4) | (high[4]! >> 4)) << 20) >> 20;
  into.H6 = (high[6]! << 24) >> 24;
}

export interface BME280Options {
  sensor: I2CSensorOptions;
  onError?: (error: SensorError) => void;
  now?: () => number;
}

export interface BME280Configuration {
  /** Standby between measurements, ms: a §5.4.6 t_sb value (default 1000). */
  standbyMs?: number;
  stuckMs?: number;
}

/** One object, reused; a channel that failed in this read is undefined. */
export interface BME280Sample {
  thermometer: { temperature: number } | undefined;
  hygrometer: { humidity: number } | undefined;
  barometer: { pressure: number } | undefined;
}

/** Channel indexes (bits of the `read` result), as in `BME280.channels`. */
const CHANNEL_PRESSURE = 2;

export default class BME280 {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliPercentRH', name: 'humidity' },
    { kind: 'pascal', name: 'pressure' },
  ] as const);

  readonly faults: FaultCounts;
  readonly trimming: BME280Trimming = {
    T1: 0, T2: 0, T3: 0, P1: 0, P2: 0, P3: 0, P4: 0, P5: 0, P6: 0, P7: 0, P8: 0, P9: 0,
    H1: 0, H2: 0, H3: 0, H4: 0, H5: 0, H6: 0,
  };
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #now: (() => number) | undefined;
  readonly #bus = new I2CRegisters();
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(12);
  readonly #out = new Int32Array(3);
  readonly #thermometer = { temperature: 0 };
  readonly #hygrometer = { humidity: 0 };
  readonly #barometer = { pressure: 0 };
  readonly #sample: BME280Sample = { thermometer: undefined, hygrometer: undefined, barometer: undefined };
  #standbyCode = 5;

  constructor(options: BME280Options) {
    this.#fault = new FaultReporter('BME280', options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    const io = openI2C('BME280', options.sensor, 0x76, 400_000);
    setUpOrClose('BME280', io, () => {
      const one = this.#rx.subarray(0, 1);
      this.#bus.readInto(io, Register.CHIP_ID, one);
      if (one[0] !== CHIP_ID) throw this.#fault.error(SensorErrorCode.CHIP_ID, `chip id 0x${one[0]!.toString(16)}, expected 0x60`);
      this.#bus.readInto(io, Register.STATUS, one);
      if (one[0]! & STATUS_IM_UPDATE) throw this.#fault.error(SensorErrorCode.NOT_READY, 'NVM still being copied');
      const low = new Uint8Array(26);
      const high = new Uint8Array(7);
      this.#bus.readInto(io, Register.CALIB_00, low);
      this.#bus.readInto(io, Register.CALIB_26, high);
      bme280ParseTrimming(low, high, this.trimming);
      if (uniformFill(low, 0, 26) >= 0 || this.trimming.T1 === 0 || this.trimming.P1 === 0) {
        throw this.#fault.error(SensorErrorCode.CHIP_ID, 'trimming NVM is blank');
      }
      this.#writeSettings(io);
    });
    this.#io = io;
  }

  configure(options: BME280Configuration): void {
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
    if (options.standbyMs !== undefined) {
      const code = STANDBY_MS.indexOf(options.standbyMs as never);
      if (code < 0) this.#fault.invalid(`standbyMs ${options.standbyMs}`);
      if (code !== this.#standbyCode) {
        this.#standbyCode = code;
        const io = this.#io;
        if (!io) throw this.#fault.error(SensorErrorCode.BUS, 'closed');
        try {
          this.#writeSettings(io);
        } catch (error) {
          throw this.#fault.error(SensorErrorCode.BUS, messageOf(error));
        }
      }
    }
  }

  /**
   * out[0] milli-°C, out[1] milli-%RH, out[2] Pa; returns a bit per valid channel: 0b111, 0b011
   * when only the pressure is out of range (reported, channel 2), or 0.
   */
  read(out: Int32Array): number {
    const io = this.#io;
    const fault = this.#fault;
    if (!io) return fault.fail(SensorErrorCode.BUS, 'closed');
    const rx = this.#rx;
    try {
      this.#bus.readInto(io, Register.STATUS, rx);
    } catch (error) {
      return fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
    if (uniformFill(rx, 0, 12) >= 0) return fault.fail(SensorErrorCode.FRAME, 'all-zero or all-ones frame');
    const adcP = (rx[4]! << 12) | (rx[5]! << 4) | (rx[6]! >> 4);
    const adcT = (rx[7]! << 12) | (rx[8]! << 4) | (rx[9]! >> 4);
    const adcH = (rx[10]! << 8) | rx[11]!;
    const ctrlMeas = rx[1]!;
    if (ctrlMeas !== CTRL_MEAS_NORMAL || (rx[2]! >> 5) !== this.#standbyCode) {
      const reset = ctrlMeas === 0 && adcT === SKIPPED_20;
      try {
        this.#writeSettings(io);
      } catch {
        return fault.fail(SensorErrorCode.BUS, 'settings lost and rewriting them failed');
      }
      if (reset) return fault.fail(SensorErrorCode.POWER_ON_VALUE, 'the part reset (sleep mode, data 80000h); settings rewritten');
      return fault.fail(SensorErrorCode.CONFIG, `ctrl_meas 0x${ctrlMeas.toString(16)} config 0x${rx[2]!.toString(16)}; rewritten`);
    }
    if (adcT === SKIPPED_20 || adcP === SKIPPED_20 || adcH === SKIPPED_16) {
      if (!this.#stuck.seen) return fault.notReady('no measurement yet');
      return fault.fail(SensorErrorCode.POWER_ON_VALUE, 'data registers hold the skipped / power-on value');
    }
    const c = this.trimming;
    const tFine = bme280TFine(c, adcT);
    const centiCelsius = bme280CentiCelsius(tFine);
    // Humidity and pressure are compensated with t_fine: beyond the temperature range, none holds.
    if (centiCelsius < MIN_CENTI_CELSIUS || centiCelsius > MAX_CENTI_CELSIUS) {
      return fault.fail(SensorErrorCode.RANGE, `${centiCelsius / 100} °C`);
    }
    const now = this.#now ? this.#now() : 0;
    const unchangedMs = this.#stuck.update2(now, adcT * 1048576 + adcP, adcH);
    if (unchangedMs) return fault.fail(SensorErrorCode.STUCK, `values unchanged for ${unchangedMs} ms`);
    out[0] = centiCelsius * 10;
    out[1] = Math.round((bme280HumidityQ10(c, tFine, adcH) * 1000) / 1024);
    const pascal = Math.round(bme280Pascal(c, tFine, adcP));
    if (pascal < MIN_PASCAL || pascal > MAX_PASCAL) {
      fault.fail(SensorErrorCode.RANGE, `pressure ${pascal} Pa outside 300..1100 hPa; temperature and humidity kept`, CHANNEL_PRESSURE);
      return 0b011;
    }
    out[2] = pascal;
    return 0b111;
  }

  /**
   * The channels in °C, %RH and Pa (one object, reused); a channel `read()` did not validate is
   * undefined; undefined when `read()` gave nothing.
   */
  sample(): BME280Sample | undefined {
    const out = this.#out;
    const valid = this.read(out);
    if (!valid) return undefined;
    const sample = this.#sample;
    this.#thermometer.temperature = out[0]! / 1000;
    this.#hygrometer.humidity = out[1]! / 1000;
    this.#barometer.pressure = out[2]!;
    sample.thermometer = valid & 0b001 ? this.#thermometer : undefined;
    sample.hygrometer = valid & 0b010 ? this.#hygrometer : undefined;
    sample.barometer = valid & 0b100 ? this.#barometer : undefined;
    return sample;
  }

  /** Puts the part to sleep (best effort) and releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    releaseQuietly(io, () => this.#bus.writeByte(io, Register.CTRL_MEAS, CTRL_MEAS_SLEEP));
  }

  /** §5.4.3: ctrl_hum takes effect with the following ctrl_meas write; config is written in sleep mode. */
  #writeSettings(io: I2C): void {
    const bus = this.#bus;
    bus.writeByte(io, Register.CTRL_MEAS, CTRL_MEAS_SLEEP);
    bus.writeByte(io, Register.CONFIG, this.#standbyCode << 5);
    bus.writeByte(io, Register.CTRL_HUM, CTRL_HUM);
    bus.writeByte(io, Register.CTRL_MEAS, CTRL_MEAS_NORMAL);
    this.#stuck.forget();
  }
}
