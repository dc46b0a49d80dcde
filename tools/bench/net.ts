/*
 * Network figures for `npm run bench`: the reconnect storm model (1,000 nodes, seeded, virtual
 * time), full-jitter backoff (1 s base, 300 s cap) against a fixed 5 s retry, for several broker
 * outage lengths. Shares are percent of the fleet with a connection attempt inside the busiest
 * 1-second window: "afterRestart" counts windows from the broker's return on, "wholeRun" also
 * counts the refused attempts while it was down. Averaged over five seeds.
 */
import { compareStorm, type StormResult } from '../../simulator/net/storm';

const SEEDS = [1, 2, 3, 4, 5];
const OUTAGES_S = [1, 10, 30, 60, 300];

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export async function bench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const started = performance.now();
  for (const outageS of OUTAGES_S) {
    const runs = SEEDS.map((seed) => compareStorm({ nodes: 1000, seed, outageMs: outageS * 1000 }));
    const put = (policy: string, pick: (run: { fullJitter: StormResult; fixedInterval: StormResult }) => StormResult) => {
      const results = runs.map(pick);
      const prefix = `storm.outage${outageS}s.${policy}`;
      figures[`${prefix}.peakPercentAfterRestart`] = round(100 * mean(results.map((r) => r.peakShareAfterRestart)));
      figures[`${prefix}.worstPeakPercentAfterRestart`] = round(100 * Math.max(...results.map((r) => r.peakShareAfterRestart)));
      figures[`${prefix}.peakPercentWholeRun`] = round(100 * mean(results.map((r) => r.peakShare)));
      figures[`${prefix}.allReconnectedS`] = round(mean(results.map((r) => r.allReconnectedAfterMs)) / 1000, 1);
      figures[`${prefix}.halfReconnectedS`] = round(mean(results.map((r) => r.halfReconnectedAfterMs)) / 1000, 1);
      figures[`${prefix}.attemptsPerNode`] = round(mean(results.map((r) => r.attempts / r.nodes)), 1);
    };
    put('fullJitter', (run) => run.fullJitter);
    put('fixed5s', (run) => run.fixedInterval);
  }
  figures['storm.modelMsPerRun'] = round((performance.now() - started) / (OUTAGES_S.length * SEEDS.length * 2), 1);
  return figures;
}
