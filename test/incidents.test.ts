/*
 * `pipewatch incidents`: live fleet incidents from a real broker (mosquitto on 127.0.0.1): a
 * leak at one node of a line is an incident line on stdout and a retained message on
 * pipewatch/plant/<line>/incident; the same readings without the leak raise nothing.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { startMosquitto } from './harness/mosquitto';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pipewatch-incidents-'));
const plantFile = join(dir, 'plant.json');
writeFileSync(plantFile, JSON.stringify({ lines: [{ id: 'L1' }], nodes: Array.from({ length: 10 }, (_, i) => ({ id: `pipe-${i}`, line: 'L1', posM: i * 1.5 })) }));

async function watchAndPublish(port: number, leak: boolean): Promise<{ stdout: string; stderr: string; code: number | null; retained: string[] }> {
  const child = spawn(process.execPath, [join(root, 'tools', 'pipewatch.mjs'), 'incidents', '--broker', `mqtt://127.0.0.1:${port}`, '--plant', plantFile, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => stderr.includes('watching') && (clearInterval(timer), resolve()), 50);
      exited.then(() => (clearInterval(timer), reject(new Error(stderr))));
    });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `pub-${process.pid}-${leak}` });
    const start = 1_767_225_600_000;
    const leakAt = 20 * 60_000;
    for (let k = 0; k < 240; k++) {
      for (let i = 0; i < 10; i++) {
        const t = k * 10_000 + i * 37;
        const rise = leak && i === 4 && t >= leakAt ? Math.round(15_000 * (1 - Math.exp(-(t - leakAt) / 40_000))) : 0;
        const value = 60_000 + i * 500 + ((k * 7 + i) % 5) * 10 + rise;
        const alert = leak && i === 4 && k === leakAt / 10_000 + 2;
        const body = `{"dev":"pipe-${i}","seq":${k},"ts":${start + t},"sync":true,"ch":0,"mC":${value}${alert ? ',"alert":true' : ''}}`;
        await pub.publishAsync(`pipewatch/pipe-${i}/${alert ? 'alerts' : 'readings'}`, body, { qos: 1 });
      }
    }
    // Let the watcher take everything in (SIGUSR2 prints its counts so far), then read what is retained.
    const all = '2400 readings';
    for (const until = Date.now() + 30_000; Date.now() < until && !stderr.includes(all); ) {
      child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
    }
    const retained: string[] = [];
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `sub-${process.pid}-${leak}` });
    sub.on('message', (topic, payload) => retained.push(`${topic} ${payload}`));
    await sub.subscribeAsync('pipewatch/plant/+/incident', { qos: 1 });
    await new Promise((r) => setTimeout(r, 500));
    await sub.endAsync();
    await pub.endAsync();
    child.kill('SIGINT');
    const code = await exited;
    return { stdout, stderr, code, retained };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

test.serial('a leak at one node: one incident on stdout and retained per line; no leak, no incident', async (t) => {
  const broker = await startMosquitto();
  try {
    const calm = await watchAndPublish(broker.port, false);
    t.is(calm.code, 0, calm.stderr);
    t.is(calm.stdout, '');
    t.deepEqual(calm.retained, []);
    t.regex(calm.stderr, /2400 readings, 0 incidents/);
    const r = await watchAndPublish(broker.port, true);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    t.is(lines.length, 1, r.stdout);
    t.like(lines[0], { kind: 'incident', line: 'L1', node: 'pipe-4', rule: 'alert' });
    t.true(lines[0].t_ms - (1_767_225_600_000 + 20 * 60_000) < 60_000);
    t.is(r.retained.length, 1);
    t.is(r.retained[0]!.split(' ')[0], 'pipewatch/plant/L1/incident');
    t.deepEqual(JSON.parse(r.retained[0]!.slice(r.retained[0]!.indexOf(' ') + 1)), lines[0]);
  } finally {
    await broker.stop();
  }
});

test('pipewatch incidents: usage errors exit 2, an unreachable broker exit 1', async (t) => {
  const run = (...args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [join(root, 'tools', 'pipewatch.mjs'), 'incidents', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d) => (stderr += d));
    c.once('close', (code) => resolve({ code, stderr }));
  });
  const noPlant = await run('--broker', 'mqtt://127.0.0.1:1');
  t.is(noPlant.code, 2);
  t.regex(noPlant.stderr, /^pipewatch incidents: --plant FILE is required/);
  const badBroker = await run('--broker', 'http://x', '--plant', plantFile);
  t.is(badBroker.code, 2);
  const refused = await run('--broker', 'mqtt://127.0.0.1:1', '--plant', plantFile);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /cannot reach the broker mqtt:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/);
});
