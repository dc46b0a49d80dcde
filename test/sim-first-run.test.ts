/*
 * `pipewatch sim --unprovisioned` (issue 16 item 5): a simulated node powers on with no Wi-Fi
 * settings, its Improv service (firmware/provision/improv.ts, in Node or inside XS) on a
 * simulated UART bridged to a real pseudo-terminal (simulator/pty.ts); `pipewatch provision
 * --port /dev/pts/N` (tools/improv.ts over the real `serialport` binding) provisions it and the
 * first reading arrives at the broker.
 *
 * Timing: virtual time. Until the node is provisioned the clock is paced to real time (a client
 * on the port sees the node live); from the Wi-Fi settings on, simulated time advances only as the
 * firmware and the network let it, so `settingsToReadingS` (simulated join time 2.5 s, the MQTT
 * connect, the first sample) does not depend on how loaded the machine is.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulation, type SimOptions, type SimSummary } from '../simulator/run';
import { SIM_ACCESS_POINT } from '../simulator/first-run';
import { provisionCommand } from '../tools/improv';

const root = fileURLToPath(new URL('../', import.meta.url));
const cli = join(root, 'tools', 'pipewatch.mjs');
const AP = SIM_ACCESS_POINT;

function options(engine: 'node' | 'xs', ports: string[]): SimOptions {
  return {
    nodes: 1,
    engine,
    durationMs: 20_000,
    virtual: true,
    seed: 7,
    intervalMs: 10_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 5_000,
    leakShare: 0,
    unprovisioned: { stationUrl: 'http://127.0.0.1:8080' },
    onSerialPort: (_node, path) => ports.push(path),
    onLog: (_node, level, message) => level !== 'debug' && process.env.FIRSTRUN_DEBUG && console.error(level, message),
  };
}

async function portOf(ports: string[]): Promise<string> {
  for (let i = 0; i < 500 && ports.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  if (!ports[0]) throw new Error('no serial port was announced');
  return ports[0];
}

for (const engine of ['node', 'xs'] as const) {
  test.serial(`${engine}: pipewatch provision over the node's pseudo-terminal provisions it; first reading within 10 s of the Wi-Fi settings`, async (t) => {
    t.timeout(90_000);
    const ports: string[] = [];
    const sim = startSimulation(options(engine, ports));
    let summary: SimSummary | undefined;
    try {
      const path = await portOf(ports);
      t.regex(path, /^\/dev\/pts\/\d+$/);
      const lines: string[] = [];
      const code = await provisionCommand(['--port', path, '--ssid', AP.ssid, '--password', AP.password], { out: (line) => lines.push(line) });
      t.is(code, 0, lines.join('\n'));
      t.true(lines.some((l) => l.includes('node-001')), lines.join('\n'));
      t.true(lines.some((l) => l.includes('http://127.0.0.1:8080/node/node-001')), lines.join('\n'));
      summary = await sim.done;
    } finally {
      if (!summary) sim.stop();
    }
    t.is(summary.provisioned, 1, JSON.stringify(summary));
    t.true(summary.readingsDelivered > 0, JSON.stringify(summary));
    t.is(summary.readingsLost, 0);
    t.not(summary.settingsToReadingS, null);
    t.true(summary.settingsToReadingS! < 10, `settings to first reading: ${summary.settingsToReadingS} s`);
    // The simulated join alone takes 2.5 s and the first sample comes 2 s after the node starts.
    t.true(summary.settingsToReadingS! >= 4.5, `settings to first reading: ${summary.settingsToReadingS} s`);
    t.true(summary.firstReadingS! >= summary.settingsToReadingS!);
  });
}

test.serial('node: a wrong password is refused over the pseudo-terminal (exit 1), the node stays unprovisioned, no reading', async (t) => {
  t.timeout(60_000);
  const ports: string[] = [];
  const sim = startSimulation({ ...options('node', ports), durationMs: 5_000 });
  const path = await portOf(ports);
  const lines: string[] = [];
  const code = await provisionCommand(['--port', path, '--ssid', AP.ssid, '--password', 'wrong-password'], { out: (line) => lines.push(line) }).catch(
    (error: Error) => (lines.push(error.message), 1),
  );
  t.is(code, 1);
  t.regex(lines.join('\n'), /unable to connect/);
  const summary = await sim.done;
  t.is(summary.provisioned, 0);
  t.is(summary.readingsGenerated, 0);
  t.is(summary.firstReadingS, null);
});

test.serial('cli: sim --unprovisioned prints "serial node-001: /dev/pts/N"; pipewatch provision --port provisions it; the JSON summary has the times', async (t) => {
  t.timeout(90_000);
  const sim = spawn(process.execPath, [cli, 'sim', '--unprovisioned', '--engine', 'node', '--virtual', '--duration', '20s', '--no-ota', '--json', '--leak-share', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  sim.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  sim.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => sim.on('exit', resolve));
  try {
    for (let i = 0; i < 1500 && !/^serial node-001: \/dev\/pts\/\d+$/m.test(stderr); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const path = /^serial node-001: (\/dev\/pts\/\d+)$/m.exec(stderr)?.[1];
    t.truthy(path, stderr);
    const lines: string[] = [];
    t.is(await provisionCommand(['--port', path!, '--ssid', AP.ssid, '--password', AP.password], { out: (line) => lines.push(line) }), 0, lines.join('\n'));
    t.is(await exited, 0, stderr);
    const summary = JSON.parse(stdout.trim().split('\n').pop()!) as SimSummary;
    t.is(summary.provisioned, 1);
    t.true(summary.settingsToReadingS! < 10);
    t.true(summary.firstReadingS! > 0);
  } finally {
    if (sim.exitCode === null) sim.kill('SIGINT');
  }
});
