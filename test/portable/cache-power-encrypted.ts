/*
 * The power-cut suite of cache-power.ts on an encrypted partition (ESP32 flash encryption: the
 * cache's encrypted mode on the flash model, whose torn writes leave each 16-byte unit whole,
 * untouched or garbage: a torn unit decrypts to noise), on Node and inside XS. A module of its own
 * so that each engine run stays within the test timeout.
 */
import { ok } from '../harness/assert';
import { ENCRYPTED_GEOMETRY, randomCuts } from './cache-oracle';
import { part, scattered, TOTAL_ENCRYPTED } from './cache-power';

export const tests = {
  'encrypted partition: the scenario wraps both rings and has enough operations'() {
    ok(TOTAL_ENCRYPTED > 100, `scenario has ${TOTAL_ENCRYPTED} flash operations`);
  },
  'encrypted partition: exhaustive cuts, part 1 of 4': part(0, 4, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive cuts, part 2 of 4': part(1, 4, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive cuts, part 3 of 4': part(2, 4, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive cuts, part 4 of 4': part(3, 4, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive per-unit torn cuts (1 bit in 100 lands), part 1 of 2': scattered(0, 2, 0.01, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive per-unit torn cuts (1 bit in 100 lands), part 2 of 2': scattered(1, 2, 0.01, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive per-unit torn cuts (half the bits land)': scattered(0, 1, 0.5, ENCRYPTED_GEOMETRY),
  'encrypted partition: exhaustive per-unit torn cuts (every bit lands: torn units all whole)': scattered(0, 1, 1, ENCRYPTED_GEOMETRY),
  'encrypted partition: 300 random torn cuts, small ring'() {
    const stats = randomCuts(300, 4321, ENCRYPTED_GEOMETRY);
    ok(stats.maxDroppedSeen > 0, 'the random life dropped readings');
  },
  'encrypted partition: 150 random cuts, 1 KB blocks, shared ring'() {
    randomCuts(150, 77, { blockLength: 1024, blocks: 5, encrypted: true }, { alertBlocks: 0 });
  },
};
