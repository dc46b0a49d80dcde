/*
 * The commands in README.md and docs/*.md run as written. Every line of every fenced shell block
 * (```sh) is a command; each one is either run here, from the repository folder, exactly as
 * written (a few with a shorter --duration, or with a port this test owns, listed in ADJUST),
 * or listed in SKIP with the reason it cannot run here (hardware, the Moddable SDK, root,
 * installing). A command that is in neither list fails the test, so a new command in the docs
 * must be classified. Commands that run until Ctrl-C get one: SIGINT to their process group,
 * as a terminal sends it, after the first reading.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from './harness/mosquitto';

const root = fileURLToPath(new URL('../', import.meta.url));

/** Every command line of the fenced shell blocks: [file, command]. */
function docCommands(): Array<[string, string]> {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const commands: Array<[string, string]> = [];
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const block of text.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)) {
      for (const raw of block[1]!.replace(/\\\n/g, ' ').split('\n')) {
        const line = raw.replace(/\s+#.*$/, '').replace(/\s+/g, ' ').trim();
        if (line && !line.startsWith('#')) commands.push([file, line]);
      }
    }
  }
  return commands;
}

const SKIP: Array<[RegExp, string]> = [
  [/^npm install$/, 'installs packages (the test runs in an installed tree)'],
  [/^npm test$/, 'the test suite itself'],
  [/^npm run test:moddable$/, 'needs the Moddable SDK; tools/test-moddable.ts skips without it (its --help is in cli.test.ts)'],
  [/^npm run (build|flash|sim:moddable) /, 'needs the Moddable SDK, ESP-IDF or a board on a serial port (their --help is in cli.test.ts)'],
  [/^npm run provision -- (?!.*--image-only )/, 'writes to a board on a serial port (esptool); --image-only runs are run here'],
  [/^esptool\.py /, 'writes to a board on a serial port'],
  [/^xvfb-run .*mcsim /, 'needs the Moddable SDK (mcsim)'],
  [/--bus \/dev\//, 'needs a sensor on a real bus (docs/hardware.md); a missing bus is in cli.test.ts'],
  [/^sudo /, 'changes the machine (root)'],
  [/^ls \/dev\/(i2c|spidev)/, 'lists buses only a Raspberry Pi or an adapter has'],
  [/^(git clone|export|cd|mkdir) /, 'SDK and ESP-IDF installation steps'],
  [/^mosquitto -p 1883 &$/, 'a broker on a fixed port of this shared machine (the test starts its own)'],
  [/^mosquitto_sub -h broker\.example\.net/, 'a field broker'],
  [/^FLEET_NODES=1000 /, 'the 1,000-node fleet metrics check: minutes on 2 cores (the suite runs the same test with 100 nodes)'],
  [/^npx pipewatch sim --observe-only /, 'waits for shards started in other terminals; test/scale.test.ts runs an observer with two shards'],
  [/^npx pipewatch provision --port \/dev\//, 'needs a node on a serial port: a board, or a running sim --unprovisioned (test/sim-first-run.test.ts runs exactly that)'],
];

/** Commands run with a change, and why. */
const ADJUST: Array<[RegExp, (command: string, ports: { mosquitto: number; free: number }) => string, string]> = [
  [/--duration 24h/, (c) => c.replace('--duration 24h', '--duration 1h'), 'a simulated hour instead of a day (seconds instead of tens)'],
  [/--nodes 50 .*--duration 10m/, (c) => c.replace('--duration 10m', '--duration 3s'), 'real time: 3 s instead of 10 min'],
  [/--broker mqtt:\/\/127\.0\.0\.1:1883/, (c, p) => c.replace(':1883', `:${p.mosquitto}`), "this test's mosquitto instead of one on 1883"],
  [
    /^npx pipewatch fleet report --db \.pipewatch\/fleet-demo\//,
    (c) => `npx pipewatch sim --station --plant test/fixtures/plant-leak.json --engine node --virtual --duration 2h --interval 1m --outage 30m+30m --no-ota --json --flash-dir .pipewatch/fleet-demo-docs > /dev/null && ${c.replace('fleet-demo/', 'fleet-demo-docs/')}`,
    'after the simulator run that writes its database (the line before in docs/fleet.md; commands run in parallel here, so in a folder of its own)',
  ],
  [/--nodes 1000 .*--rollout /, (c) => c.replace('--nodes 1000', '--nodes 100'), 'a rollout to 100 nodes instead of 1,000 (two minutes of wall time; test/rollout-sim.test.ts covers the waves)'],
  [/--broker-port 1883 --broker-listen 0\.0\.0\.0/, (c, p) => c.replace('--broker-port 1883', `--broker-port ${p.free}`).replace('0.0.0.0', '127.0.0.1'), 'a free port, and loopback only on this shared machine'],
];

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  interrupted: boolean;
}

/** Runs `command` through the shell in its own process group; Ctrl-C (SIGINT to the group) after the first reading if it is still running. */
function runCommand(command: string, timeoutMs = 120_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    const interrupt = () => {
      if (interrupted || child.exitCode !== null) return;
      interrupted = true;
      process.kill(-child.pid!, 'SIGINT');
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (/ #\d+  ch\d/.test(stdout)) interrupt();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, interrupted });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `jobs` at most `width` at a time (two cores are shared). */
async function pool<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

const runnable = (command: string) => /^(npm start( |$)|npx pipewatch |npm run provision -- .*--image-only )/.test(command);

test('every command in the docs is run or skipped for a stated reason', (t) => {
  const commands = docCommands();
  t.true(commands.length > 20);
  for (const [file, command] of commands) {
    const skipped = SKIP.some(([pattern]) => pattern.test(command));
    t.true(skipped || runnable(command), `${file}: "${command}" must be either run (npm start, npx pipewatch) or in SKIP with a reason`);
  }
});

test('docs/hardware.md: a bring-up guide with wiring per part, bus enabling, permissions and a sample report', (t) => {
  const text = readFileSync(join(root, 'docs', 'hardware.md'), 'utf8');
  for (const part of ['TMP117', 'MCP9808', 'SHT3x', 'SHT4x', 'BME280', 'MLX90614', 'MAX31855', 'MAX31856', 'MAX31865', 'NTC', 'DS18B20']) {
    t.regex(text, new RegExp(`^\\| ${part} \\|`, 'm'), `a wiring row for ${part}`);
  }
  t.regex(text, /raspi-config nonint do_i2c 0/);
  t.regex(text, /usermod -aG i2c,spi/);
  t.regex(text, /KERNEL=="i2c-\[0-9\]\*", GROUP="i2c"/);
  t.regex(text, /PASS \(\d+ checks\)/);
  t.regex(text, /--json/);
  t.regex(readFileSync(join(root, 'README.md'), 'utf8'), /\(docs\/hardware\.md\)/, 'the README links it');
});

test('the documented commands that need no hardware run as written', async (t) => {
  t.timeout(300_000);
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const ports = { mosquitto: broker.port, free: await freePort() };
  const seen = new Set<string>();
  const runs: Array<{ file: string; command: string; run: string }> = [];
  for (const [file, command] of docCommands()) {
    const skip = SKIP.find(([pattern]) => pattern.test(command));
    if (skip) {
      t.log(`skip ${file}: ${command} (${skip[1]})`);
      continue;
    }
    let run = command;
    for (const [pattern, change, why] of ADJUST) {
      if (pattern.test(command)) {
        run = change(command, ports);
        t.log(`adjusted ${file}: ${command} -> ${run} (${why})`);
      }
    }
    if (!runnable(run)) continue;
    if (seen.has(run)) continue;
    seen.add(run);
    runs.push({ file, command, run });
  }
  t.true(runs.length >= 8, `${runs.length} commands run`);
  const outcomes = await pool(runs.map((r) => () => runCommand(r.run)), 3);
  runs.forEach(({ file, run }, i) => {
    const o = outcomes[i]!;
    const what = `${file}: ${run}\n${o.stderr.slice(-2000)}`;
    // After Ctrl-C, npm itself ends by the signal (as in a terminal); pipewatch ended cleanly
    // when it printed its summary, which is checked below.
    if (o.interrupted && o.code === null) t.is(o.signal, 'SIGINT', what);
    else t.is(o.code, 0, what);
    // Unprovisioned nodes wait for Wi-Fi settings: the run shows each node's serial port and
    // ends with nothing lost (and nothing sent).
    if (/^npx pipewatch sim --unprovisioned /.test(run)) {
      t.regex(o.stdout, /^serial node-001: \/dev\/pts\/\d+$/m, what);
      t.regex(o.stdout, /pipewatch sim: \d+ readings generated, \d+ delivered.*, 0 lost/, what);
    } else if (/^npm start/.test(run) || (/^npx pipewatch sim /.test(run) && !/ (--help|-h)\b|&&|;/.test(run))) {
      if (run.includes('--json')) {
        const summary = JSON.parse(o.stdout.trim().split('\n').at(-1)!) as { readingsLost: number; readingsGenerated: number };
        t.is(summary.readingsLost, 0, what);
        t.true(summary.readingsGenerated > 0, what);
      } else {
        if (!run.includes('--quiet')) t.regex(o.stdout, / #\d+  ch0 [a-z0-9]+ temperature  -?\d+\.\d{3} °C/, what);
        t.regex(o.stdout, /pipewatch sim: \d+ readings generated, \d+ delivered.*, 0 lost, \d+ alerts raised/, what);
      }
    } else if (/^npm run provision /.test(run)) t.regex(o.stdout, /^NVS image for \S+: .* mode 0600, partition "nvs" at 0x9000\)$/m, what);
    else t.regex(o.stdout, /^(usage: |pipewatch drivers check: |\{"part"|fleet report, )/, what);
  });
});
