import test from 'ava';
import { createBackoff } from '../firmware/uplink/backoff';
import {
  compareStorm,
  defaultAttempt,
  fixedIntervalClients,
  fullJitterClients,
  limitedBrokerAttempt,
  peakWindow,
  retryClient,
  runStorm,
  type StormClient,
} from '../simulator/net/storm';

const TARGET_SHARE = 0.05;

test('peakWindow counts distinct nodes and attempts in a sliding window', (t) => {
  //           node: 0    1    0    2     3     1
  const times = [0, 100, 200, 999, 1000, 1500];
  const nodeOf = [0, 1, 0, 2, 3, 1];
  const peak = peakWindow(times, 1000, nodeOf, 4);
  t.is(peak.attempts, 4, '0, 100, 200, 999 fall in one window');
  t.is(peak.nodes, 4, 'the window (0, 1000] holds nodes 1, 0, 2, 3');
  t.is(peak.startMs, 100, 'its first attempt is at 100');
  const anonymous = peakWindow(times, 1000);
  t.is(anonymous.nodes, 4, 'without node ids every attempt counts as one node');
  t.is(peakWindow([], 1000).nodes, 0);
  t.throws(() => peakWindow([5, 4], 1000), { message: /sorted/ });
});

test('peakWindow matches a brute-force count on random data', (t) => {
  let x = 12345;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296);
  const times = Array.from({ length: 400 }, () => Math.floor(rnd() * 20_000)).sort((a, b) => a - b);
  const nodeOf = times.map(() => Math.floor(rnd() * 50));
  let bestNodes = 0;
  let bestAttempts = 0;
  for (const end of times) {
    const inside = times.map((time, i) => [time, nodeOf[i]!] as const).filter(([time]) => time > end - 1000 && time <= end);
    bestAttempts = Math.max(bestAttempts, inside.length);
    bestNodes = Math.max(bestNodes, new Set(inside.map(([, node]) => node)).size);
  }
  const peak = peakWindow(times, 1000, nodeOf, 50);
  t.is(peak.nodes, bestNodes);
  t.is(peak.attempts, bestAttempts);
});

test('a storm is deterministic per seed', (t) => {
  const run = (seed: number) => runStorm({ nodes: 200, seed, outageMs: 20_000, client: fullJitterClients() });
  t.deepEqual(run(3), run(3));
  t.notDeepEqual(run(3).peakAfterRestart, run(4).peakAfterRestart);
});

test('1,000 nodes, broker restarted after 60 s: full jitter keeps every second under 5 % of the fleet, fixed 5 s retry does not', (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const { fullJitter, fixedInterval } = compareStorm({ nodes: 1000, seed, outageMs: 60_000 });
    t.log(
      `seed ${seed}: full jitter ${(fullJitter.peakShareAfterRestart * 100).toFixed(1)} % ` +
        `(all back after ${(fullJitter.allReconnectedAfterMs / 1000).toFixed(0)} s), ` +
        `fixed 5 s ${(fixedInterval.peakShareAfterRestart * 100).toFixed(1)} % ` +
        `(all back after ${(fixedInterval.allReconnectedAfterMs / 1000).toFixed(1)} s)`,
    );
    t.true(fullJitter.peakShareAfterRestart <= TARGET_SHARE, `seed ${seed}: full jitter peak ${fullJitter.peakShareAfterRestart}`);
    t.true(fixedInterval.peakShareAfterRestart >= 10 * fullJitter.peakShareAfterRestart, `seed ${seed}: fixed interval is not 10x worse`);
    t.true(fixedInterval.peakShareAfterRestart > 0.5, `seed ${seed}: fixed interval peak ${fixedInterval.peakShareAfterRestart}`);
    for (const result of [fullJitter, fixedInterval]) {
      t.is(result.reconnected, 1000, 'every node comes back');
      t.is(result.gaveUp, 0);
      t.false(Number.isNaN(result.allReconnectedAfterMs));
    }
    t.true(fullJitter.allReconnectedAfterMs <= 300_000 + 1000, 'no node waits longer than the cap after the return');
    t.true(fixedInterval.allReconnectedAfterMs <= 5000 + 1000, 'a fixed interval is back within one interval');
  }
});

test('full jitter spreads more the longer the outage; fixed interval stays synchronised', (t) => {
  let previous = 1;
  for (const outageMs of [1000, 10_000, 60_000, 300_000]) {
    const { fullJitter, fixedInterval } = compareStorm({ nodes: 1000, seed: 11, outageMs });
    t.log(
      `outage ${outageMs / 1000} s: full jitter ${(fullJitter.peakShareAfterRestart * 100).toFixed(1)} %, ` +
        `fixed ${(fixedInterval.peakShareAfterRestart * 100).toFixed(1)} %, whole run incl. refused: ` +
        `${(fullJitter.peakShare * 100).toFixed(1)} % / ${(fixedInterval.peakShare * 100).toFixed(1)} %`,
    );
    t.true(fullJitter.peakShareAfterRestart <= previous, `outage ${outageMs}: ${fullJitter.peakShareAfterRestart} > ${previous}`);
    previous = fullJitter.peakShareAfterRestart;
    t.true(fixedInterval.peakShareAfterRestart > 0.9, `outage ${outageMs}: fixed ${fixedInterval.peakShareAfterRestart}`);
  }
  t.true(previous <= TARGET_SHARE);
});

test('the first retries after a simultaneous loss are a burst (refused while the broker is down)', (t) => {
  const result = runStorm({ nodes: 1000, seed: 1, outageMs: 60_000, client: fullJitterClients() });
  t.true(result.peakShare > 0.9, `with a 1 s base almost every node retries within the first second (${result.peakShare})`);
  t.true(result.peak.startMs < result.brokerBackAtMs, 'that burst is before the return');
  const wide = runStorm({ nodes: 1000, seed: 1, outageMs: 60_000, client: fullJitterClients({ baseMs: 30_000 }) });
  t.true(wide.peakShare < 0.1, `a 30 s base spreads it (${wide.peakShare})`);
});

test('a broker with limited connect capacity: a fixed interval wastes timed-out attempts in lockstep', (t) => {
  const attempt = limitedBrokerAttempt(100, 10_000);
  const fixed = runStorm({ nodes: 1000, seed: 5, outageMs: 60_000, client: fixedIntervalClients(), attempt: limitedBrokerAttempt(100, 10_000) });
  const jitter = runStorm({ nodes: 1000, seed: 5, outageMs: 60_000, client: fullJitterClients(), attempt });
  t.log(`all back: fixed ${fixed.allReconnectedAfterMs / 1000} s after ${fixed.attemptsAfterRestart} attempts; full jitter ${jitter.allReconnectedAfterMs / 1000} s after ${jitter.attemptsAfterRestart}`);
  t.is(fixed.reconnected, 1000);
  t.is(jitter.reconnected, 1000);
  t.true(fixed.attemptsAfterRestart > 3 * jitter.attemptsAfterRestart, 'timed-out attempts pile up under a fixed interval');
  t.true(fixed.allReconnectedAfterMs > 100_000, 'ten rounds of 100 nodes each, 15 s apart');
});

test('the client and attempt seams are pluggable', (t) => {
  const seen: number[] = [];
  const custom = (): StormClient => ({
    lost: () => 2500,
    attemptEnded: (ok, nowMs) => {
      seen.push(nowMs);
      return ok ? 0 : 2500;
    },
  });
  const result = runStorm({
    nodes: 10,
    outageMs: 6000,
    lossAtMs: 1000,
    detectSpreadMs: 0,
    client: custom,
    attempt: ({ startMs, brokerUp }) => ({ durationMs: 10, ok: brokerUp(startMs) }),
  });
  t.is(result.reconnected, 10);
  t.is(result.attempts, 30, 'attempts at 3.5 s, 6.01 s (down) and 8.52 s (up)');
  t.is(result.peakShare, 1);
  t.is(result.allReconnectedAfterMs, 8530 - 7000);
  t.is(seen.length, 30);

  const givingUp = runStorm({
    nodes: 5,
    outageMs: 600_000,
    client: (_i, random) => retryClient(createBackoff({ maxAttempts: 3 }), random),
    attempt: defaultAttempt,
  });
  t.is(givingUp.gaveUp, 5, 'maxAttempts ends the retries');
  t.is(givingUp.reconnected, 0);
  t.true(Number.isNaN(givingUp.allReconnectedAfterMs));
});

test('1,000 nodes simulate in well under a second', (t) => {
  const started = performance.now();
  compareStorm({ nodes: 1000, seed: 9, outageMs: 120_000 });
  const elapsedMs = performance.now() - started;
  t.log(`${elapsedMs.toFixed(0)} ms for both policies`);
  t.true(elapsedMs < 2000);
});
