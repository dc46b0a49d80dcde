/*
 * The simulator's embedded broker at fleet scale (issue 19): a burst of publishes while
 * deliveries are in flight does not overflow the stack, and retained messages are found by
 * topic with the semantics of aedes's own store.
 */
import test from 'ava';
import mqtt from 'mqtt';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { indexRetained, startBrokerProcess, startEmbeddedBroker, topicMatches } from '../simulator/broker';
import { brokerInItsOwnProcess } from '../simulator/run';

interface Publishing {
  subscribe(topic: string, deliver: (packet: unknown, done: () => void) => void, ready: () => void): void;
  publish(packet: { cmd: 'publish'; topic: string; payload: Buffer; qos: 0; retain: false }, done: (error?: Error) => void): void;
}

test('a burst of 20,000 publishes while 150 deliveries are in flight: every one completes (aedes queued them past 100 and nested one call per publish)', async (t) => {
  const broker = await startEmbeddedBroker();
  t.teardown(() => broker.close());
  const aedes = broker.aedes as unknown as Publishing;
  // A subscriber whose deliveries end later (as a QoS 1 delivery to the observer does).
  await new Promise<void>((resolve) => aedes.subscribe('slow/#', (_packet, done) => setImmediate(done), resolve));
  const total = 150 + 20_000;
  let completed = 0;
  let failed = 0;
  const all = new Promise<void>((resolve) => {
    const done = (error?: Error) => {
      if (error) failed++;
      if (++completed === total) resolve();
    };
    for (let i = 0; i < 150; i++) aedes.publish({ cmd: 'publish', topic: 'slow/x', payload: Buffer.from('x'), qos: 0, retain: false }, done);
    // Publishes no one subscribed to complete at once: queued, each ran inside the one before it.
    for (let i = 0; i < 20_000; i++) aedes.publish({ cmd: 'publish', topic: `none/${i}`, payload: Buffer.from('x'), qos: 0, retain: false }, done);
  });
  await all;
  t.is(completed, total);
  t.is(failed, 0);
});

test('topicMatches: + is one level (empty included), # this level and all below', (t) => {
  const m = (filter: string, topic: string) => topicMatches(filter.split('/'), topic.split('/'));
  t.true(m('a/b', 'a/b'));
  t.false(m('a/b', 'a/b/c'));
  t.false(m('a/b/c', 'a/b'));
  t.true(m('a/+', 'a/b'));
  t.true(m('a/+', 'a/'));
  t.false(m('a/+', 'a/b/c'));
  t.true(m('a/#', 'a'));
  t.true(m('a/#', 'a/b/c'));
  t.true(m('#', 'a/b'));
  t.true(m('+/b/#', 'x/b'));
  t.false(m('+/b/#', 'x/c/b'));
});

function collect(stream: Readable): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const topics: string[] = [];
    stream.on('data', (p: { topic: string }) => topics.push(p.topic));
    stream.on('end', () => resolve(topics));
    stream.on('error', reject);
  });
}

test('indexRetained: an exact topic is one lookup, wildcards match every stored topic, an empty payload clears', async (t) => {
  const store = {} as Parameters<typeof indexRetained>[0];
  indexRetained(store);
  for (let i = 0; i < 1000; i++) await store.storeRetained({ topic: `pipewatch/node-${i}/status`, payload: Buffer.from('online') });
  t.deepEqual(await collect(store.createRetainedStream('pipewatch/node-5/status')), ['pipewatch/node-5/status']);
  t.deepEqual(await collect(store.createRetainedStream('pipewatch/node-5/cmd')), []);
  t.is((await collect(store.createRetainedStream('pipewatch/+/status'))).length, 1000);
  t.is((await collect(store.createRetainedStream('#'))).length, 1000);
  t.deepEqual(await collect(store.createRetainedStreamCombi(['pipewatch/node-1/status', 'pipewatch/node-2/+'])), ['pipewatch/node-1/status', 'pipewatch/node-2/status']);
  await store.storeRetained({ topic: 'pipewatch/node-5/status', payload: Buffer.alloc(0) });
  t.deepEqual(await collect(store.createRetainedStream('pipewatch/node-5/status')), []);
  t.is((await collect(store.createRetainedStream('pipewatch/#'))).length, 999);
});

test('the embedded broker delivers a retained message to an exact and a wildcard subscription, and forgets it when cleared', async (t) => {
  const broker = await startEmbeddedBroker();
  t.teardown(() => broker.close());
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => publisher.endAsync(true));
  await publisher.publishAsync('pipewatch/n1/status', 'online', { qos: 1, retain: true });
  await publisher.publishAsync('pipewatch/n2/status', 'offline', { qos: 1, retain: true });
  const received = async (filter: string, count: number) => {
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (topic, payload, packet) => {
        if (packet.retain) got.push(`${topic}=${payload.toString()}`);
        if (got.length === count) resolve();
      }),
    );
    await client.subscribeAsync(filter, { qos: 1 });
    if (count > 0) await all;
    // A marker published after the subscription: everything retained came before it.
    await new Promise<void>((resolve) => {
      client.on('message', (topic) => topic === 'marker' && resolve());
      void client.subscribeAsync('marker', { qos: 1 }).then(() => publisher.publishAsync('marker', 'm', { qos: 1 }));
    });
    await client.endAsync(true);
    return got.sort();
  };
  t.deepEqual(await received('pipewatch/n1/status', 1), ['pipewatch/n1/status=online']);
  t.deepEqual(await received('pipewatch/+/status', 2), ['pipewatch/n1/status=online', 'pipewatch/n2/status=offline']);
  await publisher.publishAsync('pipewatch/n1/status', '', { qos: 1, retain: true });
  t.deepEqual(await received('pipewatch/n1/status', 0), []);
  t.deepEqual(await received('pipewatch/#', 1), ['pipewatch/n2/status=offline']);
});

/**
 * Connects over a plain socket with a CONNECT whose keep-alive is 1 s and then sends nothing,
 * as a node whose keep-alive runs in virtual time; resolves with whether the broker cut the
 * connection within `ms` of real time.
 */
async function cutWhenSilent(port: number, ms: number): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port });
  // MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keep-alive 1 s, client id "k".
  socket.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 1, 0, 1, 0x6b]));
  const connack = await new Promise<Buffer>((resolve) => socket.once('data', resolve));
  if (connack[0] !== 0x20 || connack[3] !== 0) throw new Error('no CONNACK');
  const cut = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => (clearTimeout(timer), resolve(true)));
  });
  socket.destroy();
  return cut;
}

test('realTimeKeepalive: false (virtual time) keeps a connection silent for over 1.5 keep-alive periods of real time; the default cuts it', async (t) => {
  const virtual = await startEmbeddedBroker(0, '127.0.0.1', { realTimeKeepalive: false });
  t.teardown(() => virtual.close());
  const real = await startEmbeddedBroker();
  t.teardown(() => real.close());
  const [keptVirtual, cutReal] = await Promise.all([cutWhenSilent(virtual.port, 2500), cutWhenSilent(real.port, 2500)]);
  t.false(keptVirtual, 'virtual time: the broker keeps the silent connection');
  t.true(cutReal, 'real time: the broker cuts it after 1.5 s');
});

test('startBrokerProcess: the same broker in a child process (retained messages, QoS 1), ended by close()', async (t) => {
  const broker = await startBrokerProcess();
  t.teardown(() => broker.close());
  t.is(broker.aedes, undefined);
  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  await publisher.publishAsync('pipewatch/n1/status', 'online', { qos: 1, retain: true });
  const subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const got = new Promise<string>((resolve) => subscriber.on('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
  await subscriber.subscribeAsync('pipewatch/+/status', { qos: 1 });
  t.is(await got, 'pipewatch/n1/status=online');
  await publisher.endAsync(true);
  await subscriber.endAsync(true);
  await broker.close();
  await t.throwsAsync(mqtt.connectAsync(broker.url, { reconnectPeriod: 0, connectTimeout: 2000 }));
});

test('brokerInItsOwnProcess: when both ends of every connection do not fit the descriptor limit, or from 1,000 nodes on Node; never with onLink', (t) => {
  t.false(brokerInItsOwnProcess({ nodes: 999, engine: 'node' }, 20_000));
  t.true(brokerInItsOwnProcess({ nodes: 1000, engine: 'node' }, 20_000));
  t.false(brokerInItsOwnProcess({ nodes: 5000, engine: 'xs' }, 20_000));
  // 10,000 nodes: 20,000 descriptors for the connections alone, the limit on this machine (EMFILE in accept).
  t.true(brokerInItsOwnProcess({ nodes: 10_000, engine: 'xs' }, 20_000));
  t.true(brokerInItsOwnProcess({ nodes: 4000, engine: 'xs', outages: [{ atMs: 0, forMs: 1 }] }, 16_000));
  t.false(brokerInItsOwnProcess({ nodes: 10_000, engine: 'node', onLink: () => {} }, 20_000));
  t.false(brokerInItsOwnProcess({ nodes: 100, engine: 'xs' }, undefined));
});
