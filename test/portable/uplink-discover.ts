/*
 * The broker found on its own (issue 16 item 4), portable (Node and XS): an uplink given no
 * broker searches `_mqtt._tcp` by mDNS over the host's UDP socket (firmware/provision/mdns.ts
 * BrokerSearch), connects to the answer, falls back to the build's default, searches again when
 * the found broker stops answering, and counts what it did. The UDP class here keeps lwIP's
 * rules (modules/io/socket/lwip/udp.c): a dotted IPv4 destination, datagrams read one at a time.
 */
import type { Bytes, UDPDatagram, UDPOptions } from '../../firmware/host';
import { RamStore } from '../../firmware/outbox';
import { BrokerSearch, MDNS_ADDRESS, MDNS_PORT, writeMqttQuery } from '../../firmware/provision/mdns';
import { SEARCH_AGAIN_AFTER, Uplink, type UplinkOptions } from '../../firmware/uplink/uplink';
import { deepEqual, equal, ok } from '../harness/assert';
import { politeBroker, Rig } from './uplink-rig';
import { name, record, u16 } from './dns-bytes';

interface Sent {
  bytes: number[];
  address: string;
  port: number;
}

/** A fake UDP world: every socket's writes, and answers delivered to the open sockets. */
class Air {
  readonly sent: Sent[] = [];
  readonly sockets: Array<{ open: boolean; deliver(bytes: ArrayLike<number>): void }> = [];
  opened = 0;
  failConstructor = false;
  /** Writes throw as lwIP's udp_sendto does without a route ("UDP send failed"). */
  failSend = false;

  constructor(readonly rig: Rig) {}

  install(): void {
    const air = this;
    this.rig.host.io.UDP = class {
      readonly #waiting: UDPDatagram[] = [];
      readonly #me: { open: boolean; deliver(bytes: ArrayLike<number>): void };
      constructor(options: UDPOptions) {
        if (air.failConstructor) throw new Error('no network');
        air.opened++;
        const me = {
          open: true,
          deliver: (bytes: ArrayLike<number>) => {
            if (!me.open) return;
            const d = Uint8Array.from(Array.from(bytes)).buffer as UDPDatagram;
            d.address = '192.168.1.20';
            d.port = MDNS_PORT;
            this.#waiting.push(d);
            air.rig.setTimer(() => options.onReadable?.(this.#waiting.length), 0);
          },
        };
        this.#me = me;
        air.sockets.push(me);
      }
      read(): UDPDatagram | undefined {
        return this.#waiting.shift();
      }
      write(buffer: Bytes, address: string, port: number): void {
        if (!this.#me.open) throw new Error('closed');
        if (air.failSend) throw new Error('UDP send failed');
        if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) throw new RangeError('invalid IP address');
        const b = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        air.sent.push({ bytes: Array.from(b), address, port });
      }
      close(): void {
        this.#me.open = false;
      }
    };
  }

  /** Answers on every open socket, as a responder's unicast reply would reach the asker. */
  answer(bytes: ArrayLike<number>): void {
    for (const s of this.sockets) s.deliver(bytes);
  }

  get openSockets(): number {
    return this.sockets.filter((s) => s.open).length;
  }
}

/** A response naming `<instance>._mqtt._tcp.local` at host `target` (with its A record when `ip` is given) and `port`. */
function answer(instance: string, target: string, port: number, ip?: number[]): number[] {
  const full = `${instance}._mqtt._tcp.local`;
  const records = [record(name('_mqtt._tcp.local'), 12, name(full)), record(name(full), 33, [0, 0, 0, 0, ...u16(port), ...name(target)])];
  if (ip) records.push(record(name(target), 1, ip));
  return [0, 0, 0x84, 0, 0, 0, ...u16(1), 0, 0, ...u16(records.length - 1), ...records.flat()];
}

function setup(options: Partial<UplinkOptions> = {}) {
  const rig = new Rig(3);
  const air = new Air(rig);
  air.install();
  const search = new BrokerSearch(rig.host);
  const store = new RamStore(64);
  const uplink = new Uplink(rig.host, store, { deviceId: 'node-9', address: '', port: 1883, keepaliveSec: 60, locate: search, backoffBaseMs: 1000, ...options });
  return { rig, air, search, uplink };
}

const QUERY = (() => {
  const out = new Uint8Array(64);
  return Array.from(out.subarray(0, writeMqttQuery(out)));
})();

export const tests = {
  'no broker set: one-shot queries to 224.0.0.251:5353, then the answer\'s address and port'() {
    const { rig, air, search, uplink } = setup();
    politeBroker(rig);
    uplink.start();
    rig.advance(10);
    equal(air.sent.length, 0, 'the first query waits 20 to 119 ms (RFC 6762 §5.2)');
    rig.advance(110);
    equal(air.sent.length, 1, 'first query within 120 ms');
    deepEqual(air.sent[0], { bytes: QUERY, address: MDNS_ADDRESS, port: MDNS_PORT });
    equal(rig.sockets.length, 0, 'no TCP before an answer');
    rig.advance(1500);
    equal(air.sent.length, 2, 'second query after 1 s');
    air.answer(answer('station', 'station.local', 11883, [192, 168, 1, 20]));
    rig.advance(50);
    ok(uplink.connected, 'connected to the found broker');
    equal(rig.socket.options.address, '192.168.1.20');
    equal(rig.socket.options.port, 11883);
    equal(air.openSockets, 0, 'the search socket is closed');
    rig.advance(10_000);
    equal(air.sent.length, 2, 'no query after the answer');
    deepEqual([uplink.stats.searches, uplink.stats.brokersFound, uplink.stats.defaultBroker], [1, 1, 0]);
    deepEqual([search.stats.searches, search.stats.queries, search.stats.messages, search.stats.notFound], [1, 2, 1, 0]);
  },

  'over TLS the found broker\'s host name is the server name its certificate must carry'() {
    const { rig, air, uplink } = setup({ secure: { ca: 'PEM' }, port: 8883 });
    politeBroker(rig);
    uplink.start();
    rig.advance(10);
    air.answer(answer('plant', 'broker7.local', 8883, [10, 0, 0, 7]));
    rig.advance(50);
    ok(uplink.connected);
    equal(rig.socket.options.address, '10.0.0.7');
    deepEqual(rig.socket.secure, { ca: 'PEM', serverName: 'broker7.local' });
  },

  'no answer in 5 s: the build\'s default broker; the search is counted'() {
    const { rig, air, search, uplink } = setup({ address: '10.9.9.9', port: 1884 });
    politeBroker(rig);
    uplink.start();
    rig.advance(4_900);
    equal(rig.sockets.length, 0, 'still searching');
    equal(air.sent.length, 3, 'queries at 0, 1 and 3 s');
    rig.advance(200);
    ok(uplink.connected, 'on the default');
    equal(rig.socket.options.address, '10.9.9.9');
    equal(rig.socket.options.port, 1884);
    deepEqual([uplink.stats.searches, uplink.stats.brokersFound, uplink.stats.defaultBroker], [1, 0, 1]);
    deepEqual([search.stats.notFound, air.openSockets], [1, 0]);
  },

  'no answer and no default: no connection, backs off, searches again, and connects once one answers'() {
    const { rig, air, uplink } = setup();
    politeBroker(rig);
    uplink.start();
    rig.advance(60_000);
    equal(rig.sockets.length, 0);
    ok(uplink.stats.searches >= 3, `searched again: ${uplink.stats.searches}`);
    equal(uplink.stats.lastCloseReason, 'no-broker');
    equal(uplink.stats.connectFailures, uplink.stats.searches - (air.openSockets ? 1 : 0));
    rig.advance(600_000);
    for (let i = 0; i < 200 && air.openSockets === 0; i++) rig.advance(1000);
    equal(air.openSockets, 1, 'a later search is under way');
    air.answer(answer('late', 'late.local', 1883, [10, 0, 0, 3]));
    rig.advance(100);
    ok(uplink.connected, 'connected after a later search');
    equal(rig.socket.options.address, '10.0.0.3');
  },

  'a found broker that stops answering is searched for again and followed to its new address'() {
    const { rig, air, uplink } = setup();
    politeBroker(rig);
    uplink.start();
    rig.advance(10);
    air.answer(answer('station', 'station.local', 1883, [10, 0, 0, 1]));
    rig.advance(50);
    ok(uplink.connected);
    rig.refuse = true;
    rig.socket.fail();
    let guard = 0;
    while (uplink.stats.searches < 2 && guard++ < 1000) rig.advance(1000);
    equal(uplink.stats.searches, 2, 'searched again');
    equal(uplink.stats.connectFailures, SEARCH_AGAIN_AFTER, 'after this many failures in a row');
    rig.refuse = false;
    air.answer(answer('station', 'station.local', 1883, [10, 0, 0, 2]));
    rig.advance(100);
    ok(uplink.connected, 'reconnected');
    equal(rig.socket.options.address, '10.0.0.2');
  },

  'garbage, malformed and unrelated answers are counted and ignored; the next good one wins'() {
    const { rig, air, search, uplink } = setup();
    politeBroker(rig);
    uplink.start();
    rig.advance(10);
    air.answer([1, 2, 3]);
    air.answer(answer('station', 'station.local', 1883, [10, 0, 0, 1]).slice(0, 40));
    const other = answer('x', 'x.local', 1883);
    other[14] = 0x78; // the PTR owner is now _xqtt._tcp.local: an answer about something else
    air.answer(other);
    air.answer(Uint8Array.from(QUERY));
    rig.advance(10);
    equal(rig.sockets.length, 0);
    air.answer(answer('station', 'station.local', 1883, [10, 0, 0, 1]));
    rig.advance(50);
    ok(uplink.connected);
    equal(search.stats.malformed, 3, 'three malformed (short, truncated, a query)');
    equal(search.stats.messages, 5);
  },

  'a socket that cannot open (no network) or a query the network refuses is no search: no default, searched again once it works'() {
    const { rig, air, search, uplink } = setup({ address: '10.0.0.5' });
    politeBroker(rig);
    air.failConstructor = true;
    uplink.start();
    rig.advance(100);
    equal(rig.sockets.length, 0, 'not the default: nothing was searched');
    equal(search.stats.socketErrors, 1);
    air.failSend = true;
    air.failConstructor = false;
    let guard = 0;
    while (search.stats.socketErrors < 2 && guard++ < 100) rig.advance(500);
    equal(search.stats.socketErrors, 2, 'the refused query ended that search too');
    equal(rig.sockets.length, 0);
    equal(air.openSockets, 0, 'its socket closed');
    air.failSend = false;
    guard = 0;
    while (air.sent.length === 0 && guard++ < 100) rig.advance(500);
    air.answer(answer('station', 'station.local', 1883, [10, 0, 0, 8]));
    rig.advance(50);
    ok(uplink.connected);
    equal(rig.socket.options.address, '10.0.0.8');
    equal(uplink.stats.defaultBroker, 0);
  },

  'a host with no UDP at all: the default broker at once'() {
    const b = setup({ address: '10.0.0.6' });
    politeBroker(b.rig);
    delete (b.rig.host.io as { UDP?: unknown }).UDP;
    b.uplink.start();
    b.rig.advance(100);
    ok(b.uplink.connected);
    equal(b.rig.socket.options.address, '10.0.0.6');
    deepEqual([b.search.stats.socketErrors, b.search.stats.notFound, b.uplink.stats.defaultBroker], [1, 1, 1]);
  },

  'stop() during a search closes its socket, and nothing connects afterwards'() {
    const { rig, air, uplink } = setup({ address: '10.0.0.5' });
    politeBroker(rig);
    uplink.start();
    rig.advance(10);
    equal(air.openSockets, 1);
    uplink.stop();
    equal(air.openSockets, 0);
    rig.advance(60_000);
    equal(rig.sockets.length, 0);
  },
};
