/*
 * The uplink against scripted brokers (portable: Node and XS). Every test checks the bytes the
 * client sent, parsed strictly, and the store afterwards.
 */
import { RamStore } from '../../firmware/outbox';
import type { NewReading, Reading } from '../../firmware/store';
import { decodeMessage, type DecodedMessage } from '../../firmware/uplink/decode';
import { DEFAULT_MAX_INBOUND_BYTES, MAX_OFFER_PAYLOAD_BYTES, Uplink, type UplinkOptions } from '../../firmware/uplink/uplink';
import { Decoder, newInbound, PacketType, topicNameError } from '../../firmware/uplink/packets';
import { mqttBinaryBytes } from '../../firmware/uplink/utf8';
import { MAX_MANIFEST_BYTES, MAX_URL_BYTES } from '../../firmware/ota/manifest';
import { decodeSecure, encodeSecure } from '../../firmware/uplink/secure-wire';
import { Xoshiro128 } from '../../firmware/util/prng';
import { deepEqual, equal, ok } from '../harness/assert';
import { Broker, bytesToText, politeBroker, Rig, textBytes, type SentPacket } from './uplink-rig';

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
      [[0x90, 0xff, 0xff, 0x7f], 'E_MQTT_TOO_LARGE'],
      [[0x30, 0xff, 0xff, 0x7f, 0xff, 0xff], 'E_MQTT_TOO_LARGE'],
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

  // Issue 11, item 2: an inbound message over the limit is acknowledged and dropped, not fatal.

  'the default inbound limit takes the largest valid OTA offer on the longest topic'() {
    equal(MAX_OFFER_PAYLOAD_BYTES, MAX_MANIFEST_BYTES + MAX_URL_BYTES, 'manifest maximum + URL maximum');
    equal(DEFAULT_MAX_INBOUND_BYTES, 2 + `pipewatch/${'d'.repeat(64)}/ota`.length + 2 + MAX_MANIFEST_BYTES + MAX_URL_BYTES);
    const dev = 'd'.repeat(64);
    const got: Array<[string, number]> = [];
    const rig = new Rig(1);
    const store = new RamStore(64);
    const uplink = new Uplink(rig.host, store, { deviceId: dev, address: '127.0.0.1', port: 1883, onCommand: (t, p) => got.push([t, p.length]) });
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    rig.socket.deliver(Broker.publishRaw(textBytes(`pipewatch/${dev}/ota`), MAX_MANIFEST_BYTES + MAX_URL_BYTES, 0x03, 31));
    ok(uplink.connected, `still connected (${uplink.stats.lastCloseReason})`);
    deepEqual(got, [[`pipewatch/${dev}/ota`, 952]], 'the largest valid offer is handed to the OTA agent whole');
    equal(uplink.stats.discarded, 0);
  },

  'an oversized QoS 1 message is acknowledged and dropped, counted; readings keep flowing'() {
    const got: string[] = [];
    const logs: string[] = [];
    const { rig, store, uplink } = setup({ onCommand: (_t, p) => got.push(bytesToText(p)) });
    rig.host.log = (_level, message) => logs.push(message);
    const hooked: Array<[string, number]> = [];
    uplink.onDiscarded = (topic, bytes) => hooked.push([topic, bytes]);
    const broker = politeBroker(rig);
    uplink.start();
    rig.advance(50);
    const big = Broker.publishRaw(textBytes(`pipewatch/${DEV}/ota`), 200_000, 0x02, 4321);
    for (let i = 0; i < big.length; i += 1460) rig.socket.deliver(big.subarray(i, i + 1460));
    rig.socket.deliver(Broker.publish(`pipewatch/${DEV}/cmd`, 'after', 1, 4322));
    ok(uplink.connected, `still connected (${uplink.stats.lastCloseReason})`);
    equal(uplink.client.stats.protocolErrors, 0);
    equal(uplink.stats.discarded, 1, 'counted');
    equal(uplink.client.stats.discarded, 1);
    ok(logs.some((m) => m.indexOf('200024-byte') >= 0 && m.indexOf(`pipewatch/${DEV}/ota`) >= 0), `logged: ${logs.join(' | ')}`);
    deepEqual(got, ['after'], 'the dropped message never reached onCommand; the next one did');
    deepEqual(hooked, [[`pipewatch/${DEV}/ota`, 200_024]], 'onDiscarded hook');
    const acks = rig.socket.packets().filter((p) => p.type === 4);
    deepEqual(acks.map((p) => Array.from(p.bytes)), [[0x40, 2, 0x10, 0xe1], [0x40, 2, 0x10, 0xe2]], 'PUBACK for both, in order');
    for (let i = 0; i < 5; i++) uplink.noteStored(store.append(reading(i)), reading(i));
    rig.advance(100);
    equal(store.pending, 0, 'readings still delivered');
    expectAll(delivered(broker.state.received), 5);
  },

  'an oversized retained QoS 0 message is dropped at every subscribe without closing'() {
    const { rig, store, uplink } = setup({ backoffBaseMs: 50 });
    const broker = politeBroker(rig);
    const answer = rig.onPackets!;
    rig.onPackets = (socket, packets) => {
      answer(socket, packets);
      for (const p of packets) if (p.type === 8 && p.topic.endsWith('/cmd')) socket.deliver(Broker.publishRaw(textBytes(p.topic), 5000, 0x01));
    };
    uplink.start();
    rig.advance(50);
    rig.socket.fail();
    rig.advance(1000);
    ok(uplink.connected);
    equal(uplink.stats.discarded, 2, 'once per subscribe');
    equal(rig.socket.packets().filter((p) => p.type === 4).length, 0, 'no PUBACK for QoS 0');
    for (let i = 0; i < 3; i++) uplink.noteStored(store.append(reading(i)), reading(i));
    rig.advance(100);
    equal(store.pending, 0);
    expectAll(delivered(broker.state.received), 3);
  },

  'decoder: an oversized PUBLISH split at every boundary is skipped, and what follows decodes'() {
    const topic = textBytes(`pipewatch/${DEV}/ota`);
    const big = Broker.publishRaw(topic, 300, 0x02, 0x1234);
    const small = Broker.publishRaw(topic, 3, 0x02, 0x1235, 0x41);
    const script = new Uint8Array([...Broker.suback(1), ...big, ...small, ...Broker.pingresp()]);
    const want = 'suback:1 discard:4660:324:ota publish:4661:AAA pingresp';
    const run = (cuts: number[]) => {
      const d = new Decoder(64);
      const p = newInbound();
      const seen: string[] = [];
      let from = 0;
      for (const cut of [...cuts, script.length]) {
        let bytes = script.subarray(from, cut);
        from = cut;
        while (bytes.length > 0) {
          const taken = d.push(bytes);
          bytes = bytes.subarray(taken);
          for (;;) {
            const r = d.next(p);
            if (r === 'more') break;
            const text = (a: number, b: number) => bytesToText(d.buffer.subarray(a, b));
            if (r === 'discard') seen.push(`discard:${p.packetId}:${p.remaining}:${text(p.topicEnd - 3, p.topicEnd)}`);
            else if (r !== 'packet') {
              seen.push(r); // after an error the connection is closed: nothing more is decoded
              return seen.join(' ');
            }
            else if (p.type === PacketType.SUBACK) seen.push(`suback:${p.packetId}`);
            else if (p.type === PacketType.PUBLISH) seen.push(`publish:${p.packetId}:${text(p.payloadStart, p.payloadEnd)}`);
            else if (p.type === PacketType.PINGRESP) seen.push('pingresp');
          }
          if (taken === 0 && bytes.length > 0) throw new Error('stuck');
        }
      }
      equal(d.skipping, 0);
      return seen.join(' ');
    };
    equal(run([]), want, 'one chunk');
    for (let cut = 1; cut < script.length; cut++) equal(run([cut]), want, `cut at ${cut}`);
    const each: number[] = [];
    for (let i = 1; i < script.length; i++) each.push(i);
    equal(run(each), want, 'byte by byte');
  },

  // Issue 11, item 12: inbound topics, DUP on QoS 0, and CONNACK session present with a refusal.

  'ill-formed topic names, DUP on QoS 0 close the connection, each with its reason'() {
    const base = textBytes(`pipewatch/${DEV}/cmd`);
    const cases: Array<[Uint8Array, string, string]> = [
      [Broker.publishRaw([...base, 0xc0, 0x80], 1, 0x02, 9), 'E_MQTT_UTF8', 'overlong U+0000 (C0 80)'],
      [Broker.publishRaw([...base, 0xe0, 0x80, 0xaf], 1, 0x02, 9), 'E_MQTT_UTF8', 'overlong "/" (E0 80 AF)'],
      [Broker.publishRaw([...base, 0xed, 0xa0, 0x80], 1, 0x02, 9), 'E_MQTT_UTF8', 'surrogate U+D800 (ED A0 80)'],
      [Broker.publishRaw([...base, 0xf4, 0x90, 0x80, 0x80], 1, 0x02, 9), 'E_MQTT_UTF8', 'above U+10FFFF'],
      [Broker.publishRaw([...base, 0xe2, 0x82], 1, 0x02, 9), 'E_MQTT_UTF8', 'truncated sequence at the end'],
      [Broker.publishRaw([...base, 0x80], 1, 0x02, 9), 'E_MQTT_UTF8', 'lone continuation byte'],
      [Broker.publishRaw([...base, 0xff], 1, 0x02, 9), 'E_MQTT_UTF8', '0xFF'],
      [Broker.publishRaw([...base, 0x00], 1, 0x00), 'E_MQTT_UTF8', 'U+0000 [MQTT-1.5.3-2]'],
      [Broker.publishRaw(textBytes(`pipewatch/${DEV}/+`), 1, 0x00), 'E_MQTT_TOPIC', '+ [MQTT-3.3.2-2]'],
      [Broker.publishRaw(textBytes(`pipewatch/${DEV}/#`), 1, 0x02, 9), 'E_MQTT_TOPIC', '# [MQTT-3.3.2-2]'],
      [Broker.publishRaw(base, 1, 0x08), 'E_MQTT_FLAGS', 'DUP on QoS 0 [MQTT-3.3.1-2]'],
      [Broker.publishRaw([...base, 0xed, 0xbf, 0xbf], 5000, 0x02, 9), 'E_MQTT_UTF8', 'an oversized one is checked too'],
      [Broker.publishRaw(textBytes(`pipewatch/${DEV}/#`), 5000, 0x00), 'E_MQTT_TOPIC', 'an oversized one with a wildcard'],
      [Broker.publishRaw(base, 5000, 0x08), 'E_MQTT_FLAGS', 'an oversized one with DUP on QoS 0'],
    ];
    for (const [bytes, reason, what] of cases) {
      const got: string[] = [];
      const { rig, store, uplink } = setup({ backoffBaseMs: 50, onCommand: (t) => got.push(t) });
      politeBroker(rig);
      uplink.start();
      rig.advance(50);
      rig.socket.deliver(bytes);
      equal(uplink.connected, false, what);
      equal(uplink.stats.lastCloseReason, reason, what);
      equal(uplink.client.stats.protocolErrors, 1, `${what}: counted`);
      deepEqual(got, [], `${what}: not handed on`);
      equal(rig.socket.packets().filter((p) => p.type === 4).length, 0, `${what}: no PUBACK`);
      rig.advance(500);
      ok(uplink.connected, `${what}: reconnected`);
      uplink.noteStored(store.append(reading(0)), reading(0));
      rig.advance(50);
      equal(store.pending, 0, `${what}: delivering again`);
    }
  },

  'well-formed non-ASCII topic names pass (2-, 3-, 4-byte sequences, a BOM kept)'() {
    const { rig, uplink } = setup();
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    // "pipewatch/ü€😀\uFEFF/cmd": valid, but not this node's topic.
    rig.socket.deliver(Broker.publishRaw([...textBytes('pipewatch/'), 0xc3, 0xbc, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xef, 0xbb, 0xbf, ...textBytes('/cmd')], 2, 0x02, 5));
    ok(uplink.connected, uplink.stats.lastCloseReason);
    equal(uplink.stats.unexpectedMessages, 1);
    equal(uplink.client.stats.protocolErrors, 0);
  },

  'a CONNACK refusal with session present 1 is a protocol error [MQTT-3.2.2-4]'() {
    for (let rc = 1; rc <= 5; rc++) {
      const { rig, uplink } = setup();
      rig.onPackets = (socket, packets) => {
        for (const p of packets) if (p.type === 1) socket.deliver(Broker.connack(rc, true));
      };
      uplink.start();
      rig.advance(50);
      equal(uplink.connected, false);
      equal(uplink.stats.lastCloseReason, 'E_MQTT_FIELD', `rc ${rc}`);
      equal(uplink.client.stats.protocolErrors, 1);
    }
    const { rig, uplink } = setup();
    politeBroker(rig, { sessionPresent: true });
    uplink.start();
    rig.advance(50);
    ok(uplink.connected, 'session present with rc 0 is fine');
  },

  // Issue 11, item 13: client id, user name and password in UTF-8; binary passwords as bytes.

  'user name and password go out as UTF-8 with byte lengths; a Uint8Array password as is'() {
    const fields = (connect: SentPacket) => {
      const b = connect.body;
      const out: number[][] = [];
      let p = 10;
      while (p < b.length) {
        const n = (b[p]! << 8) | b[p + 1]!;
        out.push(Array.from(b.subarray(p + 2, p + 2 + n)));
        p += 2 + n;
      }
      return out;
    };
    const a = setup({ username: 'jörg', password: 'pässwörd€😀\u0000' });
    politeBroker(a.rig);
    a.uplink.start();
    a.rig.advance(50);
    ok(a.uplink.connected);
    const f = fields(a.rig.socket.packets()[0]!);
    equal(f.length, 5, 'client id, will topic, will message, user name, password');
    deepEqual(f[3], [0x6a, 0xc3, 0xb6, 0x72, 0x67], 'jörg');
    deepEqual(f[4], [0x70, 0xc3, 0xa4, 0x73, 0x73, 0x77, 0xc3, 0xb6, 0x72, 0x64, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0x00], 'pässwörd€😀 NUL');
    const secret = new Uint8Array([0x00, 0xff, 0x80, 0x7f, 0xc0]);
    const b = setup({ username: 'u', password: secret });
    politeBroker(b.rig);
    b.uplink.start();
    b.rig.advance(50);
    secret[0] = 9;
    deepEqual(fields(b.rig.socket.packets()[0]!)[4], [0x00, 0xff, 0x80, 0x7f, 0xc0], 'bytes as given, copied at configuration');
  },

  'credentials that cannot be sent are refused at configuration with a clear error'() {
    const cases: Array<[Partial<UplinkOptions>, string]> = [
      [{ username: 'a\u0000b' }, 'MQTT user name has U+0000'],
      [{ username: 'a\ud800b' }, 'MQTT user name has U+0000 or a lone surrogate'],
      [{ username: 'u', password: 'x\udc00' }, 'MQTT password has a lone surrogate'],
      [{ username: 'é'.repeat(40_000) }, 'MQTT user name is 80000 bytes in UTF-8'],
      [{ username: 'u', password: new Uint8Array(65536) }, 'MQTT password is 65536 bytes'],
      [{ password: 'p' }, 'MQTT password without a user name'],
      [{ willQos: 3 as never }, 'MQTT will QoS 3'],
      [{ keepaliveSec: 70_000 }, 'MQTT keepalive 70000'],
    ];
    for (const [options, message] of cases) {
      let error = '';
      try {
        setup(options);
      } catch (e) {
        error = (e as Error).message;
      }
      ok(error.indexOf(message) === 0, `${message}: got "${error}"`);
    }
  },

  'a CONNECT larger than the packet buffer is refused at configuration, to the byte (before: "socket" at every attempt)'() {
    let error = '';
    try {
      setup({ username: 'u', password: '\u00e4'.repeat(500) });
    } catch (e) {
      error = (e as Error).message;
    }
    ok(/^MQTT CONNECT would be \d+ bytes, more than the 1024-byte transmit buffer/.test(error), error);
    // The longest password that is accepted makes a CONNECT of exactly 1024 bytes, and it is sent.
    const fits = (length: number) => {
      try {
        setup({ username: 'u', password: 'x'.repeat(length) });
        return true;
      } catch {
        return false;
      }
    };
    let n = 0;
    for (let high = 1024; n < high; ) {
      const mid = Math.ceil((n + high) / 2);
      if (fits(mid)) n = mid;
      else high = mid - 1;
    }
    const { rig, uplink } = setup({ username: 'u', password: 'x'.repeat(n) });
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    ok(uplink.connected, `a ${n}-byte password`);
    equal(rig.socket.packets()[0]!.bytes.length, 1024, 'the CONNECT fills the buffer exactly');
    const big = setup({ username: 'u', password: '\u00e4'.repeat(500), maxPacketBytes: 2048 });
    politeBroker(big.rig);
    big.uplink.start();
    big.rig.advance(50);
    ok(big.uplink.connected, 'with a larger packet buffer');
  },

  // Issue 11, item 14: keepalive 0 and the will's QoS.

  'keepalive 0: no PINGREQ at all, and no half-open detector'() {
    const { rig, uplink } = setup({ keepaliveSec: 0 });
    politeBroker(rig);
    uplink.start();
    rig.advance(50);
    ok(uplink.connected);
    const b = rig.socket.packets()[0]!.body;
    equal((b[8]! << 8) | b[9]!, 0, 'keepalive 0 in CONNECT');
    rig.advance(3_600_000);
    ok(uplink.connected);
    equal(rig.socket.packets().filter((p) => p.type === 12).length, 0, 'no PINGREQ');
  },

  'will QoS is an option: 0, 1 (default) or 2 in the CONNECT flags'() {
    for (const [willQos, bits] of [[undefined, 0x08], [0, 0x00], [1, 0x08], [2, 0x10]] as const) {
      const { rig, uplink } = setup(willQos === undefined ? {} : { willQos });
      politeBroker(rig);
      uplink.start();
      rig.advance(50);
      equal(rig.socket.packets()[0]!.body[7], 0x20 | bits | 0x04, `will QoS ${willQos}`);
    }
  },

  'UTF-8: the hand encoder and the topic checker agree with TextEncoder/TextDecoder on random input'() {
    const random = new Xoshiro128(1153);
    const encoder = new TextEncoder();
    // The oracle (test only): a fatal UTF-8 decoder, as the Unicode standard defines it.
    const Fatal = TextDecoder as unknown as new (label: string, options: { fatal: boolean }) => { decode(b: Uint8Array): string };
    const decoder = new Fatal('utf-8', { fatal: true });
    const pick = [0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xfeff, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff, 0x1f600];
    for (let round = 0; round < 300; round++) {
      let s = '';
      const n = 1 + Math.floor(random.next() * 12);
      for (let i = 0; i < n; i++) {
        const r = random.next();
        const cp = r < 0.5 ? pick[Math.floor(random.next() * pick.length)]! : Math.floor(random.next() * 0x110000);
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        s += String.fromCodePoint(cp === 0 ? 1 : cp);
      }
      deepEqual(Array.from(mqttBinaryBytes(s, 'x')), Array.from(encoder.encode(s)), `encode ${JSON.stringify(s)}`);
    }
    for (let round = 0; round < 3000; round++) {
      const n = 1 + Math.floor(random.next() * 6);
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const r = random.next();
        bytes[i] = r < 0.3 ? 0x80 + Math.floor(random.next() * 64) : r < 0.6 ? 0xc0 + Math.floor(random.next() * 64) : Math.floor(random.next() * 256);
      }
      let want: string | undefined;
      try {
        const text = decoder.decode(bytes);
        want = text.indexOf('\u0000') >= 0 ? 'E_MQTT_UTF8' : text.indexOf('+') >= 0 || text.indexOf('#') >= 0 ? 'E_MQTT_TOPIC' : undefined;
      } catch {
        want = 'E_MQTT_UTF8';
      }
      const got = topicNameError(bytes, 0, n);
      // Both a wildcard and ill-formed bytes: either reason is a correct refusal.
      if (want === 'E_MQTT_UTF8' && got === 'E_MQTT_TOPIC') continue;
      equal(got, want, `check ${Array.from(bytes).map((b) => b.toString(16)).join(' ')}`);
    }
  },
};
