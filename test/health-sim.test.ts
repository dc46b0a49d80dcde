/*
 * The simulator's nodes send health heartbeats (firmware/health.ts): at boot and every 15 min of
 * virtual time, on both engines, with the boot count and reset reason the simulated chip knows
 * and no RSSI (the simulator has no radio link model), to a real mosquitto.
 */
import test from 'ava';
import mqtt from 'mqtt';
import { startSimulation, type SimOptions } from '../simulator/run';
import { startMosquitto } from './harness/mosquitto';

const base: SimOptions = {
  nodes: 2,
  engine: 'xs',
  durationMs: 3_000_000,
  virtual: true,
  seed: 1,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 30_000,
  leakShare: 0,
};

for (const engine of ['xs', 'node'] as const) {
  test(`${engine} engine: a heartbeat at boot and every 15 min per node, boot 1, power-on, no RSSI`, async (t) => {
    const broker = await startMosquitto();
    const client = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: `hb-watch-${engine}` });
    const got: Array<{ topic: string; hb: Record<string, unknown> }> = [];
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => client.subscribe('pipewatch/+/health', { qos: 1 }, (error) => (error ? reject(error) : resolve())));
        client.once('error', reject);
      });
      client.on('message', (topic, payload) => got.push({ topic, hb: JSON.parse(payload.toString()) as Record<string, unknown> }));
      const s = await startSimulation({ ...base, engine, broker: `mqtt://127.0.0.1:${broker.port}` }).done;
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.is(s.readingsLost, 0);
      for (const id of ['node-001', 'node-002'] as const) {
        const mine = got.filter((g) => g.topic === `pipewatch/${id}/health`).map((g) => g.hb);
        t.deepEqual(mine.map((h) => h.n), [0, 1, 2, 3], `${id}: boot, 15, 30, 45 min`);
        t.deepEqual(mine.map((h) => h.up_ms), [0, 900_000, 1_800_000, 2_700_000]);
        for (const h of mine) {
          t.is(h.boot, 1);
          t.is(h.reset, 'power-on');
          t.is(h.rssi_min, undefined);
          t.is(h.dev, id);
        }
        t.is(mine[1]!.exp_ms, 900_000);
        t.true((mine[1]!.conn_ms as number) > 890_000, String(mine[1]!.conn_ms));
      }
    } finally {
      client.end(true);
      await broker.stop();
    }
  });
}
