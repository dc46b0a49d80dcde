/*
 * Soak test of the flash cache under power cuts: `node --import tsx tools/soak-cache.ts [--cuts N] [--seed S]`.
 * Runs N seeded random power cuts (most of them torn) on each of five geometries (three plain
 * NOR, two encrypted partitions: the cache's encrypted mode on the flash model's 16-byte units) and checks
 * the cache against the oracle after every recovery (test/portable/cache-oracle.ts). Prints a
 * summary; exits 1 on the first failed check, with the seed to reproduce it.
 */
import { randomCuts } from '../test/portable/cache-oracle';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`${name} needs a non-negative integer\n`);
    process.exit(2);
  }
  return value;
}

const cuts = arg('--cuts', 100_000);
const seed = arg('--seed', 1);
const lives = [
  { name: '6 x 256 B, align 4, alert ring', geometry: { blockLength: 256, blocks: 6, writeAlign: 4 }, options: { alertBlocks: 2 } },
  { name: '5 x 512 B, align 16, erase 0x00', geometry: { blockLength: 512, blocks: 5, writeAlign: 16, eraseValue: 0 }, options: { alertBlocks: 0 } },
  { name: '8 x 256 B, align 1, alert ring', geometry: { blockLength: 256, blocks: 8, writeAlign: 1 }, options: { alertBlocks: 3 } },
  { name: '6 x 512 B, encrypted, alert ring', geometry: { blockLength: 512, blocks: 6, encrypted: true }, options: { alertBlocks: 2 } },
  { name: '5 x 1 KB, encrypted, shared ring', geometry: { blockLength: 1024, blocks: 5, encrypted: true }, options: { alertBlocks: 0 } },
];

let failed = false;
for (const [i, life] of lives.entries()) {
  const started = performance.now();
  try {
    const stats = randomCuts(cuts, seed + i, life.geometry, life.options);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `ok   ${life.name}: ${stats.cuts} cuts, ${stats.reboots} reboots, ${stats.appends} appends, ` +
        `${stats.acks} acks, ${stats.checks} checks, ${stats.maxDroppedSeen} dropped (${seconds} s)\n`,
    );
  } catch (error) {
    failed = true;
    process.stdout.write(`FAIL ${life.name} (seed ${seed + i}): ${(error as Error).stack ?? error}\n`);
  }
}
process.stdout.write(failed ? 'soak-cache: FAILED\n' : `soak-cache: ${cuts * lives.length} power cuts, all checks passed\n`);
process.exit(failed ? 1 : 0);
