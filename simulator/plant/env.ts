/*
 * What a simulated node's sensors sense when the simulator runs a plant (`pipewatch sim
 * --plant FILE`, or the built-in plant): the plant model at that node (simulator/plant/model.ts),
 * in place of simulator/world.ts. Portable: the XS guest builds it inside the engine from the
 * node's line slice (`lineSlice`), the Node engine from the same slice, so both engines sense
 * the same temperatures.
 *
 * Every sensor of a node is at the node's place on the pipe: temperature() is the plant's
 * surface temperature with the part's noise (the simulated part quantises it, as the real one
 * does); ambient() the hall air beside it; humidity and pressure a plain daily cycle.
 */
import type { SimEnv } from '../devices/env';
import { Plant, type PlantIndices, type PlantSpec } from './model';

const DAY_MS = 86_400_000;

/** A node's share of a plant, as the simulator hands it to the node (JSON-safe). */
export interface NodePlant {
  spec: PlantSpec;
  seed: number;
  /** The node's index in `spec.nodes`. */
  node: number;
  indices: PlantIndices;
}

export class PlantEnv implements SimEnv {
  readonly #now: () => number;
  readonly #plant: Plant;
  readonly #node: number;

  constructor(now: () => number, plant: Plant, node: number) {
    if (node < 0 || node >= plant.nodeCount) throw new Error(`plant: no node ${node}`);
    this.#now = now;
    this.#plant = plant;
    this.#node = node;
  }

  /** The env of a node from its share of the plant (compiles the slice). */
  static of(now: () => number, share: NodePlant): PlantEnv {
    return new PlantEnv(now, new Plant(share.spec, share.seed, share.indices), share.node);
  }

  now(): number {
    return this.#now();
  }

  temperature(): number {
    return this.#plant.senseC(this.#node, this.#now());
  }

  humidity(): number {
    return 40 + 10 * Math.sin(2 * Math.PI * (this.#now() / DAY_MS));
  }

  pressure(): number {
    return 101_325 + 300 * Math.sin(2 * Math.PI * (this.#now() / DAY_MS));
  }

  ambient(): number {
    return this.#plant.ambientC(this.#node, this.#now());
  }
}
