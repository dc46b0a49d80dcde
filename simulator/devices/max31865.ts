/*
 * MAX31865 RTD-to-digital converter (Maxim 19-6478), register-level over SPI, per its datasheet:
 *
 * - Table 1 "Register Names, Addresses, and Default States": 00h Configuration (R/W, 00h),
 *   01h RTD MSBs, 02h RTD LSBs (R, 00h), 03h/04h High Fault Threshold (R/W, FFh FFh),
 *   05h/06h Low Fault Threshold (R/W, 00h 00h), 07h Fault Status (R, 00h). Writes use address
 *   80h..86h; the address auto-increments within a transaction.
 * - Configuration (Table 2): VBIAS (7), conversion mode auto (6), 1-shot (5, conversion starts
 *   when CS rises, bit clears itself), 3-wire (4), fault detection cycle (3:2), fault status
 *   clear (1, self-clearing), 50/60 Hz filter (0).
 * - RTD data: 15-bit ADC code in RTD MSB:LSB[7:1] = R_RTD × 2^15 / R_REF; LSB bit 0 is the
 *   fault flag. Thresholds are 15-bit codes in the same layout; a conversion whose code is ≥ the
 *   high threshold or < the low threshold sets Fault Status D7 / D6.
 * - Fault Status (Table 7): D7 RTD high threshold, D6 RTD low threshold, D5 REFIN- > 0.85 × VBIAS,
 *   D4 REFIN- < 0.85 × VBIAS (FORCE- open), D3 RTDIN- < 0.85 × VBIAS (FORCE- open), D2
 *   over/undervoltage. Bits latch until cleared with the fault status clear bit.
 * - One-shot conversion time 52 ms (60 Hz) / 62.5 ms (50 Hz) maximum; with VBIAS off the ADC
 *   measures nothing (code 0). The model takes the maximum time.
 * - The RTD follows Callendar–Van Dusen (IEC 60751) with A = 3.9083e-3, B = -5.775e-7,
 *   C = -4.183e-12 (below 0 °C); computed here independently of the driver's inverse.
 *
 * Fault switches: `open` (RTD or a lead open: full-scale code, FORCE- open seen by the fault
 * detection cycle), `shorted` (RTD shorted: code 0), `overvoltage` (D2), `stuck`, `powerCycle()`.
 */
import type { SimEnv } from './env';
import type { SimSPIDevice } from './spi-bus';

export const Max31865Register = {
  CONFIG: 0x00,
  RTD_MSB: 0x01,
  RTD_LSB: 0x02,
  HFT_MSB: 0x03,
  HFT_LSB: 0x04,
  LFT_MSB: 0x05,
  LFT_LSB: 0x06,
  FAULT_STATUS: 0x07,
} as const;

const POWER_ON = [0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00];
const CFG_VBIAS = 0x80;
const CFG_AUTO = 0x40;
const CFG_1SHOT = 0x20;
const CFG_FAULT_CYCLE = 0x0c;
const CFG_FAULT_CLEAR = 0x02;
const CFG_50HZ = 0x01;

const A = 3.9083e-3;
const B = -5.775e-7;
const C = -4.183e-12;

/** R(T) per IEC 60751 / Callendar–Van Dusen. */
export function pt(celsius: number, r0: number): number {
  const t = celsius;
  return t >= 0 ? r0 * (1 + A * t + B * t * t) : r0 * (1 + A * t + B * t * t + C * (t - 100) * t * t * t);
}

export class SimMax31865 implements SimSPIDevice {
  readonly maxHz = 5_000_000;
  readonly modes = [1, 3] as const;
  open = false;
  shorted = false;
  overvoltage = false;
  stuck = false;
  conversions = 0;
  readonly r0: number;
  readonly referenceOhms: number;

  readonly #env: SimEnv;
  readonly #regs = new Uint8Array(8);
  #address = -1;
  #write = false;
  #oneShotWritten = false;
  #doneAt = -1;
  #nextAutoAt = -1;

  constructor(env: SimEnv, options: { r0?: number; referenceOhms?: number } = {}) {
    this.#env = env;
    this.r0 = options.r0 ?? 100;
    this.referenceOhms = options.referenceOhms ?? 430;
    this.powerCycle();
  }

  powerCycle(): void {
    this.#regs.set(POWER_ON);
    this.#doneAt = -1;
    this.#nextAutoAt = -1;
  }

  register(address: number): number {
    this.#settle();
    return this.#regs[address & 7]!;
  }

  /** The ADC code the part would produce now (for tests). */
  code(): number {
    if (this.open) return 0x7fff;
    if (this.shorted) return 0;
    const ohms = pt(this.#env.temperature(), this.r0);
    return Math.max(0, Math.min(0x7fff, Math.floor((ohms * 32768) / this.referenceOhms)));
  }

  select(): void {
    this.#settle();
    this.#address = -1;
    this.#oneShotWritten = false;
  }

  exchange(out: number): number {
    if (this.#address < 0) {
      this.#write = (out & 0x80) !== 0;
      this.#address = out & 0x7f;
      return 0;
    }
    const a = this.#address++;
    if (a > 7) return 0xff; // beyond the map: undefined, never a register
    if (!this.#write) return this.#regs[a]!;
    this.#store(a, out);
    return 0;
  }

  deselect(): void {
    if (this.#oneShotWritten) {
      this.#doneAt = this.#env.now() + (this.#regs[0]! & CFG_50HZ ? 62.5 : 52);
    }
  }

  #store(a: number, value: number): void {
    const r = this.#regs;
    if (a === Max31865Register.CONFIG) {
      if (value & CFG_FAULT_CLEAR) r[Max31865Register.FAULT_STATUS] = 0;
      const wasAuto = r[0]! & CFG_AUTO;
      if ((value & CFG_FAULT_CYCLE) === 0x04 || (value & CFG_FAULT_CYCLE) === 0x08) {
        // Automatic / manual fault detection: FORCE- open shows in D3 and D4; the cycle ends at once.
        if (this.open) r[Max31865Register.FAULT_STATUS]! |= 0x18;
        value &= ~CFG_FAULT_CYCLE;
      }
      r[0] = value & ~CFG_FAULT_CLEAR;
      if (value & CFG_1SHOT) this.#oneShotWritten = true;
      if (value & CFG_AUTO && !wasAuto) this.#nextAutoAt = this.#env.now() + (value & CFG_50HZ ? 62.5 : 52);
      if (!(value & CFG_AUTO)) this.#nextAutoAt = -1;
      return;
    }
    if (a >= Max31865Register.HFT_MSB && a <= Max31865Register.LFT_LSB) r[a] = value;
  }

  #settle(): void {
    const now = this.#env.now();
    if (this.#doneAt >= 0 && now >= this.#doneAt) {
      this.#doneAt = -1;
      this.#regs[0]! &= ~CFG_1SHOT;
      this.#convert();
    }
    if (this.#nextAutoAt >= 0 && now >= this.#nextAutoAt) {
      const period = this.#regs[0]! & CFG_50HZ ? 20 : 16.7;
      this.#nextAutoAt += Math.ceil((now - this.#nextAutoAt + 1) / period) * period;
      this.#convert();
    }
  }

  #convert(): void {
    this.conversions++;
    const r = this.#regs;
    let code = r[0]! & CFG_VBIAS ? this.code() : 0;
    if (this.stuck) code = ((r[1]! << 8) | r[2]!) >> 1;
    const high = ((r[Max31865Register.HFT_MSB]! << 8) | r[Max31865Register.HFT_LSB]!) >> 1;
    const low = ((r[Max31865Register.LFT_MSB]! << 8) | r[Max31865Register.LFT_LSB]!) >> 1;
    let status = r[Max31865Register.FAULT_STATUS]!;
    if (code >= high) status |= 0x80;
    if (code < low) status |= 0x40;
    if (this.overvoltage) status |= 0x04;
    r[Max31865Register.FAULT_STATUS] = status;
    r[Max31865Register.RTD_MSB] = code >> 7;
    r[Max31865Register.RTD_LSB] = ((code << 1) & 0xfe) | (status ? 1 : 0);
  }
}
