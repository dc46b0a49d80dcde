/*
 * Sensirion SHT4x humidity and temperature sensor, I2C (datasheet version 6.5). ECMA-419
 * sensor class.
 *
 *   const sensor = new SHT4x({ sensor: { io: host.io.I2C, address: 0x44 }, onError, now });
 *   sensor.configure({ precision: 'high', maxAgeMs: 30_000, stuckMs: 600_000 });
 *   sensor.read(out)   // out[0] milli-°C, out[1] milli-%RH; 0b11 when valid
 *
 * The part only measures on command (§4.5) and NAKs until done (Table 5), so the driver never
 * waits: each `read` collects the measurement it triggered before and triggers the next one.
 * A reading is therefore as old as the interval between reads; one older than `maxAgeMs` is
 * discarded (E_NOT_READY) and a fresh one triggered. While a measurement is under way, `read`
 * returns the last one again (if it is not older than `maxAgeMs`). `trigger()` starts a measurement early
 * (e.g. 10 ms before a scheduled read) for a fresher value.
 * No id register: the constructor reads the serial number (§4.5, 89h) and checks both CRCs
 * (E_CRC) and that it is not all-zero or all-ones (E_CHIP_ID).
 * `read` codes: E_BUS (NAK, time-out, or no answer after the measurement time: re-triggered),
 * E_FRAME, E_CRC, E_NOT_READY, E_RANGE (temperature outside -40..125 °C, Table 1),
 * E_STUCK (both words unchanged for `stuckMs`). Humidity is cropped to 0..100 %RH (§4.6).
 */
import type { I2C } from '../host';
import { sensirionWordsOk } from './crc';
import { SensorError, SensorErrorCode, type FaultCounts, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf, setUpOrClose, uniformFill } from './fault';
import { I2CRegisters, openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §4.5 commands. */
const Command = deepFreeze({
  MEASURE_HIGH: 0xfd,
  MEASURE_MEDIUM: 0xf6,
  MEASURE_LOW: 0xe0,
  SERIAL: 0x89,
} as const);
const PRECISIONS = deepFreeze(['high', 'medium', 'low'] as const);
const MEASURE = deepFreeze([Command.MEASURE_HIGH, Command.MEASURE_MEDIUM, Command.MEASURE_LOW] as const);
/** Table 5: measurement duration, max, ms. */
const DURATION_MS = deepFreeze([8.3, 4.5, 1.7] as const);

export interface SHT4xOptions {
  sensor: I2CSensorOptions;
  onError?: (error: SensorError) => void;
  /** Monotonic clock (ms) for measurement timing, age and stuck-value checks. */
  now?: () => number;
}

export interface SHT4xConfiguration {
  precision?: 'high' | 'medium' | 'low';
  /** Oldest measurement `read` returns, ms (default 60 000). */
  maxAgeMs?: number;
  stuckMs?: number;
}

export interface SHT4xSample {
  thermometer: { temperature: number };
  hygrometer: { humidity: number };
}

export default class SHT4x {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliPercentRH', name: 'humidity' },
  ] as const);

  readonly faults: FaultCounts;
  /** The part's serial number (§4.5). */
  readonly serialNumber: number;
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #now: (() => number) | undefined;
  readonly #bus = new I2CRegisters();
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(6);
  readonly #out = new Int32Array(2);
  readonly #sample: SHT4xSample = { thermometer: { temperature: 0 }, hygrometer: { humidity: 0 } };
  #precision = 0;
  #maxAgeMs = 60_000;
  #triggered = false;
  #triggeredAt = 0;
  #milliCelsius = 0;
  #milliRH = 0;
  #message = '';
  /** When the cached values were measured. */
  #valueAt = 0;

  constructor(options: SHT4xOptions) {
    this.#fault = new FaultReporter('SHT4x', options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    const io = openI2C('SHT4x', options.sensor, 0x44, 400_000);
    let serialNumber = 0;
    setUpOrClose('SHT4x', io, () => {
      this.#bus.command8(io, Command.SERIAL);
      const rx = this.#rx;
      io.read(rx);
      if (!sensirionWordsOk(rx)) throw this.#fault.error(SensorErrorCode.CRC, 'serial number CRC');
      const serial = ((rx[0]! << 24) | (rx[1]! << 16) | (rx[3]! << 8) | rx[4]!) >>> 0;
      if (serial === 0 || serial === 0xffffffff) {
        throw this.#fault.error(SensorErrorCode.CHIP_ID, `serial number 0x${serial.toString(16)}`);
      }
      serialNumber = serial;
      this.#trigger(io);
    });
    this.serialNumber = serialNumber;
    this.#io = io;
  }

  configure(options: SHT4xConfiguration): void {
    if (options.precision !== undefined) {
      const precision = PRECISIONS.indexOf(options.precision);
      if (precision < 0) this.#fault.invalid(`precision ${options.precision}`);
      this.#precision = precision;
    }
    if (options.maxAgeMs !== undefined) {
      if (!(options.maxAgeMs > 0)) this.#fault.invalid(`maxAgeMs ${options.maxAgeMs}`);
      this.#maxAgeMs = options.maxAgeMs;
    }
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
  }

  /**
   * Starts a fresh measurement now, replacing a finished one nobody collected yet; does nothing
   * while one is under way. The next `read` collects it.
   */
  trigger(): void {
    const io = this.#io;
    if (!io) return;
    if (this.#triggered && (!this.#now || this.#now() - this.#triggeredAt < DURATION_MS[this.#precision]!)) return;
    try {
      this.#trigger(io);
    } catch (error) {
      this.#fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
  }

  /** Fills out[0] (milli-°C) and out[1] (milli-%RH); returns 0b11 when valid, 0 otherwise. */
  read(out: Int32Array): number {
    const io = this.#io;
    const fault = this.#fault;
    if (!io) return fault.fail(SensorErrorCode.BUS, 'closed');
    const now = this.#now ? this.#now() : 0;
    if (!this.#triggered) {
      try {
        this.#trigger(io);
      } catch (error) {
        return fault.fail(SensorErrorCode.BUS, messageOf(error));
      }
      return fault.notReady('measurement triggered');
    }
    if (this.#now && now - this.#triggeredAt < DURATION_MS[this.#precision]!) {
      if (!this.#stuck.seen || now - this.#valueAt > this.#maxAgeMs) return fault.notReady('measurement under way');
      out[0] = this.#milliCelsius;
      out[1] = this.#milliRH;
      return 0b11;
    }
    const rx = this.#rx;
    const measuredAt = this.#triggeredAt;
    this.#triggered = false;
    try {
      io.read(rx);
    } catch (error) {
      this.#stuck.forget();
      this.#retrigger(io);
      return fault.fail(SensorErrorCode.BUS, `no answer after the measurement time: ${messageOf(error)}`);
    }
    const code = this.#check(rx, now);
    this.#retrigger(io);
    if (code) {
      this.#stuck.forget();
      return fault.fail(code, this.#message);
    }
    this.#valueAt = measuredAt;
    if (this.#now && now - measuredAt > this.#maxAgeMs) {
      this.#stuck.forget();
      return fault.notReady(`measurement ${now - measuredAt} ms old`);
    }
    out[0] = this.#milliCelsius;
    out[1] = this.#milliRH;
    return 0b11;
  }

  /** Both channels in °C and %RH (one object, reused), or undefined when `read()` gave nothing. */
  sample(): SHT4xSample | undefined {
    if (this.read(this.#out) !== 0b11) return undefined;
    const sample = this.#sample;
    sample.thermometer.temperature = this.#milliCelsius / 1000;
    sample.hygrometer.humidity = this.#milliRH / 1000;
    return sample;
  }

  /** Releases the bus (the part idles between single-shot measurements); safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  /** Starts the next measurement; a failure shows at the next read (nothing triggered). */
  #retrigger(io: I2C): void {
    try {
      this.#trigger(io);
    } catch {
      this.#triggered = false;
    }
  }

  /** Validates a 6-byte answer; on success stores the values and returns undefined. */
  #check(rx: Uint8Array, now: number): SensorErrorCodeValue | undefined {
    if (uniformFill(rx, 0, 6) >= 0) {
      this.#message = 'all-zero or all-ones frame';
      return SensorErrorCode.FRAME;
    }
    if (!sensirionWordsOk(rx)) {
      this.#message = 'measurement CRC mismatch';
      return SensorErrorCode.CRC;
    }
    const ticksT = (rx[0]! << 8) | rx[1]!;
    const ticksRH = (rx[3]! << 8) | rx[4]!;
    const milliCelsius = Math.round((175000 * ticksT) / 65535) - 45000;
    if (milliCelsius < -40000 || milliCelsius > 125000) {
      this.#message = 'temperature outside -40..125 °C';
      return SensorErrorCode.RANGE;
    }
    const unchangedMs = this.#stuck.update(now, ticksT * 65536 + ticksRH);
    if (unchangedMs) {
      this.#message = `values unchanged for ${unchangedMs} ms`;
      return SensorErrorCode.STUCK;
    }
    const milliRH = Math.round((125000 * ticksRH) / 65535) - 6000;
    this.#milliCelsius = milliCelsius;
    this.#milliRH = milliRH < 0 ? 0 : milliRH > 100000 ? 100000 : milliRH;
    return undefined;
  }

  #trigger(io: I2C): void {
    this.#bus.command8(io, MEASURE[this.#precision]!);
    this.#triggered = true;
    this.#triggeredAt = this.#now ? this.#now() : 0;
  }
}
