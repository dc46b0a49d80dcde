import test from 'ava';
import { VirtualClock, realClock } from '../simulator/net/clock';

test('virtual clock runs timers in time order, ties in the order they were set', (t) => {
  const clock = new VirtualClock(100);
  const log: string[] = [];
  clock.set(() => log.push(`b@${clock.now()}`), 50);
  clock.set(() => log.push(`a@${clock.now()}`), 10);
  clock.set(() => log.push(`c@${clock.now()}`), 50);
  clock.set(() => log.push(`zero@${clock.now()}`), 0);
  t.deepEqual(log, [], 'nothing runs inside set');
  clock.advance(49);
  t.deepEqual(log, ['zero@100', 'a@110']);
  t.is(clock.now(), 149);
  clock.advance(1);
  t.deepEqual(log, ['zero@100', 'a@110', 'b@150', 'c@150']);
  t.is(clock.pending, 0);
});

test('virtual clock: clear, repeat, timers set from callbacks, runAll', (t) => {
  const clock = new VirtualClock();
  const log: number[] = [];
  const cleared = clock.set(() => log.push(-1), 10);
  clock.clear(cleared);
  clock.clear(undefined);
  clock.clear(12345);
  let count = 0;
  const every = clock.set(
    () => {
      log.push(clock.now());
      if (++count === 3) clock.clear(every);
    },
    5,
    10,
  );
  clock.set(() => clock.set(() => log.push(1000 + clock.now()), 0), 7);
  t.is(clock.nextDueMs(), 5);
  const end = clock.runAll();
  t.deepEqual(log, [5, 1007, 15, 25]);
  t.is(end, 25);
  t.is(clock.pending, 0);
  clock.set(() => log.push(99), 1000);
  t.is(clock.runAll(500), 25, 'runAll stops at the limit');
  t.is(clock.pending, 1);
});

test('virtual clock: a self-rescheduling chain stays in order over many timers', (t) => {
  const clock = new VirtualClock();
  let last = -1;
  let ordered = true;
  let x = 1;
  for (let i = 0; i < 2000; i++) {
    x = (Math.imul(x, 48271) >>> 0) % 2147483647;
    clock.set(() => {
      if (clock.now() < last) ordered = false;
      last = clock.now();
    }, x % 10_000);
  }
  clock.runAll();
  t.true(ordered);
  t.is(clock.fired, 2000);
});

test('real clock: set, repeat and clear', async (t) => {
  const clock = realClock();
  const start = clock.now();
  const fired = await new Promise<number>((resolve) => clock.set(() => resolve(clock.now()), 20));
  t.true(fired - start >= 19);
  let ticks = 0;
  const id = clock.set(() => ticks++, 5, 5);
  const deadline = performance.now() + 2000;
  while (ticks < 3 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  clock.clear(id);
  const seen = ticks;
  t.true(seen >= 3, `${seen} ticks within 2 s`);
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.is(ticks, seen, 'no tick after clear');
});
