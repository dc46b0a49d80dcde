/*
 * `pipewatch ota rollout` as a command: its usage errors, and a rollout killed mid-wave
 * (SIGKILL to the real command, as a crash or a closed laptop would) that `--resume` continues
 * without offering the update again to a node that had confirmed it. The fleet is a simulation
 * in this process (virtual time, Node engine); an observer of the test's own at the broker
 * records every offer on pipewatch/+/ota and every confirmation, with the moment of the kill.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import mqtt from 'mqtt';
import { startSimulation } from '../simulator/run';
import { simImage, SIM_BOARD } from '../simulator/ota/keys';
import { otaCommand } from '../tools/ota';

const root = fileURLToPath(new URL('../', import.meta.url));

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await otaCommand(argv, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

test('ota rollout: usage errors are one line and exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-rollout-cli-'));
  const image = join(dir, 'fw.bin');
  writeFileSync(image, simImage('1.1.0'));
  const key = join(dir, 'key.pem');
  t.is((await run(['keygen', '--out', key])).code, 0);
  const base = ['rollout', '--broker', 'mqtt://127.0.0.1:1', '--image', image, '--key', key, '--board', SIM_BOARD];
  const cases: Array<[string[], RegExp]> = [
    [[...base], /--to is required/],
    [[...base, '--to', 'some'], /--to takes all, line:L or file:IDS, got "some"/],
    [[...base, '--to', 'all', '--waves', '10%,5%'], /--waves: waves are cumulative and strictly increasing/],
    [[...base, '--to', 'all', '--waves', '0%'], /--waves: each wave is a percentage in \(0, 100\]/],
    [[...base, '--to', 'all', '--abort-above', 'lots'], /--abort-above takes a percentage from 0% to 100%/],
    [[...base, '--to', 'all', '--min-nodes', '0'], /--min-nodes takes a whole number from 1/],
    [[...base, '--to', 'all', '--max-concurrent', 'x'], /--max-concurrent takes a whole number/],
    [[...base, '--to', 'all', '--node-timeout', 'soon'], /--node-timeout takes a duration/],
    [[...base, '--to', 'line:L1'], /--to line:L needs --plant FILE or --registry FILE/],
    [[...base, '--to', 'line:L9', '--plant', 'test/fixtures/plant-leak.json'], /--to line:L9: no node on line L9 \(lines: /],
    [[...base, '--to', `file:${join(dir, 'none.txt')}`], /--to file:.*none\.txt: cannot read it \(ENOENT\)/],
    [['rollout', '--broker', 'mqtt://127.0.0.1:1', '--image', image, '--to', 'all'], /give --key KEY --board BOARD \(to sign the image\) or --manifest F/],
    [[...base, '--to', 'all', '--manifest', image], /give --manifest F \(signed already\) or --key KEY --board BOARD, not both/],
    [['rollout', '--resume', '--state', join(dir, 'nothing.json')], /cannot read the state file .*nothing\.json \(no such file\)/],
    [['rollout', '--resume', '--state', image, '--waves', '50%'], /--resume continues the rollout of the state file as it was started; --waves cannot change it/],
    [['rollout', '--resume', '--state', image], /is not JSON/],
    [[...base, '--to', 'all', '--state', join(dir, 's.json')], /cannot reach the broker mqtt:\/\/127\.0\.0\.1:1 \(connection refused\)/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await run(argv);
    t.is(r.code, 2, `${argv.join(' ')}: ${r.err.join('\n')}`);
    t.is(r.err.length, 1, r.err.join('\n'));
    t.regex(r.err[0]!, /^pipewatch ota rollout: /);
    t.regex(r.err[0]!, pattern);
  }
  // A wrong board is a failure of the signing (as in ota sign): exit 1, nothing offered.
  const wrong = await run(['rollout', '--broker', 'mqtt://127.0.0.1:1', '--image', image, '--key', key, '--board', 'esp32-c3-tmp117', '--to', 'all']);
  t.is(wrong.code, 1);
  t.regex(wrong.err[0]!, /built for esp32, but --board esp32-c3-tmp117 is an esp32c3; nothing signed/);
  // An existing state file is not overwritten by a new rollout.
  const state = join(dir, 'taken.json');
  writeFileSync(state, '{}');
  const taken = await run([...base, '--to', 'all', '--state', state]);
  t.is(taken.code, 2);
  t.regex(taken.err[0]!, /the state file .*taken\.json exists: continue that rollout with --resume --state .*taken\.json, or give another --state/);
});

test.serial('a rollout killed mid-wave resumes without offering the update again to a node that confirmed it', async (t) => {
  t.timeout(120_000);
  const cwd = mkdtempSync(join(tmpdir(), 'pw-rollout-kill-'));
  const nodes = 12;
  const sim = startSimulation({
    nodes,
    engine: 'node',
    durationMs: Infinity,
    virtual: true,
    seed: 9,
    intervalMs: 30_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 10_000,
    leakShare: 0,
    ota: { cwd },
  });
  const watcher = await (async () => {
    const { broker } = await sim.ready;
    return mqtt.connectAsync(broker, { clientId: 'rollout-kill-watcher' });
  })();
  const { broker, otaKey, deviceIds } = await sim.ready;
  let resumedAt = Infinity;
  const offers: Array<{ dev: string; at: number }> = [];
  const confirmed = new Map<string, number>();
  watcher.on('message', (topic, payload) => {
    const at = performance.now();
    const offer = /^pipewatch\/([^/]+)\/ota$/.exec(topic);
    if (offer) offers.push({ dev: offer[1]!, at });
    const status = /^pipewatch\/([^/]+)\/ota\/status$/.exec(topic);
    if (status && /"event":"confirmed"/.test(payload.toString()) && !confirmed.has(status[1]!)) confirmed.set(status[1]!, at);
  });
  await watcher.subscribeAsync({ 'pipewatch/+/ota': { qos: 1 }, 'pipewatch/+/ota/status': { qos: 1 } });
  const image = join(cwd, 'fw-1.1.0.bin');
  writeFileSync(image, simImage('1.1.0'));
  const ids = join(cwd, 'ids.txt');
  writeFileSync(ids, `# the fleet\n${deviceIds.join('\n')}\n`);
  const statePath = join(cwd, 'rollout.json');
  try {
    const child = spawn(
      process.execPath,
      ['tools/pipewatch.mjs', 'ota', 'rollout', '--broker', broker, '--image', image, '--key', otaKey!.path, '--board', SIM_BOARD,
        '--to', `file:${ids}`, '--waves', '10%,100%', '--max-concurrent', '1', '--node-timeout', '20s', '--state', statePath],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let childOut = '';
    // Virtual time waits for the command to start (tsx compiles it first: seconds on a loaded machine).
    const starting = sim.hold();
    child.stdout.on('data', (d) => {
      childOut += d;
      if (childOut.includes('rolling out')) starting();
    });
    child.stderr.on('data', (d) => (childOut += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => (starting(), resolve())));
    // Kill once the state file shows wave 2 under way with a few of its nodes confirmed.
    const confirmedInFile = () => {
      if (!existsSync(statePath)) return -1;
      try {
        const s = JSON.parse(readFileSync(statePath, 'utf8')) as { rollout: { wave: number; nodes: Array<{ state: string }> } };
        return s.rollout.wave === 1 ? s.rollout.nodes.filter((n) => n.state === 'confirmed').length : -1;
      } catch {
        return -1;
      }
    };
    const started = performance.now();
    while (confirmedInFile() < 4 && performance.now() - started < 60_000 && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 20));
    t.true(confirmedInFile() >= 4 && confirmedInFile() < nodes, `killed mid-wave (${confirmedInFile()} confirmed); ${childOut}`);
    // The tool is restarted at once: virtual time stands still until its image server is back
    // (a node downloading retries for maxRetries × retryMs, 100 s of real time, then fails
    // networkGaveUp; in virtual time a real second is many of those).
    const release = sim.hold();
    child.kill('SIGKILL');
    await exited;
    t.true(childOut.includes('wave 1/2 (10 %, 2 nodes): confirmed 2; settled'), childOut);
    const port = (JSON.parse(readFileSync(statePath, 'utf8')) as { port: number }).port;
    void (async () => {
      for (let k = 0; k < 500; k++) {
        const up = await new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
          socket.on('error', () => resolve(false));
        });
        if (up) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      release();
    })();
    resumedAt = performance.now();
    const r = await run(['rollout', '--resume', '--state', statePath, '--json']);
    t.log(childOut);
    t.log([...r.out, ...r.err].join('\n'));
    // Confirmed before the resumed tool could have offered anything (its discovery takes 1.5 s).
    const before = new Set([...confirmed].filter(([, at]) => at < resumedAt + 1000).map(([dev]) => dev));
    t.is(r.code, 0, [...r.out, ...r.err].join('\n'));
    const summary = JSON.parse(r.out.at(-1)!) as { resumed: boolean; complete: boolean; counts: Record<string, number> };
    t.true(summary.resumed);
    t.true(summary.complete);
    t.is(summary.counts.confirmed, nodes);
    t.regex(r.out[0]!, /^resuming pipewatch-sim 1\.1\.0 .* to 12 node\(s\) in 2 wave\(s\) 10%,100%/);
    // The check itself: a node that had confirmed before the resumed tool could offer anything
    // got exactly one offer (the first run's; its last offers may reach the broker after the kill).
    t.true(before.size >= 4, `confirmed before the resume: ${[...before].join(', ')}`);
    for (const dev of before) t.is(offers.filter((o) => o.dev === dev).length, 1, `${dev} confirmed before the resume and was offered the update again`);
    // Every node was offered the update; a node offered twice is one the tool knew no answer from.
    t.deepEqual([...new Set(offers.map((o) => o.dev))].sort(), [...deviceIds].sort());
    for (const dev of deviceIds) t.true(offers.filter((o) => o.dev === dev).length <= 2, dev);
    t.is(confirmed.size, nodes);
  } finally {
    await watcher.endAsync();
    sim.stop();
    const s = await sim.done;
    t.deepEqual(s.firmware, { '1.1.0': nodes });
  }
});
