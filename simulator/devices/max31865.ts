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
 * - Fault Status Clear (D1): "Write a 1 to this bit while writing 0 to bits D5, D3, and D2";
 *   written together with any of them, the clear does nothing here. D2 is set again at once if
 *   the over/undervoltage persists. "If 1 is written to D5 (1-Shot) and D2 or D3 in a single
 *   write, both commands are ignored."
 * - Fault detection cycle (Table 3, Figure 4): 100X010Xb (VBIAS on, normally off) starts the
 *   automatic cycle when CS rises; D3:D2 read 01b until it completes 600 µs later (Electrical
 *   Characteristics maximum), then 00b; 100X100Xb (manual cycle 1) leaves D3:D2 at 10b until
 *   11b is written. Only when a cycle completes are D5 (REFIN- > 0.85 × VBIAS), D4
 *   (REFIN- < 0.85 × VBIAS, FORCE- open) and D3 (RTDIN- < 0.85 × VBIAS, FORCE- open) set. Those
 *   three are detected only by the cycle ("Fault Detection and Input Protection"); D7/D6 by
 *   every conversion; D2 at any time.
 * - RTD data: 15-bit ADC code in RTD MSB:LSB[7:1] = R_RTD × 2^15 / R_REF; LSB bit 0 is the
 *   fault flag. Thresholds are 15-bit codes in the same layout; a conversion whose code is ≥ the
 *   high threshold or ≤ the low threshold ("Fault Threshold Registers") sets Fault Status D7 / D6.
 * - Fault Status (Table 7): D7 RTD high threshold, D6 RTD low threshold, D5 REFIN- > 0.85 × VBIAS,
 *   D4 REFIN- < 0.85 × VBIAS (FORCE- open), D3 RTDIN- < 0.85 × VBIAS (FORCE- open), D2
 *   over/undervoltage. Bits latch until cleared with the fault status clear bit.
 * - One-shot conversion time 52 ms (60 Hz) / 62.5 ms (50 Hz) maximum; with VBIAS off the ADC
 *   measures nothing (code 0). The model takes the maximum time.
 * - The RTD follows Callendar–Van Dusen (IEC 60751) with A = 3.9083e-3, B = -5.775e-7,
 *   C = -4.183e-12 (below 0 °C); computed here independently of the driver's inverse.
 *
 * Fault switches, with what Tables 10-12 ("Decoding RTD Faults") say each does: `open` (open
 * RTD element: full-scale code, so D7; the cycle sees REFIN- > 0.85 × VBIAS, D5), `shorted` (RTD
 * element shorted, RTDIN+ to RTDIN-: code near 0, so D6; the cycle finds nothing),
 * `shortToGround` (RTDIN- shorted low: the data "appear to be valid"; the cycle sets D4 and D3),
 * `overvoltage` (D2 while it lasts; the ADC halts updates), `stuck`, `powerCycle()`.
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
const CFG_FAULT_CYCLE_AUTO = 0x04;
const CFG_FAULT_CYCLE_MANUAL_1 = 0x08;
const CFG_FAULT_CLEAR = 0x02;
const CFG_50HZ = 0x01;
/** Automatic fault-detection cycle time, CS high to complete, maximum (Electrical Characteristics), ms. */
export const MAX31865_FAULT_CYCLE_MS = 0.6;
/** Fault Status bits (Table 7). */
const FS_HIGH = 0x80;
const FS_LOW = 0x40;
const FS_REFIN_HIGH = 0x20;
const FS_REFIN_LOW = 0x10;
const FS_RTDIN_LOW = 0x08;
const FS_OVUV = 0x04;

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
  shortToGround = false;
  overvoltage = false;
  stuck = false;
  conversions = 0;
  /** Completed fault-detection cycles (for tests). */
  faultCycles = 0;
  readonly r0: number;
  readonly referenceOhms: number;

  readonly #env: SimEnv;
  readonly #regs = new Uint8Array(8);
  #address = -1;
  #write = false;
  #oneShotWritten = false;
  #cycleWritten = false;
  #doneAt = -1;
  #nextAutoAt = -1;
  #cycleDoneAt = -1;

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
    this.#cycleDoneAt = -1;
  }

  register(address: number): number {
    this.#settle();
    return this.#regs[address & 7]!;
  }

  /** Fault Status D2 is "detected at any point in time": set whenever the condition is there. */
  #voltageCheck(): void {
    if (this.overvoltage) this.#regs[Max31865Register.FAULT_STATUS]! |= FS_OVUV;
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
    this.#cycleWritten = false;
  }

  exchange(out: number): number {
    if (this.#address < 0) {
      this.#write = (out & 0x80) !== 0;
      this.#address = out & 0x7f;
      return 0;
    }
    const a = this.#address++;
    if (a > 7) return 0xff; // beyond the map: undefined, never a register
    if (!this.#write) {
      this.#voltageCheck();
      return this.#regs[a]!;
    }
    this.#store(a, out);
    return 0;
  }

  deselect(): void {
    const now = this.#env.now();
    if (this.#oneShotWritten) this.#doneAt = now + (this.#regs[0]! & CFG_50HZ ? 62.5 : 52);
    if (this.#cycleWritten) this.#cycleDoneAt = now + MAX31865_FAULT_CYCLE_MS;
  }

  #store(a: number, value: number): void {
    const r = this.#regs;
    if (a === Max31865Register.CONFIG) {
      const cycleBits = value & CFG_FAULT_CYCLE;
      const running = r[0]! & CFG_FAULT_CYCLE;
      // Table 2 / "Fault Status Clear (D1)": only with D5, D3 and D2 written as 0.
      if (value & CFG_FAULT_CLEAR && !(value & (CFG_1SHOT | CFG_FAULT_CYCLE))) {
        r[Max31865Register.FAULT_STATUS] = 0;
        r[Max31865Register.RTD_LSB]! &= ~1;
        this.#voltageCheck();
      }
      // "If 1 is written to D5 (1-Shot) and D2 or D3 in a single write, both commands are ignored."
      const ignored = value & CFG_1SHOT && cycleBits;
      const wasAuto = r[0]! & CFG_AUTO;
      let next = value & ~(CFG_FAULT_CLEAR | CFG_FAULT_CYCLE | (ignored ? CFG_1SHOT : 0));
      const cycleCommand = !ignored && cycleBits !== 0 && (value & (CFG_VBIAS | CFG_AUTO | CFG_1SHOT)) === CFG_VBIAS;
      if (cycleCommand && cycleBits === CFG_FAULT_CYCLE_MANUAL_1) {
        // 100X100Xb: manual cycle 1; D3:D2 "remain set to 10b" until the master writes 11b.
        next |= CFG_FAULT_CYCLE_MANUAL_1;
        this.#cycleDoneAt = -1;
      } else if (cycleCommand) {
        // 100X010Xb (or 100X110Xb, which without cycle 1 "runs the automatic mode instead"):
        // the cycle starts when CS rises; D3:D2 read 01b / 11b until it is done.
        next |= cycleBits;
        this.#cycleWritten = true;
      } else if (running) {
        next |= running; // D3:D2 are not the master's to clear: they self-clear when the cycle ends
      }
      r[0] = next;
      if (next & CFG_1SHOT) this.#oneShotWritten = true;
      if (next & CFG_AUTO && !wasAuto) this.#nextAutoAt = this.#env.now() + (next & CFG_50HZ ? 62.5 : 52);
      if (!(next & CFG_AUTO)) this.#nextAutoAt = -1;
      return;
    }
    if (a >= Max31865Register.HFT_MSB && a <= Max31865Register.LFT_LSB) r[a] = value;
  }

  /** Figure 4, automatic mode: the three comparisons, then D3:D2 back to 00b. */
  #finishCycle(): void {
    this.faultCycles++;
    const r = this.#regs;
    let status = r[Max31865Register.FAULT_STATUS]!;
    if (this.open) status |= FS_REFIN_HIGH;
    if (this.shortToGround) status |= FS_REFIN_LOW | FS_RTDIN_LOW;
    r[Max31865Register.FAULT_STATUS] = status;
    if (status) r[Max31865Register.RTD_LSB]! |= 1;
    r[0]! &= ~CFG_FAULT_CYCLE;
  }

  #settle(): void {
    const now = this.#env.now();
    this.#voltageCheck();
    if (this.#cycleDoneAt >= 0 && now >= this.#cycleDoneAt) {
      this.#cycleDoneAt = -1;
      this.#finishCycle();
    }
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
    let status = r[Max31865Register.FAULT_STATUS]!;
    if (this.overvoltage) {
      // "the ADC halts conversion updates until the fault is no longer detected"
      r[Max31865Register.FAULT_STATUS] = status | FS_OVUV;
      r[Max31865Register.RTD_LSB]! |= 1;
      return;
    }
    let code = r[0]! & CFG_VBIAS ? this.code() : 0;
    if (this.stuck) code = ((r[1]! << 8) | r[2]!) >> 1;
    const high = ((r[Max31865Register.HFT_MSB]! << 8) | r[Max31865Register.HFT_LSB]!) >> 1;
    const low = ((r[Max31865Register.LFT_MSB]! << 8) | r[Max31865Register.LFT_LSB]!) >> 1;
    if (code >= high) status |= FS_HIGH;
    if (code <= low) status |= FS_LOW;
    r[Max31865Register.FAULT_STATUS] = status;
    r[Max31865Register.RTD_MSB] = code >> 7;
    r[Max31865Register.RTD_LSB] = ((code << 1) & 0xfe) | (status ? 1 : 0);
  }
}
