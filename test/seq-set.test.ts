import test from 'ava';
import { SeqSet } from '../simulator/seq-set';

/** A deterministic generator (the test must give the same numbers every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('answers has, add and size exactly as a Set of the same numbers, in any order', (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const random = lcg(seed);
    const ours = new SeqSet();
    const reference = new Set<number>();
    const span = 1 + Math.floor(random() * 300);
    for (let k = 0; k < 600; k++) {
      // Mostly in order with losses and late backlog, like a node's readings; some far off.
      const n = random() < 0.7 ? Math.floor(k / 2) : Math.floor(random() * span);
      if (ours.has(n) !== reference.has(n)) return t.fail(`seed ${seed}: has(${n})`);
      const added = ours.add(n);
      if (added === reference.has(n)) return t.fail(`seed ${seed}: add(${n}) said ${added}`);
      reference.add(n);
      if (ours.size !== reference.size) return t.fail(`seed ${seed}: size ${ours.size} against ${reference.size}`);
    }
    for (let n = -2; n < span + 300; n++) {
      if (ours.has(n) !== reference.has(n)) return t.fail(`seed ${seed}: has(${n}) at the end`);
    }
  }
  t.pass();
});

test('a day of readings in order is one run; a gap is two until its backlog arrives', (t) => {
  const seen = new SeqSet();
  for (let n = 0; n < 86_400; n++) seen.add(n);
  t.is(seen.size, 86_400);
  t.is(seen.runs, 1);
  // An outage: 100..199 held back, newer live readings arrive first.
  const outage = new SeqSet();
  for (let n = 0; n < 100; n++) outage.add(n);
  for (let n = 200; n < 300; n++) outage.add(n);
  t.is(outage.runs, 2);
  for (let n = 100; n < 200; n++) outage.add(n);
  t.is(outage.runs, 1);
  t.is(outage.size, 300);
  t.false(outage.add(150), 'a resent reading is a duplicate');
  t.is(outage.size, 300);
});
