/*
 * Flash for simulated nodes: named partitions of the strict NOR flash model. One store per run
 * keeps each node's partitions, so a node that restarts finds its flash as it left it.
 */
import type { Flash, FlashProvider } from '../../firmware/host';
import { SimFlash, type SimFlashGeometry } from '../../simulator/flash/index';

/**
 * Default partitions of a simulated node. "cache": 80 blocks of 4 KiB (320 KiB), which holds
 * more than 7 days of one reading a minute; fits beside two 1.5 MiB OTA slots on a 4 MiB ESP32.
 */
export const DEFAULT_PARTITIONS: Record<string, SimFlashGeometry> = {
  cache: { blockLength: 4096, blocks: 80, writeAlign: 4, eraseValue: 0xff },
  settings: { blockLength: 4096, blocks: 4, writeAlign: 4, eraseValue: 0xff },
};

export class FlashStore {
  readonly #chips = new Map<string, SimFlash>();
  readonly #partitions: Record<string, SimFlashGeometry>;

  constructor(partitions: Record<string, SimFlashGeometry> = DEFAULT_PARTITIONS) {
    this.#partitions = partitions;
  }

  get partitionNames(): string[] {
    return Object.keys(this.#partitions);
  }

  /** The flash chip of one node's partition (created erased on first use). */
  chip(node: number, path: string): SimFlash {
    const key = `${node}:${path}`;
    let chip = this.#chips.get(key);
    if (!chip) {
      const geometry = this.#partitions[path];
      if (!geometry) throw new Error(`no flash partition "${path}"`);
      chip = new SimFlash(geometry);
      this.#chips.set(key, chip);
    }
    return chip;
  }

  open(node: number, path: string): Flash {
    return this.chip(node, path);
  }

  provider(node: number): FlashProvider {
    return { open: ({ path }) => this.open(node, path) };
  }
}
