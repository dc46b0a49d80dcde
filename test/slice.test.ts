/*
 * The end-to-end slice: a simulated TMP117 sampled by the firmware, on the real XS engine and on
 * Node, in virtual time, published with QoS 1 to aedes and to a real mosquitto, counted by an
 * observer subscribed at the broker.
 */
import test from 'ava';
import { startSimulation, type SimOptions } from '../simulator/run';
import { startMosquitto } from './harness/mosquitto';
import { recordingProxy } from './harness/recording-proxy';

const base: SimOptions = {
  nodes: 1,
  engine: 'xs',
  durationMs: 3_600_000,
  virtual: true,
  seed: 1,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 60_000,
  leakShare: 0,
};

test('XS engine, virtual hour, embedded aedes: every reading delivered once', async (t) => {
  const s = await startSimulation({ ...base }).done;
  t.is(s.engine, 'xs');
  t.is(s.simulatedSeconds, 3600);
  t.is(s.readingsGenerated, 360);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
  t.is(s.duplicates, 0);
  t.is(s.malformed, 0);
  t.true(s.xs!.computronsPerReading > 0);
  t.true(s.xs!.heapBytesPerNode > 0);
});

test('Node engine, virtual hour, three nodes: every reading delivered once', async (t) => {
  const s = await startSimulation({ ...base, engine: 'node', nodes: 3 }).done;
  t.is(s.engine, 'node');
  t.is(s.readingsGenerated, 3 * 360);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
  t.is(s.outOfOrder, 0);
});

test('XS engine against a real mosquitto on loopback', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const s = await startSimulation({ ...base, durationMs: 1_800_000, nodes: 2, broker: `mqtt://127.0.0.1:${broker.port}` }).done;
  t.is(s.readingsGenerated, 2 * 180);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
});

test('same seed, same MQTT packets from the firmware (XS twice, and Node)', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const runs: Buffer[] = [];
  for (const engine of ['xs', 'xs', 'node'] as const) {
    const proxy = await recordingProxy(broker.port);
    const s = await startSimulation({
      ...base,
      engine,
      seed: 7,
      durationMs: 600_000,
      broker: `mqtt://127.0.0.1:${proxy.port}`,
    }).done;
    await proxy.close();
    t.is(s.readingsLost, 0);
    t.is(s.pendingOnNodes, 0);
    runs.push(proxy.bytes());
  }
  t.true(runs[0]!.length > 60 * 50, 'the firmware sent its readings');
  t.true(runs[0]!.equals(runs[1]!), 'two XS runs with one seed send the same bytes');
  t.true(runs[0]!.equals(runs[2]!), 'the Node engine sends the same bytes as XS');
});

test('a 24-hour network outage: every reading is kept in flash and delivered after (Node engine)', async (t) => {
  const s = await startSimulation({
    ...base,
    engine: 'node',
    durationMs: 26 * 3_600_000,
    outages: [{ atMs: 3_600_000, forMs: 24 * 3_600_000 }],
  }).done;
  t.is(s.readingsGenerated, 26 * 360);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
  t.is(s.droppedByStore, 0);
  t.is(s.outOfOrder, 0);
  t.true(s.reconnects >= 1);
});

test('a 2-hour network outage on the XS engine: every reading delivered after', async (t) => {
  const s = await startSimulation({
    ...base,
    durationMs: 3 * 3_600_000,
    outages: [{ atMs: 1_800_000, forMs: 2 * 3_600_000 }],
  }).done;
  t.is(s.readingsGenerated, 3 * 360);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
  t.true(s.reconnects >= 1);
});

test('every sensor part on one simulated node, on XS and Node: all readings delivered, no fault', async (t) => {
  const parts = ['tmp117', 'mcp9808', 'sht3x', 'sht4x', 'bme280', 'mlx90614', 'ds18b20', 'max31855', 'max31856', 'max31865', 'ntc', 'max31855'];
  for (const engine of ['xs', 'node'] as const) {
    const s = await startSimulation({ ...base, engine, durationMs: 600_000, sensors: parts.map((part) => ({ part })) }).done;
    // 12 sensors, 16 channels (SHT3x/SHT4x: +1 humidity, BME280: +2, MLX90614: +1 ambient, MAX31855/6: +1 cold junction each)
    t.true(s.readingsGenerated >= 60 * 18, `${engine}: ${s.readingsGenerated} readings`);
    t.is(s.readingsDelivered, s.readingsGenerated, engine);
    t.is(s.sensorFaults, 0, engine);
  }
});

test('--flash-dir: a node keeps its cache across runs; the next run delivers what the last one could not', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const flashDir = mkdtempSync(join(tmpdir(), 'pipewatch-flash-'));
  t.teardown(() => rmSync(flashDir, { recursive: true, force: true }));
  const first = await startSimulation({
    ...base,
    engine: 'node',
    flashDir,
    drainMs: 1000,
    outages: [{ atMs: 1_800_000, forMs: 7_200_000 }],
  }).done;
  t.is(first.readingsGenerated, 360);
  t.is(first.readingsDelivered, 180, 'the network was down for the second half hour and after');
  t.is(first.pendingOnNodes, 180, 'the rest is held in flash: kept, not lost');
  t.is(first.readingsLost, 0);
  const second = await startSimulation({ ...base, engine: 'node', flashDir }).done;
  t.is(second.readingsGenerated, 360);
  t.is(second.readingsDelivered, 360 + 180, 'the readings left in flash by the first run arrive too');
  t.is(second.duplicates, 0, 'sequence numbers continue across runs');
});
