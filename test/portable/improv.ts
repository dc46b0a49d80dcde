/*
 * Improv Wi-Fi over serial (firmware/provision/improv.ts) against the published packet
 * sequences, over a strict simulated UART (simulator/devices/serial.ts) on virtual time.
 * Expected frames are written out byte by byte, computed by hand from the spec
 * (https://www.improv-wifi.com/serial/): "IMPROV" = 0x49 0x4d 0x50 0x52 0x4f 0x56, whose bytes
 * sum to 0x1dd, so e.g. state ready is 0x1dd + 01 + 01 + 01 + 02 = 0x1e2: checksum 0xe2.
 */
import { Improv, type ImprovOptions } from '../../firmware/provision/improv';
import { SimSerialLink, type SimSerialClock, UART_FIFO_BYTES } from '../../simulator/devices/serial';
import { deepEqual, equal, ok, throws } from '../harness/assert';

class ManualClock implements SimSerialClock {
  nowMs = 0;
  #id = 1;
  #order = 0;
  readonly #timers = new Map<number, { due: number; order: number; callback: () => void }>();
  now(): number {
    return this.nowMs;
  }
  set(callback: () => void, ms: number): number {
    const id = this.#id++;
    this.#timers.set(id, { due: this.nowMs + Math.max(0, ms), order: this.#order++, callback });
    return id;
  }
  clear(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      let next: number | undefined;
      for (const [id, t] of this.#timers) {
        if (t.due > target) continue;
        const n = next === undefined ? undefined : this.#timers.get(next)!;
        if (!n || t.due < n.due || (t.due === n.due && t.order < n.order)) next = id;
      }
      if (next === undefined) break;
      const t = this.#timers.get(next)!;
      this.#timers.delete(next);
      if (t.due > this.nowMs) this.nowMs = t.due;
      t.callback();
    }
    this.nowMs = target;
  }
}

const H = [0x49, 0x4d, 0x50, 0x52, 0x4f, 0x56, 0x01];
const NL = 0x0a;
const READY = [...H, 0x01, 0x01, 0x02, 0xe2, NL];
const PROVISIONING = [...H, 0x01, 0x01, 0x03, 0xe3, NL];
const PROVISIONED = [...H, 0x01, 0x01, 0x04, 0xe4, NL];
const ERROR_NONE = [...H, 0x02, 0x01, 0x00, 0xe1, NL];
const ERROR_INVALID = [...H, 0x02, 0x01, 0x01, 0xe2, NL];
const ERROR_UNKNOWN_RPC = [...H, 0x02, 0x01, 0x02, 0xe3, NL];
const ERROR_UNABLE = [...H, 0x02, 0x01, 0x03, 0xe4, NL];
const ERROR_UNKNOWN = [...H, 0x02, 0x01, 0xff, 0xe0, NL];
/** The spec's example: SSID "MyWirelessAP", password "mysecurepassword". */
const WIFI = [
  ...H, 0x03, 0x20, 0x01, 0x1e, 0x0c, 0x4d, 0x79, 0x57, 0x69, 0x72, 0x65, 0x6c, 0x65, 0x73, 0x73, 0x41, 0x50, 0x10, 0x6d,
  0x79, 0x73, 0x65, 0x63, 0x75, 0x72, 0x65, 0x70, 0x61, 0x73, 0x73, 0x77, 0x6f, 0x72, 0x64, 0xc1,
];
const GET_STATE = [...H, 0x03, 0x02, 0x02, 0x00, 0xe5];
const GET_INFO = [...H, 0x03, 0x02, 0x03, 0x00, 0xe6];
const SCAN = [...H, 0x03, 0x02, 0x04, 0x00, 0xe7];
/** RPC result for 0x01: ["http://192.168.1.20/node/node-001"]. */
const URL_RESULT = [
  ...H, 0x04, 0x24, 0x01, 0x22, 0x21, 0x68, 0x74, 0x74, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x39, 0x32, 0x2e, 0x31, 0x36, 0x38,
  0x2e, 0x31, 0x2e, 0x32, 0x30, 0x2f, 0x6e, 0x6f, 0x64, 0x65, 0x2f, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x30, 0x30, 0x31, 0x62, NL,
];
/** RPC result for 0x03: ["pipewatch", "1.2.0", "ESP32", "node-001"]. */
const INFO_RESULT = [
  ...H, 0x04, 0x21, 0x03, 0x1f, 0x09, 0x70, 0x69, 0x70, 0x65, 0x77, 0x61, 0x74, 0x63, 0x68, 0x05, 0x31, 0x2e, 0x32, 0x2e,
  0x30, 0x05, 0x45, 0x53, 0x50, 0x33, 0x32, 0x08, 0x6e, 0x6f, 0x64, 0x65, 0x2d, 0x30, 0x30, 0x31, 0xa5, NL,
];
/** RPC result for 0x04: ["Plant-Floor", "-61", "YES"], then the empty result. */
const SCAN_RESULT = [
  ...H, 0x04, 0x16, 0x04, 0x14, 0x0b, 0x50, 0x6c, 0x61, 0x6e, 0x74, 0x2d, 0x46, 0x6c, 0x6f, 0x6f, 0x72, 0x03, 0x2d, 0x36,
  0x31, 0x03, 0x59, 0x45, 0x53, 0xd4, NL,
];
const SCAN_END = [...H, 0x04, 0x02, 0x04, 0x00, 0xe8, NL];

/** A client-side frame builder (test code, not the firmware's). */
function packet(type: number, data: number[]): number[] {
  const bytes = [...H, type, data.length, ...data];
  let sum = 0;
  for (const b of bytes) sum += b;
  return [...bytes, sum & 0xff];
}
function ascii(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}
function wifi(ssid: number[], password: number[]): number[] {
  return packet(0x03, [0x01, ssid.length + password.length + 2, ssid.length, ...ssid, password.length, ...password]);
}

interface RigOptions {
  joins?: 'ok' | 'fail' | 'never' | 'throw';
  joinMs?: number;
  save?: boolean;
  networks?: Array<[string, number, boolean]>;
  provisioned?: boolean;
  txBufferBytes?: number;
}

function rig(options: RigOptions = {}) {
  const clock = new ManualClock();
  const link = new SimSerialLink(clock, { baud: 115200 });
  const calls: string[] = [];
  const saved: Array<[string, string]> = [];
  const host = { clock: { monotonic: clock, wall: { now: () => undefined } }, timers: clock } as ImprovOptions['host'];
  const improv = new Improv({
    serial: { io: link.classes().Serial, baud: 115200, receive: 3, transmit: 1 },
    host,
    info: { firmware: 'pipewatch', version: '1.2.0', chip: 'ESP32', name: 'node-001' },
    provisioned: options.provisioned,
    txBufferBytes: options.txBufferBytes,
    connect(ssid, password, done) {
      calls.push(`connect ${ssid} ${password}`);
      const joins = options.joins ?? 'ok';
      if (joins === 'throw') throw new Error('radio off');
      if (joins !== 'never') clock.set(() => done(joins === 'ok'), options.joinMs ?? 2000);
    },
    cancel() {
      calls.push('cancel');
    },
    save(ssid, password) {
      saved.push([ssid, password]);
      return options.save ?? true;
    },
    scan(onNetwork, onDone) {
      clock.set(() => {
        for (const [ssid, rssi, secure] of options.networks ?? []) onNetwork(ssid, rssi, secure);
        onDone();
      }, 1500);
    },
    url: () => 'http://192.168.1.20/node/node-001',
    onProvisioned(ssid) {
      calls.push(`provisioned ${ssid}`);
    },
  });
  clock.advance(1);
  const out = () => Array.from(link.take());
  /** Sends bytes, lets `ms` of virtual time pass, returns what the node sent meanwhile. */
  const exchange = (bytes: number[], ms = 50) => {
    link.send(bytes);
    clock.advance(ms);
    return out();
  };
  return { clock, link, improv, calls, saved, out, exchange };
}

export const tests = {
  'announce: state ready (0x02), byte-exact, with a newline after the packet'() {
    const r = rig();
    r.improv.announce();
    r.clock.advance(5);
    deepEqual(r.out(), READY);
  },
  'RPC 0x02 request state while ready: error 0x00 (the spec clears it on each RPC), then state 0x02'() {
    const r = rig();
    deepEqual(r.exchange(GET_STATE), [...ERROR_NONE, ...READY]);
  },
  'RPC 0x03 device info: firmware name, version, chip, device name'() {
    const r = rig();
    deepEqual(r.exchange(GET_INFO), [...ERROR_NONE, ...INFO_RESULT]);
  },
  'RPC 0x04 scan: one result per network (SSID, RSSI, YES/NO), hidden networks skipped, then an empty result'() {
    const r = rig({ networks: [['Plant-Floor', -61, true], ['', -40, false]] });
    deepEqual(r.exchange(SCAN, 2000), [...ERROR_NONE, ...SCAN_RESULT, ...SCAN_END]);
    const open = rig({ networks: [['guest', -70.4, false]] });
    deepEqual(open.exchange(SCAN, 2000), [...ERROR_NONE, ...packet(0x04, [0x04, 13, 5, ...ascii('guest'), 3, ...ascii('-70'), 2, ...ascii('NO')]), NL, ...SCAN_END]);
  },
  'RPC 0x04 with no network: only the empty result'() {
    const r = rig({ networks: [] });
    deepEqual(r.exchange(SCAN, 2000), [...ERROR_NONE, ...SCAN_END]);
  },
  "RPC 0x01 the spec's example: provisioning, then provisioned and the URL; settings saved once joined"() {
    const r = rig({ joinMs: 2000 });
    deepEqual(r.exchange(WIFI, 100), [...ERROR_NONE, ...PROVISIONING]);
    deepEqual(r.calls, ['connect MyWirelessAP mysecurepassword']);
    deepEqual(r.saved, []);
    r.clock.advance(2000);
    deepEqual(r.out(), [...PROVISIONED, ...URL_RESULT]);
    deepEqual(r.saved, [['MyWirelessAP', 'mysecurepassword']]);
    deepEqual(r.calls, ['connect MyWirelessAP mysecurepassword', 'provisioned MyWirelessAP']);
    equal(r.improv.state, 0x04);
    const urlForState = packet(0x04, [0x02, ...URL_RESULT.slice(10, -2)]);
    deepEqual(r.exchange(GET_STATE), [...ERROR_NONE, ...PROVISIONED, ...urlForState, NL]);
  },
  'a node that starts provisioned answers state 0x04 and its URL'() {
    const r = rig({ provisioned: true });
    const out = r.exchange(GET_STATE);
    deepEqual(out.slice(0, ERROR_NONE.length + PROVISIONED.length), [...ERROR_NONE, ...PROVISIONED]);
    equal(out[ERROR_NONE.length + PROVISIONED.length + 9], 0x02, 'result for command 0x02');
  },
  'failed connection: error 0x03 (unable to connect), back to ready, nothing saved'() {
    const r = rig({ joins: 'fail' });
    deepEqual(r.exchange(WIFI, 3000), [...ERROR_NONE, ...PROVISIONING, ...ERROR_UNABLE, ...READY]);
    deepEqual(r.saved, []);
    equal(r.improv.stats.connectFailures, 1);
  },
  'no answer from the join within 30 s: error 0x03, ready, the attempt cancelled'() {
    const r = rig({ joins: 'never' });
    deepEqual(r.exchange(WIFI, 29_000), [...ERROR_NONE, ...PROVISIONING]);
    r.clock.advance(1100);
    deepEqual(r.out(), [...ERROR_UNABLE, ...READY]);
    deepEqual(r.calls, ['connect MyWirelessAP mysecurepassword', 'cancel']);
  },
  'a join that answers after the time-out is ignored'() {
    const r = rig({ joins: 'ok', joinMs: 31_000 });
    r.exchange(WIFI, 30_100);
    r.clock.advance(2000);
    deepEqual(r.out(), []);
    deepEqual(r.saved, []);
    equal(r.improv.state, 0x02);
  },
  'a connect callback that throws: error 0x03, ready, counted, nothing thrown to the host'() {
    const r = rig({ joins: 'throw' });
    deepEqual(r.exchange(WIFI), [...ERROR_NONE, ...PROVISIONING, ...ERROR_UNABLE, ...READY]);
    equal(r.improv.stats.callbackErrors, 1);
  },
  'joined but the settings could not be saved: error 0xFF, ready'() {
    const r = rig({ save: false });
    deepEqual(r.exchange(WIFI, 3000), [...ERROR_NONE, ...PROVISIONING, ...ERROR_UNKNOWN, ...READY]);
    equal(r.improv.stats.saveFailures, 1);
  },
  'new settings while joining replace the attempt: the first is cancelled, its late answer ignored'() {
    const r = rig({ joinMs: 2000 });
    r.exchange(WIFI, 1000);
    r.exchange(wifi(ascii('Plant'), ascii('steam-pipes')), 1500);
    r.clock.advance(1000);
    deepEqual(r.saved, [['Plant', 'steam-pipes']]);
    deepEqual(r.calls, ['connect MyWirelessAP mysecurepassword', 'cancel', 'connect Plant steam-pipes', 'provisioned Plant']);
  },
  'bad checksum: error 0x01 (invalid RPC packet), no join'() {
    const r = rig();
    const bad = WIFI.slice();
    bad[bad.length - 1] ^= 0x01;
    deepEqual(r.exchange(bad), ERROR_INVALID);
    deepEqual(r.calls, []);
    equal(r.improv.stats.badChecksum, 1);
  },
  'unknown command (0x07, get network state, optional): error 0x02'() {
    const r = rig();
    deepEqual(r.exchange(packet(0x03, [0x07, 0x00])), [...ERROR_UNKNOWN_RPC]);
    deepEqual(r.exchange(packet(0x03, [0x00, 0x00])), [...ERROR_UNKNOWN_RPC]);
    equal(r.improv.stats.unknownRpc, 2);
  },
  'wrong lengths: the RPC data length disagreeing with the packet, or settings that do not fill it: error 0x01'() {
    const r = rig();
    deepEqual(r.exchange(packet(0x03, [0x02, 0x01])), ERROR_INVALID, 'says 1 data byte, has none');
    deepEqual(r.exchange(packet(0x03, [0x02])), ERROR_INVALID, 'no data length byte');
    deepEqual(r.exchange(packet(0x03, [])), ERROR_INVALID, 'empty RPC');
    deepEqual(r.exchange(packet(0x03, [0x01, 4, 1, 0x41, 5, 0x42])), ERROR_INVALID, 'password runs past the end');
    deepEqual(r.exchange(packet(0x03, [0x01, 5, 1, 0x41, 1, 0x42, 0x43])), ERROR_INVALID, 'a byte after the password');
    deepEqual(r.exchange(packet(0x03, [0x01, 2, 0, 0])), ERROR_INVALID, 'empty SSID');
    deepEqual(r.exchange(wifi(new Array(33).fill(0x41), [])), ERROR_INVALID, '33-byte SSID');
    deepEqual(r.exchange(wifi(ascii('a'), new Array(65).fill(0x41))), ERROR_INVALID, '65-byte password');
    deepEqual(r.exchange(wifi([0xc3, 0x28], [])), ERROR_INVALID, 'SSID not UTF-8');
    deepEqual(r.calls, []);
    equal(r.improv.stats.invalidRpc, 9);
  },
  'UTF-8 SSID, open network (empty password), 32-byte SSID and 64-byte password are taken'() {
    const r = rig();
    r.exchange(wifi([0x44, 0xc3, 0xa4, 0x6d, 0x70, 0x66], []), 3000);
    deepEqual(r.saved, [['Dämpf', '']]);
    const s = rig();
    s.exchange(wifi(new Array(32).fill(0x53), new Array(64).fill(0x70)), 3000);
    equal(s.saved[0]![0].length, 32);
    equal(s.saved[0]![1].length, 64);
  },
  'every chunk boundary: the settings packet split in two at each position, then in single bytes, joins the same'() {
    for (let cut = 1; cut < WIFI.length; cut++) {
      const r = rig();
      r.link.send(WIFI.slice(0, cut));
      r.clock.advance(20);
      r.link.send(WIFI.slice(cut));
      r.clock.advance(3000);
      deepEqual(r.out(), [...ERROR_NONE, ...PROVISIONING, ...PROVISIONED, ...URL_RESULT], `cut at ${cut}`);
    }
    const r = rig();
    for (const b of WIFI) {
      r.link.send([b]);
      r.clock.advance(1);
    }
    r.clock.advance(3000);
    deepEqual(r.out(), [...ERROR_NONE, ...PROVISIONING, ...PROVISIONED, ...URL_RESULT], 'byte by byte');
  },
  'garbage between packets (log text, newlines, broken headers "IMPRO", "IIMPROV") is skipped'() {
    const r = rig();
    const noise = [...ascii('boot: ok\r\n'), ...ascii('IMPRO'), 0x0a, ...ascii('IMPRX'), 0x49];
    const out = r.exchange([...noise, ...GET_STATE, 0x0a, 0x00, 0xff, ...GET_INFO, 0x0a]);
    deepEqual(out, [...ERROR_NONE, ...READY, ...ERROR_NONE, ...INFO_RESULT]);
    equal(r.improv.stats.skippedBytes, noise.length + 4);
  },
  'a version other than 1 is dropped silently, and the next packet is answered'() {
    const r = rig();
    const v2 = GET_STATE.slice();
    v2[6] = 2;
    deepEqual(r.exchange([...v2, ...GET_STATE]), [...ERROR_NONE, ...READY]);
    equal(r.improv.stats.badVersion, 1);
  },
  "the node's own packet types (an echo) are ignored"() {
    const r = rig();
    deepEqual(r.exchange([...READY, ...ERROR_UNABLE, ...SCAN_END, ...packet(0x09, [1])]), []);
    equal(r.improv.stats.ignored, 4);
  },
  'a truncated packet: dropped silently after 100 ms without bytes; the next packet is answered'() {
    const r = rig();
    deepEqual(r.exchange(WIFI.slice(0, 20), 150), []);
    deepEqual(r.exchange(GET_STATE), [...ERROR_NONE, ...READY]);
    equal(r.improv.stats.truncated, 1);
    deepEqual(r.calls, []);
  },
  'a truncated packet followed at once by another: error 0x01 (as ESPHome), and the retry is answered'() {
    const r = rig();
    const out = r.exchange([...WIFI.slice(0, 20), ...GET_STATE, ...GET_STATE], 20);
    ok(out.length >= ERROR_INVALID.length);
    deepEqual(out.slice(0, ERROR_INVALID.length), ERROR_INVALID);
    r.clock.advance(200);
    r.out();
    deepEqual(r.exchange(GET_STATE), [...ERROR_NONE, ...READY]);
    deepEqual(r.calls, []);
  },
  'a scan of 40 networks goes out through the 128-byte UART FIFO without an "output full"'() {
    const networks: Array<[string, number, boolean]> = [];
    for (let i = 0; i < 40; i++) networks.push([`network-${i}`, -40 - i, i % 2 === 0]);
    const r = rig({ networks, txBufferBytes: 2048 });
    const out = r.exchange(SCAN, 3000);
    equal(r.link.stats.outputFull, 0);
    equal(r.improv.stats.txErrors, 0);
    let results = 0;
    for (let i = 0; i + 7 < out.length; i++) if (out[i] === 0x49 && out[i + 7] === 0x04) results++;
    equal(results, 41);
    deepEqual(out.slice(-SCAN_END.length), SCAN_END);
  },
  'a full transmit ring drops whole packets and counts them; what is sent stays well-formed'() {
    const networks: Array<[string, number, boolean]> = [];
    for (let i = 0; i < 40; i++) networks.push([`network-${i}`, -40 - i, true]);
    const r = rig({ networks, txBufferBytes: 300 });
    const out = r.exchange(SCAN, 3000);
    ok(r.improv.stats.txDropped > 0);
    for (let p = 0; p < out.length; ) {
      deepEqual(out.slice(p, p + 7), H, `packet at ${p}`);
      const total = 9 + out[p + 8]! + 1;
      equal(out[p + total], NL);
      p += total + 1;
    }
  },
  'close: the port is released, late callbacks do nothing, closing twice is fine'() {
    const r = rig({ joinMs: 2000 });
    r.exchange(WIFI, 100);
    r.improv.close();
    r.improv.close();
    equal(r.link.open, false);
    r.clock.advance(40_000);
    deepEqual(r.saved, []);
  },
  'simulated UART: strict as serial.c (output full, read past the FIFO, port in use, bad baud, closed)'() {
    const clock = new ManualClock();
    const link = new SimSerialLink(clock);
    const { Serial } = link.classes();
    throws(() => new Serial({ baud: 115200 }), /invalid/);
    throws(() => new Serial({ baud: 0, receive: 3 }), /invalid baud/);
    throws(() => new Serial({ baud: 115200, receive: 3, port: 3 }), /invalid port/);
    const writable: number[] = [];
    const port = new Serial({ baud: 115200, receive: 3, transmit: 1, onWritable: (n) => writable.push(n) });
    throws(() => new Serial({ baud: 115200, receive: 3 }), /port in use/);
    clock.advance(1);
    deepEqual(writable, [UART_FIFO_BYTES]);
    throws(() => port.write(new Uint8Array(UART_FIFO_BYTES + 1)), /output full/);
    port.write(new Uint8Array(UART_FIFO_BYTES));
    throws(() => port.write(new Uint8Array(1)), /output full/);
    clock.advance(20);
    equal(link.received.length, UART_FIFO_BYTES);
    deepEqual(writable, [UART_FIFO_BYTES, UART_FIFO_BYTES]);
    equal(port.read(), undefined);
    link.send([1, 2, 3]);
    clock.advance(1);
    throws(() => port.read(4), /waiting/);
    deepEqual(Array.from(new Uint8Array(port.read(2)!)), [1, 2]);
    link.send(new Array(200).fill(7));
    clock.advance(50);
    equal(link.stats.rxLost, 200 + 1 - UART_FIFO_BYTES);
    port.close();
    port.close();
    throws(() => port.read(), /closed/);
    const again = new Serial({ baud: 9600, receive: 3 });
    link.send([0x49]);
    clock.advance(5);
    deepEqual(Array.from(new Uint8Array(again.read()!)), [0], 'wrong baud: a framing error');
    again.close();
  },
};
