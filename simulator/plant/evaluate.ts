/*
 * Runs the detectors over a plant's samples, directly (no simulated node, no broker): the
 * firmware's edge detector per node with the node defaults, the fleet incidents module over all
 * nodes, and, for comparison, the former single rule. Portable: the benchmark runs it on Node,
 * the equality test on Node and in XS.
 */
import { DetectEvent, LeakDetector, SpikeDetector } from '../../firmware/detect';
import { Fleet } from '../../tools/fleet/incidents';
import type { PlantSpec } from './model';
import type { Detection } from './score';
import { samplePlant } from './trace';

export interface Evaluation {
  edge: Detection[];
  incidents: Array<Detection & { posM: number }>;
  oldRule: Detection[];
  samples: number;
}

export function evaluate(spec: PlantSpec, durationMs: number, intervalMs = 10_000, withOldRule = true): Evaluation {
  const n = spec.nodes.length;
  const edge: Detection[] = [];
  const oldRule: Detection[] = [];
  const incidents: Evaluation['incidents'] = [];
  const detectors: LeakDetector[] = [];
  for (let i = 0; i < n; i++) detectors.push(new LeakDetector(1));
  const old = withOldRule ? new SpikeDetector(n) : undefined;
  const fleet = new Fleet(spec.nodes);
  fleet.onIncident = (x) => incidents.push({ node: fleet.indexOf(x.node), tMs: x.tMs, posM: x.posM });
  let samples = 0;
  samplePlant(spec, durationMs, intervalMs, (t, i, v) => {
    samples++;
    const alert = detectors[i]!.update(0, t, v) === DetectEvent.alert;
    fleet.reading(i, t, v);
    if (alert) {
      edge.push({ node: i, tMs: t });
      fleet.alert(i, t);
    }
    if (old?.update(i, t, v)) oldRule.push({ node: i, tMs: t });
  });
  return { edge, incidents, oldRule, samples };
}
