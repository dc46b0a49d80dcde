/*
 * DS18B20 programmable-resolution 1-Wire digital thermometer (Maxim 19-7487), modelled at the
 * scratchpad level behind the 1-Wire ROM layer of `onewire-bus.ts`.
 *
 * From the datasheet:
 * - Memory (Figure 7): scratchpad of 9 bytes: temperature LSB/MSB, TH, TL, configuration,
 *   reserved FFh, reserved, reserved 10h, CRC. TH, TL and configuration are backed by EEPROM
 *   and recalled at power-up; the temperature register powers up at +85 °C (0550h).
 * - Configuration register (Figure 10): 0 R1 R0 1 1 1 1 1; Table 2: 9..12 bits, maximum
 *   conversion time 93.75 / 187.5 / 375 / 750 ms. Bits the resolution leaves undefined
 *   ("Operation — Measuring Temperature") are not cleared here either: they hold noise.
 * - Temperature register (Figure 4, Table 1): sign-extended two's complement, 1/16 °C per LSB,
 *   range −55 °C..+125 °C.
 * - Function commands ("DS18B20 Function Commands", Table 3): Convert T 44h, Write Scratchpad
 *   4Eh (TH, TL, config), Read Scratchpad BEh (9 bytes, then 1s), Copy Scratchpad 48h,
 *   Recall E2 B8h, Read Power Supply B4h.
 * - CRC ("CRC Generation"): Dallas CRC-8 over bytes 0..7, in byte 8.
 * - A conversion takes the full maximum time here (parts are usually faster; the slowest legal
 *   part is the strict fake). A read during a conversion returns the previous register.
 *
 * Fault switches: `connected` (unplugged: no presence, never drives DQ), `crcError` (one bit of
 * every scratchpad read is flipped after the CRC is computed), `conversionFails` (a starved
 * parasite supply: the conversion current pulls the part below its power-on reset, so Convert T
 * ends in the power-up state of Figure 7: 0550h, TH/TL/config recalled from EEPROM), `stuck`
 * (the register stops following the temperature), `rawOverride` (a damaged die storing a fixed
 * raw value, CRC intact), `powerCycle()` (brown-out: scratchpad back to power-on values).
 */
import { crc8Dallas } from '../../firmware/sensors/crc-dallas';
import type { SimEnv } from './env';
import type { SimOneWireDevice } from './onewire-bus';

/** Function commands (Table 3). */
export const Ds18b20Command = {
  CONVERT_T: 0x44,
  WRITE_SCRATCHPAD: 0x4e,
  READ_SCRATCHPAD: 0xbe,
  COPY_SCRATCHPAD: 0x48,
  RECALL_E2: 0xb8,
  READ_POWER_SUPPLY: 0xb4,
} as const;

/** Family code in ROM byte 0 ("64-bit Lasered ROM Code"). */
export const DS18B20_FAMILY = 0x28 as const;
/** Power-up temperature register, +85 °C (Table 1 note). */
export const DS18B20_POWER_ON_RAW = 0x0550 as const;
/** Maximum conversion time by resolution 9..12 bits (Table 2), ms. */
export const DS18B20_CONVERSION_MS = [93.75, 187.5, 375, 750] as const;

type Phase = 'command' | 'write' | 'read' | 'power' | 'none';

export class SimDs18b20 implements SimOneWireDevice {
  readonly rom: Uint8Array;
  connected = true;
  crcError = false;
  conversionFails = false;
  stuck = false;
  /** A damaged die: conversions store this raw register value (with a valid CRC); undefined = off. */
  rawOverride: number | undefined = undefined;
  /** Completed conversions (for tests). */
  conversions = 0;

  readonly #env: SimEnv;
  readonly #scratch = new Uint8Array(9);
  readonly #eeprom = new Uint8Array([0x4b, 0x46, 0x7f]); // factory TH 75 °C, TL 70 °C, 12 bits
  #phase: Phase = 'none';
  #index = 0;
  #convertingUntil = -1;
  #noise = 0x5;

  /** `serial` is the 48-bit serial number (a small integer is fine). */
  constructor(env: SimEnv, serial: number) {
    this.#env = env;
    this.rom = new Uint8Array(8);
    this.rom[0] = DS18B20_FAMILY;
    let s = serial;
    for (let i = 1; i <= 6; i++) {
      this.rom[i] = s % 256;
      s = Math.floor(s / 256);
    }
    this.rom[7] = crc8Dallas(this.rom, 0, 7);
    this.powerCycle();
  }

  /** Power-up state: register +85 °C, TH/TL/config recalled from EEPROM. */
  powerCycle(): void {
    const s = this.#scratch;
    s[0] = DS18B20_POWER_ON_RAW & 0xff;
    s[1] = DS18B20_POWER_ON_RAW >> 8;
    s[2] = this.#eeprom[0]!;
    s[3] = this.#eeprom[1]!;
    s[4] = this.#eeprom[2]!;
    s[5] = 0xff;
    s[6] = 0x0c;
    s[7] = 0x10;
    this.#convertingUntil = -1;
    this.#phase = 'none';
  }

  /** Resolution in bits from the configuration register. */
  get resolution(): number {
    return 9 + ((this.#scratch[4]! >> 5) & 3);
  }

  /** The raw temperature register (for tests). */
  get raw(): number {
    this.#settle();
    return this.#scratch[0]! | (this.#scratch[1]! << 8);
  }

  reset(): void {
    this.#settle();
    this.#phase = 'none';
  }

  writeByte(byte: number): void {
    this.#settle();
    if (this.#phase === 'write') {
      // TH, TL, config; config bits other than R1 R0 are read-only (Figure 10).
      const i = this.#index++;
      if (i < 2) this.#scratch[2 + i] = byte;
      else if (i === 2) this.#scratch[4] = (byte & 0x60) | 0x1f;
      return;
    }
    if (this.#phase !== 'command') {
      if (this.#phase === 'none') this.#phase = 'command';
      else return;
    }
    this.#index = 0;
    switch (byte) {
      case Ds18b20Command.CONVERT_T:
        this.#phase = 'none';
        if (this.conversionFails) this.powerCycle();
        else this.#convertingUntil = this.#env.now() + DS18B20_CONVERSION_MS[this.resolution - 9]!;
        break;
      case Ds18b20Command.WRITE_SCRATCHPAD:
        this.#phase = 'write';
        break;
      case Ds18b20Command.READ_SCRATCHPAD:
        this.#phase = 'read';
        this.#scratch[8] = crc8Dallas(this.#scratch, 0, 8);
        break;
      case Ds18b20Command.COPY_SCRATCHPAD:
        this.#eeprom[0] = this.#scratch[2]!;
        this.#eeprom[1] = this.#scratch[3]!;
        this.#eeprom[2] = this.#scratch[4]!;
        this.#phase = 'none';
        break;
      case Ds18b20Command.RECALL_E2:
        this.#scratch[2] = this.#eeprom[0]!;
        this.#scratch[3] = this.#eeprom[1]!;
        this.#scratch[4] = this.#eeprom[2]!;
        this.#phase = 'none';
        break;
      case Ds18b20Command.READ_POWER_SUPPLY:
        this.#phase = 'power';
        break;
      default:
        this.#phase = 'none';
    }
  }

  readByte(): number {
    this.#settle();
    if (this.#phase === 'power') return 0xff; // externally powered: read slots return 1
    if (this.#phase !== 'read') return 0xff;
    const i = this.#index++;
    if (i > 8) return 0xff;
    let byte = this.#scratch[i]!;
    if (this.crcError && i === 0) byte ^= 0x10;
    return byte;
  }

  alarm(): boolean {
    const raw = this.raw << 16 >> 16;
    const th = (this.#scratch[2]! << 24) >> 24;
    const tl = (this.#scratch[3]! << 24) >> 24;
    return raw >> 4 >= th || raw >> 4 <= tl;
  }

  /** Completes a conversion whose time is up. */
  #settle(): void {
    if (this.#convertingUntil < 0 || this.#env.now() < this.#convertingUntil) return;
    this.#convertingUntil = -1;
    this.conversions++;
    if (this.stuck) return;
    if (this.rawOverride !== undefined) {
      this.#scratch[0] = this.rawOverride & 0xff;
      this.#scratch[1] = (this.rawOverride >> 8) & 0xff;
      return;
    }
    const celsius = Math.max(-55, Math.min(125, this.#env.temperature()));
    // The converter truncates towards −∞ at its resolution; undefined low bits hold noise.
    const undefinedBits = 12 - this.resolution;
    const step = 1 << undefinedBits;
    this.#noise = (this.#noise * 5 + 3) & 7;
    const raw = ((Math.floor((celsius * 16) / step) * step) | (this.#noise & (step - 1))) & 0xffff;
    this.#scratch[0] = raw & 0xff;
    this.#scratch[1] = (raw >> 8) & 0xff;
  }
}
