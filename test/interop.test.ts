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

// Issue 11, item 2: an oversized message on the node's topics, QoS 1 redelivered by the
// persistent session and retained, against a real mosquitto: dropped, counted, readings flow.

/** Runs until `done()` or `ms` of virtual time, letting the broker's real-time traffic in between. */
async function runUntil(n: Awaited<ReturnType<typeof node>>, ms: number, done: () => boolean) {
  for (let waited = 0; waited < ms && !done(); waited += 5000) {
    await n.run(5000);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('mosquitto: an oversized QoS 1 command queued in the session is acknowledged and dropped once; readings keep flowing', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const deviceId = 'interop-big-q1';
  const consumer = await ConsumerClient.connect(url);
  t.teardown(() => consumer.close());
  const n = await node(broker.port, deviceId, { backoffBaseMs: 2000 });
  t.teardown(() => n.stop());
  n.uplink.start();
  await runUntil(n, 10_000, () => n.uplink.connected);
  t.true(n.uplink.connected);
  n.uplink.client.abort('away');
  const commander = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  await commander.publishAsync(`pipewatch/${deviceId}/cmd`, Buffer.alloc(20_000, 0x41), { qos: 1 });
  await commander.publishAsync(`pipewatch/${deviceId}/cmd`, 'small', { qos: 1 });
  await commander.endAsync(true);
  for (let i = 0; i < 50; i++) n.store.append(reading(i));
  await runUntil(n, 120_000, () => n.store.pending === 0 && n.commands.length > 0);
  t.true(n.uplink.connected, n.uplink.stats.lastCloseReason);
  t.is(n.uplink.stats.discarded, 1, 'dropped and counted');
  t.deepEqual(n.commands, [[`pipewatch/${deviceId}/cmd`, 'small']], 'the next command arrived');
  t.is(n.store.pending, 0, 'readings delivered');
  t.is(n.uplink.client.stats.protocolErrors, 1, "only the test's own abort (abort counts as one)");
  // Acknowledged: the session does not send it again after a reconnect.
  n.uplink.client.abort('again');
  await runUntil(n, 60_000, () => n.uplink.connected);
  await runUntil(n, 10_000, () => false);
  t.true(n.uplink.connected);
  t.is(n.uplink.stats.discarded, 1, 'not redelivered');
  for (let i = 50; i < 60; i++) n.uplink.noteStored(n.store.append(reading(i)), reading(i));
  await runUntil(n, 60_000, () => n.store.pending === 0);
  await consumer.quiesce();
  t.is(consumer.consumer.delivered, 60);
});

test('mosquitto: an oversized retained offer comes back at every subscribe and is dropped each time; readings keep flowing', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const deviceId = 'interop-big-retained';
  const commander = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  await commander.publishAsync(`pipewatch/${deviceId}/ota`, Buffer.alloc(4000, 0x42), { qos: 1, retain: true });
  await commander.endAsync(true);
  const consumer = await ConsumerClient.connect(url);
  t.teardown(() => consumer.close());
  const n = await node(broker.port, deviceId, { backoffBaseMs: 2000 });
  t.teardown(() => n.stop());
  for (let i = 0; i < 40; i++) n.store.append(reading(i));
  n.uplink.start();
  await runUntil(n, 60_000, () => n.store.pending === 0 && n.uplink.stats.discarded >= 1);
  t.is(n.uplink.stats.discarded, 1);
  n.uplink.client.abort('cut');
  await runUntil(n, 60_000, () => n.uplink.stats.discarded >= 2);
  for (let i = 40; i < 50; i++) n.uplink.noteStored(n.store.append(reading(i)), reading(i));
  await runUntil(n, 60_000, () => n.store.pending === 0);
  t.true(n.uplink.connected, n.uplink.stats.lastCloseReason);
  t.is(n.uplink.stats.discarded, 2, 'once per subscribe');
  t.is(n.uplink.client.stats.protocolErrors, 1, "only the test's own abort (abort counts as one)");
  t.deepEqual(n.commands, []);
  await consumer.quiesce();
  t.is(consumer.consumer.delivered, 50, 'every reading delivered');
});

// Issue 11, item 13: a non-ASCII user name and password against mosquitto's password file.
test('mosquitto with a password file: a non-ASCII user name and password authenticate; a wrong one is refused', async (t) => {
  const broker = await startMosquitto({ users: { 'jörg': 'pässwörd€😀' } });
  t.teardown(() => broker.stop());
  const good = await node(broker.port, 'interop-auth', { username: 'jörg', password: 'pässwörd€😀' });
  t.teardown(() => good.stop());
  good.store.append(reading(0));
  good.uplink.start();
  await runUntil(good, 30_000, () => good.store.pending === 0);
  t.true(good.uplink.connected, `authenticated (${good.uplink.stats.lastCloseReason})`);
  t.is(good.store.pending, 0);
  const bytes = await node(broker.port, 'interop-auth-bytes', { username: 'jörg', password: new TextEncoder().encode('pässwörd€😀') });
  t.teardown(() => bytes.stop());
  bytes.uplink.start();
  await runUntil(bytes, 30_000, () => bytes.uplink.connected);
  t.true(bytes.uplink.connected, `the same password as bytes (${bytes.uplink.stats.lastCloseReason})`);
  const bad = await node(broker.port, 'interop-auth-bad', { username: 'jörg', password: 'passwords' });
  t.teardown(() => bad.stop());
  bad.uplink.start();
  await runUntil(bad, 10_000, () => bad.uplink.stats.lastCloseReason !== '');
  t.false(bad.uplink.connected);
  t.regex(bad.uplink.stats.lastCloseReason, /^refused:[45]$/);
});

// Issue 11, item 14: the will's QoS is the configured one; keepalive 0 keeps a quiet connection.
test('mosquitto: the will goes out with the configured QoS (0), and keepalive 0 sends no PINGREQ', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const deviceId = 'interop-will0';
  const watcher = await mqtt.connectAsync(url, { clean: true, reconnectPeriod: 0 });
  t.teardown(() => watcher.end(true));
  const n = await node(broker.port, deviceId, { willQos: 0, keepaliveSec: 0 });
  t.teardown(() => n.stop());
  n.uplink.start();
  await runUntil(n, 10_000, () => n.uplink.connected);
  const sent = n.uplink.client.stats.packetsOut;
  await runUntil(n, 600_000, () => false);
  t.true(n.uplink.connected);
  t.is(n.uplink.client.stats.packetsOut, sent, 'nothing sent in 10 quiet minutes');
  await watcher.subscribeAsync(`pipewatch/${deviceId}/status`, { qos: 1 });
  const will = new Promise<{ payload: string; qos: number; retain: boolean }>((resolve) =>
    watcher.on('message', (_topic, payload, packet) => {
      if (payload.toString() === 'offline') resolve({ payload: payload.toString(), qos: packet.qos, retain: packet.retain });
    }),
  );
  n.uplink.client.abort('cut');
  const got = await Promise.race([will, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000))]);
  t.is(got?.qos, 0, 'will published with QoS 0');
});
