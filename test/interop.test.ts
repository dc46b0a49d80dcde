/*
 * Interoperability with real brokers: Debian's mosquitto (plain, and TLS with a CA made at test
 * time) and aedes. The real uplink over the Node host's sockets (node:net / node:tls), virtual
 * time; an MQTT.js consumer subscribed at the broker.
 */
import test from 'ava';
import mqtt from 'mqtt';
import { RamStore } from '../firmware/outbox';
import type { TLSOptions } from '../firmware/host';
import { Uplink, type UplinkOptions } from '../firmware/uplink/uplink';
import { createNodeHost } from '../hosts/node/host';
import { ConsumerClient, FleetScheduler } from '../tools/bench/uplink';
import { startAedes } from './harness/aedes';
import { startMosquitto } from './harness/mosquitto';

function reading(i: number) {
  return { timeMs: 1767225600000 + i * 10_000, synced: true, channel: i % 2, kind: 0 as const, value: 50_000 + i * 3, alert: false };
}

async function node(port: number, deviceId: string, extra: Partial<UplinkOptions> = {}) {
  const scheduler = new FleetScheduler({ virtual: true });
  const host = createNodeHost({ scheduler, seed: 3 });
  const store = new RamStore(2000);
  const commands: Array<[string, string]> = [];
  const uplink = new Uplink(host, store, {
    deviceId,
    address: '127.0.0.1',
    port,
    onCommand: (topic, payload) => commands.push([topic, String.fromCharCode(...payload)]),
    ...extra,
  });
  return {
    scheduler,
    store,
    uplink,
    commands,
    async run(ms: number) {
      await scheduler.runUntil(scheduler.now() + ms);
    },
    stop() {
      uplink.stop();
      scheduler.stop();
    },
  };
}

async function retainedStatus(url: string, deviceId: string): Promise<string> {
  const client = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  try {
    const got = new Promise<string>((resolve) => client.on('message', (_topic, payload) => resolve(payload.toString())));
    await client.subscribeAsync(`pipewatch/${deviceId}/status`, { qos: 1 });
    return await Promise.race([got, new Promise<string>((resolve) => setTimeout(() => resolve('(none)'), 2000))]);
  } finally {
    await client.endAsync(true);
  }
}

async function interop(t: import('ava').ExecutionContext, url: string, port: number, secure?: TLSOptions['secure']) {
  const deviceId = `interop-${Math.floor(Math.random() * 1e6)}`;
  const consumer = await ConsumerClient.connect(url);
  t.teardown(() => consumer.close());
  const n = await node(port, deviceId, { secure });
  t.teardown(() => n.stop());
  for (let i = 0; i < 300; i++) n.store.append(reading(i));
  n.uplink.start();
  await n.run(30_000);
  t.true(n.uplink.connected, `connected (${n.uplink.stats.lastCloseReason})`);
  for (let i = 300; i < 310; i++) n.uplink.noteStored(n.store.append(reading(i)), reading(i));
  await n.run(30_000);
  await consumer.quiesce();
  const c = consumer.consumer;
  t.deepEqual(c.errors, []);
  t.is(c.delivered, 310, 'backlog and live readings delivered');
  t.is(c.duplicates, 0);
  t.is(n.store.pending, 0, 'acknowledged after PUBACK');
  t.true(n.uplink.stats.batches >= 300 / 24, 'the backlog went in batches');
  t.is(await retainedStatus(url, deviceId), 'online', 'retained online');

  // Commands reach the node (QoS 1 subscription granted by this broker).
  const commander = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  await commander.publishAsync(`pipewatch/${deviceId}/cmd`, 'ping', { qos: 1 });
  await commander.publishAsync(`pipewatch/${deviceId}/ota`, 'manifest-v2', { qos: 1 });
  await n.run(2000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await n.run(2000);
  t.deepEqual(n.commands, [
    [`pipewatch/${deviceId}/cmd`, 'ping'],
    [`pipewatch/${deviceId}/ota`, 'manifest-v2'],
  ]);
  t.is(n.uplink.stats.subscribeFailures, 0);

  // Cut without DISCONNECT: the broker publishes the retained will.
  n.uplink.client.abort('test cut');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(await retainedStatus(url, deviceId), 'offline', 'the will marks the node offline');
  await commander.endAsync(true);
}

test('mosquitto, plain TCP', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  await interop(t, `mqtt://127.0.0.1:${broker.port}`, broker.port);
});

test('mosquitto, TLS with a test CA', async (t) => {
  const broker = await startMosquitto({ tls: true });
  t.teardown(() => broker.stop());
  await interop(t, `mqtt://127.0.0.1:${broker.port}`, broker.tlsPort!, { ca: broker.caPem! });
});

test('mosquitto, TLS with the wrong CA: no connection, counted, backing off', async (t) => {
  const broker = await startMosquitto({ tls: true });
  t.teardown(() => broker.stop());
  const other = await startMosquitto({ tls: true });
  t.teardown(() => other.stop());
  const n = await node(broker.tlsPort!, 'interop-badca', { secure: { ca: other.caPem! } });
  t.teardown(() => n.stop());
  n.store.append(reading(0));
  n.uplink.start();
  await n.run(60_000);
  t.false(n.uplink.connected);
  t.true(n.uplink.stats.connectFailures >= 2);
  t.is(n.store.pending, 1, 'the reading stays stored');
});

test('aedes', async (t) => {
  const broker = await startAedes();
  t.teardown(() => broker.stop());
  await interop(t, `mqtt://127.0.0.1:${broker.port}`, broker.port);
});

test('mosquitto keeps the persistent session: a command sent while the node was away arrives after it reconnects', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const n = await node(broker.port, 'interop-session', { backoffBaseMs: 5000 });
  t.teardown(() => n.stop());
  n.uplink.start();
  await n.run(5000);
  t.true(n.uplink.connected);
  n.uplink.client.abort('away');
  const commander = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  await commander.publishAsync('pipewatch/interop-session/cmd', 'while-away', { qos: 1 });
  await commander.endAsync(true);
  await n.run(30_000);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await n.run(1000);
  t.true(n.uplink.connected);
  t.deepEqual(n.commands, [['pipewatch/interop-session/cmd', 'while-away']]);
});
