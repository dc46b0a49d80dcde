/*
 * DS18B20 1-Wire digital thermometer (Maxim 19-7487), ECMA-419 sensor class.
 *
 *   const t = new DS18B20({ sensor: { io: host.io.OneWire, pin: 4, rom: '28ff641e0f00004b' },
 *                           now: () => host.clock.monotonic.now(), onError });
 *   t.sample();   // { temperature } in °C, or undefined (fault or conversion under way)
 *
 * Several sensors share one bus: one instance per sensor, each addressed by its ROM id (Match
 * ROM); without `rom` the driver uses Skip ROM and expects a single device on the bus.
 * `DS18B20.search(oneWire)` lists the DS18B20 ids on a bus (family and CRC checked; a CRC byte
 * of 00h is as valid as any other, about 1 part in 256 has one).
 *
 * Conversions are scheduled, never waited for: `configure()` starts one; `read()` returns 0 and
 * reports E_NOT_READY (not counted as a fault) until the datasheet's maximum conversion time for the
 * resolution (Table 2) has passed on the host's monotonic clock, then reads the scratchpad and
 * starts the next conversion. A reading is therefore at most one sample interval old.
 *
 * Never a plausible wrong number:
 * - no presence pulse, or a scratchpad of all 1s (nobody drove the bus: unplugged, or the ROM
 *   id is not on this bus) → E_DISCONNECTED; all 0s (DQ stuck low, whose CRC is also 0) → E_FRAME;
 * - Dallas CRC-8 over the scratchpad → E_CRC; a configuration byte that cannot be a DS18B20's
 *   (Figure 10: 0 R1 R0 11111) → E_FRAME;
 * - power-on +85 °C: the driver writes a marker into TH/TL (scratchpad only, never copied to
 *   EEPROM). At power-up the scratchpad holds 0550h with TH/TL/config recalled from EEPROM
 *   (Figure 7 power-up states, Table 1 note), so a scratchpad without the
 *   marker comes from a part that reset since it was configured → E_POWER_ON_VALUE (and the
 *   driver configures it again). That is also what a starved parasite supply does: the
 *   conversion current collapses the part below its power-on reset. With the marker present,
 *   0550h is a conversion result like any other: a pipe at +85.0 °C reads +85.0 °C;
 * - outside −55..+125 °C → E_RANGE; unchanged for longer than `stuckMs` → E_STUCK;
 * - the IO class throwing → E_BUS.
 */
import type { OneWire, OneWireConstructor } from '../host';
import { checkCrc8Dallas } from './crc-dallas';
import { type FaultCounts, SensorError, SensorErrorCode, type SensorErrorCodeValue } from './errors';
import { FaultReporter, messageOf } from './fault';
import { checkStuckMs, StuckDetector } from './stuck';
import { deepFreeze } from '../util/freeze';

const PART = 'DS18B20';

/** ROM commands ("1-Wire ROM Commands"). */
export const Rom = deepFreeze({
  MATCH: 0x55,
  SKIP: 0xcc,
} as const);

/** Function commands (Table 3). */
export const Command = deepFreeze({
  CONVERT_T: 0x44,
  WRITE_SCRATCHPAD: 0x4e,
  READ_SCRATCHPAD: 0xbe,
} as const);

/** Family code ("64-bit Lasered ROM Code"). */
export const FAMILY = 0x28 as const;
/** Scratchpad layout (Figure 7). */
export const Scratchpad = deepFreeze({
  TEMP_LSB: 0,
  TEMP_MSB: 1,
  TH: 2,
  TL: 3,
  CONFIG: 4,
  CRC: 8,
  LENGTH: 9,
} as const);
/** Configuration register (Figure 10): 0 R1 R0 1 1 1 1 1. */
export const Config = deepFreeze({
  RESOLUTION_SHIFT: 5,
  RESOLUTION_MASK: 0x60,
  FIXED_MASK: 0x9f,
  FIXED_BITS: 0x1f,
} as const);
/** Maximum conversion time for 9, 10, 11, 12 bits (Table 2), ms. */
export const CONVERSION_MS = deepFreeze([93.75, 187.5, 375, 750] as const);
/** Measurement range (Table 1 / "Overview"), in 1/16 °C. */
export const RAW_MIN = -55 * 16;
export const RAW_MAX = 125 * 16;
/**
 * Marker written to TH/TL: alarm thresholds of +122 °C / −75 °C (TL below the range, so the
 * alarm flag means nothing to us). Factory EEPROM holds 4Bh/46h.
 */
export const MARKER_TH = 0x7a as const;
export const MARKER_TL = 0xb5 as const;

export interface Ds18b20Configuration {
  /** 9..12 bits (Table 2). Default 12. */
  resolution?: number;
  /** E_STUCK when the reading has not changed for longer than this, ms; 0 = off (default). */
  stuckMs?: number;
}

export interface Ds18b20Options extends Ds18b20Configuration {
  sensor: {
    io: OneWireConstructor;
    pin: number;
    /** ROM id, 16 hex digits as printed by `search()` (byte 0 = family first), or 8 bytes. */
    rom?: string | Uint8Array;
  };
  onError?: (error: SensorError) => void;
  /** Host monotonic clock, ms. Required: conversions are timed, not waited for. */
  now: () => number;
}

export interface Ds18b20Sample {
  temperature: number;
}

/** Parses a ROM id (16 hex digits or 8 bytes); throws RangeError unless it is a DS18B20 id with a good CRC. */
export function parseRom(rom: string | Uint8Array): Uint8Array {
  const out = new Uint8Array(8);
  if (typeof rom === 'string') {
    if (rom.length !== 16) throw new RangeError(`${PART}: a ROM id is 16 hex digits`);
    for (let i = 0; i < 8; i++) {
      const high = hexDigit(rom.charCodeAt(i * 2));
      const low = hexDigit(rom.charCodeAt(i * 2 + 1));
      if (high < 0 || low < 0) throw new RangeError(`${PART}: bad ROM id "${rom}"`);
      out[i] = (high << 4) | low;
    }
  } else {
    if (rom.length !== 8) throw new RangeError(`${PART}: a ROM id is 8 bytes`);
    out.set(rom);
  }
  if (!checkCrc8Dallas(out)) throw new RangeError(`${PART}: ROM id CRC mismatch`);
  if (out[0] !== FAMILY) throw new RangeError(`${PART}: family code ${out[0]} is not a DS18B20 (28h)`);
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** 16 lowercase hex digits of a ROM id. */
export function romToString(rom: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += (rom[i]! < 16 ? '0' : '') + rom[i]!.toString(16);
  return s;
}

export default class DS18B20 {
  static readonly channels = deepFreeze([{ kind: 'milliCelsius', name: 'temperature' }] as const);

  /**
   * Runs the ROM search on an open bus and returns the ids of DS18B20s whose CRC checks out;
   * `rejected` counts ids that failed the CRC or are another family.
   */
  static search(bus: OneWire): { roms: string[]; rejected: number } {
    const roms: string[] = [];
    let rejected = 0;
    for (const found of bus.search()) {
      const rom = new Uint8Array(found);
      // A shorted bus searches as one all-zero id: its CRC checks, its family (00h) does not.
      if (rom.length === 8 && rom[0] === FAMILY && checkCrc8Dallas(rom)) {
        roms.push(romToString(rom));
      } else rejected++;
    }
    return { roms, rejected };
  }

  readonly faults: FaultCounts;
  /** The last error code (NOT_READY included), or undefined after a good reading. */
  lastError: SensorErrorCodeValue | undefined;
  readonly #fault: FaultReporter;

  readonly #io: OneWire;
  readonly #now: () => number;
  /** Match ROM + 8 id bytes + function command, or Skip ROM + function command. */
  readonly #frame: Uint8Array;
  /** Write Scratchpad payload: TH, TL, configuration. */
  readonly #payload = new Uint8Array(3);
  readonly #scratch = new Uint8Array(Scratchpad.LENGTH);
  readonly #out = new Int32Array(1);
  readonly #sample: Ds18b20Sample = { temperature: 0 };
  #resolution = 12;
  readonly #stuck = new StuckDetector();
  #configured = false;
  #converting = false;
  #convertStartedAt = 0;
  #closed = false;

  constructor(options: Ds18b20Options) {
    const sensor = options?.sensor;
    if (!sensor || typeof sensor.io !== 'function') throw new TypeError(`${PART}: options.sensor.io required`);
    if (typeof options.now !== 'function') throw new TypeError(`${PART}: options.now (monotonic ms) required`);
    const rom = sensor.rom === undefined ? undefined : parseRom(sensor.rom);
    this.#frame = new Uint8Array(rom ? 10 : 2);
    this.#frame[0] = rom ? Rom.MATCH : Rom.SKIP;
    if (rom) this.#frame.set(rom, 1);
    this.#now = options.now;
    this.#fault = new FaultReporter(PART, options.onError);
    this.faults = this.#fault.counts;
    this.#checkConfiguration(options);
    this.#io = new sensor.io({ pin: sensor.pin });
    this.configure(options);
  }

  /** Sets resolution and stuck time; writes the scratchpad and starts a conversion. */
  configure(options: Ds18b20Configuration = {}): void {
    this.#checkOpen();
    this.#checkConfiguration(options);
    if (options.resolution !== undefined) this.#resolution = options.resolution;
    if (options.stuckMs !== undefined) this.#stuck.stuckMs = options.stuckMs;
    this.#configured = false;
    this.#converting = false;
    this.#setup();
  }

  /**
   * Fills `out[0]` with the temperature in milli-°C (rounded towards −∞ from 1/16 °C) and
   * returns 1; or returns 0: a fault (reported, counted) or E_NOT_READY (reported, not counted).
   */
  read(out: Int32Array): number {
    this.#checkOpen();
    if (!this.#configured) {
      if (!this.#setup()) return 0;
      return this.#notReady();
    }
    if (!this.#converting) {
      if (!this.#startConversion()) return 0;
      return this.#notReady();
    }
    if (this.#now() - this.#convertStartedAt < CONVERSION_MS[this.#resolution - 9]!) return this.#notReady();
    const result = this.#readScratchpad(out);
    // A bus fault or a vanished part ends the conversion; the next read() restarts it.
    if (this.#configured && this.#converting) this.#startConversion();
    return result;
  }

  /** `{ temperature }` in °C (one object, reused), or undefined when `read()` gave nothing. */
  sample(): Ds18b20Sample | undefined {
    if (!this.read(this.#out)) return undefined;
    this.#sample.temperature = this.#out[0]! / 1000;
    return this.#sample;
  }

  /** Releases the bus; safe to call again. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#io.close();
  }

  #readScratchpad(out: Int32Array): number {
    const s = this.#scratch;
    if (!this.#transaction(Command.READ_SCRATCHPAD, true)) return 0;
    let ones = 0;
    let zeros = 0;
    for (let i = 0; i < Scratchpad.LENGTH; i++) {
      if (s[i] === 0xff) ones++;
      else if (s[i] === 0) zeros++;
    }
    if (ones === Scratchpad.LENGTH) return this.#fail(SensorErrorCode.DISCONNECTED, 'no device drove the bus (all 1s)');
    if (zeros === Scratchpad.LENGTH) return this.#fail(SensorErrorCode.FRAME, 'all-zero scratchpad (DQ stuck low)');
    if (!checkCrc8Dallas(s)) return this.#fail(SensorErrorCode.CRC, 'scratchpad CRC mismatch');
    const config = s[Scratchpad.CONFIG]!;
    if ((config & Config.FIXED_MASK) !== Config.FIXED_BITS) {
      return this.#fail(SensorErrorCode.FRAME, `configuration byte ${config} is not a DS18B20's`);
    }
    const resolution = 9 + ((config & Config.RESOLUTION_MASK) >> Config.RESOLUTION_SHIFT);
    if (s[Scratchpad.TH] !== MARKER_TH || s[Scratchpad.TL] !== MARKER_TL || resolution !== this.#resolution) {
      this.#configured = false;
      this.#setup();
      return this.#fail(SensorErrorCode.POWER_ON_VALUE, 'the part reset since it was configured');
    }
    let raw = ((s[Scratchpad.TEMP_MSB]! << 24) >> 16) | s[Scratchpad.TEMP_LSB]!;
    // Undefined low bits at 9..11 bits ("Operation — Measuring Temperature").
    raw &= ~((1 << (12 - resolution)) - 1);
    if (raw < RAW_MIN || raw > RAW_MAX) return this.#fail(SensorErrorCode.RANGE, `raw ${raw} outside −55..+125 °C`);
    const now = this.#now();
    const unchangedMs = this.#stuck.update(now, raw);
    if (unchangedMs) return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
    out[0] = (raw * 125) >> 1;
    this.lastError = undefined;
    return 1;
  }

  /** Writes marker and resolution into the scratchpad, then starts a conversion. */
  #setup(): boolean {
    const p = this.#payload;
    p[0] = MARKER_TH;
    p[1] = MARKER_TL;
    p[2] = Config.FIXED_BITS | ((this.#resolution - 9) << Config.RESOLUTION_SHIFT);
    if (!this.#transaction(Command.WRITE_SCRATCHPAD, false, true)) return false;
    this.#configured = true;
    return this.#startConversion();
  }

  #startConversion(): boolean {
    this.#converting = false;
    if (!this.#transaction(Command.CONVERT_T, false)) return false;
    this.#converting = true;
    this.#convertStartedAt = this.#now();
    return true;
  }

  /** Reset, ROM select and function command; then reads the scratchpad or writes the payload. */
  #transaction(command: number, readScratchpad: boolean, writePayload = false): boolean {
    try {
      if (!this.#io.reset()) {
        this.#fail(SensorErrorCode.DISCONNECTED, 'no presence pulse');
        return false;
      }
      this.#frame[this.#frame.length - 1] = command;
      this.#io.write(this.#frame);
      if (writePayload) this.#io.write(this.#payload);
      if (readScratchpad) this.#io.read(this.#scratch);
      return true;
    } catch (error) {
      this.#fail(SensorErrorCode.BUS, messageOf(error));
      return false;
    }
  }

  #notReady(): number {
    this.lastError = SensorErrorCode.NOT_READY;
    return this.#fault.notReady('conversion under way');
  }

  #fail(code: SensorErrorCodeValue, message: string): 0 {
    this.lastError = code;
    if (code === SensorErrorCode.DISCONNECTED || code === SensorErrorCode.BUS) this.#converting = false;
    return this.#fault.fail(code, message);
  }

  #checkConfiguration(options: Ds18b20Configuration): void {
    const { resolution, stuckMs } = options;
    if (resolution !== undefined && !(Number.isInteger(resolution) && resolution >= 9 && resolution <= 12)) {
      this.#fault.invalid(`resolution ${resolution} is not 9..12 bits`);
    }
    if (stuckMs !== undefined) checkStuckMs(this.#fault, stuckMs, true);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`${PART}: closed`);
  }
}
