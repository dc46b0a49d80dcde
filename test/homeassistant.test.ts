/*
 * Home Assistant MQTT discovery (firmware/homeassistant.ts): the portable checks on Node and XS,
 * the XS heap over many states, and the simulator with --homeassistant against a real mosquitto:
 * a consumer that reads the retained discovery messages as Home Assistant does finds every
 * channel's last value on its state topic, and the availability topic says what the nodes said.
 */
import test from 'ava';
import mqtt from 'mqtt';
import { fileURLToPath } from 'node:url';
import { portable } from './harness/portable';
import { bundleForXs } from '../hosts/xs/bundle';
import { XsWorker, XS_SLOT_BYTES } from '../hosts/xs/worker';
import { startMosquitto } from './harness/mosquitto';
import { startSimulation } from '../simulator/run';

await portable('homeassistant', new URL('./portable/homeassistant.ts', import.meta.url));

test('homeassistant › states allocate nothing that stays: XS heap after 300 more is what it was after 30 [xs]', async (t) => {
  const path = fileURLToPath(new URL('./portable/homeassistant.ts', import.meta.url));
  const code = await bundleForXs({
    contents: `import { heapProbe } from ${JSON.stringify(path)};
globalThis.handleCommand = (bytes) => {
  const n = new Uint8Array(bytes)[0] | (new Uint8Array(bytes)[1] << 8);
  if (n === 0) heapProbe.setup();
  const states = n === 0 ? 0 : heapProbe.run(n);
  gc();
  return new Uint8Array([states & 0xff, states >> 8]).buffer;
};`,
    resolveDir: '/',
  });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    await worker.deliver(new Uint8Array([0, 0]));
    const warm = await worker.deliver(new Uint8Array([30, 0]));
    const after = await worker.deliver(new Uint8Array([300 & 0xff, 300 >> 8]));
    t.is(after.result[0]! | (after.result[1]! << 8), 330);
    const grown = (after.meter.currentHeapCount - warm.meter.currentHeapCount) * XS_SLOT_BYTES + (after.meter.allocate - warm.meter.allocate);
    t.true(grown <= 0, `heap grew by ${grown} bytes over 300 states`);
  } finally {
    worker.close?.();
  }
});

/** `{{ value_json.<key> }}` as Home Assistant renders it (None for null or missing). */
function render(template: string, payload: string): string {
  const m = /^\{\{ value_json\.([A-Za-z0-9_]+) \}\}$/.exec(template);
  if (!m) throw new Error(`not the simple template: ${template}`);
  const v = (JSON.parse(payload) as Record<string, unknown>)[m[1]!];
  return v === null || v === undefined ? 'None' : String(v);
}

for (const engine of ['node', 'xs'] as const) {
  test(`${engine} engine: sim --homeassistant: a consumer of the discovery messages finds every channel's last value; birth re-announces`, async (t) => {
    const broker = await startMosquitto();
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const last = new Map<string, { seq: number; value: number; unit: string }>();
    const configsSeen = new Map<string, number>();
    const watcher = await mqtt.connectAsync(url, { clientId: `ha-watch-${engine}` });
    try {
      // Home Assistant's birth message, retained: every node sees it on subscribing and re-announces.
      await watcher.publishAsync('homeassistant/status', 'online', { retain: true, qos: 1 });
      watcher.on('message', (topic) => configsSeen.set(topic, (configsSeen.get(topic) ?? 0) + 1));
      await watcher.subscribeAsync('homeassistant/sensor/+/config', { qos: 1 });
      const s = await startSimulation({
        nodes: 2,
        engine,
        durationMs: 60_000,
        virtual: true,
        seed: 3,
        intervalMs: 10_000,
        sensors: [{ part: 'tmp117' }, { part: 'sht3x' }],
        drainMs: 30_000,
        leakShare: 0,
        broker: url,
        homeassistant: true,
        onReading: (r) => {
          const key = `${r.dev}/${r.ch}`;
          if ((last.get(key)?.seq ?? -1) < r.seq) last.set(key, { seq: r.seq, value: r.value, unit: r.unit });
        },
      }).done;
      t.is(s.readingsLost, 0);

      // The consumer: discovery messages (retained), then each one's state topic (retained).
      const consumer = await mqtt.connectAsync(url, { clientId: `ha-consumer-${engine}` });
      const retained = new Map<string, string>();
      consumer.on('message', (topic, payload) => retained.set(topic, payload.toString('utf8')));
      await consumer.subscribeAsync('homeassistant/sensor/+/config', { qos: 1 });
      const deadline = Date.now() + 5000;
      while ([...retained.keys()].length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const configs = [...retained.entries()].map(([topic, text]) => ({ topic, c: JSON.parse(text) as Record<string, any> }));
      t.is(configs.length, 6, 'two nodes, three channels each');
      for (const { c } of configs) {
        await consumer.subscribeAsync(c.state_topic, { qos: 1 });
        await consumer.subscribeAsync(c.availability_topic, { qos: 1 });
      }
      while ((retained.size < 6 + 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const { topic, c } of configs) {
        const [, dev] = /^pipewatch\/([^/]+)\/ha$/.exec(c.state_topic)!;
        const ch = Number(/_(\d+)\/config$/.exec(topic)![1]);
        const reading = last.get(`${dev}/${ch}`)!;
        t.truthy(reading, `${dev} ch${ch} has readings`);
        const shown = Number(render(c.value_template, retained.get(c.state_topic)!));
        t.is(shown, reading.value / (reading.unit === 'Pa' ? 1 : 1000), `${topic}: ${c.value_template} on ${retained.get(c.state_topic)}`);
        t.is(c.device_class, reading.unit === 'mC' ? 'temperature' : reading.unit === 'mRH' ? 'humidity' : 'pressure');
        // The nodes stopped cleanly: their retained status says so, in the payload the config names.
        t.is(retained.get(c.availability_topic), c.payload_not_available);
        t.true((configsSeen.get(topic) ?? 0) >= 2, `${topic}: announced at connect and again for the retained birth (${configsSeen.get(topic)})`);
      }
      await consumer.endAsync();
    } finally {
      await watcher.endAsync();
      await broker.stop();
    }
  });
}
