/*
 * Plant-scale runs (issue 19): a fleet split into shards against one mosquitto, counted by an
 * observer of the whole fleet, gives the unsplit run's figures; the XS fleet in several
 * xsnap-worker processes sends, node by node, the same packets as in one worker and as on Node.
 */
import test from 'ava';
import { observeFleet } from '../simulator/observe';
import { shardNodes, startSimulation, type SimOptions } from '../simulator/run';
import { parseSimOptions, UsageError } from '../tools/cli';
import { startMosquitto } from './harness/mosquitto';
import { recordingProxy } from './harness/recording-proxy';

const base: SimOptions = {
  nodes: 6,
  engine: 'node',
  durationMs: 20 * 60_000,
  virtual: true,
  seed: 3,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 60_000,
  leakShare: 0,
};

test('shardNodes: contiguous slices that cover the fleet once, in order', (t) => {
  for (const [nodes, count] of [[10, 2], [10, 3], [7, 7], [1000, 6], [5, 1]] as const) {
    const all = Array.from({ length: count }, (_, index) => shardNodes(nodes, { index, count })).flat();
    t.deepEqual(all, Array.from({ length: nodes }, (_, i) => i), `${nodes} nodes in ${count} shards`);
  }
  t.deepEqual(shardNodes(10, { index: 1, count: 3 }), [3, 4, 5]);
  t.deepEqual(shardNodes(4), [0, 1, 2, 3]);
});

test('--shard and --observe-only: the options and their usage errors', (t) => {
  const o = parseSimOptions(['--shard', '2/3', '--broker', 'mqtt://127.0.0.1:1883', '--nodes', '9']);
  t.deepEqual(o.shard, { index: 1, count: 3 });
  t.true(parseSimOptions(['--observe-only', '--broker', 'mqtt://127.0.0.1:1883', '--nodes', '9']).observeOnly);
  t.is(parseSimOptions(['--xs-workers', '2']).xsWorkers, 2);
  for (const [args, message] of [
    [['--shard', '1/2'], /--shard needs --broker/],
    [['--observe-only'], /--observe-only needs --broker/],
    [['--shard', '3/2', '--broker', 'mqtt://127.0.0.1:1883'], /--shard takes K\/N/],
    [['--shard', '0/2', '--broker', 'mqtt://127.0.0.1:1883'], /--shard takes K\/N/],
    [['--shard', 'half', '--broker', 'mqtt://127.0.0.1:1883'], /--shard takes K\/N/],
    [['--shard', '1/2', '--observe-only', '--broker', 'mqtt://127.0.0.1:1883'], /give one of them/],
    [['--xs-workers', '2', '--engine', 'node'], /--xs-workers is for --engine xs/],
    [['--xs-workers', '0'], /--xs-workers/],
  ] as const) {
    t.throws(() => parseSimOptions([...args]), { instanceOf: UsageError, message }, args.join(' '));
  }
});

test('a fleet as two shards against one mosquitto: the observer of the whole fleet gets the unsplit run\'s figures', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const whole = await startSimulation({ ...base, broker: url }).done;
  t.is(whole.readingsLost, 0);

  const observer = observeFleet({ nodes: base.nodes, broker: url, timeoutMs: 120_000 });
  await observer.ready;
  const shards = await Promise.all([0, 1].map((index) => startSimulation({ ...base, broker: url, shard: { index, count: 2 } }).done));
  const fleet = await observer.done;

  t.deepEqual(shards.map((s) => [s.shard, s.nodes, s.fleetNodes]), [['1/2', 3, 6], ['2/2', 3, 6]]);
  for (const s of shards) {
    t.is(s.readingsDelivered, s.readingsGenerated, `shard ${s.shard} counts only its own nodes`);
    t.is(s.readingsLost, 0);
  }
  t.true(fleet.complete);
  t.deepEqual(fleet.shards, ['1/2', '2/2']);
  t.is(fleet.readingsGenerated, whole.readingsGenerated);
  t.is(fleet.readingsDelivered, whole.readingsDelivered);
  t.is(fleet.readingsLost, 0);
  t.is(fleet.duplicates, whole.duplicates);
  t.is(fleet.reconnects, whole.reconnects);
  t.is(fleet.alertsRaised, whole.alertsRaised);
});

test('observe-only: a shard summary from an earlier run (retained) or of another fleet size is not counted', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const mqtt = (await import('mqtt')).default;
  const old = await mqtt.connectAsync(url);
  await old.publishAsync('pipewatch-sim/shard/1-of-1', JSON.stringify({ shard: '1/1', nodes: 2, fleetNodes: 2, readingsGenerated: 5, pendingOnNodes: 0, reconnects: 0, alertsRaised: 0 }), { qos: 1, retain: true });
  const observer = observeFleet({ nodes: 2, broker: url, timeoutMs: 1500 });
  await observer.ready;
  await old.publishAsync('pipewatch-sim/shard/1-of-1', JSON.stringify({ shard: '1/1', nodes: 3, fleetNodes: 3, readingsGenerated: 5, pendingOnNodes: 0, reconnects: 0, alertsRaised: 0 }), { qos: 1 });
  await old.publishAsync('pipewatch-sim/shard/1-of-1', 'not json', { qos: 1 });
  await old.endAsync();
  const fleet = await observer.done;
  t.false(fleet.complete);
  t.is(fleet.nodesReported, 0);
  t.is(fleet.readingsGenerated, 0);
  t.is(fleet.malformed, 2);
});

test('XS in two workers: each node sends the same packets as in one worker and as on Node', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const runs: Array<Map<string, Buffer>> = [];
  for (const [engine, xsWorkers] of [['xs', 1], ['xs', 2], ['node', undefined]] as const) {
    const proxy = await recordingProxy(broker.port);
    const s = await startSimulation({ ...base, nodes: 3, engine, xsWorkers, durationMs: 600_000, seed: 7, broker: `mqtt://127.0.0.1:${proxy.port}` }).done;
    await proxy.close();
    t.is(s.readingsLost, 0);
    t.is(s.readingsDelivered, 3 * 60);
    runs.push(proxy.byNode());
  }
  t.deepEqual([...runs[0]!.keys()].sort(), ['node-001', 'node-002', 'node-003']);
  for (const id of runs[0]!.keys()) {
    t.true(runs[0]!.get(id)!.length > 60 * 50, `${id} sent its readings`);
    t.true(runs[0]!.get(id)!.equals(runs[1]!.get(id)!), `${id}: one XS worker and two send the same bytes`);
    t.true(runs[0]!.get(id)!.equals(runs[2]!.get(id)!), `${id}: XS and Node send the same bytes`);
  }
});

test('a stop while a large Node fleet is being created takes effect between nodes: the rest are not created (a 10,000-node start ignored SIGTERM)', async (t) => {
  let started = 0;
  let asked = false;
  const options = parseSimOptions(['--engine', 'node', '--nodes', '2000', '--virtual', '--duration', '1h', '--no-ota', '--quiet']);
  const sim = startSimulation({
    ...options,
    onNodeStart: () => {
      started++;
      // What a signal handler does: it runs on a later turn of the event loop.
      if (!asked) {
        asked = true;
        setImmediate(() => sim.stop());
      }
    },
  });
  const summary = await sim.done;
  t.true(started < 2000, `${started} nodes created before the stop took effect`);
  t.true(started >= 1);
  t.is(summary.readingsLost, 0);
});
