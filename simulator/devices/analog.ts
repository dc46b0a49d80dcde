/*
 * A simulated ADC with voltage sources on its pins, and an ECMA-419 shaped `Analog` class.
 *
 * `SimAdc` converts like a SAR ADC referenced to `referenceVolts`: code = ⌊V / V_REF × 2^n⌋,
 * clamped to [0, 2^n − 1], with n the resolution the pin was opened with (the hardware's
 * `maxResolution`, 12 bits on an ESP32, unless asked for fewer). `SimNtcDivider` is the usual
 * thermistor circuit: a series resistor and an NTC across the same supply as the reference
 * (ratiometric), the NTC either to ground (`'ntc-low'`) or to the supply (`'ntc-high'`).
 *
 * Faults: per pin `stuckCode` (the converter returns this code whatever the input), `float`
 * (a disconnected input: noise over the whole scale), and the
 * NTC's own `open` / `shorted` switches. Opening a pin with no source throws (no such channel).
 */
import type { Analog, AnalogConstructor, AnalogOptions } from '../../firmware/host';
import type { SimNtc } from './ntc';

export interface SimAnalogSource {
  /** Voltage at the pin, V. */
  volts(): number;
}

export class SimNtcDivider implements SimAnalogSource {
  constructor(
    readonly ntc: SimNtc,
    readonly seriesOhms: number,
    readonly supplyVolts: number,
    readonly topology: 'ntc-low' | 'ntc-high' = 'ntc-low',
  ) {}

  volts(): number {
    const r = this.ntc.ohms();
    const rs = this.seriesOhms;
    let fraction: number;
    if (r === Infinity) fraction = this.topology === 'ntc-low' ? 1 : 0;
    else fraction = this.topology === 'ntc-low' ? r / (r + rs) : rs / (r + rs);
    return fraction * this.supplyVolts;
  }
}

interface Pin {
  source: SimAnalogSource;
  stuckCode: number | undefined;
  floating: boolean;
}

export class SimAdc {
  readonly #pins = new Map<number, Pin>();
  #noise = 1;
  reads = 0;

  constructor(
    readonly referenceVolts = 3.3,
    readonly maxResolution = 12,
  ) {}

  attach(pin: number, source: SimAnalogSource): void {
    if (this.#pins.has(pin)) throw new Error(`analog pin ${pin} already in use`);
    this.#pins.set(pin, { source, stuckCode: undefined, floating: false });
  }

  /** The converter returns `code` on this pin whatever the input; undefined clears. */
  stick(pin: number, code: number | undefined): void {
    const p = this.#pins.get(pin);
    if (!p) throw new Error(`no source on analog pin ${pin}`);
    p.stuckCode = code;
  }

  /** The input floats (an unconnected pin picks up noise: codes wander over the whole scale). */
  float(pin: number, floating: boolean): void {
    const p = this.#pins.get(pin);
    if (!p) throw new Error(`no source on analog pin ${pin}`);
    p.floating = floating;
  }

  convert(pin: number, resolution: number): number {
    this.reads++;
    const p = this.#pins.get(pin)!;
    const full = 2 ** resolution;
    if (p.stuckCode !== undefined) return Math.min(full - 1, p.stuckCode);
    if (p.floating) {
      this.#noise = (Math.imul(this.#noise, 1103515245) + 12345) >>> 0;
      return Math.floor((this.#noise / 2 ** 32) * full);
    }
    const code = Math.floor((p.source.volts() / this.referenceVolts) * full);
    return Math.max(0, Math.min(full - 1, code));
  }

  classes(): { Analog: AnalogConstructor } {
    const adc = this;
    class SimAnalog implements Analog {
      readonly resolution: number;
      readonly #pin: number;
      #closed = false;
      constructor(options: AnalogOptions) {
        if (!options || typeof options !== 'object') throw new TypeError('options required');
        if (!adc.#pins.has(options.pin)) throw new RangeError(`no analog input on pin ${options.pin}`);
        const resolution = options.resolution ?? adc.maxResolution;
        if (!Number.isInteger(resolution) || resolution < 1 || resolution > adc.maxResolution) {
          throw new RangeError(`resolution ${resolution} not supported (1..${adc.maxResolution})`);
        }
        this.#pin = options.pin;
        this.resolution = resolution;
      }
      read(): number {
        if (this.#closed) throw new Error('Analog closed');
        return adc.convert(this.#pin, this.resolution);
      }
      close(): void {
        this.#closed = true;
      }
    }
    return { Analog: SimAnalog as unknown as AnalogConstructor };
  }
}
