/* Report by exception (firmware/report.ts), the detector's state across deep sleep (detect.ts), and the energy counters (energy.ts). */
import { DetectEvent, LeakDetector } from '../../firmware/detect';
import { EnergyCounter, EnergyMeter } from '../../firmware/energy';
import { PowerManager } from '../../firmware/power';
import { ReportFilter } from '../../firmware/report';
import { equal, ok, throws } from '../harness/assert';

const link = { connects: 0, secure: false, bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0 };

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
};
