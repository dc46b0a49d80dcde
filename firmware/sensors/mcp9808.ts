/*
 * Microchip MCP9808 digital temperature sensor, I2C (datasheet DS25095A). ECMA-419 sensor class.
 *
 *   const sensor = new MCP9808({ sensor: { io: host.io.I2C, address: 0x18 }, onError, now });
 *   sensor.configure({ resolution: 0.0625, stuckMs: 600_000 });
 *
 * The part converts back to back (§5.1.6) and has no data-ready flag, and T_A reads 0 °C from
 * power-on until the first conversion: so the driver needs the `now` clock and reports
 * E_NOT_READY until 1.5 conversion times have passed since it configured the part.
 * The alert output is left off, so T_LOWER is free to hold a canary (-40 °C) the driver writes:
 * each read takes T_A and T_LOWER together. T_LOWER reads 0000h after a power-on reset, when T_A
 * is back to 0 °C for a conversion time: that is E_POWER_ON_VALUE (the settings are rewritten),
 * never a reading; all-zero or all-ones bytes in both are E_FRAME.
 *
 * `read(out)`: 1 = out[0] milli-°C (0.0625 °C LSB, rounded); 0 = fault, onError called. Codes:
 * E_BUS, E_FRAME, E_POWER_ON_VALUE, E_CHIP_ID (the canary reads another value), E_NOT_READY, E_RANGE (outside the
 * -40..+125 °C accuracy range, §1), E_STUCK (T_A unchanged for `stuckMs`).
 */
import type { I2C } from '../host';
import { SensorError, SensorErrorCode, type FaultCounts } from './errors';
import { FaultReporter, messageOf, releaseQuietly, setUpOrClose } from './fault';
import { I2CRegisters, openI2C, type I2CSensorOptions } from './i2c-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

/** §5.1 register pointers. */
const Register = deepFreeze({
  CONFIG: 0x01,
  T_LOWER: 0x03,
  T_A: 0x05,
  MANUFACTURER_ID: 0x06,
  DEVICE_ID: 0x07,
  RESOLUTION: 0x08,
} as const);

/** §5.1.4 / §5.1.5 identification. */
const MANUFACTURER_ID = 0x0054;
const DEVICE_ID = 0x04;
/** §5.1.3 Register 5-4: T_A<12:0>, 13-bit two's complement, 0.0625 °C. */
const TA_VALUE_MASK = 0x1fff;
/** §5.1.1 CONFIG: continuous conversion, alert output off. */
const CONFIG_CONTINUOUS = 0x0000;
const CONFIG_SHUTDOWN = 0x0100;
/** §5.1.2 limit registers hold bits 12:2; the canary is -40 °C, POR value 0000h. */
const T_LOWER_CANARY = (-40 * 16) & 0x1ffc;
/** §5.1.6: resolution code per step, and conversion time (typical, ms). */
const RESOLUTIONS = deepFreeze([0.5, 0.25, 0.125, 0.0625] as const);
const CONVERSION_MS = deepFreeze([30, 65, 130, 250] as const);
/** §1 accuracy range, in 0.0625 °C LSB. */
const MIN_RAW = -40 * 16;
const MAX_RAW = 125 * 16;

export interface MCP9808Options {
  sensor: I2CSensorOptions;
  onError?: (error: SensorError) => void;
  /** Monotonic clock (ms). Required: the part has no data-ready flag. */
  now: () => number;
}

export interface MCP9808Configuration {
  resolution?: 0.5 | 0.25 | 0.125 | 0.0625;
  stuckMs?: number;
}

export default class MCP9808 {
  static readonly channels = deepFreeze([{ kind: 'milliCelsius', name: 'temperature' }] as const);

  readonly faults: FaultCounts;
  readonly #fault: FaultReporter;

  #io: I2C | undefined;
  readonly #now: () => number;
  readonly #bus = new I2CRegisters();
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(4);
  readonly #taRx: Uint8Array;
  readonly #limitRx: Uint8Array;
  readonly #out = new Int32Array(1);
  readonly #sample = { temperature: 0 };
  #resolutionCode = 3;
  #readyAt = 0;
  #raw = 0;

  constructor(options: MCP9808Options) {
    this.#fault = new FaultReporter('MCP9808', options.onError);
    this.faults = this.#fault.counts;
    if (typeof options.now !== 'function') this.#fault.invalid('the `now` clock option is required');
    this.#now = options.now;
    this.#taRx = this.#rx.subarray(0, 2);
    this.#limitRx = this.#rx.subarray(2, 4);
    const io = openI2C('MCP9808', options.sensor, 0x18, 400_000);
    setUpOrClose('MCP9808', io, () => {
      const manufacturer = this.#bus.readWord(io, Register.MANUFACTURER_ID, this.#limitRx);
      const device = this.#bus.readWord(io, Register.DEVICE_ID, this.#limitRx);
      if (manufacturer !== MANUFACTURER_ID || device >> 8 !== DEVICE_ID) {
        throw this.#fault.error(
          SensorErrorCode.CHIP_ID,
          `manufacturer 0x${manufacturer.toString(16)} device 0x${device.toString(16)}, expected 0x54 / 0x04xx`,
        );
      }
      this.#writeSettings(io);
    });
    this.#io = io;
  }

  configure(options: MCP9808Configuration): void {
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = checkStuckMs(this.#fault, options.stuckMs, true);
    if (options.resolution !== undefined) {
      const code = RESOLUTIONS.indexOf(options.resolution);
      if (code < 0) this.#fault.invalid(`resolution ${options.resolution}`);
      if (code !== this.#resolutionCode) {
        this.#resolutionCode = code;
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

  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) return this.#fault.fail(SensorErrorCode.BUS, 'closed');
    const now = this.#now();
    if (now < this.#readyAt) return this.#fault.notReady('first conversion not complete');
    let ta: number;
    let canary: number;
    try {
      ta = this.#bus.readWord(io, Register.T_A, this.#taRx);
      canary = this.#bus.readWord(io, Register.T_LOWER, this.#limitRx);
    } catch (error) {
      return this.#fault.fail(SensorErrorCode.BUS, messageOf(error));
    }
    if ((ta === 0 && canary === 0) || (ta === 0xffff && canary === 0xffff)) {
      return this.#fault.fail(SensorErrorCode.FRAME, 'all-zero or all-ones frame');
    }
    if (canary === 0) {
      try {
        this.#writeSettings(io);
      } catch {
        return this.#fault.fail(SensorErrorCode.BUS, 'power-on reset seen and rewriting the settings failed');
      }
      return this.#fault.fail(SensorErrorCode.POWER_ON_VALUE, 'power-on reset: T_A holds its POR value; settings rewritten');
    }
    if (canary !== T_LOWER_CANARY) {
      return this.#fault.fail(SensorErrorCode.CHIP_ID, `T_LOWER canary reads 0x${canary.toString(16)}`);
    }
    const raw = ((ta & TA_VALUE_MASK) << 19) >> 19;
    if (raw < MIN_RAW || raw > MAX_RAW) return this.#fault.fail(SensorErrorCode.RANGE, `${raw / 16} °C`);
    const unchangedMs = this.#stuck.update(now, raw);
    if (unchangedMs) return this.#fault.fail(SensorErrorCode.STUCK, `value unchanged for ${unchangedMs} ms`);
    this.#raw = raw;
    out[0] = (raw * 125 + 1) >> 1;
    return 1;
  }

  /** `{ temperature }` in °C (one object, reused), or undefined when `read()` gave nothing. */
  sample(): { temperature: number } | undefined {
    if (!(this.read(this.#out) & 1)) return undefined;
    this.#sample.temperature = this.#raw / 16;
    return this.#sample;
  }

  /** Shuts the part down (best effort) and releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    releaseQuietly(io, () => this.#bus.writeWord(io, Register.CONFIG, CONFIG_SHUTDOWN));
  }

  /** Resolution, canary, then continuous conversion; results are trusted 1.5 conversion times later. */
  #writeSettings(io: I2C): void {
    this.#bus.writeByte(io, Register.RESOLUTION, this.#resolutionCode);
    this.#bus.writeWord(io, Register.T_LOWER, T_LOWER_CANARY);
    this.#bus.writeWord(io, Register.CONFIG, CONFIG_CONTINUOUS);
    this.#readyAt = this.#now() + CONVERSION_MS[this.#resolutionCode]! * 1.5;
    this.#stuck.forget();
  }
}
