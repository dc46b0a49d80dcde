/*
 * MAX31855 cold-junction compensated thermocouple-to-digital converter (Maxim 19-5793), read-only
 * SPI. ECMA-419 sensor class.
 *
 *   const tc = new MAX31855({ sensor: { io: host.io.SPI, select: 5, hz: 4_000_000 }, now, onError });
 *   tc.read(out)   // out[0] thermocouple, out[1] cold junction, milli-°C; a bit per valid channel
 *   tc.sample()    // { temperature, coldJunction } in °C (one object, reused; a failed channel
 *                  // undefined), or undefined
 *
 * The part converts continuously while CS is high (tCONV ≤ 100 ms) and shifts out the last
 * completed conversion: `read()` never waits. Within 100 ms of construction it returns 0 and
 * reports E_NOT_READY, not counted as a fault (the register reads 0 before the first conversion).
 *
 * Never a plausible wrong number (Table 2 bits):
 * - D16 with D0 OC → E_OPEN, D1 SCG → E_SHORT_GND, D2 SCV → E_SHORT_VCC: the thermocouple bits
 *   hold no temperature then, but the cold junction does ("Conversion Functions": the internal
 *   temperature is converted with the thermocouple input switched out, S4 open), so `read()`
 *   returns 0b10 with the cold junction and reports the fault with `channel` 0. The same for a
 *   thermocouple outside its configured range;
 * - a frame of all 0s or all 1s (MISO stuck, no chip), a reserved bit (D17, D3) set, or D16 and
 *   D2..D0 disagreeing → E_FRAME. (A true 0.00 °C with a 0.0000 °C cold junction is an all-zero
 *   frame too, and is rejected: the datasheet gives no way to tell them apart);
 * - a thermocouple outside the configured range (K type, −200..+1350 °C, by default) → E_RANGE
 *   on channel 0; a cold junction outside −55..+125 °C → E_RANGE for both (the thermocouple
 *   value is compensated with it); unchanged for longer than `stuckMs` → E_STUCK;
 * - the IO class throwing → E_BUS.
 * The part has no id register and sends no CRC.
 */
import type { SPI, SPIConstructor } from '../host';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf } from './fault';
import { openSPI, spiHz } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

const PART = 'MAX31855';

/** Table 2 "Memory Map—Bit Weights and Functions". */
export const Frame = deepFreeze({
  TC_SHIFT: 18,
  RESERVED_17: 1 << 17,
  FAULT: 1 << 16,
  CJ_SHIFT: 4,
  CJ_MASK: 0xfff0,
  RESERVED_3: 1 << 3,
  SCV: 1 << 2,
  SCG: 1 << 1,
  OC: 1 << 0,
  FAULT_BITS: 0x7,
} as const);
/** Electrical Characteristics: temperature conversion time, maximum. */
export const CONVERSION_MS = 100;
/** Electrical Characteristics: SCK frequency, maximum. */
export const MAX_HZ = 5_000_000;
/** Cold-junction operating range (Electrical Characteristics), milli-°C. */
export const CJ_MIN_MILLI_C = -55_000;
export const CJ_MAX_MILLI_C = 125_000;

export interface Max31855Configuration {
  /** Valid thermocouple range, milli-°C. Default K type: −200..+1350 °C. */
  minMilliCelsius?: number;
  maxMilliCelsius?: number;
  /** E_STUCK when the thermocouple value has not changed for longer than this, ms; 0 = off. */
  stuckMs?: number;
}

export interface Max31855Options extends Max31855Configuration {
  sensor: { io: SPIConstructor; select?: number; hz?: number; mode?: 0 | 1; port?: number; out?: number; in?: number; clock?: number };
  onError?: (error: SensorError) => void;
  now?: () => number;
}

/** One object, reused; a channel that failed in this read is undefined. */
export interface Max31855Sample {
  temperature: number | undefined;
  coldJunction: number | undefined;
}

/** Channel indexes (bits of the `read` result), as in `MAX31855.channels`. */
const CHANNEL_THERMOCOUPLE = 0;

export default class MAX31855 {
  static readonly channels = deepFreeze([
    { kind: 'milliCelsius', name: 'temperature' },
    { kind: 'milliCelsius', name: 'coldJunction' },
  ] as const);

  readonly faults: FaultCounts;
  lastError: SensorErrorCodeValue | undefined;
  readonly #fault: FaultReporter;

  #io: SPI | undefined;
  readonly #now: (() => number) | undefined;
  readonly #stuck = new StuckDetector();
  readonly #rx = new Uint8Array(4);
  readonly #out = new Int32Array(2);
  readonly #sample: Max31855Sample = { temperature: 0, coldJunction: 0 };
  readonly #openedAt: number;
  #ready = false;
  #minMilliC = -200_000;
  #maxMilliC = 1_350_000;

  constructor(options: Max31855Options) {
    const sensor = options?.sensor;
    if (!sensor || typeof sensor.io !== 'function') throw new TypeError(`${PART}: options.sensor.io required`);
    this.#fault = new FaultReporter(PART, options.onError);
    this.faults = this.#fault.counts;
    this.#now = options.now;
    this.#check(options);
    this.#io = openSPI(PART, sensor, spiHz(PART, sensor, MAX_HZ), 0);
    this.#openedAt = this.#now ? this.#now() : 0;
    this.#ready = !this.#now;
    this.configure(options);
  }

  configure(options: Max31855Configuration = {}): void {
    this.#check(options);
    if (options.minMilliCelsius !== undefined) this.#minMilliC = options.minMilliCelsius;
    if (options.maxMilliCelsius !== undefined) this.#maxMilliC = options.maxMilliCelsius;
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = options.stuckMs;
  }

  /**
   * out[0] thermocouple, out[1] cold junction, milli-°C; returns 0b11, 0b10 (a thermocouple
   * fault or range: the cold junction kept), or 0 (see the header).
   */
  read(out: Int32Array): number {
    const io = this.#io;
    if (!io) throw new Error(`${PART}: closed`);
    const now = this.#now ? this.#now() : 0;
    if (!this.#ready) {
      if (now - this.#openedAt < CONVERSION_MS) {
        this.lastError = SensorErrorCode.NOT_READY;
        return this.#fault.notReady('first conversion not complete');
      }
      this.#ready = true;
    }
    const rx = this.#rx;
    try {
      io.read(rx);
    } catch (error) {
      return this.#fail(SensorErrorCode.BUS, messageOf(error));
    }
    const frame = ((rx[0]! << 24) | (rx[1]! << 16) | (rx[2]! << 8) | rx[3]!) | 0;
    if (frame === 0 || frame === -1) return this.#fail(SensorErrorCode.FRAME, `all-${frame ? 'ones' : 'zero'} frame`);
    if (frame & (Frame.RESERVED_17 | Frame.RESERVED_3)) return this.#fail(SensorErrorCode.FRAME, 'reserved bit set');
    const faultBits = frame & Frame.FAULT_BITS;
    if (((frame & Frame.FAULT) !== 0) !== (faultBits !== 0)) {
      return this.#fail(SensorErrorCode.FRAME, 'fault bit D16 disagrees with D2..D0');
    }
    const cjRaw = ((frame & Frame.CJ_MASK) << 16) >> 20; // 12-bit two's complement, 0.0625 °C
    const cjMilliC = (cjRaw * 125) >> 1;
    if (cjMilliC < CJ_MIN_MILLI_C || cjMilliC > CJ_MAX_MILLI_C) {
      return this.#fail(SensorErrorCode.RANGE, `cold junction ${cjMilliC / 1000} °C`);
    }
    if (faultBits) {
      const code = faultBits & Frame.OC ? SensorErrorCode.OPEN : faultBits & Frame.SCG ? SensorErrorCode.SHORT_GND : SensorErrorCode.SHORT_VCC;
      const what = faultBits & Frame.OC ? 'open (OC)' : faultBits & Frame.SCG ? 'shorted to GND (SCG)' : 'shorted to VCC (SCV)';
      return this.#coldJunctionOnly(out, cjMilliC, code, `thermocouple ${what}; cold junction kept`);
    }
    const tcRaw = frame >> Frame.TC_SHIFT; // 14-bit two's complement, 0.25 °C
    const tcMilliC = tcRaw * 250;
    if (tcMilliC < this.#minMilliC || tcMilliC > this.#maxMilliC) {
      return this.#coldJunctionOnly(out, cjMilliC, SensorErrorCode.RANGE, `thermocouple ${tcMilliC / 1000} °C; cold junction kept`);
    }
    const unchangedMs = this.#stuck.update(now, tcRaw);
    if (unchangedMs) return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
    out[0] = tcMilliC;
    out[1] = cjMilliC;
    this.lastError = undefined;
    return 0b11;
  }

  /** `{ temperature, coldJunction }` in °C; a channel `read()` did not validate is undefined. */
  sample(): Max31855Sample | undefined {
    const valid = this.read(this.#out);
    if (!valid) return undefined;
    this.#sample.temperature = valid & 0b01 ? this.#out[0]! / 1000 : undefined;
    this.#sample.coldJunction = valid & 0b10 ? this.#out[1]! / 1000 : undefined;
    return this.#sample;
  }

  /** Releases the bus; safe to call again. */
  close(): void {
    const io = this.#io;
    if (!io) return;
    this.#io = undefined;
    io.close();
  }

  #fail(code: SensorErrorCodeValue, message: string): 0 {
    this.lastError = code;
    return this.#fault.fail(code, message);
  }

  /** The thermocouple channel failed (reported with its channel); the cold junction is kept. */
  #coldJunctionOnly(out: Int32Array, cjMilliC: number, code: SensorErrorCodeValue, message: string): number {
    this.lastError = code;
    this.#fault.fail(code, message, CHANNEL_THERMOCOUPLE);
    out[1] = cjMilliC;
    return 0b10;
  }

  #check(options: Max31855Configuration): void {
    const { minMilliCelsius: min, maxMilliCelsius: max, stuckMs } = options;
    if (min !== undefined && !Number.isInteger(min)) this.#fault.invalid(`minMilliCelsius ${min}`);
    if (max !== undefined && !Number.isInteger(max)) this.#fault.invalid(`maxMilliCelsius ${max}`);
    if ((min ?? this.#minMilliC) >= (max ?? this.#maxMilliC)) this.#fault.invalid('empty range');
    if (stuckMs !== undefined) checkStuckMs(this.#fault, stuckMs, !!this.#now);
  }
}
