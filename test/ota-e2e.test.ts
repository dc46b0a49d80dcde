/*
 * Signed OTA end to end in the simulator runner, on the Node engine and on the XS engine: a
 * running simulated node is offered updates through `pipewatch ota publish` (the CLI and its
 * function), over the embedded broker and a loopback image server.
 * One simulation per engine walks through: refusals (downgrade, wrong board, another key) with
 * the node still healthy; a good update (download, verify, trial boot, confirm); an image that
 * cannot reach the broker and one whose sensor fails (simulator test markers), both rolled back;
 * and no reading lost across all of it (the flash cache survives every reboot).
 */
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulation, type SimSummary } from '../simulator/run';
import { signImage, simImage, SIM_BOARD } from '../simulator/ota/keys';
import type { SimBoot } from '../simulator/ota/sim-node';
import { publishUpdate } from '../tools/ota-publish';
import { otaCommand } from '../tools/ota';

for (const engine of ['node', 'xs'] as const) {
  test.serial(`OTA end to end on ${engine === 'xs' ? 'the XS engine' : 'Node'}: refusals, update, rollbacks, no reading lost`, async (t) => {
    t.timeout(120_000);
    const cwd = mkdtempSync(join(tmpdir(), 'pipewatch-ota-'));
    const boots: SimBoot[] = [];
    const sim = startSimulation({
      nodes: 1,
      engine,
      durationMs: Infinity,
      virtual: false,
      seed: 7,
      intervalMs: 400,
      sensors: [{ part: 'tmp117' }],
      drainMs: 15_000,
      leakShare: 0,
      ota: { cwd, healthWindowMs: 3000, updater: { rebootDelayMs: 100, progressEveryBytes: 8192, retryMs: 500 } },
      onBoot: (_i, boot) => boots.push(boot),
    });
    let summary: SimSummary | undefined;
    try {
      const { broker, otaKey } = await sim.ready;
      t.truthy(otaKey);
      const key = otaKey!.privateKey;
      const lines: string[] = [];
      const offer = async (version: string, o: { board?: string; extra?: string; otherKey?: boolean; interruptAfterBytes?: number } = {}) => {
        const image = simImage(version, o.extra ?? '');
        const signer = o.otherKey ? generateKeyPairSync('ed25519').privateKey : key;
        const manifest = signImage(signer, image, { version, board: o.board ?? SIM_BOARD });
        return publishUpdate({
          broker,
          manifest,
          image,
          nodes: ['node-001'],
          timeoutMs: 30_000,
          out: (l) => lines.push(l),
          tty: false,
          interruptAfterBytes: o.interruptAfterBytes,
        });
      };

      const downgrade = await offer('0.9.0');
      t.is(downgrade.code, 1);
      t.is(downgrade.nodes[0]!.outcome, 'refused');
      t.is(downgrade.nodes[0]!.reason, 'downgrade');
      const board = await offer('1.1.0', { board: 'esp32-c3-tmp117' });
      t.is(board.nodes[0]!.reason, 'wrongBoard');
      const foreign = await offer('1.1.0', { otherKey: true });
      t.is(foreign.nodes[0]!.outcome, 'refused');
      t.is(foreign.nodes[0]!.reason, 'badSignature');
      t.is(boots.length, 1, 'refused offers do not reboot the node');
      t.is(downgrade.requests.length + board.requests.length + foreign.requests.length, 0, 'nothing downloaded before the checks');

      // The good update, through the command line (files, as a user would).
      const image = simImage('1.1.0');
      writeFileSync(join(cwd, 'fw.bin'), image);
      const signed = await otaCommand(
        ['sign', '--key', otaKey!.path, '--image', join(cwd, 'fw.bin'), '--version', '1.1.0', '--board', SIM_BOARD, '--out', join(cwd, 'fw.manifest')],
        (l) => lines.push(l),
      );
      t.is(signed, 0);
      const cliLines: string[] = [];
      const code = await otaCommand(
        ['publish', '--broker', broker, '--manifest', join(cwd, 'fw.manifest'), '--image', join(cwd, 'fw.bin'), '--node', 'node-001', '--timeout', '30s'],
        (l) => cliLines.push(l),
      );
      t.is(code, 0, cliLines.join('\n'));
      t.regex(cliLines.at(-1)!, /^node-001: confirmed \(now runs 1\.1\.0\), running 1\.1\.0$/);
      t.true(cliLines.some((l) => /\[#{24}\] 100%/.test(l)), 'a full progress bar was drawn');
      t.deepEqual(boots.slice(1).map((b) => `${b.version}${b.trial ? ' trial' : ''}`), ['1.1.0 trial']);

      const noBroker = await offer('1.2.0', { extra: 'PIPEWATCH-SIM-FAULT:broker' });
      t.is(noBroker.code, 1);
      t.is(noBroker.nodes[0]!.outcome, 'rolledBack');
      t.is(noBroker.nodes[0]!.running, '1.1.0');
      const noSensor = await offer('1.3.0', { extra: 'PIPEWATCH-SIM-FAULT:sensor' });
      t.is(noSensor.nodes[0]!.outcome, 'rolledBack');
      t.true(noSensor.nodes[0]!.events.includes('failed:healthCheckTimeout'), noSensor.nodes[0]!.events.join(' '));
      // A download cut off after 10,000 bytes resumes at a block boundary: at most one block again.
      const cutAt = 10_000;
      const resumed = await offer('1.4.0', { interruptAfterBytes: cutAt });
      t.is(resumed.code, 0, lines.join('\n'));
      t.is(resumed.nodes[0]!.outcome, 'confirmed');
      t.true(resumed.nodes[0]!.events.some((e) => e.startsWith('interrupted')), resumed.nodes[0]!.events.join(' '));
      const starts = resumed.requests.map((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1]));
      t.is(starts.length, 2, JSON.stringify(resumed.requests));
      t.is(starts[0], 0);
      t.is(starts[1]! % 4096, 0, 'resumed at a block boundary');
      t.true(starts[1]! <= cutAt && cutAt - starts[1]! < 4096, `re-fetched ${cutAt - starts[1]!} bytes, less than one 4 KiB block`);
      t.deepEqual(
        boots.map((b) => `${b.version}${b.trial ? ' trial' : ''}${b.fault ? ` ${b.fault}` : ''}`),
        ['1.0.0', '1.1.0 trial', '1.2.0 trial broker', '1.1.0', '1.3.0 trial sensor', '1.1.0', '1.4.0 trial'],
      );
      // Let the node publish a few readings after the last reboot, then stop and drain.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      sim.stop();
      summary = await sim.done;
    }
    t.deepEqual(summary.firmware, { '1.4.0': 1 }, 'the node runs 1.4.0');
    t.is(summary.rollbacks, 2);
    t.is(summary.reboots, 6);
    t.true(summary.readingsGenerated > 10, JSON.stringify(summary));
    t.is(summary.readingsLost, 0, JSON.stringify(summary));
    t.is(summary.pendingOnNodes, 0, JSON.stringify(summary));
    t.is(summary.malformed, 0);
  });
}
