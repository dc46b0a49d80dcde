/*
 * The simulated plant: what each sensor position senses over time. Deterministic in
 * (seed, node index, sensor index, time), portable (runs inside XS with the firmware).
 *
 * A steam pipe's surface: a base temperature per position (55-75 °C), a slow daily swing,
 * small noise, and, for some positions, a leak: from its onset the temperature and humidity
 * near the pipe climb fast (the spike the leak detector alerts on) and stay high.
 */
import type { SimEnv } from './devices/env';

function hash32(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c + 1, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

const DAY_MS = 86_400_000;

export interface WorldOptions {
  seed: number;
  /** Share of positions that develop a leak during a run (0..1). */
  leakShare?: number;
  /** Leaks start uniformly within this many ms (default one day). */
  leakWithinMs?: number;
}

export class PipeEnv implements SimEnv {
  readonly #now: () => number;
  readonly #seed: number;
  readonly #base: number;
  readonly #phase: number;
  readonly #leakAt: number;

  constructor(now: () => number, seed: number, node: number, position: number, o: WorldOptions) {
    this.#now = now;
    this.#seed = hash32(seed, node, position);
    this.#base = 55 + (this.#seed % 2000) / 100;
    this.#phase = ((this.#seed >>> 11) % 1000) / 1000;
    const leaks = ((this.#seed >>> 3) % 1000) / 1000 < (o.leakShare ?? 0);
    this.#leakAt = leaks ? (hash32(this.#seed, 7, 7) % (o.leakWithinMs ?? DAY_MS)) : Infinity;
  }

  now(): number {
    return this.#now();
  }

  /** Rise above normal from a leak: up to +45 °C, most of it within two minutes of onset. */
  #leakRise(t: number): number {
    if (t < this.#leakAt) return 0;
    return 45 * (1 - Math.exp(-(t - this.#leakAt) / 40_000));
  }

  temperature(): number {
    const t = this.#now();
    const daily = 4 * Math.sin(2 * Math.PI * (t / DAY_MS + this.#phase));
    const noise = ((hash32(this.#seed, Math.floor(t / 1000), 1) % 1000) / 1000 - 0.5) * 0.1;
    return this.#base + daily + noise + this.#leakRise(t);
  }

  humidity(): number {
    const t = this.#now();
    return Math.min(100, 35 + 10 * Math.sin(2 * Math.PI * (t / DAY_MS + this.#phase)) + this.#leakRise(t) * 1.3);
  }

  pressure(): number {
    return 101_325 + 300 * Math.sin(2 * Math.PI * (this.#now() / DAY_MS));
  }

  ambient(): number {
    return 28 + 2 * Math.sin(2 * Math.PI * (this.#now() / DAY_MS + this.#phase));
  }
}
