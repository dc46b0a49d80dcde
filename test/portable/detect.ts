/* The leak detector (firmware/detect.ts): each rule, confirmation, clear, hold-off, fault guard, recovery. */
import { DetectEvent, DetectRule, LeakDetector, SpikeDetector, type LeakOptions } from '../../firmware/detect';
import { equal } from '../harness/assert';

const STEP = 10_000;

/** Feeds f(t) every 10 s from t0 to t1 into channel 0; returns [time, event] of every event. */
function run(d: LeakDetector, f: (t: number) => number, t1: number, t0 = 0): Array<[number, number]> {
  const events: Array<[number, number]> = [];
  for (let t = t0; t < t1; t += STEP) {
    const e = d.update(0, t, Math.round(f(t)));
    if (e !== DetectEvent.none) events.push([t, e]);
  }
  return events;
}

const flat = (t: number) => 60_000 + ((t / STEP) % 3) * 20;
const HOUR = 3_600_000;

function throws(f: () => unknown, pattern: RegExp): void {
  try {
    f();
  } catch (error) {
    if (!pattern.test((error as Error).message)) throw new Error(`wrong error: ${(error as Error).message}`);
    return;
  }
  throw new Error('did not throw');
}

export const tests = {
  'a large fast rise alerts by the rate rule within 30 s, with its evidence'() {
    const d = new LeakDetector(1);
    const onset = HOUR;
    const f = (t: number) => flat(t) + (t < onset ? 0 : 35_000 * (1 - Math.exp(-(t - onset) / 40_000)));
    const events = run(d, f, onset + 10 * 60_000);
    equal(events.length, 1);
    equal(events[0]![1], DetectEvent.alert);
    equal(events[0]![0] - onset <= 30_000, true, `delay ${events[0]![0] - onset} ms`);
    equal(d.rule, DetectRule.rate);
    equal(Math.abs(d.baselineMilliCelsius - 60_020) < 100, true, `baseline ${d.baselineMilliCelsius}`);
    equal(d.riseMilliCelsius >= 5000, true, `rise ${d.riseMilliCelsius}`);
    equal(d.slopeMilliCelsiusPerMinute >= 1000, true, `slope ${d.slopeMilliCelsiusPerMinute}`);
    equal(d.alerts, 1);
  },
  'a single-sample glitch of +30 °C never alerts; two samples of the same rise do'() {
    const d = new LeakDetector(1);
    const glitchAt = HOUR;
    equal(run(d, (t) => flat(t) + (t === glitchAt ? 30_000 : 0), 2 * HOUR).length, 0);
    const e = new LeakDetector(1);
    const events = run(e, (t) => flat(t) + (t >= glitchAt && t < glitchAt + 2 * STEP ? 30_000 : 0), 2 * HOUR);
    equal(events[0]?.[1], DetectEvent.alert, 'two samples confirm');
  },
  'a slow daily swing of 10 °C and a 4 °C exhaust bump for a minute never alert'() {
    const d = new LeakDetector(1);
    const swing = (t: number) => 60_000 + 5000 * Math.sin((2 * Math.PI * t) / 86_400_000);
    const bump = (t: number) => (t >= 5 * HOUR && t < 5 * HOUR + 60_000 ? 4000 * (1 - Math.exp(-(t - 5 * HOUR) / 10_000)) : 0);
    equal(run(d, (t) => swing(t) + bump(t), 86_400_000).length, 0);
  },
  'a small seep of 4 °C over 15 minutes alerts by the CUSUM rule within 30 minutes'() {
    const d = new LeakDetector(1);
    const onset = 2 * HOUR;
    const f = (t: number) => flat(t) + (t < onset ? 0 : 4000 * (1 - Math.exp(-(t - onset) / 300_000)));
    const events = run(d, f, onset + HOUR);
    equal(events.length, 1);
    equal(d.rule, DetectRule.cusum);
    equal(events[0]![0] - onset <= 1_800_000, true, `delay ${events[0]![0] - onset} ms`);
  },
  'a 1.5 °C bump over 40 minutes (sun) does not alert'() {
    const d = new LeakDetector(1);
    const f = (t: number) => flat(t) + (t > HOUR && t < HOUR + 2_400_000 ? 1500 * Math.sin((Math.PI * (t - HOUR)) / 2_400_000) ** 2 : 0);
    equal(run(d, f, 3 * HOUR).length, 0);
  },
  'back at baseline the channel clears; a second leak alerts again only after the hold-off'() {
    const d = new LeakDetector(1, { holdoffMs: 1_200_000 });
    const pulse = (t: number, at: number, ms: number) => (t >= at && t < at + ms ? 20_000 : 0);
    // First leak at 1 h for 5 min; second at 1 h 10 min (inside the hold-off); third at 2 h.
    const f = (t: number) => flat(t) + pulse(t, HOUR, 300_000) + pulse(t, HOUR + 600_000, 300_000) + pulse(t, 2 * HOUR, 300_000);
    const events = run(d, f, 3 * HOUR);
    // The second leak, inside the hold-off, raises nothing (so nothing clears either).
    equal(events.map((e) => e[1]).join(','), '1,2,1,2');
    equal(events[0]![0] - HOUR < 30_000, true);
    equal(events[1]![0] >= HOUR + 300_000, true, 'cleared after the return');
    equal(events[2]![0] - 2 * HOUR < 30_000, true);
    equal(d.clears, 2);
  },
  'no alert from the samples next to a sensor fault'() {
    const d = new LeakDetector(1);
    const onset = HOUR;
    for (let t = 0; t < onset; t += STEP) d.update(0, t, 60_000);
    d.fault(0);
    // Two samples after the fault are guarded: a step there does not confirm.
    equal(d.update(0, onset, 80_000), DetectEvent.none);
    equal(d.update(0, onset + STEP, 80_000), DetectEvent.none);
    equal(d.faults, 1);
    const e = new LeakDetector(1);
    for (let t = 0; t < onset; t += STEP) e.update(0, t, 60_000);
    e.update(0, onset, 80_000);
    e.fault(0);
    equal(e.update(0, onset + STEP, 80_000), DetectEvent.none, 'a confirmation under way is cancelled');
  },
  'a steam-line shutdown and restart does not alert; a leak right after the restart does'() {
    const shutdown = 6 * HOUR;
    const restart = shutdown + 5 * HOUR;
    const steam = (t: number) => {
      if (t < shutdown) return 1;
      const low = Math.exp(-(Math.min(t, restart) - shutdown) / (2.5 * HOUR));
      return t < restart ? low : 1 - (1 - low) * Math.exp(-(t - restart) / 150_000);
    };
    const pipe = (t: number) => 25_000 + 40_000 * steam(t);
    equal(run(new LeakDetector(1), pipe, restart + 4 * HOUR).length, 0);
    const leakAt = restart + 180_000;
    const d = new LeakDetector(1);
    const events = run(d, (t) => pipe(t) + (t < leakAt ? 0 : 15_000 * (1 - Math.exp(-(t - leakAt) / 60_000))), restart + HOUR);
    equal(events[0]?.[1], DetectEvent.alert);
    equal(events[0]![0] - leakAt <= 600_000, true, `delay ${events[0]![0] - leakAt}`);
  },
  'per-channel options override the node options; bad values are refused before use'() {
    const channels: LeakOptions[] = [];
    channels[1] = { cusumSlackMilliCelsius: 4000 };
    const d = new LeakDetector(2, { confirmSamples: 2 }, channels);
    const f = (t: number) => 60_000 + (t >= HOUR ? 3000 : 0);
    let a0 = 0;
    let a1 = 0;
    for (let t = 0; t < 2 * HOUR; t += STEP) {
      if (d.update(0, t, f(t)) === DetectEvent.alert) a0++;
      if (d.update(1, t, f(t)) === DetectEvent.alert) a1++;
    }
    equal(a0, 1);
    equal(a1, 0, 'channel 1 counts only what is 4 °C above its baseline');
    throws(() => new LeakDetector(1, { confirmSamples: 0 }), /confirmSamples must be a number in 1\.\.255/);
    throws(() => new LeakDetector(1, { riseMilliCelsius: Number.NaN }), /riseMilliCelsius/);
    throws(() => new LeakDetector(1, {}, [{ windowSamples: 99 }]), /windowSamples/);
  },
  'a gap longer than maxGapMs starts the channel again (no alert from the step across it)'() {
    const d = new LeakDetector(1);
    for (let t = 0; t < HOUR; t += STEP) d.update(0, t, 60_000);
    for (let t = 2 * HOUR; t < 3 * HOUR; t += STEP) equal(d.update(0, t, 75_000), DetectEvent.none);
  },
  'the former single rule (kept for the benchmark) still alerts on a 5 °C rise within 3 minutes'() {
    const a = new SpikeDetector(1, { riseMilliCelsius: 5000 });
    a.update(0, 0, 20000);
    equal(a.update(0, 10_000, 25000), true);
    const b = new SpikeDetector(1, { riseMilliCelsius: 5000 });
    b.update(0, 0, 20000);
    equal(b.update(0, 10_000, 24999), false);
  },
};
