import test from 'ava';
import mqtt, { type MqttClient } from 'mqtt';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { VirtualClock } from '../simulator/net/clock';
import { FaultProxy } from '../simulator/net/proxy';
import { peakWindow } from '../simulator/net/storm';
import { startAedes, type AedesHandle } from './harness/aedes';

const TIMEOUT_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function within<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves true if `promise` settles within `ms`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(ms);
  return done;
}

// Everything a test opens is closed after it, pass or fail. Tests run serially: they share this list.
const cleanups: Array<() => unknown> = [];
test.afterEach.always(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function aedesBehindProxy(options: { clock?: VirtualClock } = {}): Promise<{ aedes: AedesHandle; proxy: FaultProxy }> {
  const aedes = await startAedes();
  cleanups.push(() => aedes.stop());
  const proxy = await FaultProxy.start({ target: { port: aedes.port }, clock: options.clock });
  cleanups.push(() => proxy.close());
  return { aedes, proxy };
}

async function mqttClient(port: number, clientId: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = await within(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, reconnectPeriod: 0, ...options }), `CONNACK ${clientId}`);
  cleanups.push(() => client.end(true));
  client.on('error', () => {});
  return client;
}

/** An echo server: what it receives, it sends back; FIN answered with FIN. */
async function echoServer(): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, sockets };
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    cleanups.push(() => socket.destroy());
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What a raw connection ends with: received bytes and how it ended (FIN, RST, refused). */
function outcome(socket: Socket): Promise<{ data: Buffer; ending: string }> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    let ending = 'close';
    socket.on('end', () => {
      ending = 'FIN';
      socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (ending = error.code ?? error.message));
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), ending }));
  });
}

function readBytes(socket: Socket, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= count) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
  });
}

test.serial('MQTT QoS 1 through the proxy; every connection is logged with its time', async (t) => {
  const { proxy } = await aedesBehindProxy();
  const client = await mqttClient(proxy.port, 'pass');
  await client.subscribeAsync('p/t', { qos: 1 });
  const arrived = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())));
  await within(client.publishAsync('p/t', 'through', { qos: 1 }), 'PUBACK');
  t.is(await within(arrived, 'delivery'), 'through');
  t.is(proxy.counters.attempts, 1);
  t.is(proxy.counters.forwarded, 1);
  t.is(proxy.log[0]!.outcome, 'forwarded');
  t.true(proxy.log[0]!.atMs > 0);
  t.is(proxy.links().length, 1);
  t.true(proxy.links()[0]!.bytesUp > 0 && proxy.links()[0]!.bytesDown > 0);
});

test.serial('drop() closes both sides with FIN; the client reconnects through the proxy', async (t) => {
  const { proxy } = await aedesBehindProxy();
  const client = await mqttClient(proxy.port, 'drop', { reconnectPeriod: 50 });
  const errors: string[] = [];
  client.on('error', (error: Error) => {
    errors.push((error as NodeJS.ErrnoException).code ?? error.message);
  });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const reconnected = closed.then(() => new Promise<void>((resolve) => client.once('connect', () => resolve())));
  proxy.drop();
  await within(closed, 'close after drop');
  await within(reconnected, 'reconnect');
  t.deepEqual(errors, [], 'a FIN, not an error');
  t.is(proxy.counters.attempts, 2);
  t.is(proxy.counters.drops, 1);

  const echo = await echoServer();
  const raw = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => raw.close());
  const socket = await rawConnect(raw.port);
  const ended = outcome(socket);
  socket.write('x');
  await within(readBytes(socket, 1), 'echo');
  raw.drop();
  t.is((await within(ended, 'raw drop')).ending, 'FIN');
});

test.serial('reset() sends RST: the client sees ECONNRESET', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const socket = await rawConnect(proxy.port);
  const ended = outcome(socket);
  socket.write('ping');
  await within(readBytes(socket, 4), 'echo');
  proxy.reset();
  t.is((await within(ended, 'reset')).ending, 'ECONNRESET');
  await within(
    (async () => {
      while (echo.sockets.size > 0) await sleep(5);
    })(),
    'the server side is gone too',
  );
  t.is(proxy.counters.resets, 1);
});

test.serial('stall(): no bytes and no FIN either way, the link stays open; unstall() delivers everything in order', async (t) => {
  const { proxy } = await aedesBehindProxy();
  const client = await mqttClient(proxy.port, 'stall', { keepalive: 0 });
  await client.subscribeAsync('s/t', { qos: 1 });
  let closed = false;
  client.on('close', () => (closed = true));
  const received: string[] = [];
  client.on('message', (_topic, payload) => received.push(payload.toString()));

  proxy.stall();
  const acks = Promise.all([1, 2, 3].map((n) => client.publishAsync('s/t', `m${n}`, { qos: 1 })));
  t.false(await settlesWithin(acks, 400), 'no PUBACK while stalled');
  t.false(closed, 'the client saw no FIN');
  t.deepEqual(received, []);
  const link = proxy.links()[0]!;
  t.true(link.stalled);
  t.false(link.client.destroyed || link.upstream.destroyed, 'both sockets open');

  proxy.unstall();
  await within(acks, 'PUBACKs after unstall');
  await within(
    (async () => {
      while (received.length < 3) await sleep(5);
    })(),
    'deliveries',
  );
  t.deepEqual(received, ['m1', 'm2', 'm3']);
  t.false(closed);
});

test.serial('stall() holds a FIN too: a peer that closes during the stall is seen only after unstall', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const socket = await rawConnect(proxy.port);
  const ended = outcome(socket);
  proxy.stall();
  socket.write('late');
  socket.end();
  t.false(await settlesWithin(ended, 200), 'neither the echo nor its FIN pass');
  t.is(echo.sockets.size, 1, 'the server still has its connection');
  proxy.unstall();
  const result = await within(ended, 'after unstall');
  t.is(result.data.toString(), 'late');
  t.is(result.ending, 'FIN');
});

test.serial('per-link controls: stalling one link leaves the others flowing', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const a = await rawConnect(proxy.port);
  const b = await rawConnect(proxy.port);
  a.write('a');
  b.write('b');
  await within(Promise.all([readBytes(a, 1), readBytes(b, 1)]), 'both echo');
  const [linkA] = proxy.links();
  linkA!.stall();
  const fromA = readBytes(a, 2);
  a.write('aa');
  b.write('bb');
  t.is((await within(readBytes(b, 2), 'b flows')).toString(), 'bb');
  t.false(await settlesWithin(fromA, 150), 'a is stalled');
  linkA!.unstall();
  t.is((await within(fromA, 'a flows again')).toString(), 'aa');
});

test.serial('delay(ms) delays each direction: an echo round trip takes at least twice the delay', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const socket = await rawConnect(proxy.port);
  socket.write('0');
  await within(readBytes(socket, 1), 'warm-up');
  proxy.delay(120);
  const started = performance.now();
  socket.write('1');
  await within(readBytes(socket, 1), 'delayed echo');
  const roundTripMs = performance.now() - started;
  t.log(`round trip ${roundTripMs.toFixed(0)} ms with 120 ms each way`);
  t.true(roundTripMs >= 238, `${roundTripMs}`);
  t.true(roundTripMs < 2000, `${roundTripMs}`);
  proxy.delay(0);
  const fast = performance.now();
  socket.write('2');
  await within(readBytes(socket, 1), 'undelayed echo');
  t.true(performance.now() - fast < 100);
  t.throws(() => proxy.delay(-1), { instanceOf: RangeError });
});

test.serial('throttle(bytesPerSecond) limits throughput and keeps the bytes intact and in order', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const socket = await rawConnect(proxy.port);
  proxy.throttle(20_000);
  const payload = Buffer.alloc(10_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const started = performance.now();
  const back = readBytes(socket, payload.length);
  socket.write(payload);
  const echoed = await within(back, 'throttled echo');
  const elapsedMs = performance.now() - started;
  t.log(`10,000 bytes at 20,000 B/s per direction: ${elapsedMs.toFixed(0)} ms`);
  t.true(echoed.equals(payload));
  t.true(elapsedMs >= 420, `too fast: ${elapsedMs}`);
  t.true(elapsedMs < 3000, `too slow: ${elapsedMs}`);
  t.throws(() => proxy.throttle(Number.NaN), { instanceOf: RangeError });
});

test.serial("refuse('reset') accepts then resets and counts; refuse('closed') gives ECONNREFUSED; refuse(false) accepts again on the same port", async (t) => {
  const { proxy } = await aedesBehindProxy();
  const port = proxy.port;
  await proxy.refuse('reset');
  t.is(proxy.refusing, 'reset');
  const reset = await within(outcome(connect({ host: '127.0.0.1', port })), 'reset refusal');
  t.true(['ECONNRESET', 'close', 'FIN'].includes(reset.ending), reset.ending);
  t.is(reset.data.length, 0);
  await t.throwsAsync(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 2000 }));
  t.is(proxy.counters.refused, 2);
  t.true(proxy.log.every((entry) => entry.outcome === 'refused'));

  await proxy.refuse('closed');
  const refused = await within(outcome(connect({ host: '127.0.0.1', port })), 'closed listener');
  t.is(refused.ending, 'ECONNREFUSED');
  t.is(proxy.counters.attempts, 2, 'the kernel refused it: the proxy never saw it');

  await proxy.refuse(false);
  t.is(proxy.port, port);
  const client = await mqttClient(port, 'again');
  t.true(client.connected);
  t.is(proxy.counters.forwarded, 1);
});

test.serial('an unreachable broker makes the proxy reset the client (upstream-failed)', async (t) => {
  const { aedes, proxy } = await aedesBehindProxy();
  await aedes.stop();
  const ended = await within(outcome(connect({ host: '127.0.0.1', port: proxy.port })), 'upstream refused');
  t.is(ended.ending, 'ECONNRESET');
  t.is(proxy.log[0]!.outcome, 'upstream-failed');
  t.is(proxy.counters.upstreamFailed, 1);
});

test.serial('scenario on a virtual clock: steps run at their times, restartBroker calls the hook', async (t) => {
  const clock = new VirtualClock(0);
  const { aedes, proxy } = await aedesBehindProxy({ clock });
  const client = await mqttClient(proxy.port, 'scenario', { reconnectPeriod: 50, keepalive: 0 });
  let restarts = 0;
  const run = proxy.scenario(
    [
      { at: 3000, action: 'drop' },
      { at: 1000, action: 'stall' },
      { at: 2000, action: 'unstall' },
      { at: 4000, action: 'restartBroker' },
      { at: 5000, action: 'refuse', mode: 'reset' },
      { at: 6000, action: 'accept' },
      { at: 6000, action: 'delay', ms: 10 },
      { at: 6000, action: 'throttle', bytesPerSecond: 0 },
    ],
    {
      restartBroker: async () => {
        restarts++;
        await aedes.restart();
      },
    },
  );
  clock.advance(999);
  t.deepEqual(run.executed, []);
  clock.advance(1);
  t.deepEqual(run.executed.map((e) => [e.step.action, e.atMs]), [['stall', 1000]]);
  await run.settled();
  t.true(proxy.links()[0]!.stalled);
  clock.advance(1000);
  await run.settled();
  t.false(proxy.links()[0]!.stalled);

  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  clock.advance(1000);
  await run.settled();
  await within(closed, 'drop at 3000');
  await within(new Promise((resolve) => client.once('connect', resolve)), 'reconnect');

  clock.advance(1000);
  await run.settled();
  t.is(restarts, 1);
  await within(new Promise((resolve) => client.once('connect', resolve)), 'reconnect after the broker restart');

  clock.advance(1000);
  await run.settled();
  t.is(proxy.refusing, 'reset');
  clock.advance(1000);
  await run.done;
  t.is(proxy.refusing, false);
  t.deepEqual(
    run.executed.map((e) => `${e.step.action}@${e.atMs}`),
    ['stall@1000', 'unstall@2000', 'drop@3000', 'restartBroker@4000', 'refuse@5000', 'accept@6000', 'delay@6000', 'throttle@6000'],
  );
  t.deepEqual(run.errors, []);
  t.true(proxy.log.every((entry) => entry.atMs <= 6000), 'log times come from the virtual clock');
});

test.serial('scenario on the real clock, and bad steps are rejected up front', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  const socket = await rawConnect(proxy.port);
  const ended = outcome(socket);
  const started = performance.now();
  const run = proxy.scenario([
    { at: 50, action: 'stall' },
    { at: 150, action: 'call', run: () => void socket.write('x') },
    { at: 250, action: 'unstall' },
    { at: 350, action: 'reset' },
  ]);
  const echoed = readBytes(socket, 1);
  await within(echoed, 'echo after unstall');
  const echoMs = performance.now() - started;
  t.true(echoMs >= 240, `the echo waited for the unstall (${echoMs} ms)`);
  await within(run.done, 'scenario done');
  t.is((await within(ended, 'reset at 350')).ending, 'ECONNRESET');
  t.true(performance.now() - started >= 340);

  t.throws(() => proxy.scenario([{ at: 0, action: 'explode' as 'drop' }]), { message: /unknown action/ });
  t.throws(() => proxy.scenario([{ at: -1, action: 'drop' }]), { message: /at must be/ });
  t.throws(() => proxy.scenario([{ at: 0, action: 'restartBroker' }]), { message: /restartBroker/ });
  const cancelled = proxy.scenario([{ at: 10_000, action: 'drop' }]);
  cancelled.cancel();
  await within(cancelled.done, 'cancelled run is done');
  t.deepEqual(cancelled.executed, []);
});

test.serial('the connection log feeds the storm measurement (peakWindow)', async (t) => {
  const echo = await echoServer();
  const proxy = await FaultProxy.start({ target: { port: echo.port } });
  cleanups.push(() => proxy.close());
  await proxy.refuse('reset');
  for (let i = 0; i < 12; i++) await outcome(connect({ host: '127.0.0.1', port: proxy.port }));
  await sleep(1100);
  for (let i = 0; i < 5; i++) await outcome(connect({ host: '127.0.0.1', port: proxy.port }));
  const peak = peakWindow(proxy.log.map((entry) => entry.atMs), 1000);
  t.is(peak.attempts, 12);
  t.is(proxy.counters.attempts, 17);
});

test.serial('a stalled link is only noticed by MQTT keepalive: no FIN, the client times the ping out', async (t) => {
  const { proxy } = await aedesBehindProxy();
  const client = await mqttClient(proxy.port, 'keepalive', { keepalive: 1 });
  const closed = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now())));
  const stalledAt = performance.now();
  proxy.stall();
  const closedAt = await within(closed, 'keepalive timeout', 6000);
  const detectMs = closedAt - stalledAt;
  t.log(`MQTT.js (keepalive 1 s) noticed the stall after ${detectMs.toFixed(0)} ms`);
  t.true(detectMs >= 900, `${detectMs}`);
  t.is(proxy.links().length, 1, 'the broker side is still open: half-open link');
});

test.serial('mosquitto behind the proxy: a scripted broker restart, clients come back through the proxy', async (t) => {
  const { startMosquitto } = await import('./harness/mosquitto');
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());
  const proxy = await FaultProxy.start({ target: { port: broker.port } });
  cleanups.push(() => proxy.close());
  const client = await mqttClient(proxy.port, 'mosq-restart', { reconnectPeriod: 100 });
  const firstPid = broker.pid;
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const run = proxy.scenario([{ at: 50, action: 'restartBroker' }], { restartBroker: () => broker.restart() });
  await within(closed, 'the restart cuts the client off');
  await within(run.done, 'restart finished');
  await within(new Promise((resolve) => client.once('connect', resolve)), 'reconnect through the proxy');
  t.not(broker.pid, firstPid);
  t.deepEqual(run.errors, []);
  t.true(proxy.counters.forwarded >= 2);
  await within(client.publishAsync('m/r', 'after', { qos: 1 }), 'PUBACK from the new mosquitto');
});
