/*
 * Flash for simulated nodes: named partitions of the strict NOR flash model. One store per run
 * keeps each node's partitions, so a node that restarts finds its flash as it left it.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import type { Flash, FlashProvider } from '../../firmware/host';
import { FileFlash } from '../../simulator/flash/file';
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

  readonly #dir: string | undefined;

  /**
   * `dir`: keep each partition in a file there (`<dir>/node-<n>.<partition>.bin`), so a simulated
   * node finds its cache again in the next run; without it, flash lives in memory for the run.
   */
  constructor(partitions: Record<string, SimFlashGeometry> = DEFAULT_PARTITIONS, dir?: string) {
    this.#partitions = partitions;
    this.#dir = dir;
    if (dir) fs.mkdirSync(dir, { recursive: true });
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
      chip = this.#dir
        ? new FileFlash({ ...geometry, path: join(this.#dir, `node-${node + 1}.${path}.bin`), fs })
        : new SimFlash(geometry);
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
