/*
 * The flash-fault and bit-flip suite of cache-faults.ts on an encrypted partition (ESP32 flash
 * encryption: the cache's encrypted mode on the flash model's 16-byte write-once units), on Node
 * and inside XS. A module of its own so that each engine run stays within the test timeout.
 */
import { ENCRYPTED, suite } from './cache-faults';

const encrypted = suite(ENCRYPTED);
export const tests: Record<string, () => void> = {};
for (const name of Object.keys(encrypted)) tests[`encrypted partition: ${name}`] = encrypted[name]!;
