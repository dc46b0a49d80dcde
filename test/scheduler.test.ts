/*
 * The virtual scheduler's answer grace (hosts/node/scheduler.ts): a write awaiting its answer
 * holds virtual time for so much of the process's idle time, not wall time, so a process kept
 * busy (the embedded broker answering 10,000 nodes runs in it) does not use the grace up.
 */
import test from 'ava';
import { Scheduler } from '../hosts/node/scheduler';

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the process is busy: nothing else runs
  }
}

test('virtual: a write\'s answer grace does not run out while this process is busy; the answer comes before the clock moves', async (t) => {
  const scheduler = new Scheduler({ virtual: true, answerGraceMs: 100 });
  const token = {};
  const events: string[] = [];
  scheduler.set(() => events.push(`timer at ${scheduler.now()}`), 10_000);
  scheduler.awaitAnswer(token);
  const run = scheduler.runUntil(20_000);
  // Three graces of wall time pass with the event loop blocked (as it is while the embedded
  // broker works through a burst); the answer then comes a moment after.
  busyFor(300);
  setTimeout(() => {
    events.push(`answer at ${scheduler.now()}`);
    scheduler.done(token);
  }, 5);
  await run;
  t.deepEqual(events, ['answer at 0', 'timer at 10000']);
  t.is(scheduler.graceExpired, 0);
});

test('virtual: a write nobody answers still lets the clock move once the process idled for the grace', async (t) => {
  const scheduler = new Scheduler({ virtual: true, answerGraceMs: 30 });
  const fired: number[] = [];
  scheduler.set(() => fired.push(scheduler.now()), 5_000);
  scheduler.awaitAnswer({});
  await scheduler.runUntil(10_000);
  t.deepEqual(fired, [5_000]);
  t.is(scheduler.graceExpired, 1);
  t.is(scheduler.now(), 10_000);
});
