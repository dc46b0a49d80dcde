/*
 * The staged rollout state machine (tools/fleet/rollout.ts): waves, settling, the stop rules,
 * concurrency, offline nodes, timeouts, refusals, and its saved state. Portable (Node and XS).
 * Nodes here answer with the OTA agent's event sequences (docs/ota.md) scripted per node.
 */
import { Rollout, parsePercent, parseWaves, waveEnds, type RolloutConfig } from '../../tools/fleet/rollout';
import { equal, ok, throws } from '../harness/assert';

const RULES: Omit<RolloutConfig, 'version'> = { waves: [1, 10, 50, 100], abortAbovePct: 5, minNodes: 10, maxConcurrent: 50, nodeTimeoutMs: 30 * 60_000, offlineWaitMs: 3_600_000 };

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `pipe-${String(i + 1).padStart(4, '0')}`);
}

const GOOD = ['progress', 'verified', 'rebooting', 'booted-trial', 'confirmed'];
const BAD = ['progress', 'verified', 'rebooting', 'booted-trial', 'failed:healthCheckTimeout', 'rolledBack'];

function send(r: Rollout, id: string, step: string, now: number) {
  if (step === 'booted-trial') return r.event(id, { event: 'booted', running: '1.1.0', trial: true }, now);
  const [event, reason] = step.split(':') as [string, string | undefined];
  return r.event(id, { event, version: '1.1.0', reason, running: '1.0.0' }, now);
}

/**
 * Runs the rollout to its end: every offered node plays its script one event per step of
 * `stepMs`. Returns the offers in order and, per step, the wave under way and downloads.
 */
function drive(r: Rollout, script: (id: string) => string[], o: { stepMs?: number; maxSteps?: number } = {}) {
  const stepMs = o.stepMs ?? 1000;
  let now = 0;
  const offered: string[] = [];
  const progress = new Map<string, number>();
  let peak = 0;
  const waveAtOffer = new Map<string, number>();
  for (let k = 0; k < (o.maxSteps ?? 10_000) && !r.done(now); k++) {
    for (const id of r.step(now)) {
      offered.push(id);
      waveAtOffer.set(id, r.wave);
      progress.set(id, 0);
    }
    peak = Math.max(peak, r.downloading);
    now += stepMs;
    for (const [id, at] of progress) {
      const steps = script(id);
      if (at >= steps.length) continue;
      send(r, id, steps[at]!, now);
      progress.set(id, at + 1);
    }
  }
  return { offered, peak, now, waveAtOffer };
}

function allOnline(r: Rollout, list: string[]) {
  for (const id of list) r.setOnline(id, 0);
}

export const tests = {
  'waves: cumulative percentages, at least one new node each, parsed strictly'() {
    equal(JSON.stringify(waveEnds([1, 10, 50, 100], 1000)), '[10,100,500,1000]');
    equal(JSON.stringify(waveEnds([1, 10, 50, 100], 20)), '[1,2,10,20]');
    equal(JSON.stringify(waveEnds([1, 2, 3], 3)), '[1,2,3]');
    equal(JSON.stringify(waveEnds([10, 50], 20)), '[2,10]', 'waves may end below 100 %: a canary only');
    equal(JSON.stringify(parseWaves('1%,10%,50%,100%')), '[1,10,50,100]');
    equal(JSON.stringify(parseWaves('0.5,100')), '[0.5,100]');
    ok(typeof parseWaves('10%,5%') === 'string', 'decreasing');
    ok(typeof parseWaves('0%,100%') === 'string', 'zero');
    ok(typeof parseWaves('10%,120%') === 'string', 'above 100');
    ok(typeof parseWaves('ten') === 'string');
    equal(parsePercent('5%'), 5);
    equal(parsePercent('0.5'), 0.5);
    equal(parsePercent('101%'), undefined);
    equal(parsePercent('-1%'), undefined);
    throws(() => new Rollout({ version: '1.1.0', ...RULES, maxConcurrent: 0 }, ids(3)), /maxConcurrent/);
    throws(() => new Rollout({ version: '1.1.0', ...RULES }, ['a', 'a']), /twice/);
  },

  'a good image reaches 100 % in waves: each wave starts only when the one before has settled'() {
    const list = ids(1000);
    const r = new Rollout({ version: '1.1.0', ...RULES }, list);
    allOnline(r, list);
    const { offered, peak, waveAtOffer } = drive(r, () => GOOD);
    const s = r.summary();
    equal(s.counts.confirmed, 1000);
    equal(s.complete, true);
    equal(s.stopped, false);
    equal(offered.length, 1000, 'each node offered once');
    equal(new Set(offered).size, 1000);
    equal(JSON.stringify(s.waves.map((w) => w.nodes)), '[10,90,400,500]');
    ok(peak <= 50, `at most --max-concurrent downloads (peak ${peak})`);
    equal(peak, 50, 'and the limit is used');
    // Every node was offered while its own wave was the current one.
    for (const n of r.nodes) equal(waveAtOffer.get(n.id), n.wave, n.id);
    // Nodes are offered in target order, wave after wave.
    equal(offered.join(','), list.join(','));
    equal(r.waveLine(0), 'wave 1/4 (1 %, 10 nodes): confirmed 10; settled');
  },

  'the next wave waits for the last node of the current one'() {
    const list = ids(20);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [10, 100] }, list);
    allOnline(r, list);
    equal(r.step(0).join(','), 'pipe-0001,pipe-0002');
    r.event('pipe-0001', { event: 'confirmed', version: '1.1.0' }, 1);
    equal(r.step(2).length, 0, 'pipe-0002 has not settled');
    r.event('pipe-0002', { event: 'progress', version: '1.1.0', bytes: 1, total: 2 }, 3);
    equal(r.step(4).length, 0);
    r.event('pipe-0002', { event: 'confirmed', version: '1.1.0' }, 5);
    equal(r.step(6).length, 18, 'then the rest');
    equal(r.wave, 1);
  },

  'an image that fails its health check stops the rollout after the first wave, and says why'() {
    const list = ids(1000);
    const r = new Rollout({ version: '1.1.0', ...RULES }, list);
    allOnline(r, list);
    const { offered } = drive(r, () => BAD);
    const s = r.summary();
    equal(offered.length, 10, 'only the first wave was offered');
    equal(s.counts.rolledBack, 10);
    equal(s.counts.pending, 990);
    equal(s.stopped, true);
    equal(s.complete, false);
    equal(s.unreached.length, 990);
    equal(s.stopReason, 'wave 1 (1 %): 10 of its 10 settled nodes failed (100.0 % > 5 %): rolledBack 10');
    equal(JSON.stringify(s.failures), '{"rolledBack":10}');
    equal(r.waveLine(0), 'wave 1/4 (1 %, 10 nodes): rolledBack 10; settled');
    equal(r.waveLine(1), 'wave 2/4 (10 %, 90 nodes): pending 90; not started');
  },

  'the whole-rollout rule stops mid-wave once --min-nodes have settled'() {
    const list = ids(100);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [50, 100], maxConcurrent: 5 }, list);
    allOnline(r, list);
    // One in eight fails: wave 1 holds 50 nodes, the rule sees 1 of 10 (10 %) at the 10th settled.
    const { offered } = drive(r, (id) => (Number(id.slice(5)) % 8 === 4 ? ['failed:digestMismatch'] : ['confirmed']));
    const s = r.summary();
    equal(s.stopped, true);
    ok(/^the rollout so far: 1 of 10 settled nodes failed \(10\.0 % > 5 %, with at least --min-nodes 10 settled\): failed \(digestMismatch\) 1$/.test(s.stopReason!), s.stopReason!);
    ok(offered.length < 50, `stopped inside the first wave (${offered.length} offered)`);
    equal(s.counts.offered + s.counts.downloading, 0, 'the nodes under way were followed to the end');
    equal(JSON.stringify(s.failures), '{"digestMismatch":1}');
  },

  'below --min-nodes only a settled wave stops it; a failure rate at the threshold goes on'() {
    const list = ids(40);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [50, 100], abortAbovePct: 5, minNodes: 100 }, list);
    allOnline(r, list);
    // 1 of 20 in wave 1: 5 %, not above 5 %.
    drive(r, (id) => (id === 'pipe-0003' ? ['rolledBack'] : ['confirmed']));
    const s = r.summary();
    equal(s.stopped, false);
    equal(s.complete, true, 'every wave ran and every target settled: failures at or below the threshold are accepted');
    equal(s.counts.confirmed, 39);
    equal(s.counts.rolledBack, 1);
    equal(s.waves[1]!.settled, true);
  },

  'nodes offline in their wave are retried when they are back, ahead of the next wave'() {
    const list = ids(20);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [10, 50, 100] }, list);
    allOnline(r, list);
    r.setOffline('pipe-0002', 0);
    equal(r.step(0).join(','), 'pipe-0001');
    equal(r.node('pipe-0002')!.state, 'offlineRetry');
    r.event('pipe-0001', { event: 'confirmed', version: '1.1.0' }, 1);
    const wave2 = r.step(2);
    equal(wave2.length, 8, 'the offline node does not hold its wave');
    equal(r.wave, 1);
    r.setOnline('pipe-0002', 3);
    equal(r.step(4).join(','), 'pipe-0002', 'offered when it is back');
    equal(r.node('pipe-0002')!.offers, 1, 'never offered while it was offline');
    for (const id of wave2) r.event(id, { event: 'confirmed', version: '1.1.0' }, 5);
    equal(r.step(6).length, 10, 'wave 2 has settled: the node of wave 1 that came back does not hold wave 3');
    r.event('pipe-0002', { event: 'confirmed', version: '1.1.0' }, 7);
    equal(r.node('pipe-0002')!.state, 'confirmed');
  },

  'a wave whose nodes are all offline holds the next; the offline wait ends the rollout'() {
    const list = ids(10);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [10, 100], offlineWaitMs: 60_000 }, list);
    allOnline(r, list);
    r.setOffline('pipe-0001', 0);
    equal(r.step(0).length, 0);
    equal(r.wave, 0, 'no evidence yet');
    equal(r.done(59_999), false);
    r.setOnline('pipe-0001', 10_000);
    equal(r.step(10_000).join(','), 'pipe-0001');
    r.event('pipe-0001', { event: 'confirmed', version: '1.1.0' }, 11_000);
    equal(r.step(12_000).length, 9);

    const r2 = new Rollout({ version: '1.1.0', ...RULES, waves: [10, 100], offlineWaitMs: 60_000 }, list);
    allOnline(r2, list);
    r2.setOffline('pipe-0001', 0);
    r2.step(0);
    equal(r2.done(59_999), false);
    equal(r2.done(60_000), true);
    equal(r2.summary().complete, false);
    equal(r2.summary().unreached.length, 10);
  },

  'offline mid-download frees the slot; offline after verified is the reboot into the trial image'() {
    const list = ids(4);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [100], maxConcurrent: 2 }, list);
    allOnline(r, list);
    equal(r.step(0).join(','), 'pipe-0001,pipe-0002');
    r.event('pipe-0001', { event: 'progress', version: '1.1.0' }, 1);
    r.event('pipe-0002', { event: 'verified', version: '1.1.0' }, 1);
    equal(r.downloading, 1, 'a verified node holds no download slot');
    equal(r.step(2).join(','), 'pipe-0003');
    equal(r.setOffline('pipe-0001', 3), true);
    equal(r.node('pipe-0001')!.state, 'offlineRetry');
    equal(r.setOffline('pipe-0002', 3), false, 'rebooting into its trial image');
    equal(r.node('pipe-0002')!.state, 'downloading');
    equal(r.step(4).join(','), 'pipe-0004');
    // The node still reports on its download (its session kept the offer): it is followed.
    r.event('pipe-0001', { event: 'confirmed', version: '1.1.0' }, 5);
    equal(r.node('pipe-0001')!.state, 'confirmed');
  },

  'a silent node times out (online, or after its download); an offline one does not'() {
    const list = ids(3);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [100], nodeTimeoutMs: 1000, minNodes: 100, abortAbovePct: 100 }, list);
    allOnline(r, list);
    r.step(0);
    r.event('pipe-0002', { event: 'rebooting', version: '1.1.0' }, 500);
    r.setOffline('pipe-0002', 600);
    r.setOffline('pipe-0003', 600);
    r.step(999);
    equal(r.node('pipe-0001')!.state, 'offered');
    r.step(1000);
    equal(r.node('pipe-0001')!.state, 'timedOut');
    equal(r.node('pipe-0002')!.state, 'downloading');
    r.step(1500);
    equal(r.node('pipe-0002')!.state, 'timedOut', 'its trial image never came back');
    equal(r.node('pipe-0003')!.state, 'offlineRetry');
  },

  'refusals: busy and onTrial are no outcome, sameVersion is confirmed, the rest fail with their reason'() {
    const list = ids(4);
    const r = new Rollout({ version: '1.1.0', ...RULES, waves: [100], minNodes: 100, abortAbovePct: 100 }, list);
    allOnline(r, list);
    r.step(0);
    equal(r.event('pipe-0001', { event: 'refused', reason: 'busy', version: '1.1.0' }, 1), 'changed');
    equal(r.event('pipe-0002', { event: 'refused', reason: 'onTrial', version: '1.1.0' }, 1), 'changed');
    equal(r.event('pipe-0003', { event: 'refused', reason: 'sameVersion', version: '1.1.0', running: '1.1.0' }, 1), 'settled');
    equal(r.event('pipe-0004', { event: 'refused', reason: 'downgrade', version: '1.1.0' }, 1), 'settled');
    equal(r.node('pipe-0001')!.state, 'offered');
    equal(r.node('pipe-0002')!.state, 'offered');
    equal(r.node('pipe-0003')!.state, 'confirmed');
    equal(r.node('pipe-0003')!.reason, 'alreadyRunning');
    equal(r.node('pipe-0004')!.state, 'failed');
    equal(r.node('pipe-0004')!.reason, 'downgrade');
    equal(r.event('pipe-0001', { event: 'confirmed', version: '1.2.0' }, 2), 'ignored', 'another version');
    equal(r.event('pipe-0001', { event: 'failed', reason: 'healthCheckTimeout', version: '1.1.0' }, 2), 'changed');
    equal(r.node('pipe-0001')!.state, 'downloading', 'the rollback it announces is the outcome');
    equal(r.event('pipe-0001', { event: 'rolledBack', version: '1.1.0' }, 3), 'settled');
    equal(r.event('pipe-0001', { event: 'confirmed', version: '1.1.0' }, 4), 'ignored', 'settled stays settled');
    equal(r.event('nobody', { event: 'confirmed', version: '1.1.0' }, 4), 'ignored');
  },

  'saved state: resumed mid-wave, no settled node is offered again, the same decisions follow'() {
    const list = ids(200);
    const r = new Rollout({ version: '1.1.0', ...RULES, maxConcurrent: 5 }, list);
    allOnline(r, list);
    // Wave 1 (2 nodes) and part of wave 2 (18 nodes, 5 at a time).
    for (const id of r.step(0)) r.event(id, { event: 'confirmed', version: '1.1.0' }, 1);
    const wave2 = r.step(2);
    equal(wave2.length, 5);
    for (const id of wave2.slice(0, 3)) r.event(id, { event: 'confirmed', version: '1.1.0' }, 3);
    r.event(wave2[3]!, { event: 'progress', version: '1.1.0' }, 3);
    const text = JSON.stringify(r.toJSON());
    const back = Rollout.fromJSON(JSON.parse(text), 1_000_000);
    allOnline(back, list);
    equal(JSON.stringify(back.counts()), JSON.stringify(r.counts()));
    equal(back.wave, 1);
    const again = back.step(1_000_001);
    equal(again.length, 3, 'only the free slots of the wave under way');
    for (const id of again) ok(back.node(id)!.offers === 1 && !wave2.includes(id) && back.node(id)!.wave === 1, `${id} is a new node of wave 2`);
    for (const n of back.nodes) if (n.state === 'confirmed') equal(n.offers, 1, n.id);
    // It goes on to the end like the original would.
    for (const id of [wave2[3]!, wave2[4]!, ...again]) back.event(id, { event: 'confirmed', version: '1.1.0' }, 1_000_002);
    const { offered } = drive(back, () => GOOD);
    equal(back.summary().counts.confirmed, 200);
    for (const id of offered) ok(!wave2.includes(id), `${id} offered again`);
    equal(offered.length + again.length, 200 - 2 - 5);
    throws(() => Rollout.fromJSON({ format: 'x' }, 0), /not a rollout state/);
    throws(() => Rollout.fromJSON({ ...JSON.parse(text), nodes: [{ id: 'a', wave: 9, state: 'confirmed' }] }, 0), /bad node/);
    throws(() => Rollout.fromJSON({ ...JSON.parse(text), config: { ...JSON.parse(text).config, waves: [] } }, 0), /wave/);
  },
};
