import test from 'ava';
import { portable } from './harness/portable';
import { randomCuts } from './portable/cache-oracle';

await portable('cache-power', new URL('./portable/cache-power.ts', import.meta.url));

test('cache-power › 10,000 seeded random torn power cuts [node]', (t) => {
  const stats = randomCuts(10_000, 42);
  t.is(stats.cuts, 10_000);
  t.true(stats.maxDroppedSeen > 1000, 'offline stretches made the ring drop');
});

test('cache-power › 2,000 random cuts on other geometries [node]', (t) => {
  randomCuts(1_000, 7, { blockLength: 512, blocks: 5, writeAlign: 16, eraseValue: 0 }, { alertBlocks: 0 });
  randomCuts(1_000, 9, { blockLength: 256, blocks: 8, writeAlign: 1 }, { alertBlocks: 3 });
  t.pass();
});
