/*
 * The firmware update success rate of the fleet metrics, from a simulated run with real updates:
 * node-001 gets a good image (confirmed), node-002 one that cannot reach the broker (rolled back
 * by the bootloader). The simulator's `fleet` summary and `pipewatch fleet report --json` on the
 * attached station's database agree with what `pipewatch ota publish` saw for each node.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulation, type SimSummary } from '../simulator/run';
import { signImage, simImage, SIM_BOARD } from '../simulator/ota/keys';
import { publishUpdate } from '../tools/ota-publish';
import { attachStation } from '../tools/station/attach';

const CLI = new URL('../tools/pipewatch.mjs', import.meta.url).pathname;

test('OTA success rate per version: the sim summary and fleet report match the publisher\'s outcomes', async (t) => {
  t.timeout(120_000);
  const cwd = mkdtempSync(join(tmpdir(), 'pipewatch-fleet-ota-'));
  let station: Awaited<ReturnType<typeof attachStation>> | undefined;
  const sim = startSimulation({
    nodes: 2,
    engine: 'node',
    durationMs: Infinity,
    virtual: false,
    seed: 5,
    intervalMs: 400,
    sensors: [{ part: 'tmp117' }],
    drainMs: 15_000,
    leakShare: 0,
    ota: { cwd, healthWindowMs: 3000, updater: { rebootDelayMs: 100, progressEveryBytes: 8192, retryMs: 500 } },
    beforeNodes: async (broker) => {
      station = await attachStation(broker, cwd);
    },
  });
  let summary: SimSummary;
  const outcomes: Record<string, string> = {};
  try {
    const { broker, otaKey } = await sim.ready;
    const offer = async (node: string, version: string, extra = '') => {
      const image = simImage(version, extra);
      const r = await publishUpdate({ broker, manifest: signImage(otaKey!.privateKey, image, { version, board: SIM_BOARD }), image, nodes: [node], timeoutMs: 30_000, out: () => {}, tty: false });
      outcomes[version] = r.nodes[0]!.outcome ?? 'none';
    };
    await offer('node-001', '1.1.0');
    await offer('node-002', '1.2.0', 'PIPEWATCH-SIM-FAULT:broker');
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    sim.stop();
    summary = await sim.done;
    await station?.close();
  }
  t.deepEqual(outcomes, { '1.1.0': 'confirmed', '1.2.0': 'rolledBack' });
  // Independent of the metrics: confirmed outcomes over started updates, as the publisher saw them.
  const expected = Object.values(outcomes).filter((o) => o === 'confirmed').length / Object.keys(outcomes).length;
  t.is(summary.fleet!.otaSuccessRate, expected);
  t.is(summary.fleet!.activationRate, 1);
  const r = spawnSync(process.execPath, [CLI, 'fleet', 'report', '--json', '--db', join(cwd, 'station.db'), '--since', 'all', '--until', '2100-01-01'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.is(report.otaSuccessRate, expected);
  t.deepEqual(
    Object.fromEntries(Object.entries(report.ota.rollouts as Record<string, { confirmed: number; failed: number; failures: Record<string, number> }>).map(([v, m]) => [v, [m.confirmed, m.failed, m.failures]])),
    { '1.1.0': [1, 0, {}], '1.2.0': [0, 1, { rolledBack: 1 }] },
  );
  rmSync(cwd, { recursive: true, force: true });
});
