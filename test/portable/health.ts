/* The node's health heartbeat (firmware/health.ts) on pipewatch/<dev>/health, through the real uplink and a scripted broker. */
import { PipewatchNode } from '../../firmware/node';
import type { Host } from '../../firmware/host';
import { createBoard } from '../../simulator/board';
import { equal, ok } from '../harness/assert';
import { Rig, bytesToText, politeBroker, type SentPacket } from './uplink-rig';

const MINUTE = 60_000;

function rig(o: { healthIntervalMs?: number; host?: Partial<Host> } = {}) {
  const r = new Rig(3);
  const env = { now: () => r.now, temperature: () => 60, humidity: () => 40, pressure: () => 101325, ambient: () => 25 };
  const board = createBoard([{ part: 'tmp117', address: 0x48 }, { part: 'tmp117', address: 0x49 }], () => env, 5);
  const host: Host = { ...r.host, io: { ...r.host.io, ...board.io }, ...o.host };
  const node = new PipewatchNode(host, {
    deviceId: 'pipe-7',
    broker: { address: '10.0.0.5', port: 1883 },
    sensors: board.sensors,
    healthIntervalMs: o.healthIntervalMs,
    uplink: { backoffBaseMs: 1000, backoffCapMs: 2000 },
  });
  const broker = politeBroker(r);
  return { r, node, board, broker };
}

interface Heartbeat {
  dev: string;
  n: number;
  ts: number;
  sync: boolean;
  up_ms: number;
  since_ms: number;
  boot?: number;
  reset?: string;
  conn_ms: number;
  exp_ms: number;
  disc: number;
  att: number;
  rssi_min?: number;
  rssi_mean?: number;
  pending: number;
  oldest_age_ms?: number;
  oldest_seq?: number;
  generated: number;
  dropped: number;
  store_failed: number;
  store_faults: number;
  config_errors: number;
  faults: Array<[number, string, number]>;
  heap?: number;
  fw?: string;
  slot?: number;
}

/** Heartbeats the broker received, first copies only (a DUP resend of one already seen is skipped). */
function heartbeats(received: SentPacket[]): Heartbeat[] {
  const out: Heartbeat[] = [];
  const seen = new Set<string>();
  for (const p of received) {
    if (p.topic !== 'pipewatch/pipe-7/health') continue;
    equal((p.flags >> 1) & 3, 1, 'heartbeats are QoS 1');
    const text = bytesToText(p.payload);
    if (seen.has(text)) continue;
    seen.add(text);
    out.push(JSON.parse(text) as Heartbeat);
  }
  return out;
}

export const tests = {
  'a heartbeat at boot and one every interval, on pipewatch/<dev>/health with QoS 1'() {
    const { r, node, broker } = rig({ healthIntervalMs: 5 * MINUTE });
    node.start();
    r.advance(1000);
    let hb = heartbeats(broker.state.received);
    equal(hb.length, 1, 'the boot heartbeat');
    equal(hb[0]!.n, 0);
    equal(hb[0]!.dev, 'pipe-7');
    equal(hb[0]!.up_ms, 0);
    equal(hb[0]!.since_ms, 0);
    equal(hb[0]!.sync, true);
    equal(hb[0]!.att, 1);
    r.advance(5 * MINUTE - 1000 + 10);
    hb = heartbeats(broker.state.received);
    equal(hb.length, 2);
    equal(hb[1]!.n, 1);
    equal(hb[1]!.up_ms, 5 * MINUTE);
    equal(hb[1]!.since_ms, 0);
    equal(hb[1]!.exp_ms, 5 * MINUTE);
    // connected from the CONNACK (a few ms after boot) on
    ok(hb[1]!.conn_ms > 5 * MINUTE - 100 && hb[1]!.conn_ms < 5 * MINUTE, String(hb[1]!.conn_ms));
    equal(hb[1]!.disc, 0);
    equal(hb[1]!.att, 0);
    equal(hb[1]!.generated, 2 * 30, 'two channels, a sample every 10 s');
    equal(hb[1]!.pending, 0);
    equal(hb[1]!.oldest_age_ms, undefined);
    r.advance(10 * MINUTE);
    hb = heartbeats(broker.state.received);
    equal(hb.length, 4);
    equal(hb[3]!.since_ms, hb[2]!.up_ms, 'periods are contiguous');
    equal(node.health.stats.acked, 4);
  },
  'an outage: connected vs expected time, disconnects and attempts; the heartbeat made offline arrives after the reconnect'() {
    const { r, node, broker } = rig({ healthIntervalMs: 5 * MINUTE });
    node.start();
    r.advance(6 * MINUTE);
    // 12 minutes offline from t = 6 min: the broker refuses every attempt.
    r.refuse = true;
    r.socket.fail();
    r.advance(12 * MINUTE);
    const during = heartbeats(broker.state.received).length;
    equal(during, 2, 'boot and 5 min; the ones at 10 and 15 min wait offline');
    ok(node.health.stats.replaced >= 1, 'the unsent heartbeat at 10 min was replaced by the one at 15');
    ok(node.stats().pending > 0, 'readings waited in the cache');
    r.refuse = false;
    r.advance(3 * MINUTE);
    const hb = heartbeats(broker.state.received);
    equal(hb.length, 4, 'the one made offline (15 min), then 20 min');
    const offline = hb[2]!;
    equal(offline.up_ms, 15 * MINUTE, 'generated offline');
    equal(offline.since_ms, 5 * MINUTE, 'it covers the replaced one too');
    equal(offline.exp_ms, 10 * MINUTE);
    equal(offline.conn_ms, MINUTE, 'connected 5..6 min only');
    equal(offline.disc, 1);
    ok(offline.att >= 3, `retries while refused: ${offline.att}`);
    ok(offline.pending > 0 && offline.oldest_age_ms! >= 8 * MINUTE, JSON.stringify(offline));
    const after = hb[3]!;
    equal(after.since_ms, 15 * MINUTE);
    ok(after.conn_ms < 2 * MINUTE && after.conn_ms > 2 * MINUTE - 3000, String(after.conn_ms));
    // Nothing lost: the sums of the delivered periods are the uplink's totals up to the last one.
    let conn = 0;
    let exp = 0;
    for (const h of hb) {
      conn += h.conn_ms;
      exp += h.exp_ms;
    }
    equal(exp, 20 * MINUTE);
    equal(conn, node.uplink.connectedMs() - (r.now - after.up_ms), 'Σ connected of the heartbeats = the uplink total at the last one');
    ok(conn > 8 * MINUTE - 3000 && conn < 8 * MINUTE, `20 min up, 12 min and a backoff offline: ${conn}`);
    equal(JSON.stringify(hb.map((h) => h.n)), '[0,1,2,3]', 'the replacement takes the number of the one it replaced');
  },
  'sensor faults are counted per channel and code'() {
    const { r, node, board, broker } = rig({ healthIntervalMs: 5 * MINUTE });
    node.start();
    r.advance(MINUTE);
    board.i2c.inject(0x49, 'nak');
    r.advance(MINUTE);
    board.i2c.inject(0x49, undefined);
    r.advance(3 * MINUTE + 10);
    const hb = heartbeats(broker.state.received);
    equal(hb.length, 2);
    const bus = node.health.faults(1, 'E_BUS');
    ok(bus >= 5, String(bus));
    equal(node.health.faults(0, 'E_BUS'), 0);
    equal(JSON.stringify(hb[1]!.faults), JSON.stringify([[1, 'E_BUS', bus]]));
    equal(JSON.stringify(hb[0]!.faults), '[]');
  },
  'host fields: boot count, reset reason, free heap, RSSI min and mean, firmware and slot; unknown reasons and odd versions are sanitised'() {
    let rssi: number | undefined = -60;
    const { r, node, broker } = rig({
      healthIntervalMs: 5 * MINUTE,
      host: {
        system: { bootCount: 7, resetReason: 'watchdog', freeHeap: () => 81234 },
        wifi: { rssi: () => rssi },
        update: { open: () => { throw new Error('no'); }, running: () => ({ slot: 1, version: '1.4.0"}', trial: false }), confirm: () => {} },
      },
    });
    node.start();
    r.advance(2 * MINUTE);
    rssi = -80;
    r.advance(MINUTE);
    rssi = undefined;
    r.advance(2 * MINUTE + 10);
    const hb = heartbeats(broker.state.received);
    equal(hb.length, 2);
    equal(hb[0]!.boot, 7);
    equal(hb[0]!.reset, 'watchdog');
    equal(hb[0]!.heap, 81234);
    equal(hb[0]!.rssi_min, undefined, 'no sample yet at boot');
    equal(hb[1]!.rssi_min, -80);
    equal(hb[1]!.rssi_mean, -67, 'samples at 1, 2 and 3 min: -60, -60, -80');
    equal(hb[1]!.fw, '1.4.0__');
    equal(hb[1]!.slot, 1);
  },
  'a host without those fields: the heartbeat leaves them out'() {
    const { r, node, broker } = rig();
    node.start();
    r.advance(1000);
    const hb = heartbeats(broker.state.received)[0]!;
    for (const key of ['boot', 'reset', 'heap', 'rssi_min', 'rssi_mean', 'fw', 'slot', 'ota']) equal((hb as unknown as Record<string, unknown>)[key], undefined, key);
    equal(node.health.intervalMs, 15 * MINUTE, 'default interval');
  },
};

/** For the XS heap check (test/health.test.ts): a node under load, heartbeats made by the thousand. */
let probe: ReturnType<typeof rig> | undefined;
export const heapProbe = {
  setup(): void {
    probe = rig({ healthIntervalMs: 1000 });
    probe.node.start();
    probe.r.advance(10_000);
  },
  run(seconds: number): number {
    const p = probe!;
    // The rig keeps what it saw; let go of it so only the node's own memory is measured.
    for (let i = 0; i < seconds; i++) {
      p.r.advance(1000);
      p.broker.state.received.length = 0;
      for (const socket of p.r.sockets) socket.sent.length = 0;
    }
    return p.node.health.stats.acked;
  },
};
