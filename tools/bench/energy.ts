/*
 * Energy figures (docs/energy.md), from simulator runs (Node engine, virtual time, one node,
 * 10 s sampling, the ESP32 power model of simulator/energy.ts):
 * - `energy.baseline.*`: the ESPHome-style node: always connected, every sample published as JSON;
 * - `energy.always-connected.*`: always connected, report by exception (deadband 200 m°C, 15 min);
 * - `energy.<light-sleep|wake-cycle>.<10s|30s|5m|15m>.*`: those modes at each report interval,
 *   with the same report by exception;
 * each with mJ per day, mean current (mA), battery days on one 18650 and on 2×AA, bytes on the
 * wire per day, and the worst time from a leak's onset to its alert at the broker (s) with its
 * part after the alerting sample (connect, s), from a second run: three lines, one node each,
 * a large leak at a different phase of the report window on each.
 * - `energy.ratio.wake-cycle.30s-vs-5m`: the brief's "30 s vs 5 min ≈ 10×", by the model; and
 *   `...radioOnly`: the same for the radio's share (joins, associated time, air time).
 * - what-ifs on the wake-cycle 5 min counts: `optimizedBoot` (a 40 ms wake, ESP Techpedia's
 *   optimised start-up), `sample30s` (sampling every 30 s instead of 10 s), and `tls`
 *   (every connection a TLS handshake).
 * - `energy.outage24h.<noOutage|fixedWindows|backoff>.*`: wake-cycle at 5 min, 26 h with a 24 h
 *   broker outage from the first hour (none for `noOutage`); `fixedWindows` without the window
 *   backoff (`maxBackoffMs: 0`, a 60 s window every 5 min), `backoff` with the default (full
 *   jitter, 1 h cap): the run's mJ, the outage's extra mJ over `noOutage`, failed windows, and
 *   the time from the outage's end to the first reading delivered after it (the backlog goes out
 *   in that window); every reading is delivered by the end (the run throws otherwise).
 */
import { VIRTUAL_EPOCH_MS } from '../../hosts/node/host';
import { ESP32_POWER_MODEL, nodeEnergy, type PowerModel } from '../../simulator/energy';
import type { PlantSpec } from '../../simulator/plant/model';
import { startSimulation, type SimOptions } from '../../simulator/run';
import type { PowerMode } from '../../firmware/power';
import type { EnergyCounts } from '../../firmware/energy';

const HOURS = 6;
const base: SimOptions = {
  nodes: 1,
  engine: 'node',
  durationMs: HOURS * 3_600_000,
  virtual: true,
  seed: 7,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 300_000,
  leakShare: 0,
};
const report = { deadband: 200, maxIntervalMs: 900_000 };
const INTERVALS: Array<[string, number]> = [['10s', 10_000], ['30s', 30_000], ['5m', 300_000], ['15m', 900_000]];

const leakPlant: PlantSpec = {
  seed: 5,
  lines: [{ id: 'A', ambientC: 25 }, { id: 'B', ambientC: 25 }, { id: 'C', ambientC: 25 }],
  nodes: [{ id: 'A-1', line: 'A', posM: 0 }, { id: 'B-1', line: 'B', posM: 0 }, { id: 'C-1', line: 'C', posM: 0 }],
  events: [
    { kind: 'leak', size: 'large', line: 'A', posM: 0.3, atMs: 3_797_000, riseC: 30, tauMs: 40_000 },
    { kind: 'leak', size: 'large', line: 'B', posM: 0.3, atMs: 7_411_000, riseC: 30, tauMs: 40_000 },
    { kind: 'leak', size: 'large', line: 'C', posM: 0.3, atMs: 11_219_000, riseC: 30, tauMs: 40_000 },
  ] as never,
};

const r1 = (v: number) => Math.round(v * 10) / 10;

async function energyRun(o: Partial<SimOptions>): Promise<{ counts: EnergyCounts; readings: number; bytesPerDay: number; mJPerDay: number; mean: number; days18650: number; days2AA: number }> {
  const s = await startSimulation({ ...base, ...o, perNode: true }).done;
  if (s.readingsLost !== 0) throw new Error(`energy bench: ${s.readingsLost} readings lost`);
  const e = s.energy!;
  const node = e.perNode![0]!;
  return {
    counts: node.counts,
    readings: s.readingsGenerated,
    bytesPerDay: e.bytesPerNodePerDay,
    mJPerDay: Math.round((node.mJ / node.counts.uptimeMs) * 86_400_000),
    mean: e.meanCurrentMilliAmps,
    days18650: e.batteryDays18650,
    days2AA: e.batteryDays2AA,
  };
}

async function alertDelays(o: Partial<SimOptions>): Promise<{ worstS: number; connectS: number }> {
  const first = new Map<string, { arrived: number; sample: number }>();
  const s = await startSimulation({
    ...base,
    ...o,
    nodes: 3,
    plant: leakPlant,
    deviceIds: leakPlant.nodes.map((n) => n.id),
    onDelivered: (r, at) => {
      if (r.alert && !first.has(r.dev)) first.set(r.dev, { arrived: at, sample: r.sync ? r.ts - VIRTUAL_EPOCH_MS : r.ts });
    },
  }).done;
  if (first.size !== 3) throw new Error(`energy bench: ${first.size} of 3 leak alerts reached the broker (${s.alertsRaised} raised)`);
  let worst = 0;
  let connect = 0;
  leakPlant.nodes.forEach((n, i) => {
    const a = first.get(n.id)!;
    const onset = (leakPlant.events![i] as { atMs: number }).atMs;
    worst = Math.max(worst, a.arrived - onset);
    connect = Math.max(connect, a.arrived - a.sample);
  });
  return { worstS: r1(worst / 1000), connectS: r1(connect / 1000) };
}

function put(figures: Record<string, number>, key: string, run: Awaited<ReturnType<typeof energyRun>>, delay: { worstS: number; connectS: number }): void {
  figures[`energy.${key}.mJPerDay`] = run.mJPerDay;
  figures[`energy.${key}.meanCurrentMilliAmps`] = run.mean;
  figures[`energy.${key}.batteryDays18650`] = run.days18650;
  figures[`energy.${key}.batteryDays2AA`] = run.days2AA;
  figures[`energy.${key}.bytesPerDay`] = run.bytesPerDay;
  figures[`energy.${key}.readingsPerDay`] = Math.round((run.readings / run.counts.uptimeMs) * 86_400_000);
  figures[`energy.${key}.worstLeakToAlertS`] = delay.worstS;
  figures[`energy.${key}.alertConnectS`] = delay.connectS;
}

function days(counts: EnergyCounts, readings: number, model: PowerModel): number {
  return nodeEnergy(counts, readings, model).batteryDays18650;
}

/** A 24 h outage in wake-cycle at 5 min (see the header): with and without the window backoff. */
async function outage(figures: Record<string, number>): Promise<void> {
  const HOUR = 3_600_000;
  const o: Partial<SimOptions> = { report, durationMs: 26 * HOUR, drainMs: 3 * HOUR };
  const runs: Array<[string, Partial<SimOptions>]> = [
    ['noOutage', { power: { mode: 'wake-cycle', reportIntervalMs: 300_000 } }],
    ['fixedWindows', { power: { mode: 'wake-cycle', reportIntervalMs: 300_000, maxBackoffMs: 0 }, outages: [{ atMs: HOUR, forMs: 24 * HOUR }] }],
    ['backoff', { power: { mode: 'wake-cycle', reportIntervalMs: 300_000 }, outages: [{ atMs: HOUR, forMs: 24 * HOUR }] }],
  ];
  let quiet = 0;
  for (const [name, extra] of runs) {
    let firstAfter = -1;
    const s = await startSimulation({
      ...base, ...o, ...extra, perNode: true,
      onDelivered: (_r, at) => {
        if (at >= 25 * HOUR && firstAfter < 0) firstAfter = at;
      },
    }).done;
    if (s.readingsLost !== 0 || s.pendingOnNodes !== 0 || s.readingsDelivered !== s.readingsGenerated) {
      throw new Error(`energy bench, outage ${name}: ${s.readingsDelivered} of ${s.readingsGenerated} delivered`);
    }
    const e = s.energy!;
    if (name === 'noOutage') quiet = e.mJ;
    figures[`energy.outage24h.${name}.mJ`] = Math.round(e.mJ);
    figures[`energy.outage24h.${name}.outageExtraMJ`] = Math.round(e.mJ - quiet);
    figures[`energy.outage24h.${name}.failedWindows`] = e.failedWindows;
    figures[`energy.outage24h.${name}.meanCurrentMilliAmps`] = e.meanCurrentMilliAmps;
    if (name !== 'noOutage') figures[`energy.outage24h.${name}.firstDeliveryAfterOutageS`] = Math.round((firstAfter - 25 * HOUR) / 1000);
  }
}

export async function bench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  await outage(figures);
  put(figures, 'baseline', await energyRun({}), await alertDelays({}));
  put(figures, 'always-connected', await energyRun({ report }), await alertDelays({ report }));
  const radio: Record<string, number> = {};
  for (const mode of ['light-sleep', 'wake-cycle'] as PowerMode[]) {
    for (const [name, ms] of INTERVALS) {
      const power = { mode, reportIntervalMs: ms };
      const run = await energyRun({ report, power });
      put(figures, `${mode}.${name}`, run, await alertDelays({ report, power }));
      if (mode === 'wake-cycle') {
        const e = nodeEnergy(run.counts, run.readings);
        const b = e.breakdownMilliAmpSeconds;
        radio[name] = (b.associated! + b.wifiJoin! + b.tx! + b.rx!) / run.counts.uptimeMs;
        if (name === '5m') {
          figures['energy.wake-cycle.5m.whatIf.optimizedBoot.batteryDays18650'] = days(run.counts, run.readings, { ...ESP32_POWER_MODEL, deepWakeMs: 40 });
          figures['energy.wake-cycle.5m.whatIf.optimizedBootFastJoin.batteryDays18650'] = days(run.counts, run.readings, { ...ESP32_POWER_MODEL, deepWakeMs: 40, wifiJoinMs: 300 });
          const third = { ...run.counts, deepWakes: Math.round(run.counts.deepWakes / 3), sensorConversions: Math.round(run.counts.sensorConversions / 3) };
          figures['energy.wake-cycle.5m.whatIf.sample30s.batteryDays18650'] = days(third, run.readings, ESP32_POWER_MODEL);
          figures['energy.wake-cycle.5m.whatIf.tls.batteryDays18650'] = days({ ...run.counts, tlsHandshakes: run.counts.tcpConnects }, run.readings, ESP32_POWER_MODEL);
        }
      }
    }
  }
  figures['energy.ratio.wake-cycle.30s-vs-5m'] = r1(figures['energy.wake-cycle.30s.meanCurrentMilliAmps']! / figures['energy.wake-cycle.5m.meanCurrentMilliAmps']!);
  figures['energy.ratio.wake-cycle.30s-vs-5m.radioOnly'] = r1(radio['30s']! / radio['5m']!);
  figures['energy.ratio.light-sleep.30s-vs-5m'] = r1(figures['energy.light-sleep.30s.meanCurrentMilliAmps']! / figures['energy.light-sleep.5m.meanCurrentMilliAmps']!);
  return figures;
}
