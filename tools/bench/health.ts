/*
 * Health heartbeat figures (firmware/health.ts), measured in the real XS engine:
 * - computrons of building one heartbeat (every field present: boot, reset, RSSI, a backlog
 *   with its oldest reading, faults on two channels, heap, firmware and OTA state), the mean
 *   over 1,000 built and handed to the uplink's health slot;
 * - its payload bytes, and the bytes a node sends per day for heartbeats at the default
 *   15-minute interval (96 PUBLISH packets with QoS 1: fixed header, topic, packet id, payload).
 * A heartbeat is built at its interval, never per reading: the slice's computrons per reading
 * include 1/(readings per heartbeat) of this.
 */
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker } from '../../hosts/xs/worker';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BEATS = 1000;

const source = `
import { Health } from './firmware/health';
import { RamStore } from './firmware/outbox';
let health;
let length = 0;
globalThis.handleCommand = (bytes) => {
  const n = new Uint8Array(bytes)[0] === 0 ? 0 : ${BEATS};
  if (!health) {
    let now = 3600000;
    const host = {
      clock: { monotonic: { now: () => now }, wall: { now: () => 1767225600000 + now } },
      timers: { set: () => 1, clear: () => {} },
      system: { bootCount: 12, resetReason: 'watchdog', freeHeap: () => 81234 },
      wifi: { rssi: () => -67 },
      update: { running: () => ({ slot: 1, version: '1.4.0', trial: false }) },
    };
    const store = new RamStore(128);
    for (let i = 0; i < 60; i++) store.append({ timeMs: 1767225600000 + i * 10000, synced: true, channel: i % 2, kind: 0, value: 60000 + i, alert: false });
    const uplink = {
      stats: { disconnects: 3, attempts: 17 },
      healthBusy: false,
      connectedMs: () => now - 120000,
      expectedMs: () => now,
      withdrawHealth: () => false,
      sendHealth: (topic, payload, len) => { length = len; return true; },
    };
    health = new Health(host, 'node-0001', 2, {
      store, uplink,
      dropped: () => 0, storeFailed: () => 1, storeFaults: () => 2, configErrors: () => 0, readingsGenerated: () => 720,
      ota: () => ({ trial: false, last: 'confirmed' }),
    });
    health.noteFault(0, 1, 'E_CRC');
    health.noteFault(1, 1, 'E_BUS');
    for (let i = 0; i < 5; i++) health.sampleRssi();
  }
  for (let i = 0; i < n; i++) health.beat();
  return new Uint8Array([length & 0xff, length >> 8]).buffer;
};
`;

export async function bench(): Promise<Record<string, number>> {
  const code = await bundleForXs({ contents: source, resolveDir: root });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    await worker.deliver(new Uint8Array([0]));
    const empty = await worker.deliver(new Uint8Array([0]));
    const full = await worker.deliver(new Uint8Array([1]));
    const payload = full.result[0]! | (full.result[1]! << 8);
    const topic = 'pipewatch/node-0001/health'.length;
    const remaining = 2 + topic + 2 + payload;
    const packet = 1 + (remaining < 128 ? 1 : 2) + remaining;
    return {
      'health.xs.computronsPerHeartbeat': Math.round((full.meter.compute - empty.meter.compute) / BEATS),
      'health.payloadBytes': payload,
      'health.bytesPerNodePerDay': packet * 96,
    };
  } finally {
    worker.close();
  }
}
