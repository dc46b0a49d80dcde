/* The simulated plant (simulator/plant/model.ts): deterministic, leaks by distance, restarts with lag, strict plant files. */
import { generatePlant, parsePlant, partResolution, Plant, type PlantSpec } from '../../simulator/plant/model';
import { score } from '../../simulator/plant/score';
import { equal } from '../harness/assert';

const HOUR = 3_600_000;

function plant(events: unknown[], extra: Record<string, unknown> = {}): PlantSpec {
  return parsePlant({
    seed: 7,
    lines: [{ id: 'L1', ambientC: 25, lagMsPerM: 2000 }],
    nodes: [0, 1.5, 3, 4.5, 6, 7.5].map((posM, i) => ({ id: `N${i}`, line: 'L1', posM, part: 'tmp117', baseC: 60 })),
    events,
    ...extra,
  });
}

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
  'the same seed gives the same samples; another seed other ones'() {
    const a = new Plant(generatePlant({ seed: 5, lines: 1 }));
    const b = new Plant(generatePlant({ seed: 5, lines: 1 }));
    const c = new Plant(generatePlant({ seed: 6, lines: 1 }));
    let same = 0;
    let differ = 0;
    for (let t = 0; t < 86_400_000; t += 600_000) {
      if (a.sampleMilliCelsius(3, t) === b.sampleMilliCelsius(3, t)) same++;
      if (a.sampleMilliCelsius(3, t) !== c.sampleMilliCelsius(3, t)) differ++;
    }
    equal(same, 144);
    equal(differ > 140, true);
  },
  'samples are quantised to the part: a TMP117 in 1/128 °C steps, a MAX31855 in 0.25 °C'() {
    equal(partResolution('max31855'), 0.25);
    const spec = plant([]);
    spec.nodes[0]!.part = 'max31855';
    const p = new Plant(spec);
    for (let t = 0; t < HOUR; t += 10_000) {
      equal(p.sampleMilliCelsius(0, t) % 250, 0);
      const steps = p.sampleMilliCelsius(1, t) / 7.8125;
      equal(Math.abs(steps - Math.round(steps)) < 0.07, true, `${p.sampleMilliCelsius(1, t)} m°C`);
    }
  },
  'a leak warms the nearest node by its rise, neighbours less with distance, from its onset'() {
    const p = new Plant(plant([{ kind: 'leak', size: 'medium', line: 'L1', posM: 3.2, atMs: HOUR, riseC: 10, tauMs: 60_000 }]));
    const before = [0, 1, 2, 3, 4].map((i) => p.temperatureC(i, HOUR - 1000));
    const after = [0, 1, 2, 3, 4].map((i) => p.temperatureC(i, HOUR + 900_000) - before[i]!);
    equal(Math.abs(after[2]! - 10) < 0.3, true, `nearest +${after[2]}`);
    equal(after[3]! < after[2]! && after[3]! > after[4]! && after[1]! < after[3]!, true, after.join(' '));
    equal(after[0]! < 0.5, true);
  },
  'a shutdown cools towards ambient over hours; the restart warms within minutes, later along the line'() {
    const p = new Plant(plant([{ kind: 'shutdown', line: 'L1', atMs: HOUR, restartMs: 6 * HOUR }]));
    const t = (i: number, at: number) => p.temperatureC(i, at);
    equal(t(0, HOUR + 600_000) > 55, true, 'ten minutes in: still warm');
    equal(t(0, 6 * HOUR - 1000) < 40, true, 'five hours in: most of the way to ambient');
    equal(t(0, 6 * HOUR + 900_000) > 55, true, 'fifteen minutes after the restart: warm again');
    equal(t(0, 6 * HOUR + 60_000) > t(5, 6 * HOUR + 60_000) + 1, true, 'the far end warms later');
  },
  'a glitch moves one sample of one node; benign events move their neighbourhood'() {
    const p = new Plant(plant([
      { kind: 'glitch', node: 'N2', atMs: HOUR, deltaC: 20 },
      { kind: 'exhaust', line: 'L1', posM: 6, atMs: 2 * HOUR, durationMs: 60_000, riseC: 3 },
      { kind: 'draught', line: 'L1', posM: 0, atMs: 3 * HOUR, durationMs: 300_000, dropC: 4 },
      { kind: 'sun', line: 'L1', posM: 3, widthM: 6, atMs: 4 * HOUR, durationMs: 2_400_000, riseC: 2 },
    ]));
    const d = (i: number, at: number, ref: number) => p.temperatureC(i, at) - p.temperatureC(i, ref);
    equal(Math.round(d(2, HOUR + 1000, HOUR - 10_000)), 20);
    equal(Math.abs(d(2, HOUR + 10_000, HOUR - 10_000)) < 0.1, true, 'one sample only');
    equal(d(4, 2 * HOUR + 50_000, 2 * HOUR - 1000) > 2, true, 'exhaust');
    equal(d(0, 3 * HOUR + 240_000, 3 * HOUR - 1000) < -3, true, 'draught');
    equal(d(2, 4 * HOUR + 1_200_000, 4 * HOUR - 1000) > 1.7, true, 'sun');
  },
  'plant files are checked field by field'() {
    throws(() => parsePlant({ lines: [], nodes: [] }), /lines must be a non-empty array/);
    throws(() => plant([{ kind: 'leak', size: 'huge', line: 'L1', posM: 1, atMs: 0 }]), /events\[0\]\.size must be one of/);
    throws(() => plant([{ kind: 'leak', size: 'small', line: 'L9', posM: 1, atMs: 0 }]), /events\[0\]\.line "L9" is not in lines/);
    throws(() => plant([{ kind: 'glitch', node: 'N9', atMs: 0, deltaC: 3 }]), /events\[0\]\.node "N9" is not in nodes/);
    throws(() => plant([{ kind: 'shutdown', line: 'L1', atMs: 100 }]), /restartMs must be a number/);
    throws(() => parsePlant({ lines: [{ id: 'L1' }], nodes: [{ id: 'a', line: 'L1', posM: -1 }] }), /nodes\[0\]\.posM/);
    throws(() => parsePlant({ lines: [{ id: 'L1' }], nodes: [{ id: 'a', line: 'L1', posM: 0, part: 'lm35' }] }), /not a temperature part/);
    throws(() => parsePlant({ lines: [{ id: 'L1' }], nodes: [{ id: 'a', line: 'L1', posM: 0 }, { id: 'a', line: 'L1', posM: 1 }] }), /appears twice/);
  },
  'scoring: found within two positions and 30 minutes; later and farther is false'() {
    const spec = plant([{ kind: 'leak', size: 'large', line: 'L1', posM: 0.1, atMs: HOUR, riseC: 30, tauMs: 30_000, endMs: 2 * HOUR }]);
    const s = score(spec, [
      { node: 2, tMs: HOUR + 20_000 },
      { node: 0, tMs: HOUR + 40_000 },
      { node: 3, tMs: HOUR + 30_000 },
      { node: 1, tMs: 3 * HOUR },
    ], 86_400_000);
    equal(s.perSize.large.found, 1);
    equal(s.perSize.large.medianDelayS, 20);
    equal(s.falseDetections, 2);
    equal(s.perSize.small.leaks, 0);
  },
};
