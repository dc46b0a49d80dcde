import test from 'ava';
import { startSimulation } from '../simulator/run';
import { portable } from './harness/portable';

await portable('detect', new URL('./portable/detect.ts', import.meta.url));

const day = {
  engine: 'node' as const,
  nodes: 4,
  durationMs: 86_400_000,
  virtual: true,
  seed: 3,
  intervalMs: 60_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 60_000,
};

test('simulated plant: every leaking pipe raises one alert, delivered to the alerts topic', async (t) => {
  const s = await startSimulation({ ...day, leakShare: 1 }).done;
  t.is(s.alertsRaised, 4);
  t.is(s.alertsDelivered, 4);
  t.is(s.readingsLost, 0);
});

test('simulated plant without leaks: no alert in a day of daily swings and noise', async (t) => {
  const s = await startSimulation({ ...day, leakShare: 0 }).done;
  t.is(s.alertsRaised, 0);
  t.is(s.readingsDelivered, s.readingsGenerated);
});
