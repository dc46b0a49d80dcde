/*
 * An NTC thermistor: the Murata NCP18XH103F03RB (10 kΩ at 25 °C, B25/50 = 3380 K, operating
 * range −40..+125 °C), from the resistance–temperature table of its datasheet (Murata NTC
 * thermistors for temperature sensor, R-T table "NCP18XH103"). Between table points the model
 * interpolates ln(R) linearly in 1/T (the local beta), as the physics goes; beyond the table it
 * extends the end segments. A driver using a single beta or a Steinhart–Hart fit therefore sees
 * the same model error it would on the bench.
 *
 * Fault switches: `open` (a broken lead: infinite resistance), `shorted` (zero resistance).
 */
import type { SimEnv } from './env';

/** NCP18XH103F03RB R-T table: [°C, Ω]. */
export const NCP18XH103_TABLE: readonly (readonly [number, number])[] = [
  [-40, 195652],
  [-30, 113347.1],
  [-20, 68236.7],
  [-10, 42506.2],
  [0, 27218.6],
  [10, 17925.5],
  [20, 12080.5],
  [25, 10000],
  [30, 8314.5],
  [40, 5833.6],
  [50, 4160.9],
  [60, 3014.3],
  [70, 2227.5],
  [80, 1668.5],
  [90, 1268.0],
  [100, 973.8],
  [110, 758.0],
  [120, 596.4],
];

const KELVIN = 273.15;

/** Resistance of the table's part at `celsius`, Ω. */
export function ncp18Ohms(celsius: number, table = NCP18XH103_TABLE): number {
  let i = 0;
  while (i < table.length - 2 && celsius > table[i + 1]![0]) i++;
  const [t0, r0] = table[i]!;
  const [t1, r1] = table[i + 1]!;
  const x0 = 1 / (t0 + KELVIN);
  const x1 = 1 / (t1 + KELVIN);
  const x = 1 / (celsius + KELVIN);
  const lnR = Math.log(r0) + ((Math.log(r1) - Math.log(r0)) * (x - x0)) / (x1 - x0);
  return Math.exp(lnR);
}

export class SimNtc {
  open = false;
  shorted = false;
  readonly #env: SimEnv;
  readonly #table: readonly (readonly [number, number])[];

  constructor(env: SimEnv, table = NCP18XH103_TABLE) {
    this.#env = env;
    this.#table = table;
  }

  /** Resistance now, Ω (Infinity when open, 0 when shorted). */
  ohms(): number {
    if (this.open) return Infinity;
    if (this.shorted) return 0;
    return ncp18Ohms(this.#env.temperature(), this.#table);
  }
}
