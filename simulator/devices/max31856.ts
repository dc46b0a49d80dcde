/*
 * MAX31856 precision thermocouple-to-digital converter with linearization (Maxim 19-7755),
 * register-level over SPI, per its datasheet:
 *
 * - Table 6 "Register Memory Map and Descriptions": read address 00h..0Fh, write address
 *   80h..8Bh; the address auto-increments during a transaction (wrapping 0Fh → 00h). Power-on
 *   values: CR0 00h, CR1 03h (K type, 1 sample), MASK FFh, CJHF 7Fh, CJLF C0h, LTHFTH 7Fh,
 *   LTHFTL FFh, LTLFTH 80h, LTLFTL 00h, CJTO 00h, CJTH/CJTL 00h, LTCBH/M/L 00h, SR 00h.
 *   0Ch..0Fh are read-only; CJTH/CJTL are writable only with the cold-junction sensor disabled.
 * - CR0: CMODE (7), 1SHOT (6, starts a conversion when CS rises, clears itself when the
 *   conversion is done), OCFAULT[1:0] (5:4), CJ disable (3), FAULT mode (2), FAULTCLR (1),
 *   50/60 Hz (0). CR1: AVGSEL[2:0] (6:4), TC TYPE[3:0] (3:0).
 * - Linearized thermocouple temperature (Table 5 format): 19-bit two's complement, 2^-7 °C, in
 *   LTCBH:LTCBM:LTCBL[7:5]. Cold junction (Table 4 format): 14-bit two's complement, 2^-6 °C, in
 *   CJTH:CJTL[7:2], plus the CJTO offset (signed, 2^-4 °C).
 * - SR (Fault Status): CJ Range (7), TC Range (6), CJHIGH (5), CJLOW (4), TCHIGH (3), TCLOW (2),
 *   OVUV (1), OPEN (0). TC Range is set outside the type's range (Table 3); CJHIGH / CJLOW when
 *   the cold junction is above CJHF / below CJLF (8-bit two's complement, 1 °C), TCHIGH / TCLOW
 *   when the linearized temperature is above LTHFT / below LTLFT (16-bit two's complement,
 *   2^-4 °C); open-circuit detection runs only when OCFAULT ≠ 00; in comparator mode (FAULT = 0)
 *   the bits follow the last conversion.
 * - OVUV (an input below GND or above VDD): the part does not convert while it lasts (Analog
 *   Devices' note on the MAX31856 and OVUV: "conversions are not occurring"): the result
 *   registers, the cold junction's too, keep their last values; SR reads OVUV (and OPEN).
 * - Conversion time (Electrical Characteristics): one-shot 155 ms (60 Hz) / 185 ms (50 Hz)
 *   maximum, plus 33.33 / 40 ms per additional averaged sample; auto mode one every 100 / 120 ms.
 *   The model takes the maximum. Before the first conversion every result register reads 0.
 *
 * Fault switches: `open`, `shortToGround`, `shortToVcc` (both seen by the part as OVUV),
 * `stuck` (the result registers stop updating), `hung` (1SHOT never clears), `powerCycle()`. An open thermocouple with OCFAULT = 00 goes undetected and reads the
 * cold-junction temperature (a plausible wrong number, as on the part). Bus faults: SimSPIBus.
 */
import type { SimEnv } from './env';
import type { SimSPIDevice } from './spi-bus';

export const Max31856Register = {
  CR0: 0x00,
  CR1: 0x01,
  MASK: 0x02,
  CJHF: 0x03,
  CJLF: 0x04,
  LTHFTH: 0x05,
  LTHFTL: 0x06,
  LTLFTH: 0x07,
  LTLFTL: 0x08,
  CJTO: 0x09,
  CJTH: 0x0a,
  CJTL: 0x0b,
  LTCBH: 0x0c,
  LTCBM: 0x0d,
  LTCBL: 0x0e,
  SR: 0x0f,
} as const;

const POWER_ON = [0x00, 0x03, 0xff, 0x7f, 0xc0, 0x7f, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];

const CR0_CMODE = 0x80;
const CR0_1SHOT = 0x40;
const CR0_OCFAULT = 0x30;
const CR0_CJ_DISABLE = 0x08;
const CR0_FAULTCLR = 0x02;
const CR0_50HZ = 0x01;

const SR_CJ_RANGE = 0x80;
const SR_TC_RANGE = 0x40;
const SR_CJ_HIGH = 0x20;
const SR_CJ_LOW = 0x10;
const SR_TC_HIGH = 0x08;
const SR_TC_LOW = 0x04;
const SR_OVUV = 0x02;
const SR_OPEN = 0x01;

/** Table 3 thermocouple ranges by TC TYPE code 0..7 (B, E, J, K, N, R, S, T), °C. */
export const MAX31856_TC_RANGES: readonly (readonly [number, number])[] = [
  [250, 1820],
  [-200, 1000],
  [-210, 1200],
  [-200, 1372],
  [-200, 1300],
  [-50, 1768],
  [-50, 1768],
  [-200, 400],
];

export function max31856ConversionMs(cr0: number, cr1: number): number {
  const samples = 1 << Math.min(4, (cr1 >> 4) & 7);
  return cr0 & CR0_50HZ ? 185 + (samples - 1) * 40 : 155 + (samples - 1) * 33.33;
}

export class SimMax31856 implements SimSPIDevice {
  readonly maxHz = 5_000_000;
  readonly modes = [1, 3] as const;
  open = false;
  shortToGround = false;
  shortToVcc = false;
  stuck = false;
  /** Conversions never finish (1SHOT stays set). */
  hung = false;
  conversions = 0;

  readonly #env: SimEnv;
  readonly #regs = new Uint8Array(16);
  #address = -1;
  #write = false;
  #oneShotWritten = false;
  #doneAt = -1;
  #nextAutoAt = -1;

  constructor(env: SimEnv) {
    this.#env = env;
    this.powerCycle();
  }

  powerCycle(): void {
    this.#regs.set(POWER_ON);
    this.#doneAt = -1;
    this.#nextAutoAt = -1;
  }

  register(address: number): number {
    this.#settle();
    return this.#regs[address & 0x0f]!;
  }

  select(): void {
    this.#settle();
    this.#address = -1;
    this.#oneShotWritten = false;
  }

  exchange(out: number): number {
    if (this.#address < 0) {
      this.#write = (out & 0x80) !== 0;
      this.#address = out & 0x0f;
      return 0;
    }
    const a = this.#address;
    this.#address = (a + 1) & 0x0f;
    if (!this.#write) return this.#regs[a]!;
    this.#store(a, out);
    return 0;
  }

  deselect(): void {
    if (this.#oneShotWritten && !(this.#regs[0]! & CR0_CMODE) && !this.hung) {
      this.#doneAt = this.#env.now() + max31856ConversionMs(this.#regs[0]!, this.#regs[1]!);
    }
  }

  #store(a: number, value: number): void {
    const r = this.#regs;
    if (a >= Max31856Register.LTCBH) return; // read-only
    if ((a === Max31856Register.CJTH || a === Max31856Register.CJTL) && !(r[0]! & CR0_CJ_DISABLE)) return;
    if (a === Max31856Register.CR0) {
      if (value & CR0_FAULTCLR) r[Max31856Register.SR] = 0;
      const wasAuto = r[0]! & CR0_CMODE;
      r[0] = value & ~CR0_FAULTCLR;
      if (value & CR0_1SHOT) this.#oneShotWritten = true;
      if (value & CR0_CMODE && !wasAuto) this.#nextAutoAt = this.#env.now() + max31856ConversionMs(r[0]!, r[1]!);
      if (!(value & CR0_CMODE)) this.#nextAutoAt = -1;
      return;
    }
    if (a === Max31856Register.CR1) value &= 0x7f;
    if (a === Max31856Register.MASK) value = (value & 0x3f) | 0xc0;
    r[a] = value;
  }

  #settle(): void {
    const now = this.#env.now();
    if (this.#doneAt >= 0 && now >= this.#doneAt) {
      this.#doneAt = -1;
      this.#regs[0]! &= ~CR0_1SHOT;
      this.#convert();
    }
    if (this.#nextAutoAt >= 0 && now >= this.#nextAutoAt) {
      const period = this.#regs[0]! & CR0_50HZ ? 120 : 100;
      this.#nextAutoAt += Math.ceil((now - this.#nextAutoAt + 1) / period) * period;
      this.#convert();
    }
  }

  #convert(): void {
    this.conversions++;
    const r = this.#regs;
    const ambient = this.#env.ambient();
    const detectOpen = (r[0]! & CR0_OCFAULT) !== 0;
    if (this.shortToGround || this.shortToVcc) {
      r[Max31856Register.SR] = SR_OVUV | (this.open && detectOpen ? SR_OPEN : 0);
      return;
    }
    let status = 0;
    if (!(r[0]! & CR0_CJ_DISABLE)) {
      if (ambient < -55 || ambient > 125) status |= SR_CJ_RANGE;
      const offset = ((r[Max31856Register.CJTO]! << 24) >> 24) / 16;
      const cj = Math.floor((Math.max(-128, Math.min(127.984375, ambient)) + offset) * 64) & 0x3fff;
      r[Max31856Register.CJTH] = cj >> 6;
      r[Max31856Register.CJTL] = (cj << 2) & 0xfc;
    }
    const cjTemp = ((((r[Max31856Register.CJTH]! << 8) | r[Max31856Register.CJTL]!) << 16) >> 18) / 64;
    if (cjTemp > (r[Max31856Register.CJHF]! << 24) >> 24) status |= SR_CJ_HIGH;
    if (cjTemp < (r[Max31856Register.CJLF]! << 24) >> 24) status |= SR_CJ_LOW;
    if (this.open && detectOpen) status |= SR_OPEN;
    let hot = this.#env.temperature();
    if (this.open && !detectOpen) hot = cjTemp;
    const type = r[1]! & 0x0f;
    const range = MAX31856_TC_RANGES[type & 7]!;
    if (type < 8 && (hot < range[0] || hot > range[1])) status |= SR_TC_RANGE;
    if (!(status & SR_OPEN) && !this.stuck) {
      const lt = Math.floor(Math.max(-2048, Math.min(2047.99, hot)) * 128) & 0x7ffff;
      r[Max31856Register.LTCBH] = (lt >> 11) & 0xff;
      r[Max31856Register.LTCBM] = (lt >> 3) & 0xff;
      r[Max31856Register.LTCBL] = (lt << 5) & 0xe0;
    }
    const tcTemp = ((((r[Max31856Register.LTCBH]! << 16) | (r[Max31856Register.LTCBM]! << 8) | r[Max31856Register.LTCBL]!) << 8) >> 13) / 128;
    const highThreshold = (((r[Max31856Register.LTHFTH]! << 8) | r[Max31856Register.LTHFTL]!) << 16) >> 16;
    const lowThreshold = (((r[Max31856Register.LTLFTH]! << 8) | r[Max31856Register.LTLFTL]!) << 16) >> 16;
    if (tcTemp > highThreshold / 16) status |= SR_TC_HIGH;
    if (tcTemp < lowThreshold / 16) status |= SR_TC_LOW;
    r[Max31856Register.SR] = status;
  }
}
