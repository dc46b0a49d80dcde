/*
 * Power cuts during an update: the sampled portable sweep on Node and XS, and the full sweep
 * (every flash operation, clean and torn) on Node.
 */
import test from 'ava';
import { portable } from './harness/portable';
import { sweep } from './portable/ota-powercut';

await portable('ota-powercut', new URL('./portable/ota-powercut.ts', import.meta.url));

test('ota-powercut › power cut at every flash operation, clean [node]', (t) => {
  t.true(sweep(false, 1) > 20);
});

test('ota-powercut › power cut at every flash operation, torn write or erase [node]', (t) => {
  t.true(sweep(true, 1) > 20);
});
