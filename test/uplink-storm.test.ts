/*
 * Reconnect storm with the REAL client: 1,000 uplinks (firmware/uplink, Node host sockets, one
 * process, virtual time) connected to mosquitto through the fault proxy. The broker goes away
 * (links dropped, connections reset for 60 s, the broker restarted meanwhile so sessions are
 * gone) and comes back. Every connection attempt is logged where the firmware makes it (the
 * host's TCP constructor); we measure the largest share of the fleet that attempts within any
 * 1-second window from the broker's return on, for full jitter and for a fixed 5 s retry (what
 * ESPHome and Tasmota do), in the same run.
 */
import test from 'ava';
import type { TCPOptions } from '../firmware/host';
import { RamStore } from '../firmware/outbox';
import { Uplink, type UplinkTuning } from '../firmware/uplink/uplink';
import { createNodeHost } from '../hosts/node/host';
import { socketClasses } from '../hosts/node/tcp';
import { FaultProxy } from '../simulator/net/proxy';
import { peakWindow } from '../simulator/net/storm';
import { FleetScheduler } from '../tools/bench/uplink';
import { startMosquitto, type MosquittoHandle } from './harness/mosquitto';

const NODES = 1000;
const OUTAGE_MS = 60_000;
const TARGET_SHARE = 0.05;

interface StormRun {
  peakShareAfterReturn: number;
  peakShareWholeRun: number;
  attemptsAfterReturn: number;
  allBackAfterMs: number;
  reconnected: number;
}

async function storm(broker: MosquittoHandle, label: string, tuning: UplinkTuning, seed: number): Promise<StormRun> {
  const proxy = await FaultProxy.start({ target: { port: broker.port } });
  const scheduler = new FleetScheduler({ virtual: true });
  const base = socketClasses(scheduler).TCP;
  const times: number[] = [];
  const nodeOf: number[] = [];
  const uplinks: Uplink[] = [];
  try {
    for (let i = 0; i < NODES; i++) {
      class LoggedTCP extends base {
        constructor(options: TCPOptions) {
          times.push(scheduler.now());
          nodeOf.push(i);
          super(options);
        }
      }
      const host = createNodeHost({ scheduler, seed: seed * 100_003 + i, io: { TCP: LoggedTCP } });
      const uplink = new Uplink(host, new RamStore(8), {
        deviceId: `storm-${label}-${i}`,
        address: '127.0.0.1',
        port: proxy.port,
        keepaliveSec: 1200,
        connectTimeoutMs: 10_000,
        ...tuning,
      });
      uplinks.push(uplink);
    }
    // Start spread over 10 minutes, as a fleet powered up over time would be; then all are stable.
    for (const [i, uplink] of uplinks.entries()) scheduler.set(() => uplink.start(), (i * 600_000) / NODES);
    await scheduler.runUntil(15 * 60_000);
    const connected = uplinks.filter((u) => u.connected).length;
    if (connected !== NODES) throw new Error(`${label}: only ${connected} of ${NODES} connected before the outage`);
    const lossAt = scheduler.now();
    const firstOfRun = times.length;
    await proxy.refuse('reset');
    proxy.drop();
    await broker.restart();
    await scheduler.runUntil(lossAt + OUTAGE_MS);
    await proxy.refuse(false);
    const backAt = scheduler.now();
    let allBackAt = Number.NaN;
    for (let s = 0; s < 60 && Number.isNaN(allBackAt); s++) {
      await scheduler.runUntil(scheduler.now() + 30_000);
      if (uplinks.every((u) => u.connected)) allBackAt = scheduler.now();
    }
    const run = times.slice(firstOfRun);
    const runNodes = nodeOf.slice(firstOfRun);
    let k = 0;
    while (k < run.length && run[k]! < backAt) k++;
    const after = peakWindow(run.slice(k), 1000, runNodes.slice(k), NODES);
    const whole = peakWindow(run, 1000, runNodes, NODES);
    return {
      peakShareAfterReturn: after.nodes / NODES,
      peakShareWholeRun: whole.nodes / NODES,
      attemptsAfterReturn: run.length - k,
      allBackAfterMs: allBackAt - backAt,
      reconnected: uplinks.filter((u) => u.connected).length,
    };
  } finally {
    for (const u of uplinks) u.stop();
    scheduler.stop();
    await proxy.close();
  }
}

test('1,000 real clients, broker gone for 60 s and restarted: full jitter stays under 5 % of the fleet per second, fixed 5 s retry does not', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const jitter = await storm(broker, 'jitter', {}, 1);
  const fixed = await storm(broker, 'fixed', { fixedRetryMs: 5000 }, 1);
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  t.log(
    `full jitter: peak ${pct(jitter.peakShareAfterReturn)} after return (${pct(jitter.peakShareWholeRun)} whole run), ` +
      `all back after ${(jitter.allBackAfterMs / 1000).toFixed(0)} s; fixed 5 s: peak ${pct(fixed.peakShareAfterReturn)} after return ` +
      `(${pct(fixed.peakShareWholeRun)} whole run), all back after ${(fixed.allBackAfterMs / 1000).toFixed(0)} s`,
  );
  t.is(jitter.reconnected, NODES, 'every full-jitter node came back');
  t.is(fixed.reconnected, NODES, 'every fixed-interval node came back');
  t.true(jitter.peakShareAfterReturn <= TARGET_SHARE, `full jitter peak ${pct(jitter.peakShareAfterReturn)} <= 5 %`);
  t.true(fixed.peakShareAfterReturn > 2 * TARGET_SHARE, `fixed interval peak ${pct(fixed.peakShareAfterReturn)} is a storm`);
});
