/* The leak detector (firmware/detect.ts): rises within the window alert once; slow drifts never do. */
import { SpikeDetector } from '../../firmware/detect';
import { equal } from '../harness/assert';

export const tests = {
  'a 6 °C rise within a minute alerts once, then holds off'() {
    const d = new SpikeDetector(1, { riseMilliCelsius: 5000, windowMs: 180_000, holdoffMs: 600_000 });
    let alerts = 0;
    const values = [60000, 60100, 59900, 63000, 66100, 70000, 75000, 80000];
    values.forEach((v, i) => (alerts += d.update(0, i * 10_000, v) ? 1 : 0));
    equal(alerts, 1);
    equal(d.alerts, 1);
  },
  'a rise of exactly the threshold alerts; one millidegree less does not'() {
    const a = new SpikeDetector(1, { riseMilliCelsius: 5000 });
    a.update(0, 0, 20000);
    equal(a.update(0, 10_000, 25000), true);
    const b = new SpikeDetector(1, { riseMilliCelsius: 5000 });
    b.update(0, 0, 20000);
    equal(b.update(0, 10_000, 24999), false);
  },
  'a slow daily swing of 10 °C never alerts'() {
    const d = new SpikeDetector(1);
    let alerts = 0;
    for (let t = 0; t < 86_400_000; t += 10_000) {
      const v = Math.round(60000 + 5000 * Math.sin((2 * Math.PI * t) / 86_400_000));
      if (d.update(0, t, v)) alerts++;
    }
    equal(alerts, 0);
  },
  'a rise spread over longer than the window does not alert'() {
    const d = new SpikeDetector(1, { riseMilliCelsius: 5000, windowMs: 60_000 });
    let alerts = 0;
    for (let i = 0; i <= 20; i++) if (d.update(0, i * 10_000, 50000 + i * 700)) alerts++;
    equal(alerts, 0);
  },
  'channels are independent; a second event after the hold-off alerts again'() {
    const d = new SpikeDetector(2, { holdoffMs: 60_000 });
    d.update(0, 0, 30000);
    d.update(1, 0, 30000);
    equal(d.update(1, 10_000, 40000), true);
    equal(d.update(0, 10_000, 30500), false);
    equal(d.update(1, 20_000, 50000), false, 'held off');
    d.update(1, 100_000, 30000);
    equal(d.update(1, 110_000, 40000), true, 'after the hold-off');
    equal(d.alerts, 2);
  },
  'negative temperatures work the same'() {
    const d = new SpikeDetector(1);
    d.update(0, 0, -40000);
    equal(d.update(0, 10_000, -34000), true);
  },
};
