/*
 * MAX31855 cold-junction compensated thermocouple-to-digital converter (Maxim 19-5793), read-only
 * SPI, modelled per its datasheet:
 *
 * - "Serial Interface", Table 2 "Memory Map—Bit Weights and Functions": one 32-bit frame, MSB
 *   first: D31..D18 thermocouple temperature (14-bit two's complement, 0.25 °C), D17 reserved (0),
 *   D16 fault (1 when SCV, SCG or OC), D15..D4 internal (cold-junction) temperature (12-bit two's
 *   complement, 0.0625 °C), D3 reserved (0), D2 SCV, D1 SCG, D0 OC.
 * - "Temperature Conversion": the output is V_OUT = 41.276 µV/°C × (T_R − T_AMB) (K type)
 *   re-referenced to the cold junction: the linearity error of real thermocouples is not
 *   modelled (the chip does not correct it either). Conversion time tCONV 100 ms maximum
 *   (Electrical Characteristics); conversions run while CS is high; driving CS low stops the
 *   conversion and shifts out the last completed one. This model takes the full 100 ms.
 * - Before the first conversion after power-up the register reads 0 (an all-zero frame).
 * - On a fault the thermocouple bits are not a temperature: this model leaves the last value
 *   there (a plausible-looking number a driver must not publish).
 *
 * Fault switches: `open` (OC), `shortToGround` (SCG), `shortToVcc` (SCV), `stuck` (conversions
 * stop updating the register), `powerCycle()`. Bus faults are injected on the SimSPIBus.
 */
import type { SimEnv } from './env';
import type { SimSPIDevice } from './spi-bus';

/** Frame bits (Table 2). */
export const Max31855Frame = {
  TC_SHIFT: 18,
  RESERVED_17: 1 << 17,
  FAULT: 1 << 16,
  CJ_SHIFT: 4,
  RESERVED_3: 1 << 3,
  SCV: 1 << 2,
  SCG: 1 << 1,
  OC: 1 << 0,
} as const;

export const MAX31855_CONVERSION_MS = 100;

export class SimMax31855 implements SimSPIDevice {
  readonly maxHz = 5_000_000;
  readonly modes = [0, 1] as const;
  open = false;
  shortToGround = false;
  shortToVcc = false;
  stuck = false;
  conversions = 0;

  readonly #env: SimEnv;
  #register = 0;
  #csHighSince = 0;
  #shift = 0;
  #index = 0;

  constructor(env: SimEnv) {
    this.#env = env;
    this.powerCycle();
  }

  powerCycle(): void {
    this.#register = 0;
    this.#csHighSince = this.#env.now();
  }

  /** The 32-bit output register (for tests), as it would shift out now. */
  get frame(): number {
    return this.#register >>> 0;
  }

  select(): void {
    if (this.#env.now() - this.#csHighSince >= MAX31855_CONVERSION_MS) this.#convert();
    this.#shift = this.#register;
    this.#index = 0;
  }

  exchange(): number {
    const i = this.#index++;
    return i < 4 ? (this.#shift >>> (24 - 8 * i)) & 0xff : 0;
  }

  deselect(): void {
    this.#csHighSince = this.#env.now();
  }

  #convert(): void {
    this.conversions++;
    let tc = (this.#register >> Max31855Frame.TC_SHIFT) & 0x3fff;
    const ambient = Math.max(-55, Math.min(125, this.#env.ambient()));
    const cj = Math.floor(ambient * 16) & 0xfff;
    let faults = 0;
    if (this.open) faults |= Max31855Frame.OC;
    if (this.shortToGround) faults |= Max31855Frame.SCG;
    if (this.shortToVcc) faults |= Max31855Frame.SCV;
    if (!faults && !this.stuck) {
      const hot = Math.max(-2048, Math.min(2047.75, this.#env.temperature()));
      tc = Math.floor(hot * 4) & 0x3fff;
    }
    if (this.stuck && !faults) return;
    this.#register =
      ((tc << Max31855Frame.TC_SHIFT) | (faults ? Max31855Frame.FAULT : 0) | (cj << Max31855Frame.CJ_SHIFT) | faults) >>> 0;
  }
}
