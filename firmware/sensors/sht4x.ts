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
import type { I2C, I2CConstructor } from '../host';
import { crc8Sensirion } from './crc';
import { newFaultCounts, SensorError, SensorErrorCode, type FaultCounts, type SensorErrorCodeValue } from './errors';

/** §4.5 commands. */
const Command = {
  MEASURE_HIGH: 0xfd,
  MEASURE_MEDIUM: 0xf6,
  MEASURE_LOW: 0xe0,
  SERIAL: 0x89,
} as const;
const PRECISIONS = ['high', 'medium', 'low'] as const;
const MEASURE = [Command.MEASURE_HIGH, Command.MEASURE_MEDIUM, Command.MEASURE_LOW] as const;
/** Table 5: measurement duration, max, ms. */
const DURATION_MS = [8.3, 4.5, 1.7] as const;

export interface SHT4xOptions {
  sensor: { io: I2CConstructor; address?: number; hz?: number; data?: number; clock?: number; port?: number; timeout?: number };
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

export default class SHT4x {
  static readonly channels = [
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliPercentRH', name: 'humidity' },
  ] as const;

  readonly faults: FaultCounts = newFaultCounts();
  /** The part's serial number (§4.5). */
  readonly serialNumber: number;

  #io: I2C | undefined;
  readonly #onError: ((error: SensorError) => void) | undefined;
  readonly #now: (() => number) | undefined;
  readonly #command = new Uint8Array(1);
  readonly #rx = new Uint8Array(6);
  readonly #out = new Int32Array(2);
  #precision = 0;
  #maxAgeMs = 60_000;
  #stuckMs = 0;
  #triggered = false;
  #triggeredAt = 0;
  #seen = false;
  #lastT = 0;
  #lastRH = 0;
  #lastChangeAt = 0;
  #milliCelsius = 0;
  #milliRH = 0;

  constructor(options: SHT4xOptions) {
    const sensor = options.sensor;
    this.#onError = options.onError;
    this.#now = options.now;
    let io: I2C;
    try {
      io = new sensor.io({
        address: sensor.address ?? 0x44,
        hz: sensor.hz ?? 400_000,
        data: sensor.data,
        clock: sensor.clock,
        port: sensor.port,
        timeout: sensor.timeout,
      });
    } catch (error) {
      throw new SensorError('SHT4x', SensorErrorCode.BUS, `cannot open I2C: ${(error as Error).message}`);
    }
    try {
      this.#command[0] = Command.SERIAL;
      io.write(this.#command);
      const rx = this.#rx;
      io.read(rx);
      if (crc8Sensirion(rx, 0, 2) !== rx[2] || crc8Sensirion(rx, 3, 2) !== rx[5]) {
        throw new SensorError('SHT4x', SensorErrorCode.CRC, 'serial number CRC');
      }
      const serial = ((rx[0]! << 24) | (rx[1]! << 16) | (rx[3]! << 8) | rx[4]!) >>> 0;
      if (serial === 0 || serial === 0xffffffff) {
        throw new SensorError('SHT4x', SensorErrorCode.CHIP_ID, `serial number 0x${serial.toString(16)}`);
      }
      this.serialNumber = serial;
      this.#trigger(io);
    } catch (error) {
      io.close();
      if (error instanceof SensorError) throw error;
      throw new SensorError('SHT4x', SensorErrorCode.BUS, (error as Error).message);
    }
    this.#io = io;
  }

  configure(options: SHT4xConfiguration): void {
    if (options.precision !== undefined) {
      const precision = PRECISIONS.indexOf(options.precision);
      if (precision < 0) throw new SensorError('SHT4x', SensorErrorCode.CONFIG, `precision ${options.precision}`);
      this.#precision = precision;
    }
    if (options.maxAgeMs !== undefined) {
      if (!(options.maxAgeMs > 0)) throw new SensorError('SHT4x', SensorErrorCode.CONFIG, `maxAgeMs ${options.maxAgeMs}`);
      this.#maxAgeMs = options.maxAgeMs;
    }
    if (options.stuckMs !== undefined) {
      if (!(options.stuckMs >= 0)) throw new SensorError('SHT4x', SensorErrorCode.CONFIG, `stuckMs ${options.stuckMs}`);
      if (options.stuckMs > 0 && !this.#now) throw new SensorError('SHT4x', SensorErrorCode.CONFIG, 'stuckMs needs `now`');
      this.#stuckMs = options.stuckMs;
    }
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
      this.#fail(SensorErrorCode.BUS, (error as Error).message);
    }
  }

  /** Fills out[0] (milli-°C) and out[1] (milli-%RH); returns 0b11 when valid, 0 otherwise. */
  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) return this.#fail(SensorErrorCode.BUS, 'closed');
    const now = this.#now ? this.#now() : 0;
    if (!this.#triggered) {
      try {
        this.#trigger(io);
      } catch (error) {
        return this.#fail(SensorErrorCode.BUS, (error as Error).message);
      }
      return this.#fail(SensorErrorCode.NOT_READY, 'measurement triggered');
    }
    if (this.#now && now - this.#triggeredAt < DURATION_MS[this.#precision]!) {
      if (!this.#seen || now - this.#valueAt > this.#maxAgeMs) {
        return this.#fail(SensorErrorCode.NOT_READY, 'measurement under way');
      }
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
      this.#seen = false;
      this.#retrigger(io);
      return this.#fail(SensorErrorCode.BUS, `no answer after the measurement time: ${(error as Error).message}`);
    }
    const code = this.#check(rx, now);
    this.#retrigger(io);
    if (code) {
      this.#seen = false;
      return this.#fail(code, this.#message);
    }
    this.#valueAt = measuredAt;
    if (this.#now && now - measuredAt > this.#maxAgeMs) {
      this.#seen = false;
      return this.#fail(SensorErrorCode.NOT_READY, `measurement ${now - measuredAt} ms old`);
    }
    out[0] = this.#milliCelsius;
    out[1] = this.#milliRH;
    return 0b11;
  }

  sample(): { thermometer: { temperature: number }; hygrometer: { humidity: number } } | undefined {
    if (this.read(this.#out) !== 0b11) return undefined;
    return {
      thermometer: { temperature: this.#milliCelsius / 1000 },
      hygrometer: { humidity: this.#milliRH / 1000 },
    };
  }

  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  #message = '';
  /** When the cached values were measured. */
  #valueAt = 0;

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
    let zeros = true;
    let ones = true;
    for (let i = 0; i < 6; i++) {
      if (rx[i] !== 0) zeros = false;
      if (rx[i] !== 0xff) ones = false;
    }
    if (zeros || ones) {
      this.#message = 'all-zero or all-ones frame';
      return SensorErrorCode.FRAME;
    }
    if (crc8Sensirion(rx, 0, 2) !== rx[2] || crc8Sensirion(rx, 3, 2) !== rx[5]) {
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
    if (!this.#seen || ticksT !== this.#lastT || ticksRH !== this.#lastRH) {
      this.#lastT = ticksT;
      this.#lastRH = ticksRH;
      this.#lastChangeAt = now;
    } else if (this.#stuckMs > 0 && now - this.#lastChangeAt > this.#stuckMs) {
      this.#message = `values unchanged for ${now - this.#lastChangeAt} ms`;
      return SensorErrorCode.STUCK;
    }
    this.#seen = true;
    const milliRH = Math.round((125000 * ticksRH) / 65535) - 6000;
    this.#milliCelsius = milliCelsius;
    this.#milliRH = milliRH < 0 ? 0 : milliRH > 100000 ? 100000 : milliRH;
    return undefined;
  }

  #trigger(io: I2C): void {
    this.#command[0] = MEASURE[this.#precision]!;
    io.write(this.#command);
    this.#triggered = true;
    this.#triggeredAt = this.#now ? this.#now() : 0;
  }

  #fail(code: SensorErrorCodeValue, message: string): number {
    this.faults[code]++;
    this.#onError?.(new SensorError('SHT4x', code, message));
    return 0;
  }
}
