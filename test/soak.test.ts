/*
 * Soak: real nodes (flash cache, MQTT uplink) in virtual time behind the fault proxy, against a
 * real broker that is also restarted, with random drops, resets, stalls (no FIN) and outages.
 * A strict consumer subscribed at the broker checks: no reading lost (every sequence number from
 * first to last, as many as generated), duplicates only from publishes that were unacknowledged
 * at a cut (at most the readings the nodes resent with DUP), first deliveries in order per node
 * (backlog batches always; everything, when no live reading overtook the backlog).
 */
import test from 'ava';
import { runFleet, type FleetResult } from '../tools/bench/uplink';
import { startAedes } from './harness/aedes';
import { startMosquitto } from './harness/mosquitto';

function check(t: import('ava').ExecutionContext, r: FleetResult, nodes: number): void {
  const c = r.consumer;
  t.log(
    `${r.faults.length} faults (${r.faults.map((f) => f.kind).join(' ')}), ${r.generated} readings, ${c.messages} messages, ` +
      `${r.reconnects} reconnects, ${r.resentReadings} readings resent, ${c.duplicates} duplicates, ${Math.round(r.wallMs)} ms wall`,
  );
  t.true(r.generated > 0);
  t.is(r.pending, 0, 'every node drained its cache');
  t.deepEqual(c.errors, [], 'every message decoded');
  t.is(c.malformed, 0);
  t.is(c.delivered, r.generated, '0 readings lost');
  t.is(c.gaps(), 0, 'no gap in any node\'s sequence numbers');
  t.is(c.devices.size, nodes);
  for (const s of r.stats) t.is(c.devices.get(s.deviceId)?.seen.size, s.readingsGenerated, `${s.deviceId}: all its readings`);
  t.true(c.duplicates <= r.resentReadings, `duplicates (${c.duplicates}) only from resent publishes (${r.resentReadings})`);
  t.is(c.batchOutOfOrder, 0, 'the backlog arrives in order per node');
  const live = r.stats.reduce((sum, s) => sum + (s.uplink.livePublished ?? 0), 0);
  if (live === 0) t.is(c.outOfOrder, 0, 'without live readings overtaking, every first delivery in order');
  t.true(r.reconnects >= r.faults.length / 2, 'the faults did cut the nodes off');
}

test('24-hour soak, Node engine, 3 nodes, mosquitto: outages, stalls, drops, resets, broker restarts', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const r = await runFleet({
    engine: 'node',
    nodes: 3,
    seed: 11,
    durationMs: 24 * 3_600_000,
    intervalMs: 30_000,
    brokerPort: broker.port,
    restartBroker: () => broker.restart(),
    faults: { kinds: ['drop', 'reset', 'stall', 'outage', 'restart'], minGapMs: 10 * 60_000, maxGapMs: 50 * 60_000, maxLengthMs: 40 * 60_000 },
  });
  t.true(r.faults.some((f) => f.kind === 'restart') && r.faults.some((f) => f.kind === 'stall'));
  check(t, r, 3);
});

test('24-hour soak, Node engine, 2 nodes, aedes, binary format', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  const r = await runFleet({
    engine: 'node',
    nodes: 2,
    seed: 12,
    durationMs: 24 * 3_600_000,
    intervalMs: 30_000,
    brokerPort: broker.port,
    restartBroker: () => broker.restart(),
    uplink: { format: 'binary', batchReadings: 64 },
    faults: { kinds: ['drop', 'reset', 'stall', 'outage', 'restart'], minGapMs: 10 * 60_000, maxGapMs: 50 * 60_000, maxLengthMs: 40 * 60_000 },
  });
  check(t, r, 2);
});

test('6-hour soak on the XS engine, mosquitto: the same faults, the same guarantees', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const r = await runFleet({
    engine: 'xs',
    nodes: 2,
    seed: 13,
    durationMs: 6 * 3_600_000,
    intervalMs: 30_000,
    brokerPort: broker.port,
    restartBroker: () => broker.restart(),
    faults: { kinds: ['drop', 'reset', 'stall', 'outage', 'restart'], minGapMs: 10 * 60_000, maxGapMs: 30 * 60_000, maxLengthMs: 30 * 60_000 },
  });
  check(t, r, 2);
});
