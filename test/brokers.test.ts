import test from 'ava';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { startAedes } from './harness/aedes';
import { findMosquitto, startMosquitto, type MosquittoHandle } from './harness/mosquitto';

const TIMEOUT_MS = 5000;

function within<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function nextMessage(client: MqttClient, topic: string): Promise<{ payload: string; qos: number }> {
  return new Promise((resolve) => {
    const onMessage = (received: string, payload: Buffer, packet: { qos: number }) => {
      if (received !== topic) return;
      client.off('message', onMessage);
      resolve({ payload: payload.toString('utf8'), qos: packet.qos });
    };
    client.on('message', onMessage);
  });
}

/** Subscribes with QoS 1, publishes with QoS 1 (awaiting the PUBACK) and checks the delivery. */
async function roundTrip(t: { is(a: unknown, b: unknown, m?: string): void }, client: MqttClient, topic: string, text: string) {
  const granted = await within(client.subscribeAsync(topic, { qos: 1 }), 'SUBACK');
  t.is(granted[0]?.qos, 1, 'QoS 1 granted');
  const arrived = nextMessage(client, topic);
  const acks: number[] = [];
  const onPacket = (packet: { cmd: string; messageId?: number }) => {
    if (packet.cmd === 'puback' && packet.messageId !== undefined) acks.push(packet.messageId);
  };
  client.on('packetreceive', onPacket);
  const sent = (await within(client.publishAsync(topic, text, { qos: 1 }), 'PUBACK')) as IPublishPacket | undefined;
  client.off('packetreceive', onPacket);
  t.is(sent?.qos, 1);
  t.is(acks.includes(sent?.messageId ?? -1), true, 'the broker acknowledged this packet id');
  const message = await within(arrived, 'delivery');
  t.is(message.payload, text);
  t.is(message.qos, 1);
}

/** Every client a test opened; `closeAll` ends them even when an assertion failed midway. */
const opened = new Set<MqttClient>();
async function open(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, options);
  opened.add(client);
  return client;
}
function closeAll(): void {
  for (const client of opened) client.end(true);
  opened.clear();
}
test.afterEach.always(closeAll);

function waitFor(client: MqttClient, event: 'connect' | 'close' | 'offline'): Promise<void> {
  return new Promise((resolve) => client.once(event, () => resolve()));
}

test('findMosquitto names the package to install when the binary is missing', (t) => {
  t.throws(() => findMosquitto(['/nonexistent/mosquitto', undefined]), { message: /apt-get install mosquitto/ });
  t.regex(findMosquitto(), /mosquitto$/);
});

test.serial('mosquitto: plain QoS 1 publish and subscribe on 127.0.0.1', async (t) => {
  const broker = await startMosquitto();
  try {
    t.true(broker.port > 0);
    t.is(broker.tlsPort, undefined);
    const client = await within(open(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'pw-plain', reconnectPeriod: 0 }), 'CONNACK');
    await roundTrip(t, client, 'pipewatch/test/plain', 'hello mosquitto');
    await client.endAsync();
  } finally {
    await broker.stop();
    await broker.stop();
  }
});

test.serial('mosquitto: TLS with a CA made at test time; without the CA the handshake fails', async (t) => {
  const broker: MosquittoHandle = await startMosquitto({ tls: true });
  try {
    t.truthy(broker.tlsPort);
    t.regex(broker.caPem ?? '', /BEGIN CERTIFICATE/);
    for (const host of ['127.0.0.1', 'localhost']) {
      const client = await within(
        open(`mqtts://${host}:${broker.tlsPort}`, { ca: broker.caPem, reconnectPeriod: 0, clientId: `pw-tls-${host}` }),
        `TLS CONNACK via ${host}`,
      );
      await roundTrip(t, client, `pipewatch/test/tls/${host}`, 'hello over TLS');
      await client.endAsync();
    }
    const error = await t.throwsAsync(
      within(open(`mqtts://127.0.0.1:${broker.tlsPort}`, { reconnectPeriod: 0, clientId: 'pw-no-ca' }), 'TLS refusal'),
    );
    t.regex(String((error as NodeJS.ErrnoException).code ?? error?.message), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    const plain = await within(open(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 }), 'plain CONNACK');
    await plain.endAsync();
  } finally {
    await broker.stop();
  }
});

test.serial('mosquitto: restart keeps the port; a client reconnects and works again', async (t) => {
  const broker = await startMosquitto({ tls: true });
  try {
    const client = await within(open(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'pw-restart', reconnectPeriod: 100 }), 'CONNACK');
    const firstPid = broker.pid;
    const port = broker.port;
    const offline = waitFor(client, 'close');
    const reconnected = offline.then(() => waitFor(client, 'connect'));
    await broker.restart();
    t.not(broker.pid, firstPid, 'a new process');
    t.is(broker.port, port, 'same port');
    await within(offline, 'the client sees the broker go');
    await within(reconnected, 'the client reconnects');
    await roundTrip(t, client, 'pipewatch/test/restart', 'after restart');
    const tls = await within(open(`mqtts://127.0.0.1:${broker.tlsPort}`, { ca: broker.caPem, reconnectPeriod: 0 }), 'TLS after restart');
    await tls.endAsync();
    await client.endAsync();
  } finally {
    await broker.stop();
  }
  await t.throwsAsync(broker.restart(), { message: /after stop/ });
});

test.serial('aedes: QoS 1 publish and subscribe; restart keeps the port and clients reconnect', async (t) => {
  const aedes = await startAedes();
  try {
    const client = await within(open(`mqtt://127.0.0.1:${aedes.port}`, { clientId: 'pw-aedes', reconnectPeriod: 100 }), 'CONNACK');
    await roundTrip(t, client, 'pipewatch/test/aedes', 'hello aedes');
    const before = aedes.broker;
    const offline = waitFor(client, 'close');
    const reconnected = offline.then(() => waitFor(client, 'connect'));
    await aedes.restart();
    t.not(aedes.broker, before, 'a fresh broker instance');
    t.true(before.closed);
    await within(reconnected, 'reconnect after restart');
    await roundTrip(t, client, 'pipewatch/test/aedes2', 'after restart');
    await client.endAsync();
  } finally {
    await aedes.stop();
    await aedes.stop();
  }
});
