/*
 * Issue 11, item 1 end to end: a node whose cache flash fails (a worn block, transient write
 * failures) keeps sampling and delivering, on Node and on the XS engine; and the hosts' timers
 * survive a throwing callback. The cache's own fault tests are portable (./portable/cache-faults.ts).
 */
import test from 'ava';
import type { Flash, LogLevel } from '../firmware/host';
import { FlashStore } from '../hosts/node/flash';
import { createNodeHost } from '../hosts/node/host';
import { Scheduler } from '../hosts/node/scheduler';
import { startSimulation } from '../simulator/run';
import { portable } from './harness/portable';
import { FaultyFlash, FlashFaults } from './portable/cache-faults';

await portable('cache-faults', new URL('./portable/cache-faults.ts', import.meta.url));

test('scheduler: a timer callback that throws is reported, its repeating timer goes on, others still fire (virtual time)', async (t) => {
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ virtual: true, onError: (error) => errors.push(error) });
  let thrown = 0;
  let other = 0;
  scheduler.set(() => {
    thrown++;
    throw new Error('E_TEST: boom');
  }, 100, 100);
  scheduler.set(() => other++, 150, 100);
  scheduler.set(() => {
    throw new Error('E_TEST: once');
  }, 50);
  await scheduler.runUntil(1000);
  t.is(thrown, 10);
  t.is(other, 9);
  t.is(errors.length, 11);
  t.is(scheduler.callbackErrors, 11);
  t.regex(String(errors[0]), /E_TEST: once/);
});

test('scheduler: a throwing callback does not stop real-time timers', async (t) => {
  const errors: unknown[] = [];
  const scheduler = new Scheduler({ virtual: false, onError: (error) => errors.push(error) });
  let fired = 0;
  const id = scheduler.set(() => {
    fired++;
    throw new Error('E_TEST: boom');
  }, 5, 10);
  await scheduler.runUntil(scheduler.now() + 200);
  scheduler.clear(id);
  scheduler.stop();
  t.true(fired >= 4, `fired ${fired} times`);
  t.is(errors.length, fired);
});

test('node host: a throwing timer callback goes to the node log at error level, the timer goes on', async (t) => {
  const scheduler = new Scheduler({ virtual: true, onError: () => t.fail('the host must catch it first') });
  const logs: Array<[LogLevel, string]> = [];
  const host = createNodeHost({ scheduler, seed: 1, log: (level, message) => logs.push([level, message]) });
  let fired = 0;
  host.timers.set(() => {
    fired++;
    throw new Error('E_TEST: boom');
  }, 10, 10);
  await scheduler.runUntil(100);
  t.is(fired, 10);
  t.is(logs.length, 10);
  t.is(logs[0]![0], 'error');
  t.regex(logs[0]![1], /timer callback threw: Error: E_TEST: boom/);
});

class FaultyStore extends FlashStore {
  readonly faults = new FlashFaults();
  override open(node: number, path: string): Flash {
    const chip = this.chip(node, path);
    return path === 'cache' ? new FaultyFlash(chip, this.faults) : chip;
  }
}

for (const engine of ['node', 'xs'] as const) {
  test(`a node whose cache block wears out and whose writes fail for a while keeps sampling and delivering [${engine}]`, async (t) => {
    const flashStore = new FaultyStore();
    // Block 1 is the second block the main ring opens (after 193 readings): it cannot be erased.
    flashStore.faults.eraseFails.set(1, Infinity);
    // A stretch of failing writes early on (records and acknowledgements alike).
    for (let i = 40; i < 46; i++) flashStore.faults.writeFailAt.add(i);
    const logs: string[] = [];
    const s = await startSimulation({
      engine,
      nodes: 1,
      durationMs: 3_600_000,
      virtual: true,
      seed: 5,
      intervalMs: 10_000,
      sensors: [{ part: 'tmp117' }],
      drainMs: 120_000,
      leakShare: 0,
      flashStore,
      onLog: (_node, level, message) => logs.push(`${level} ${message}`),
    }).done;
    t.is(flashStore.faults.erases.get(1), 2, 'the worn block was tried twice, then skipped');
    t.true(s.readingsGenerated >= 340, `${s.readingsGenerated} readings stored: sampling went on`);
    t.true(s.readingsGenerated < 360, 'some appends failed');
    t.is(s.readingsDelivered, s.readingsGenerated, 'the uplink delivered every stored reading');
    t.is(s.readingsLost, 0);
    t.is(s.pendingOnNodes, 0, 'and holds none back');
    // An acknowledgement that could not be written leaves its readings pending: sent again (same seq).
    t.true(s.duplicates <= 6, `${s.duplicates} duplicates`);
    t.true(logs.some((l) => /^error store: a reading could not be stored \(E_TEST_FLASH/.test(l)), logs.join('\n'));
    t.true(logs.some((l) => /^info store: storing again/.test(l)));
  });
}
