/*
 * TI TMP117 digital temperature sensor, I2C (datasheet SNOSD82D). ECMA-419 sensor class.
 *
 *   const sensor = new TMP117({ sensor: { io: host.io.I2C, address: 0x48, hz: 400_000 }, onError, now });
 *   sensor.configure({ averaging: 8, cycleMs: 1000, stuckMs: 600_000 });
 *   sensor.read(out)   // fixed point: out[0] = milli-°C; returns 1 when valid, 0 otherwise
 *   sensor.sample()    // { temperature } in °C, or undefined
 *
 * The part converts on its own in continuous mode (§7.4.1); `read` never waits: it reads the
 * configuration register for Data_Ready and then the result register. Every fault becomes a
 * SensorError through `onError`, is counted in `faults`, and yields no temperature.
 *
 * Contract of `read(out)`: 1 = out[0] holds a fresh or last-cycle temperature in milli-°C
 * (rounded from the 7.8125 m°C LSB); 0 = nothing valid (onError was called). Codes:
 *   E_BUS          the I2C transaction threw (NAK, time-out) or the driver is closed
 *   E_FRAME        configuration and result read as all-zero or all-ones bytes
 *   E_CONFIG       the configuration register lost the driver's settings (reset?); rewritten
 *   E_NOT_READY    no conversion has completed since configuration (not a fault of the part)
 *   E_POWER_ON_VALUE  the result register holds its power-on -256 °C (8000h)
 *   E_RANGE        outside the operating range -55..150 °C (§6.3)
 *   E_STUCK        no conversion for 2 cycles + 100 ms, or the value unchanged for `stuckMs`
 *                  (both need the `now` clock)
 */
import type { I2C } from '../host';
import { SensorError, SensorErrorCode, type FaultCounts } from './errors';
import { FaultReporter, messageOf, releaseQuietly, setUpOrClose } from './fault';
import { I2CRegisters, openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §7.6 register map. */
const Register = deepFreeze({
  TEMP_RESULT: 0x00,
  CONFIGURATION: 0x01,
  DEVICE_ID: 0x0f,
} as const);

/** §7.6.3 configuration register. */
const Config = deepFreeze({
  DATA_READY: 0x2000,
  MOD_MASK: 0x0c00,
  MOD_SHUTDOWN: 0x0400,
  CONV_SHIFT: 7,
  AVG_SHIFT: 5,
  /** MOD, CONV, AVG, T/nA, POL, DR/Alert: what the driver sets and checks back. */
  SETTINGS_MASK: 0x0ffc,
} as const);

/** §7.6.10 Device_ID: DID[11:0] = 117h; REV[15:12] may change. */
const DEVICE_ID = 0x117;
const DEVICE_ID_MASK = 0x0fff;
const POWER_ON_RESULT = 0x8000;
/** §6.3 operating range, in 7.8125 m°C LSB (-55 °C, +150 °C). */
const MIN_RAW = -55 * 128;
const MAX_RAW = 150 * 128;
/** §7.3.2 averages per AVG code. */
const AVERAGES = deepFreeze([1, 8, 32, 64] as const);
/** §7.4.1 Table 7-7: conversion cycle time, [CONV][AVG], ms. */
const CYCLE_MS = deepFreeze([
  [15.5, 125, 500, 1000],
  [125, 125, 500, 1000],
  [250, 250, 500, 1000],
  [500, 500, 500, 1000],
  [1000, 1000, 1000, 1000],
  [4000, 4000, 4000, 4000],
  [8000, 8000, 8000, 8000],
  [16000, 16000, 16000, 16000],
] as const);
const STALE_MARGIN_MS = 100;

export type TMP117SensorOptions = I2CSensorOptions;

export interface TMP117Options {
  sensor: TMP117SensorOptions;
  onError?: (error: SensorError) => void;
  /** Monotonic clock (ms), for the stale-conversion and stuck-value checks. */
  now?: () => number;
}

export interface TMP117Configuration {
  /** Results averaged per conversion: 1, 8, 32 or 64 (§7.3.2). */
  averaging?: 1 | 8 | 32 | 64;
  /** Conversion cycle, ms: a Table 7-7 value no shorter than the averaging takes. */
  cycleMs?: number;
  /** Report E_STUCK when the value has not changed for this long; 0 turns the check off. */
  stuckMs?: number;
}

export interface TMP117Sample {
  temperature: number;
}

export default class TMP117 {
  static readonly channels = deepFreeze([{ kind: 'milliCelsius', name: 'temperature' }] as const);

  readonly faults: FaultCounts;
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #now: (() => number) | undefined;
  readonly #bus = new I2CRegisters();
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(4);
  readonly #configRx: Uint8Array;
  readonly #resultRx: Uint8Array;
  readonly #out = new Int32Array(1);
  readonly #sample: TMP117Sample = { temperature: 0 };
  /** Configuration the driver wrote (settings bits only). */
  #settings = 0x0220;
  #cycleMs = 1000;
  #lastConversionAt = 0;
  #raw = 0;

  constructor(options: TMP117Options) {
    this.#fault = new FaultReporter('TMP117', options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    this.#configRx = this.#rx.subarray(0, 2);
    this.#resultRx = this.#rx.subarray(2, 4);
    const io = openI2C('TMP117', options.sensor, 0x48, 400_000);
    setUpOrClose('TMP117', io, () => {
      const id = this.#bus.readWord(io, Register.DEVICE_ID, this.#configRx);
      if ((id & DEVICE_ID_MASK) !== DEVICE_ID) {
        throw this.#fault.error(SensorErrorCode.CHIP_ID, `Device_ID 0x${id.toString(16)}, expected 0x117`);
      }
      this.#writeConfiguration(io);
    });
    this.#io = io;
  }

  configure(options: TMP117Configuration): void {
    let avgCode = (this.#settings >> Config.AVG_SHIFT) & 3;
    if (options.averaging !== undefined) {
      avgCode = AVERAGES.indexOf(options.averaging);
      if (avgCode < 0) this.#fault.invalid(`averaging ${options.averaging}`);
    }
    let convCode = (this.#settings >> Config.CONV_SHIFT) & 7;
    if (options.cycleMs !== undefined) {
      convCode = -1;
      for (let conv = 0; conv < 8; conv++) {
        if (CYCLE_MS[conv]![avgCode] === options.cycleMs) {
          convCode = conv;
          break;
        }
      }
      if (convCode < 0) this.#fault.invalid(`cycleMs ${options.cycleMs} with ${AVERAGES[avgCode]} averages`);
    }
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
    const settings = (convCode << Config.CONV_SHIFT) | (avgCode << Config.AVG_SHIFT);
    if (settings !== this.#settings) {
      this.#settings = settings;
      const io = this.#io;
      if (!io) throw this.#fault.error(SensorErrorCode.BUS, 'closed');
      try {
        this.#writeConfiguration(io);
      } catch (error) {
        throw this.#fault.error(SensorErrorCode.BUS, messageOf(error));
      }
    }
  }

  /** Fills out[0] with milli-°C; returns 1 when valid, 0 on a fault or before the first conversion. */
  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) return this.#fault.fail(SensorErrorCode.BUS, 'closed');
    const now = this.#now ? this.#now() : 0;
    let config: number;
    try {
      config = this.#bus.readWord(io, Register.CONFIGURATION, this.#configRx);
    } catch (error) {
      return this.#fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
    if ((config & Config.SETTINGS_MASK) !== this.#settings) {
      if (config === 0 || config === 0xffff) return this.#fault.fail(SensorErrorCode.FRAME, `configuration 0x${config.toString(16)}`);
      try {
        this.#writeConfiguration(io);
      } catch {
        return this.#fault.fail(SensorErrorCode.BUS, 'configuration lost and rewrite failed');
      }
      return this.#fault.fail(SensorErrorCode.CONFIG, `configuration 0x${config.toString(16)} lost its settings; rewritten`);
    }
    const fresh = (config & Config.DATA_READY) !== 0;
    if (fresh) this.#lastConversionAt = now;
    else if (this.#now && now - this.#lastConversionAt > 2 * this.#cycleMs + STALE_MARGIN_MS) {
      return this.#fault.fail(SensorErrorCode.STUCK, `no conversion for ${now - this.#lastConversionAt} ms`);
    } else if (!this.#stuck.seen) {
      return this.#fault.notReady('no conversion completed yet');
    }
    let result: number;
    try {
      result = this.#bus.readWord(io, Register.TEMP_RESULT, this.#resultRx);
    } catch (error) {
      return this.#fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
    if ((config === 0 && result === 0) || (config === 0xffff && result === 0xffff)) {
      return this.#fault.fail(SensorErrorCode.FRAME, 'all-zero or all-ones frame');
    }
    if (result === POWER_ON_RESULT) return this.#fault.fail(SensorErrorCode.POWER_ON_VALUE, 'result reads -256 °C');
    const raw = (result << 16) >> 16;
    if (raw < MIN_RAW || raw > MAX_RAW) return this.#fault.fail(SensorErrorCode.RANGE, `${raw / 128} °C`);
    const unchangedMs = this.#stuck.update(now, raw);
    if (unchangedMs) return this.#fault.fail(SensorErrorCode.STUCK, `value unchanged for ${unchangedMs} ms`);
    this.#raw = raw;
    out[0] = (raw * 125 + 8) >> 4;
    return 1;
  }

  /** `{ temperature }` in °C (one object, reused), or undefined when `read()` gave nothing. */
  sample(): TMP117Sample | undefined {
    if (!(this.read(this.#out) & 1)) return undefined;
    this.#sample.temperature = this.#raw / 128;
    return this.#sample;
  }

  /** Puts the part in shutdown (best effort) and releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    releaseQuietly(io, () => this.#bus.writeWord(io, Register.CONFIGURATION, this.#settings | Config.MOD_SHUTDOWN));
  }

  #writeConfiguration(io: I2C): void {
    this.#bus.writeWord(io, Register.CONFIGURATION, this.#settings);
    const avgCode = (this.#settings >> Config.AVG_SHIFT) & 3;
    this.#cycleMs = CYCLE_MS[(this.#settings >> Config.CONV_SHIFT) & 7]![avgCode]!;
    this.#stuck.forget();
    this.#lastConversionAt = this.#now ? this.#now() : 0;
  }
}
