import test from 'ava';
import { portable } from './harness/portable';
import { ENCRYPTED_GEOMETRY, randomCuts } from './portable/cache-oracle';

await portable('cache-power', new URL('./portable/cache-power-encrypted.ts', import.meta.url));

test('cache-power › encrypted partition: 10,000 seeded random torn power cuts [node]', (t) => {
  const stats = randomCuts(10_000, 42, ENCRYPTED_GEOMETRY);
  t.is(stats.cuts, 10_000);
  t.true(stats.maxDroppedSeen > 1000, 'offline stretches made the ring drop');
});

test('cache-power › encrypted partition: 2,000 random cuts on other geometries [node]', (t) => {
  randomCuts(1_000, 7, { blockLength: 1024, blocks: 5, encrypted: true }, { alertBlocks: 0 });
  randomCuts(1_000, 9, { blockLength: 512, blocks: 8, encrypted: true }, { alertBlocks: 3 });
  t.pass();
});
