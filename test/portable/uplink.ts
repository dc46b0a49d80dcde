/*
 * The uplink against scripted brokers (portable: Node and XS). Every test checks the bytes the
 * client sent, parsed strictly, and the store afterwards.
 */
import { RamStore } from '../../firmware/outbox';
import type { NewReading, Reading } from '../../firmware/store';
import { decodeMessage, type DecodedMessage } from '../../firmware/uplink/decode';
import { Uplink, type UplinkOptions } from '../../firmware/uplink/uplink';
import { decodeSecure, encodeSecure } from '../../firmware/uplink/secure-wire';
import { Xoshiro128 } from '../../firmware/util/prng';
import { deepEqual, equal, ok } from '../harness/assert';
import { Broker, bytesToText, politeBroker, Rig, type SentPacket } from './uplink-rig';

const DEV = 'node-7';

function reading(i: number, alert = false): NewReading {
  return { timeMs: 1767225600000 + i * 10_000, synced: true, channel: i % 3, kind: (i % 3) as 0 | 1 | 2, value: 60_000 + ((i * 7919) % 20_000) - 10_000, alert };
}

function setup(options: Partial<UplinkOptions> = {}, rigOptions: { dns?: boolean } = {}) {
  const rig = new Rig(1, rigOptions);
  const store = new RamStore(4096);
  const uplink = new Uplink(rig.host, store, { deviceId: DEV, address: '127.0.0.1', port: 1883, keepaliveSec: 60, ...options });
  return { rig, store, uplink };
}

function decode(p: SentPacket): DecodedMessage {
  const d = decodeMessage(p.topic, p.payload);
  if (d.error !== undefined) throw new Error(`undecodable ${p.topic}: ${d.error} ${bytesToText(p.payload)}`);
  return d;
}

/** Readings the broker got, first copies only, in arrival order. */
function delivered(packets: SentPacket[]): Reading[] {
  const seen = new Set<number>();
  const out: Reading[] = [];
  for (const p of packets) {
    if (p.type !== 3 || p.topic.endsWith('/status')) continue;
    for (const r of decode(p).readings) {
      if (seen.has(r.seq)) continue;
      seen.add(r.seq);
      out.push(r);
    }
  }
  return out;
}

function expectAll(got: Reading[], count: number, from = 1): void {
  equal(got.length, count, 'readings delivered');
  const seqs = got.map((r) => r.seq).sort((a, b) => a - b);
  for (let i = 0; i < count; i++) equal(seqs[i], from + i, 'no gap');
  for (const r of got) {
    const want = reading(r.seq - 1, r.alert);
    deepEqual([r.timeMs, r.synced, r.channel, r.kind, r.value], [want.timeMs, want.synced, want.channel, want.kind, want.value], `reading ${r.seq}`);
  }
}

export const tests: Record<string, () => void> = {
  'CONNECT: persistent session, client id, retained will; then online and two subscriptions'() {
    const { rig, uplink } = setup({ username: 'u', password: 'p' });
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    ok(uplink.connected, 'connected');
    const sent = rig.socket.packets();
    const connect = sent[0]!;
    equal(connect.type, 1);
    const b = connect.body;
    equal(bytesToText(b.subarray(2, 6)), 'MQTT');
    equal(b[6], 4, 'protocol level 4');
    equal(b[7], 0x80 | 0x40 | 0x20 | 0x08 | 0x04, 'user, password, will retain, will QoS 1, will; clean session off');
    equal((b[8]! << 8) | b[9]!, 60, 'keepalive');
    equal(bytesToText(b.subarray(12, 12 + DEV.length)), DEV, 'client id = device id');
    const online = sent[1]!;
    equal(online.type, 3);
    equal(online.topic, `pipewatch/${DEV}/status`);
    equal(online.flags, 0x01, 'QoS 0, retained');
    equal(bytesToText(online.payload), 'online');
    const subs = sent.filter((p) => p.type === 8);
    deepEqual(subs.map((p) => [p.topic, p.flags, p.body[p.body.length - 1]]), [
      [`pipewatch/${DEV}/cmd`, 2, 1],
      [`pipewatch/${DEV}/ota`, 2, 1],
    ]);
    ok(subs[0]!.id !== subs[1]!.id && subs[0]!.id !== 0, 'distinct packet ids');
  },

  'a live reading goes out as one JSON object and leaves the store only after PUBACK'() {
    const { rig, store, uplink } = setup();
    const broker = politeBroker(rig, { holdAcks: true });
    uplink.start();
    rig.advance(50);
    const seq = store.append(reading(0));
    uplink.noteStored(seq, reading(0));
    rig.advance(10);
    const pub = broker.state.received.find((p) => p.topic.endsWith('/readings'))!;
    equal(bytesToText(pub.payload), `{"dev":"${DEV}","seq":1,"ts":1767225600000,"sync":true,"ch":0,"mC":50000}`);
    equal(pub.flags, 0x02, 'QoS 1, no DUP, no retain');
    equal(store.pending, 1, 'still held before PUBACK');
    broker.releaseAcks();
    rig.advance(10);
    equal(store.pending, 0, 'acknowledged after PUBACK');
    equal(uplink.stats.acked, 1);
  },

  'a backlog drains oldest first in JSON batches, every reading exactly once'() {
    const { rig, store, uplink } = setup({ batchReadings: 20 });
    const broker = politeBroker(rig);
    for (let i = 0; i < 500; i++) store.append(reading(i));
    uplink.start();
    rig.advance(2000);
    equal(store.pending, 0, 'store drained');
    const pubs = broker.state.received.filter((p) => !p.topic.endsWith('/status'));
    ok(pubs.length <= 26, `batched: ${pubs.length} publishes for 500 readings`);
    for (const p of pubs) ok(decode(p).readings.length <= 20, 'batch size bound');
    equal(decode(pubs[0]!).shape, 'batch');
    const got = delivered(pubs);
    expectAll(got, 500);
    for (let i = 1; i < got.length; i++) ok(got[i]!.seq > got[i - 1]!.seq, 'in order');
    equal(uplink.stats.acked, 500);
  },

  'binary format: the same readings, decoded exactly, in far fewer bytes'() {
    const json = setup();
    const bin = setup({ format: 'binary', batchReadings: 64 });
    const brokers = [politeBroker(json.rig), politeBroker(bin.rig)];
    for (const s of [json, bin]) {
      for (let i = 0; i < 300; i++) s.store.append(reading(i));
      s.uplink.start();
      s.rig.advance(2000);
      equal(s.store.pending, 0);
    }
    const binPubs = brokers[1]!.state.received.filter((p) => !p.topic.endsWith('/status'));
    for (const p of binPubs) equal(p.topic, `pipewatch/${DEV}/readings/bin`);
    expectAll(delivered(binPubs), 300);
    const bytes = (s: typeof json) => s.uplink.client.stats.bytesOut;
    ok(bytes(bin) * 2.5 < bytes(json), `binary ${bytes(bin)} B vs JSON ${bytes(json)} B`);
  },

  'alerts go ahead of the backlog, one per PUBLISH on the alerts topic'() {
    const { rig, store, uplink } = setup();
    const broker = politeBroker(rig);
    for (let i = 0; i < 200; i++) store.append(reading(i));
    store.append(reading(200, true));
    uplink.start();
    rig.advance(2000);
    const pubs = broker.state.received.filter((p) => !p.topic.endsWith('/status'));
    equal(pubs[0]!.topic, `pipewatch/${DEV}/alerts`, 'the alert first');
    const alert = decode(pubs[0]!);
    equal(alert.shape, 'alert');
    equal(alert.readings[0]!.seq, 201);
    ok(bytesToText(pubs[0]!.payload).endsWith(',"alert":true}'));
    expectAll(delivered(pubs), 201);
  },

  'live readings are not starved by a long drain'() {
    const { rig, store, uplink } = setup({ window: 4, backlogWindow: 3, batchReadings: 10 });
    const broker = politeBroker(rig, { holdAcks: true });
    for (let i = 0; i < 1000; i++) store.append(reading(i));
    uplink.start();
    rig.advance(50);
    equal(uplink.inflight, 3, 'the backlog takes at most backlogWindow slots');
    const seq = store.append(reading(1000));
    uplink.noteStored(seq, reading(1000));
    rig.advance(5);
    const live = broker.state.received.filter((p) => p.type === 3 && p.topic.endsWith('/readings')).map(decode);
    ok(live.some((m) => m.shape === 'single' && m.readings[0]!.seq === 1001), 'the live reading went out during the drain');
    equal(uplink.stats.livePublished, 1);
    for (let round = 0; round < 200 && store.pending > 0; round++) {
      broker.releaseAcks();
      rig.advance(5);
    }
    equal(store.pending, 0);
    expectAll(delivered(broker.state.received), 1001);
    equal(uplink.stats.readingsPublished, 1001, 'the live reading was not sent twice');
  },

  'after a cut, unacknowledged publishes go again: same packet id, same bytes, DUP set, in order'() {
    const { rig, store, uplink } = setup({ batchReadings: 10, backoffBaseMs: 100 });
    const broker = politeBroker(rig, { holdAcks: true });
    for (let i = 0; i < 100; i++) store.append(reading(i));
    uplink.start();
    rig.advance(50);
    const first = rig.socket.packets().filter((p) => p.type === 3 && (p.flags & 6));
    equal(first.length, 3);
    broker.state.held.length = 0;
    rig.socket.fail();
    equal(uplink.connected, false);
    rig.advance(1000);
    ok(uplink.connected, 'reconnected');
    const again = rig.socket.packets().filter((p) => p.type === 3 && (p.flags & 6));
    for (let i = 0; i < 3; i++) {
      equal(again[i]!.id, first[i]!.id, 'same packet id');
      equal(again[i]!.flags, first[i]!.flags | 0x08, 'DUP');
      deepEqual(again[i]!.bytes.subarray(1), first[i]!.bytes.subarray(1), 'same bytes');
    }
    equal(uplink.stats.resent, 3);
    equal(uplink.stats.resentReadings, 30);
    for (let round = 0; round < 50 && store.pending > 0; round++) {
      broker.releaseAcks();
      rig.advance(5);
    }
    equal(store.pending, 0);
    expectAll(delivered(broker.state.received), 100);
  },

  'a PUBACK for nothing closes the connection, is counted, and nothing is lost'() {
    const { rig, store, uplink } = setup({ backoffBaseMs: 100 });
    const broker = politeBroker(rig, { holdAcks: true });
    for (let i = 0; i < 30; i++) store.append(reading(i));
    uplink.start();
    rig.advance(50);
    rig.socket.deliver(Broker.puback(4242));
    equal(uplink.connected, false);
    equal(uplink.stats.unexpectedAcks, 1);
    equal(uplink.stats.lastCloseReason, 'E_MQTT_PACKET_ID');
    equal(uplink.client.stats.protocolErrors, 1);
    broker.state.holdAcks = false;
    broker.state.held.length = 0;
    rig.advance(1000);
    ok(uplink.connected, 'reconnected');
    rig.advance(100);
    equal(store.pending, 0);
    expectAll(delivered(broker.state.received), 30);
  },

  'CONNACK refusals 1-5 close with their code and back off with growing ceilings'() {
    for (let rc = 1; rc <= 5; rc++) {
      const { rig, uplink } = setup({ backoffBaseMs: 1000, backoffCapMs: 300_000 });
      rig.onPackets = (socket, packets) => {
        for (const p of packets) if (p.type === 1) socket.deliver(Broker.connack(rc));
      };
      uplink.start();
      rig.advance(20 * 60_000);
      equal(uplink.connected, false);
      equal(uplink.stats.lastCloseReason, `refused:${rc}`);
      const attempts = rig.sockets.length;
      ok(attempts >= 8 && attempts <= 20, `attempts in 20 min with full jitter: ${attempts}`);
      equal(uplink.stats.connectFailures, attempts);
    }
  },

  'a refused connection backs off; a connection that stays up resets the backoff'() {
    const { rig, uplink } = setup({ backoffBaseMs: 1000, backoffCapMs: 64_000, stableMs: 60_000 });
    politeBroker(rig);
    rig.refuse = true;
    uplink.start();
    rig.advance(10 * 60_000);
    const refused = rig.sockets.length;
    ok(refused > 5 && refused < 40, `refused attempts: ${refused}`);
    rig.refuse = false;
    rig.advance(128_000);
    ok(uplink.connected);
    rig.advance(120_000);
    const before = rig.sockets.length;
    rig.socket.fail();
    rig.advance(1000);
    equal(rig.sockets.length, before + 1, 'first retry within the 1 s base after a stable connection');
  },

  'broker commands reach onCommand, acknowledged with the same packet id'() {
    const got: Array<[string, string]> = [];
    const { rig, uplink } = setup({ onCommand: (topic, payload) => got.push([topic, bytesToText(payload)]) });
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    rig.socket.deliver(Broker.publish(`pipewatch/${DEV}/cmd`, '{"do":"reboot"}', 1, 77));
    rig.socket.deliver(Broker.publish(`pipewatch/${DEV}/ota`, 'manifest', 0));
    rig.socket.deliver(Broker.publish(`pipewatch/other/cmd`, 'x', 0));
    deepEqual(got, [
      [`pipewatch/${DEV}/cmd`, '{"do":"reboot"}'],
      [`pipewatch/${DEV}/ota`, 'manifest'],
    ]);
    equal(uplink.stats.unexpectedMessages, 1);
    const acks = rig.socket.packets().filter((p) => p.type === 4);
    deepEqual(acks.map((p) => Array.from(p.bytes)), [[0x40, 2, 0, 77]]);
    ok(uplink.connected);
  },

  'QoS 2 from the broker, oversize lengths and bad flags close the connection and are counted'() {
    const cases: Array<[number[], string]> = [
      [Broker.publish(`pipewatch/${DEV}/cmd`, 'x', 2, 5), 'E_MQTT_QOS'],
      [[0x30, 0xff, 0xff, 0x7f], 'E_MQTT_TOO_LARGE'],
      [[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], 'E_MQTT_LENGTH_ENCODING'],
      [[0x41, 2, 0, 1], 'E_MQTT_FLAGS'],
      [[0x10, 0], 'E_MQTT_TYPE'],
      [[0x40, 3, 0, 1, 0], 'E_MQTT_LENGTH'],
      [[0x40, 2, 0, 0], 'E_MQTT_FIELD'],
      [Broker.connack(0), 'E_MQTT_SEQUENCE'],
      [[0x60, 2, 0, 1], 'E_MQTT_FLAGS'],
      [[0x50, 2, 0, 1], 'E_MQTT_UNEXPECTED'],
      [Broker.suback(999), 'E_MQTT_PACKET_ID'],
    ];
    for (const [bytes, reason] of cases) {
      const { rig, store, uplink } = setup({ backoffBaseMs: 50 });
      const broker = politeBroker(rig, { holdAcks: true });
      for (let i = 0; i < 5; i++) store.append(reading(i));
      uplink.start();
      rig.advance(50);
      rig.socket.deliver(bytes);
      equal(uplink.connected, false, reason);
      equal(uplink.stats.lastCloseReason, reason);
      ok(uplink.client.stats.protocolErrors >= 1, `${reason} counted`);
      broker.state.holdAcks = false;
      broker.state.held.length = 0;
      rig.advance(500);
      equal(store.pending, 0, `${reason}: delivered after the reconnect`);
    }
  },

  'fuzzed broker bytes never crash the client and never lose a reading'() {
    const random = new Xoshiro128(99);
    for (let round = 0; round < 60; round++) {
      const { rig, store, uplink } = setup({ backoffBaseMs: 20, backoffCapMs: 200 });
      const broker = politeBroker(rig, { holdAcks: true });
      for (let i = 0; i < 40; i++) store.append(reading(i));
      uplink.start();
      rig.advance(50);
      const n = 1 + Math.floor(random.next() * 40);
      const junk: number[] = [];
      // Half the rounds start with a plausible packet type, to get past the first byte.
      if (round % 2) junk.push([0x30, 0x40, 0x90, 0xd0, 0x20][round % 5]!);
      for (let i = 0; i < n; i++) junk.push(Math.floor(random.next() * 256));
      for (const byte of junk) rig.socket.deliver([byte]);
      broker.state.holdAcks = false;
      for (const h of broker.state.held.splice(0)) if (uplink.connected) h.socket.deliver(Broker.puback(h.id));
      // A partial packet swallows what follows until the keepalive finds the link dead.
      rig.advance(200_000);
      ok(uplink.connected, 'connected again');
      equal(store.pending, 0, `round ${round}: everything delivered`);
      expectAll(delivered(broker.state.received), 40);
    }
  },

  'broker bytes split at every boundary give the same result'() {
    const script = [...Broker.connack(0), ...Broker.suback(1), ...Broker.suback(2), ...Broker.publish(`pipewatch/${DEV}/cmd`, 'abc', 1, 9), ...Broker.pingresp()];
    for (let cut = 1; cut < script.length; cut++) {
      const got: string[] = [];
      const { rig, uplink } = setup({ onCommand: (_t, p) => got.push(bytesToText(p)) });
      uplink.start();
      rig.advance(10);
      rig.socket.deliver(script.slice(0, cut));
      rig.socket.deliver(script.slice(cut));
      ok(uplink.connected, `cut ${cut}`);
      deepEqual(got, ['abc']);
      equal(uplink.client.stats.protocolErrors, 0);
    }
  },

  'a half-open link (no PINGRESP) is detected within 1.5 keepalive periods'() {
    const { rig, uplink } = setup({ keepaliveSec: 20 });
    const broker = politeBroker(rig);
    uplink.start();
    rig.advance(50);
    const answer = rig.onPackets!;
    rig.onPackets = (socket, packets) => answer(socket, packets.filter((p) => p.type !== 12));
    rig.advance(30_000);
    equal(uplink.stats.lastCloseReason, 'ping-timeout');
    equal(uplink.client.stats.pingTimeouts, 1);
    ok(broker.state.received.length >= 1);
  },

  'DNS: a name is resolved first, failures back off, TLS keeps the name as server name'() {
    const { rig, uplink } = setup({ address: 'broker.example', secure: { ca: 'PEM' }, backoffBaseMs: 1000 }, { dns: true });
    politeBroker(rig);
    uplink.start();
    rig.advance(10 * 60_000);
    ok(rig.dnsQueries.length >= 4, `retried resolution: ${rig.dnsQueries.length}`);
    equal(rig.sockets.length, 0, 'no socket without an address');
    equal(uplink.stats.lastCloseReason, 'dns');
    equal(uplink.client.stats.dnsFailures, rig.dnsQueries.length);
    rig.dnsAnswers.set('broker.example', '10.1.2.3');
    rig.advance(10 * 60_000);
    ok(uplink.connected);
    equal(rig.socket.options.address, '10.1.2.3');
    deepEqual(rig.socket.secure, { ca: 'PEM', serverName: 'broker.example' });
  },

  'TLS options survive the text bridge: PEM as text, DER as bytes; bad input throws'() {
    const der = new Uint8Array([0x30, 0x82, 0x01, 0x0a, 0xff, 0x00]);
    const secure = { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', key: der.buffer, serverName: 'broker.example' };
    const back = decodeSecure(encodeSecure(secure));
    equal(back.ca, secure.ca);
    equal(back.serverName, 'broker.example');
    deepEqual(back.key, der);
    equal(back.certificate, undefined);
    for (const bad of ['[]', '{"caHex":"0g"}', '{"caHex":"abc"}', '{"other":"x"}', '{"serverNameHex":"00"}', '{"ca":1}', 'nope']) {
      let threw = false;
      try {
        decodeSecure(Uint8Array.from(bad, (c) => c.charCodeAt(0)));
      } catch {
        threw = true;
      }
      ok(threw, `rejects ${bad}`);
    }
  },

  'an IP address skips DNS; a host without DNS gets the name as is'() {
    const a = setup({ address: '192.168.1.20' }, { dns: true });
    a.uplink.start();
    a.rig.advance(10);
    equal(a.rig.dnsQueries.length, 0);
    equal(a.rig.socket.options.address, '192.168.1.20');
    const b = setup({ address: 'broker.local' });
    b.uplink.start();
    b.rig.advance(10);
    equal(b.rig.socket.options.address, 'broker.local');
  },
};
