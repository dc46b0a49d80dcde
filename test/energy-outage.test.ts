/*
 * Energy across outages and reboots (docs/energy.md), in the simulator:
 * - a 24 h broker outage in wake-cycle: without the window backoff (`maxBackoffMs: 0`) every
 *   report window holds the radio on for `maxWindowMs`; with it (the default) the outage costs a
 *   fraction of that, and every published reading is still delivered after it, on Node and XS;
 * - an OTA reboot: the summary's energy counts the boots before it (the simulator retires a
 *   node's stats at each reboot and sums them).
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulation, type SimOptions } from '../simulator/run';
import { rolloutAlongside } from '../simulator/rollout';

const HOUR = 3_600_000;

const outage: SimOptions = {
  nodes: 1,
  engine: 'node',
  durationMs: 27 * HOUR,
  virtual: true,
  seed: 1,
  intervalMs: 60_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 2 * HOUR,
  leakShare: 0,
  perNode: true,
  outages: [{ atMs: 1 * HOUR, forMs: 24 * HOUR }],
};

for (const engine of ['node', 'xs'] as const) {
  test(`wake-cycle, a 24 h outage on ${engine}: the windows back off (less charge than a window every interval), everything delivered after it`, async (t) => {
    t.timeout(180_000);
    // XS is slower: a sample every 5 min there (the windows, not the samples, are what an outage costs).
    const intervalMs = engine === 'xs' ? 300_000 : 60_000;
    const run = (maxBackoffMs?: number) => startSimulation({ ...outage, engine, intervalMs, power: { mode: 'wake-cycle', reportIntervalMs: 900_000, maxBackoffMs } }).done;
    const backed = await run();
    // The charge without backoff, for comparison: on Node (on XS only the delivery is checked, for time).
    const fixed = engine === 'node' ? await run(0) : undefined;
    for (const s of fixed ? [fixed, backed] : [backed]) {
      t.is(s.samples, (27 * HOUR) / intervalMs);
      t.is(s.readingsGenerated, s.samples);
      t.is(s.readingsLost, 0);
      t.is(s.pendingOnNodes, 0);
      t.is(s.readingsDelivered, s.readingsGenerated);
    }
    const b = backed.energy!;
    t.true(b.failedWindows >= 12 && b.failedWindows <= 48, `with backoff ${b.failedWindows} failed windows in 24 h (96 without)`);
    if (!fixed) return;
    const f = fixed.energy!;
    t.log(`${engine}: 24 h outage, window every 15 min: ${f.mJ} mJ, ${f.failedWindows} failed windows; with backoff: ${b.mJ} mJ, ${b.failedWindows} failed windows`);
    t.true(f.failedWindows >= 90, `a failed window every 15 min without backoff: ${f.failedWindows}`);
    t.true(b.failedWindows <= f.failedWindows / 2.5, `with backoff ${b.failedWindows} failed windows`);
    t.true(b.mJ < f.mJ / 2, `${b.mJ} mJ with backoff, ${f.mJ} mJ without`);
  });
}

test('an OTA reboot: the energy summary counts the boots before it', async (t) => {
  t.timeout(120_000);
  const cwd = mkdtempSync(join(tmpdir(), 'pw-energy-ota-'));
  const sim = startSimulation({
    nodes: 1,
    engine: 'node',
    durationMs: 2 * HOUR,
    virtual: true,
    seed: 5,
    intervalMs: 30_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 10_000,
    leakShare: 0,
    perNode: true,
    ota: { cwd },
  });
  await sim.ready;
  const lines: string[] = [];
  const rollout = rolloutAlongside(sim, {
    version: '1.1.0',
    atMs: 30 * 60_000,
    rules: { waves: [100], abortAbovePct: 5, minNodes: 1, maxConcurrent: 1, nodeTimeoutMs: 30 * 60_000, offlineWaitMs: HOUR },
  }, { cwd, out: (l) => lines.push(l), warn: (l) => lines.push(l) });
  const result = await rollout.done;
  const s = await sim.done;
  t.is(result.code, 0, lines.join('\n'));
  t.true((s.reboots ?? 0) >= 1, `reboots ${s.reboots}`);
  t.deepEqual(s.firmware, { '1.1.0': 1 });
  const counts = s.energy!.perNode![0]!.counts;
  // Every sample of every boot was a conversion; the uptime covers the run, not the last boot only.
  t.is(counts.sensorConversions, s.samples);
  t.true(counts.uptimeMs >= s.simulatedSeconds * 1000 - 60_000, `uptime ${counts.uptimeMs} ms of a ${s.simulatedSeconds} s run`);
  t.true(counts.wifiJoins >= 2 && counts.tcpConnects >= 2, `a join and a connect per boot: ${counts.wifiJoins}, ${counts.tcpConnects}`);
});
