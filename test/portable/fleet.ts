/* Fleet incidents (tools/fleet/incidents.ts): local evidence only, warm-ups and wide patches are not leaks. */
import { Fleet, type Incident } from '../../tools/fleet/incidents';
import { equal } from '../harness/assert';

const STEP = 10_000;
const HOUR = 3_600_000;
const line = (n: number, spacing = 1.5) => Array.from({ length: n }, (_, i) => ({ id: `N${i + 1}`, line: 'L1', posM: i * spacing }));

/** Feeds every node f(i, t) every 10 s (node i 37 ms later in the round); alert(i, t) says which samples alert. */
function run(fleet: Fleet, f: (i: number, t: number) => number, t1: number, alert: (i: number, t: number) => boolean = () => false): Incident[] {
  const out: Incident[] = [];
  fleet.onIncident = (x) => out.push(x);
  for (let t = 0; t < t1; t += STEP) {
    for (let i = 0; i < fleet.nodes.length; i++) {
      const at = t + i * 37;
      fleet.reading(i, at, Math.round(f(i, at)));
      if (alert(i, at)) fleet.alert(i, at);
    }
  }
  return out;
}

const base = (i: number) => 60_000 + i * 700;

export const tests = {
  'a leak between two nodes: one incident, at the alerting node, positioned between them'() {
    const fleet = new Fleet(line(20));
    const onset = HOUR;
    // The leak sits at 13.9 m: N10 (13.5 m) sees all of it, N11 (15 m) two thirds, N9 a fifth.
    const share = [0, 0, 0, 0, 0, 0, 0, 0, 0.2, 1, 0.67, 0.1];
    const f = (i: number, t: number) => base(i) + (t < onset ? 0 : 20_000 * (share[i] ?? 0) * (1 - Math.exp(-(t - onset) / 40_000)));
    const incidents = run(fleet, f, 2 * HOUR, (i, t) => i === 9 && t >= onset + 20_000 && t < onset + 30_000);
    equal(incidents.length, 1);
    equal(incidents[0]!.node, 'N10');
    equal(incidents[0]!.rule, 'alert');
    equal(incidents[0]!.tMs - onset <= 40_000, true, `delay ${incidents[0]!.tMs - onset}`);
    const pos = incidents[0]!.posM;
    equal(pos > 13.5 && pos < 15, true, `position ${pos}`);
  },
  'a rise shared by the whole line within minutes (a restart), node alerts and all, is no incident'() {
    const fleet = new Fleet(line(20));
    const at = HOUR;
    const f = (i: number, t: number) => {
      const s = t < at + i * 3000 ? 0 : 1 - Math.exp(-(t - at - i * 3000) / 150_000);
      return base(i) + 30_000 * s;
    };
    const incidents = run(fleet, f, 3 * HOUR, (i, t) => t >= at + 60_000 + i * 3000 && t < at + 70_000 + i * 3000);
    equal(incidents.length, 0);
    equal(fleet.alertsSuppressed, 20);
  },
  'a sun patch over six nodes (+3 °C for 40 minutes) is no incident, even with node alerts'() {
    const fleet = new Fleet(line(20));
    const f = (i: number, t: number) => base(i) + (i >= 6 && i <= 11 && t > HOUR && t < HOUR + 2_400_000 ? 3000 * Math.sin((Math.PI * (t - HOUR)) / 2_400_000) ** 2 : 0);
    equal(run(fleet, f, 3 * HOUR, (i, t) => i === 8 && t >= HOUR + 1_200_000 && t < HOUR + 1_210_000).length, 0);
  },
  'a small slow rise at one node that the edge missed: an incident by the relative CUSUM'() {
    const fleet = new Fleet(line(20));
    const onset = HOUR;
    const f = (i: number, t: number) => base(i) + (i === 4 && t > onset ? 3500 * (1 - Math.exp(-(t - onset) / 300_000)) : 0);
    const incidents = run(fleet, f, 2 * HOUR);
    equal(incidents.length, 1);
    equal(incidents[0]!.node, 'N5');
    equal(incidents[0]!.rule, 'cusum');
    equal(incidents[0]!.tMs - onset < 1_800_000, true);
  },
  'a single-sample glitch, alert or not, is no incident'() {
    const fleet = new Fleet(line(10));
    const at = HOUR + 5 * 37;
    equal(run(fleet, (i, t) => base(i) + (i === 5 && t === at ? 30_000 : 0), 2 * HOUR, (i, t) => i === 5 && t === at).length, 0);
  },
  'a second alert within two positions of an open incident is merged; far away it is its own'() {
    const fleet = new Fleet(line(20));
    const jump = (i: number, t: number, node: number, at: number) => (i === node && t >= at ? 15_000 : 0);
    const f = (i: number, t: number) => base(i) + jump(i, t, 5, HOUR) + jump(i, t, 6, HOUR + 600_000) + jump(i, t, 15, HOUR + 600_000);
    const alerts = (i: number, t: number) => (i === 5 && t >= HOUR + 20_000 && t < HOUR + 30_000) || ((i === 6 || i === 15) && t >= HOUR + 620_000 && t < HOUR + 630_000);
    const incidents = run(fleet, f, 2 * HOUR, alerts);
    equal(incidents.map((x) => x.node).join(','), 'N6,N16');
  },
  'an incident closes after 30 quiet minutes: a new leak there hours later is a new incident'() {
    const fleet = new Fleet(line(20));
    const pulse = (t: number, at: number) => (t >= at && t < at + HOUR ? 15_000 : 0);
    const f = (i: number, t: number) => base(i) + (i === 7 ? pulse(t, HOUR) + pulse(t, 4 * HOUR) : 0);
    const alerts = (i: number, t: number) => i === 7 && ((t >= HOUR + 20_000 && t < HOUR + 30_000) || (t >= 4 * HOUR + 20_000 && t < 4 * HOUR + 30_000));
    const incidents = run(fleet, f, 6 * HOUR, alerts);
    equal(incidents.map((x) => x.node).join(','), 'N8,N8');
    equal(incidents[1]!.tMs - 4 * HOUR < 60_000, true);
  },
  'nodes added later join their line in position order; an id is taken once'() {
    const fleet = new Fleet([], { capacity: 3 });
    equal(fleet.add({ id: 'b', line: 'L', posM: 3 }), 0);
    equal(fleet.add({ id: 'a', line: 'L', posM: 0 }), 1);
    equal(fleet.add({ id: 'a', line: 'L', posM: 9 }), -1);
    equal(fleet.add({ id: 'c', line: 'M', posM: 0 }), 2);
    equal(fleet.add({ id: 'd', line: 'M', posM: 1 }), -1, 'full');
    equal(fleet.lineIds.join(','), 'L,M');
  },
};
