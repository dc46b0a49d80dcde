/* Report by exception (firmware/report.ts), the detector's state across deep sleep (detect.ts), and the energy counters (energy.ts). */
import { DetectEvent, LeakDetector } from '../../firmware/detect';
import { EnergyCounter, EnergyMeter } from '../../firmware/energy';
import { PowerManager } from '../../firmware/power';
import { ReportFilter } from '../../firmware/report';
import { PipewatchNode } from '../../firmware/node';
import type { Host } from '../../firmware/host';
import type { PowerConfig, PowerHooks } from '../../firmware/power';
import { createBoard } from '../../simulator/board';
import { createSimPower } from '../../simulator/power-host';
import { equal, ok, throws } from '../harness/assert';
import { Rig, bytesToText, politeBroker } from './uplink-rig';

const link = { connects: 0, secure: false, bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0 };

/** A power manager alone on the rig's clock, with hooks whose broker is up or not (`net.up`). */
function manager(config: PowerConfig) {
  const r = new Rig(7);
  const net = { up: false, connected: false };
  const pm = new PowerManager(r.host, { mode: 'wake-cycle', reportIntervalMs: 300_000, ...config });
  const hooks: PowerHooks = {
    connect: () => {
      if (net.up) net.connected = true;
    },
    disconnect: () => {
      net.connected = false;
    },
    flush: () => {},
    idle: () => true,
    connected: () => net.connected,
    link: () => link,
    untilNextSampleMs: () => 10_000,
    resetState: () => {},
    stateBytes: 0,
    saveState: () => {},
    restoreState: () => true,
  };
  pm.start(hooks);
  /** Samples every 10 s for `ms`; `alert`: each sample raises an alert. */
  const run = (ms: number, alert = false) => {
    for (let t = 0; t < ms; t += 10_000) {
      r.advance(10_000);
      pm.beforeSample();
      pm.afterSample(alert, 10_000);
    }
  };
  const count = (c: number) => pm.energy.counters[c]!;
  return { r, net, pm, run, count };
}

/** A wake-cycle node on the rig with the simulator's radio and retained memory, a scripted broker, report by exception. */
function sleeper() {
  const r = new Rig(5);
  const world = { temperature: 60 };
  const env = { now: () => r.now, temperature: () => world.temperature, humidity: () => 40, pressure: () => 101325, ambient: () => 25 };
  const board = createBoard([{ part: 'tmp117', address: 0x48 }], () => env, 5);
  const power = createSimPower(r.host.timers, 1200);
  const logs: string[] = [];
  const host: Host = { ...r.host, io: { ...r.host.io, ...board.io }, power, log: (level, message) => logs.push(`${level} ${message}`) };
  const node = new PipewatchNode(host, {
    deviceId: 'pipe-7',
    broker: { address: '10.0.0.5', port: 1883 },
    sensors: board.sensors,
    power: { mode: 'wake-cycle', reportIntervalMs: 300_000 },
    report: { deadband: 500, maxIntervalMs: 3_600_000 },
    uplink: { backoffBaseMs: 1000, backoffCapMs: 2000 },
    healthIntervalMs: 60_000,
  });
  const broker = politeBroker(r);
  node.start();
  return { r, node, world, logs, broker, power };
}

export const tests = {
  'report by exception: within the deadband nothing is published; a move past it, the max interval or an alert is'() {
    const f = new ReportFilter(2, { deadband: 200, maxIntervalMs: 60_000, channels: [undefined, { deadband: 0 }] });
    ok(f.active);
    equal(f.decide(0, 0, 20_000, false), true, 'first reading');
    equal(f.decide(0, 10_000, 20_150, false), false, 'within 200');
    equal(f.decide(0, 20_000, 19_810, false), false, 'within 200 of the published one, not of the last sample');
    equal(f.decide(0, 30_000, 20_201, false), true, 'moved by more than 200');
    equal(f.decide(0, 40_000, 20_201, false), false);
    equal(f.decide(0, 90_000, 20_250, false), true, 'max interval since the last published');
    equal(f.decide(0, 100_000, 20_260, true), true, 'an alert always');
    equal(f.decide(1, 100_000, 5, false), true, 'channel 1 has no deadband: every sample');
    equal(f.decide(1, 110_000, 5, false), true);
    f.forget(0);
    equal(f.decide(0, 110_000, 20_260, false), true, 'the first valid reading after a fault');
    equal(f.suppressed, 3);
    ok(!new ReportFilter(3).active, 'no deadband: today behaviour');
    throws(() => new ReportFilter(1, { deadband: -1 }), /deadband/);
    throws(() => new ReportFilter(1, { deadband: 5, maxIntervalMs: 10 }), /maxIntervalMs/);
  },

  'the report filter and the leak detector come back from the retained bytes as they were'() {
    const a = new LeakDetector(1);
    const fa = new ReportFilter(1, { deadband: 100 });
    let t = 0;
    for (let i = 0; i < 40; i++, t += 10_000) {
      a.update(0, t, 60_000 + (i % 3) * 10);
      fa.decide(0, t, 60_000 + (i % 3) * 10, false);
    }
    const bytes = new Uint8Array(a.stateBytes + fa.byteLength);
    const view = new DataView(bytes.buffer);
    fa.save(view, 0);
    a.saveState(view, fa.byteLength);
    const b = new LeakDetector(1);
    const fb = new ReportFilter(1, { deadband: 100 });
    fb.restore(view, 0);
    ok(b.restoreState(view, fa.byteLength));
    // The same leak from here on: both raise the alert on the same sample.
    let ea = -1;
    let eb = -1;
    for (let i = 0; i < 20; i++, t += 10_000) {
      const v = 60_000 + i * 3000;
      if (a.update(0, t, v) === DetectEvent.alert && ea < 0) ea = i;
      if (b.update(0, t, v) === DetectEvent.alert && eb < 0) eb = i;
      equal(fb.decide(0, t, v, false), fa.decide(0, t, v, false));
    }
    ok(ea >= 0, 'the leak alerts');
    equal(eb, ea);
    // A fresh detector (state lost) would not alert on the same samples at once: the restore matters.
    const c = new LeakDetector(1);
    equal(c.restoreState(new DataView(new Uint8Array(c.stateBytes).buffer), 0), false, 'zeroed bytes (another channel count) are refused');
    const two = new LeakDetector(2);
    equal(two.restoreState(view, fa.byteLength), false, 'a state for 1 channel is refused by a 2-channel detector');
  },

  'energy counters survive a deep sleep: the sleep counts in the uptime, link counters are not counted twice'() {
    const m = new EnergyMeter('wake-cycle', 0);
    m.radioOn(0);
    m.radioOff(3000);
    m.add(EnergyCounter.sensorConversions, 5);
    const view = new DataView(new ArrayBuffer(EnergyMeter.BYTES));
    m.save(view, 0, { ...link, connects: 1, bytesOut: 100, bytesIn: 50, packetsOut: 4, packetsIn: 3 }, 5000);
    const next = new EnergyMeter('wake-cycle', 0);
    next.restore(view, 0, link, 0, 10_000);
    const s = next.snapshot({ ...link, connects: 1, bytesOut: 20 }, 2000);
    equal(s.uptimeMs, 17_000);
    equal(s.radioOnMs, 3000);
    equal(s.wifiJoins, 1);
    equal(s.tcpConnects, 2);
    equal(s.bytesTx, 120);
    equal(s.bytesRx, 50);
    equal(s.sensorConversions, 5);
  },

  'power options are checked: an unknown mode or interval is refused'() {
    const host = { clock: { monotonic: { now: () => 0 } } } as never;
    throws(() => new PowerManager(host, { mode: 'turbo' as never }), /power.mode/);
    throws(() => new PowerManager(host, { mode: 'wake-cycle', reportIntervalMs: 10 }), /reportIntervalMs/);
    equal(new PowerManager(host).mode, 'always-connected');
    ok(!new PowerManager(host).batching);
    ok(new PowerManager(host, { mode: 'light-sleep' }).batching);
  },

  'wake-cycle: failed windows back off (fewer radio-on windows in an outage), the first window that reaches the broker resets it'() {
    const fixed = manager({ maxBackoffMs: 0 });
    const backed = manager({});
    for (const m of [fixed, backed]) {
      m.run(6 * 3_600_000);
      ok(m.count(EnergyCounter.windows) - m.count(EnergyCounter.failedWindows) <= 1, 'no window reached the broker (the last one may be open)');
    }
    equal(fixed.count(EnergyCounter.windows), 73, 'without backoff a window every 5 min');
    const failed = backed.count(EnergyCounter.failedWindows);
    ok(failed >= 6 && failed <= 24, `with backoff (1 h cap) ${failed} windows in 6 h`);
    ok(backed.count(EnergyCounter.radioOnMs) < fixed.count(EnergyCounter.radioOnMs) / 3, 'the radio is on a third as long or less');
    // The broker is back: a window within the interval plus the cap reaches it; then every interval again.
    backed.net.up = true;
    const before = backed.count(EnergyCounter.windows);
    const backAt = backed.r.now;
    let okAt = -1;
    for (let t = 0; t < 2 * 3_600_000 && okAt < 0; t += 10_000) {
      backed.run(10_000);
      if (backed.net.connected || (backed.count(EnergyCounter.windows) > before && backed.pm.failedWindowsInRow === 0)) okAt = backed.r.now;
    }
    ok(okAt >= 0 && okAt - backAt <= 300_000 + 3_600_000 + 10_000, `a window reached the broker ${okAt - backAt} ms after it came back`);
    backed.run(70_000);
    equal(backed.pm.failedWindowsInRow, 0);
    const after = backed.count(EnergyCounter.windows);
    backed.run(3_600_000);
    equal(backed.count(EnergyCounter.windows) - after, 12, 'a window every 5 min again');
    equal(backed.count(EnergyCounter.failedWindows), failed, 'no failed window since');
  },

  'wake-cycle: an alert opens a window at once, during an outage at most once per alertRetryMs'() {
    const m = manager({ reportIntervalMs: 900_000 });
    m.net.up = true;
    m.run(120_000);
    equal(m.pm.windowOpen, false);
    // In service: the alerting sample opens a window at once.
    m.r.advance(10_000);
    m.pm.beforeSample();
    m.pm.afterSample(true, 10_000);
    equal(m.pm.windowOpen, true, 'at once');
    equal(m.count(EnergyCounter.alertWindows), 1);
    m.run(120_000);
    // An outage; the first alert in it still tries at once (no window failed yet).
    m.net.up = false;
    m.r.advance(10_000);
    m.pm.beforeSample();
    m.pm.afterSample(true, 10_000);
    equal(m.pm.windowOpen, true, 'the first alert of an outage tries at once');
    // An hour of alerting samples (every 10 s): at most one forced window per 5 min.
    m.run(3_600_000, true);
    const forced = m.count(EnergyCounter.alertWindows) - 2;
    ok(forced >= 10 && forced <= 12, `${forced} alert windows in an hour of alerts`);
  },

  'wake-cycle: a retained block that fails its CRC is counted and shown; the node starts clean and keeps every stored reading'() {
    const { r, node, world, logs, broker, power } = sleeper();
    // The first window (power-on) delivers; then an outage: readings pile up in the cache.
    r.advance(60_000);
    equal(node.store.pending, 0);
    r.refuse = true;
    for (let i = 0; i < 60; i++) {
      world.temperature = 60 + (i % 2) * 0.8;
      r.advance(10_000);
    }
    const generated = node.stats().readingsGenerated;
    const pending = node.store.pending;
    ok(pending >= 20, `${pending} readings held`);
    equal(node.stats().retainedFailures, 0);
    // The retained block is damaged while the node sleeps: one byte of the state, not the header.
    power.retained[100] = power.retained[100]! ^ 0x5a;
    world.temperature = 60.3; // within the deadband of the last published reading
    r.advance(10_000);
    equal(node.stats().retainedFailures, 1, 'counted');
    ok(logs.some((l) => /^error power: the state retained over deep sleep does not check out/.test(l)), logs.join('\n'));
    // Clean start: the report filter forgot its last values, so this sample is published although within the deadband.
    equal(node.stats().readingsGenerated, generated + 1, 'the first reading after a clean start is published');
    equal(node.store.pending, pending + 1, 'no stored reading lost');
    // The detector starts clean too: a step right after the wake does not alert (it needs its warm-up, detect.ts).
    world.temperature = 80;
    r.advance(30_000);
    equal(node.stats().alerts, 0, 'no baseline carried over from a block that did not check out');
    // The broker is back: everything held is delivered, and the heartbeat shows the count.
    r.refuse = false;
    world.temperature = 60;
    r.advance(2 * 3_600_000);
    node.stopSampling();
    r.advance(10 * 60_000);
    equal(node.store.pending, 0, 'all delivered');
    equal(node.uplink.stats.acked, node.stats().readingsGenerated);
    const hb = broker.state.received.filter((p) => p.topic === 'pipewatch/pipe-7/health').map((p) => JSON.parse(bytesToText(p.payload)));
    ok(hb.length > 0 && hb[hb.length - 1].retained_failed === 1, JSON.stringify(hb[hb.length - 1]));
  },

  'wake-cycle: a boot from deep sleep whose retained block does not check out counts it and opens a window'() {
    const { r, node, power } = sleeper();
    r.advance(120_000);
    node.stop();
    power.retained[4] = power.retained[4]! ^ 1; // the length
    const r2 = new PipewatchNode({ ...node.host }, node.config);
    r2.start();
    equal(r2.stats().retainedFailures, 1);
    ok(r2.power.windowOpen, 'a window at once, as after a power-on');
    equal(r2.power.resumed, false);
    // Its window closes, it sleeps (a good block again); the next boot resumes and still shows the count.
    r.advance(120_000);
    equal(r2.power.windowOpen, false);
    r2.stop();
    const r3 = new PipewatchNode({ ...node.host }, node.config);
    r3.start();
    equal(r3.power.resumed, true);
    equal(r3.stats().retainedFailures, 1, 'the count outlives the boot (kept in the retained block)');
    r3.stop();
  },
};
