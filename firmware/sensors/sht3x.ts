/*
 * Sensirion SHT3x-DIS humidity and temperature sensor, I2C (datasheet version 6). ECMA-419
 * sensor class; a steam leak shows as humidity as well as heat.
 *
 *   const sensor = new SHT3x({ sensor: { io: host.io.I2C, address: 0x44 }, onError, now });
 *   sensor.configure({ repeatability: 'high', mps: 1, stuckMs: 600_000 });
 *   sensor.read(out)   // out[0] milli-°C, out[1] milli-%RH; returns 0b11 when valid
 *   sensor.sample()    // { thermometer: { temperature }, hygrometer: { humidity } } or undefined
 *
 * The part runs in periodic mode (Table 10) and `read` fetches (§4.6): no waiting on the event
 * loop. Sensirion parts have no id register: the constructor reads the status register (§4.11),
 * checks its CRC and that its reserved bits are 0 (else E_CHIP_ID), clears it and sends a break;
 * the first `read` at least 1 ms later starts periodic measurement (and reports E_NOT_READY). `read` codes: E_BUS, E_FRAME, E_CRC (§4.12 CRC-8 of either word), E_NOT_READY
 * (no measurement yet since (re)start), E_RANGE (temperature outside -40..125 °C, Table 2),
 * E_STUCK (no measurement for 2 periods + 100 ms, or both words unchanged for `stuckMs`),
 * E_POWER_ON_VALUE (the status register says the part reset: periodic mode is restarted).
 * When a fetch finds no new data within 2 periods, the last measurement is returned again.
 */
import type { I2C } from '../host';
import { crc8Sensirion, sensirionWordsOk } from './crc';
import { SensorError, SensorErrorCode, type FaultCounts } from './errors';
import { FaultReporter, messageOf, releaseQuietly, setUpOrClose, uniformFill } from './fault';
import { I2CRegisters, openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §4.3-4.11 commands. */
const Command = deepFreeze({
  FETCH: 0xe000,
  BREAK: 0x3093,
  STATUS: 0xf32d,
  CLEAR_STATUS: 0x3041,
} as const);
/** Table 10: periodic mode commands [mps][repeatability high, medium, low]. */
const PERIODIC = deepFreeze([
  [0x2032, 0x2024, 0x202f],
  [0x2130, 0x2126, 0x212d],
  [0x2236, 0x2220, 0x222b],
  [0x2334, 0x2322, 0x2329],
  [0x2737, 0x2721, 0x272a],
] as const);
const MPS = deepFreeze([0.5, 1, 2, 4, 10] as const);
const REPEATABILITY = deepFreeze(['high', 'medium', 'low'] as const);
/** §4.11 Table 17: reserved status bits (14, 12, 9:5, 3:2) read 0; bit 4 = reset detected. */
const STATUS_RESERVED = 0x53ec;
const STATUS_RESET_DETECTED = 0x0010;
/** Table 5: 1 ms after a break before the next command. */
const BREAK_MS = 1;
const STALE_MARGIN_MS = 100;

export interface SHT3xOptions {
  sensor: I2CSensorOptions;
  onError?: (error: SensorError) => void;
  /** Monotonic clock (ms) for the staleness and stuck-value checks. */
  now?: () => number;
}

export interface SHT3xConfiguration {
  repeatability?: 'high' | 'medium' | 'low';
  /** Measurements per second: 0.5, 1, 2, 4 or 10. */
  mps?: 0.5 | 1 | 2 | 4 | 10;
  stuckMs?: number;
}

export interface SHT3xSample {
  thermometer: { temperature: number };
  hygrometer: { humidity: number };
}

export default class SHT3x {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliPercentRH', name: 'humidity' },
  ] as const);

  readonly faults: FaultCounts;
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #now: (() => number) | undefined;
  readonly #bus = new I2CRegisters();
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(6);
  readonly #statusRx: Uint8Array;
  readonly #out = new Int32Array(2);
  readonly #sample: SHT3xSample = { thermometer: { temperature: 0 }, hygrometer: { humidity: 0 } };
  #mpsIndex = 1;
  #repeatability = 0;
  /** Periodic command still to send (after a break), or 0. */
  #pending = 0;
  #pendingAt = 0;
  #lastDataAt = 0;
  #milliCelsius = 0;
  #milliRH = 0;

  constructor(options: SHT3xOptions) {
    this.#fault = new FaultReporter('SHT3x', options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    this.#statusRx = this.#rx.subarray(0, 3);
    const io = openI2C('SHT3x', options.sensor, 0x44, 400_000);
    setUpOrClose('SHT3x', io, () => {
      this.#bus.command16(io, Command.STATUS);
      io.read(this.#statusRx);
      const rx = this.#statusRx;
      if (crc8Sensirion(rx, 0, 2) !== rx[2]) throw this.#fault.error(SensorErrorCode.CRC, 'status CRC');
      const status = (rx[0]! << 8) | rx[1]!;
      if (status & STATUS_RESERVED) {
        throw this.#fault.error(SensorErrorCode.CHIP_ID, `status 0x${status.toString(16)} has reserved bits set`);
      }
      this.#bus.command16(io, Command.CLEAR_STATUS);
      this.#bus.command16(io, Command.BREAK);
      this.#pending = PERIODIC[this.#mpsIndex]![this.#repeatability]!;
      this.#pendingAt = (this.#now ? this.#now() : 0) + BREAK_MS;
    });
    this.#io = io;
  }

  configure(options: SHT3xConfiguration): void {
    let mpsIndex = this.#mpsIndex;
    let repeatability = this.#repeatability;
    if (options.mps !== undefined) {
      mpsIndex = MPS.indexOf(options.mps);
      if (mpsIndex < 0) this.#fault.invalid(`mps ${options.mps}`);
    }
    if (options.repeatability !== undefined) {
      repeatability = REPEATABILITY.indexOf(options.repeatability);
      if (repeatability < 0) this.#fault.invalid(`repeatability ${options.repeatability}`);
    }
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, !!this.#now);
    if (mpsIndex === this.#mpsIndex && repeatability === this.#repeatability) return;
    this.#mpsIndex = mpsIndex;
    this.#repeatability = repeatability;
    const io = this.#io;
    if (!io) throw this.#fault.error(SensorErrorCode.BUS, 'closed');
    this.#restart(io);
  }

  /** Fills out[0] (milli-°C) and out[1] (milli-%RH); returns 0b11 when valid, 0 otherwise. */
  read(out: Int32Array): number {
    const io = this.#io;
    const fault = this.#fault;
    if (!io) return fault.fail(SensorErrorCode.BUS, 'closed');
    const now = this.#now ? this.#now() : 0;
    if (this.#pending) {
      if (this.#now && now < this.#pendingAt) return fault.notReady('restarting');
      try {
        this.#bus.command16(io, this.#pending);
      } catch (error) {
        return fault.fail(SensorErrorCode.BUS, messageOf(error));
      }
      this.#pending = 0;
      this.#stuck.forget();
      this.#lastDataAt = this.#now ? this.#now() : 0;
      return fault.notReady('periodic measurement restarted');
    }
    const rx = this.#rx;
    let written = false;
    try {
      this.#bus.command16(io, Command.FETCH);
      written = true;
      io.read(rx);
    } catch (error) {
      if (this.#now && now - this.#lastDataAt > 2 * (1000 / MPS[this.#mpsIndex]!) + STALE_MARGIN_MS) {
        return this.#stale(io, now);
      }
      if (!written) return fault.fail(SensorErrorCode.BUS, messageOf(error));
      if (!this.#stuck.seen) return fault.notReady('no measurement yet');
      out[0] = this.#milliCelsius;
      out[1] = this.#milliRH;
      return 0b11;
    }
    if (uniformFill(rx, 0, 6) >= 0) return fault.fail(SensorErrorCode.FRAME, 'all-zero or all-ones frame');
    if (!sensirionWordsOk(rx)) return fault.fail(SensorErrorCode.CRC, 'measurement CRC mismatch');
    const ticksT = (rx[0]! << 8) | rx[1]!;
    const ticksRH = (rx[3]! << 8) | rx[4]!;
    this.#lastDataAt = now;
    const milliCelsius = Math.round((175000 * ticksT) / 65535) - 45000;
    if (milliCelsius < -40000 || milliCelsius > 125000) return fault.fail(SensorErrorCode.RANGE, `${milliCelsius / 1000} °C`);
    const unchangedMs = this.#stuck.update(now, ticksT * 65536 + ticksRH);
    if (unchangedMs) return fault.fail(SensorErrorCode.STUCK, `values unchanged for ${unchangedMs} ms`);
    this.#milliCelsius = milliCelsius;
    this.#milliRH = Math.round((100000 * ticksRH) / 65535);
    out[0] = this.#milliCelsius;
    out[1] = this.#milliRH;
    return 0b11;
  }

  /** Both channels in °C and %RH (one object, reused), or undefined when `read()` gave nothing. */
  sample(): SHT3xSample | undefined {
    if (this.read(this.#out) !== 0b11) return undefined;
    const sample = this.#sample;
    sample.thermometer.temperature = this.#milliCelsius / 1000;
    sample.hygrometer.humidity = this.#milliRH / 1000;
    return sample;
  }

  /** Stops periodic measurement (best effort) and releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    releaseQuietly(io, () => this.#bus.command16(io, Command.BREAK));
  }

  /** No measurement for 2 periods: ask the status register why, and restart periodic mode. */
  #stale(io: I2C, now: number): number {
    const fault = this.#fault;
    try {
      this.#bus.command16(io, Command.STATUS);
      io.read(this.#statusRx);
    } catch (error) {
      this.#lastDataAt = now;
      return fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
    const rx = this.#statusRx;
    if (crc8Sensirion(rx, 0, 2) !== rx[2]) return fault.fail(SensorErrorCode.CRC, 'status CRC');
    const status = (rx[0]! << 8) | rx[1]!;
    this.#restart(io);
    if (status & STATUS_RESET_DETECTED) {
      return fault.fail(SensorErrorCode.POWER_ON_VALUE, 'the part reset; periodic measurement restarted');
    }
    return fault.fail(SensorErrorCode.STUCK, `no measurement for ${now - this.#lastDataAt} ms`);
  }

  /** Break, then (at least 1 ms later, from `read`) the periodic command. */
  #restart(io: I2C): void {
    try {
      this.#bus.command16(io, Command.CLEAR_STATUS);
    } catch {
      // Not fatal: the reset flag then stays set and is reported again.
    }
    try {
      this.#bus.command16(io, Command.BREAK);
    } catch {
      // A part that reset is idle already; the periodic command follows anyway.
    }
    this.#pending = PERIODIC[this.#mpsIndex]![this.#repeatability]!;
    this.#pendingAt = (this.#now ? this.#now() : 0) + BREAK_MS;
    this.#stuck.forget();
  }
}
