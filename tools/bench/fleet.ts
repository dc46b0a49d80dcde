/*
 * Fleet figures (issue 15), next to tools/bench/health.ts (one heartbeat built in XS, bytes per
 * day at the default interval, computed from one payload):
 * - what a simulated fleet actually sends: 10 nodes on Node, 6 simulated hours in virtual time
 *   with a 1-hour outage, heartbeat payload bytes the observer received (each distinct one once),
 *   as bytes per node per day (the outage's heartbeats are replaced while unsent, so fewer go);
 * - the receiving side: XS computrons of feeding one heartbeat to the fleet metrics
 *   (tools/fleet/metrics.ts addHeartbeat), mean over 9,600 (100 devices, a day);
 * - Home Assistant discovery (firmware/homeassistant.ts): XS computrons of one state message
 *   (three channels), and the bytes of one discovery message and of a state.
 */
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker } from '../../hosts/xs/worker';
import { startSimulation } from '../../simulator/run';
import type { Observer } from '../../simulator/observer';

const root = fileURLToPath(new URL('../../', import.meta.url));
const STATES = 1000;

const source = `
import { FleetMetrics } from './tools/fleet/metrics';
import { HomeAssistant } from './firmware/homeassistant';
const devices = [];
for (let i = 0; i < 100; i++) devices.push({ id: 'node-' + String(i).padStart(4, '0'), line: 'L' + (i % 5) });
const beats = [];
for (let k = 1; k <= 96; k++) for (const d of devices) beats.push({ dev: d.id, n: k, ts: 1767225600000 + k * 900000, sync: true, up_ms: k * 900000, since_ms: (k - 1) * 900000, boot: 1, conn_ms: 890000, exp_ms: 900000, pending: 0, faults: [[0, 'E_CRC', 1]] });
let sent = 0;
let last = 0;
const uplink = { connected: true, watch() {}, publishNow(t, p, len) { sent++; last = len; return true; } };
const ha = new HomeAssistant({ update: { running: () => ({ slot: 0, version: '1.4.0' }) } }, 'node-0001', [
  { info: { kind: 'milliCelsius', name: 'temperature' }, label: 'ch0 bme280 temperature' },
  { info: { kind: 'milliPercentRH', name: 'humidity' }, label: 'ch1 bme280 humidity' },
  { info: { kind: 'pascal', name: 'pressure' }, label: 'ch2 bme280 pressure' },
], uplink, true);
globalThis.handleCommand = (bytes) => {
  const what = new Uint8Array(bytes)[0];
  let out = 0;
  if (what === 1) {
    const m = new FleetMetrics(devices);
    for (const b of beats) m.addHeartbeat(b);
    out = m.report().activation.activated;
  } else if (what === 2) {
    for (let i = 0; i < ${STATES}; i++) {
      ha.note(0, true, 61234 + i);
      ha.note(1, true, 45500);
      ha.note(2, true, 101325);
      ha.publishState();
    }
    out = last;
  } else if (what === 3) {
    ha.announce();
    out = last;
  }
  return new Uint8Array([out & 0xff, out >> 8]).buffer;
};
`;

async function xsFigures(): Promise<Record<string, number>> {
  const code = await bundleForXs({ contents: source, resolveDir: root });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    const empty = await worker.deliver(new Uint8Array([0]));
    const metrics = await worker.deliver(new Uint8Array([1]));
    const states = await worker.deliver(new Uint8Array([2]));
    const announce = await worker.deliver(new Uint8Array([3]));
    const base = empty.meter.compute;
    return {
      'fleet.metrics.xs.computronsPerHeartbeat': Math.round((metrics.meter.compute - base) / 9600),
      'homeassistant.xs.computronsPerState': Math.round((states.meter.compute - base) / STATES),
      'homeassistant.stateBytes': states.result[0]! | (states.result[1]! << 8),
      'homeassistant.discoveryBytes': announce.result[0]! | (announce.result[1]! << 8),
    };
  } finally {
    worker.close();
  }
}

async function simFigures(): Promise<Record<string, number>> {
  const nodes = 10;
  const durationMs = 6 * 3_600_000;
  let observer: Observer | undefined;
  const s = await startSimulation({
    nodes,
    engine: 'node',
    durationMs,
    virtual: true,
    seed: 1,
    intervalMs: 60_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 30_000,
    leakShare: 0,
    outages: [{ atMs: 2 * 3_600_000, forMs: 3_600_000 }],
    onObserver: (o) => {
      observer = o;
      o.heartbeats = [];
    },
  }).done;
  const o = observer!;
  const distinct = o.heartbeats!.reduce((sum, hb) => sum + JSON.stringify(hb).length, 0);
  const perDay = 86_400_000 / durationMs;
  return {
    'fleet.sim.heartbeatsPerNodePerDay': Math.round((o.heartbeatsReceived / nodes) * perDay),
    'fleet.sim.heartbeatPayloadBytesPerNodePerDay': Math.round((distinct / nodes) * perDay),
    'fleet.sim.connectivityUptimeWithOutage': Math.round((s.fleet?.connectivityUptime ?? 0) * 10000) / 10000,
  };
}

export async function bench(): Promise<Record<string, number>> {
  return { ...(await simFigures()), ...(await xsFigures()) };
}
