/*
 * Power cuts against the flash cache, on Node and inside XS (see cache-oracle.ts for the checks).
 * Exhaustive: the fixed scenario is cut at every one of its flash writes and erases, once plainly
 * and once torn. Random: a seeded subset here (XS is slow); test/cache-power.test.ts runs 10,000
 * random cuts on Node and tools/soak-cache.ts as many as asked.
 */
import { ok } from '../harness/assert';
import { ENCRYPTED_GEOMETRY, exhaustive, randomCuts, scenario, scenarioOperations, SMALL_GEOMETRY } from './cache-oracle';
import type { SimFlashGeometry } from '../../simulator/flash/index';

const TOTAL = scenarioOperations(scenario());
/** Encrypted partition (the cache's encrypted mode): the flash model's torn writes leave each
 * 16-byte unit whole, untouched or garbage (a torn unit decrypts to noise). */
export const TOTAL_ENCRYPTED = scenarioOperations(scenario(), ENCRYPTED_GEOMETRY);

export function part(index: number, parts: number, geometry: SimFlashGeometry = SMALL_GEOMETRY): () => void {
  return () => {
    const total = geometry.encrypted ? TOTAL_ENCRYPTED : TOTAL;
    const from = Math.floor((total * index) / parts);
    const to = Math.floor((total * (index + 1)) / parts);
    const runs = exhaustive(from, to + (index === parts - 1 ? 2 : 0), [1], 0, geometry);
    ok(runs >= 2 * (to - from));
  };
}

/**
 * Per-bit torn cuts: a torn erase leaves a few cells of every structure erased (issue 11, item 7).
 * Encrypted: each unit the cut operation was changing lands whole only if all its bits did.
 */
export function scattered(index: number, parts: number, scatter: number, geometry: SimFlashGeometry = SMALL_GEOMETRY): () => void {
  return () => {
    const total = geometry.encrypted ? TOTAL_ENCRYPTED : TOTAL;
    const from = Math.floor((total * index) / parts);
    const to = Math.floor((total * (index + 1)) / parts);
    const runs = exhaustive(from, to, [3], scatter, geometry);
    ok(runs >= to - from);
  };
}

export const tests = {
  'the scenario wraps both rings and has enough operations'() {
    ok(TOTAL > 100, `scenario has ${TOTAL} flash operations`);
  },
  'exhaustive cuts, part 1 of 4': part(0, 4),
  'exhaustive cuts, part 2 of 4': part(1, 4),
  'exhaustive cuts, part 3 of 4': part(2, 4),
  'exhaustive cuts, part 4 of 4': part(3, 4),
  'exhaustive per-bit torn cuts (1 bit in 100 lands), part 1 of 2': scattered(0, 2, 0.01),
  'exhaustive per-bit torn cuts (1 bit in 100 lands), part 2 of 2': scattered(1, 2, 0.01),
  'exhaustive per-bit torn cuts (1 bit in 1000 lands)': scattered(0, 1, 0.001),
  'exhaustive per-bit torn cuts (half the bits land)': scattered(0, 1, 0.5),
  '300 random torn cuts, 4 KB-like small ring'() {
    const stats = randomCuts(300, 1234);
    ok(stats.maxDroppedSeen > 0, 'the random life dropped readings');
  },
  '150 random cuts, writeAlign 16, erase value 0, shared ring'() {
    randomCuts(150, 99, { blockLength: 512, blocks: 5, writeAlign: 16, eraseValue: 0 }, { alertBlocks: 0 });
  },
};
