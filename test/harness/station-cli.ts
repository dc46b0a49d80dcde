/*
 * Helpers for tests that run `pipewatch station` as a process against a real broker: spawn it
 * and wait for its address and subscription, publish a fleet's readings in every message shape
 * (with resends), and read back what a database holds through the store's own contract, so
 * one check serves SQLite and PostgreSQL alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { ReadingEncoder } from '../../firmware/uplink/payload';
import type { Reading } from '../../firmware/store';
import { openStore } from '../../tools/station/store';

const CLI = new URL('../../tools/pipewatch.mjs', import.meta.url).pathname;

export interface StationProcess {
  child: ChildProcess;
  url: Promise<string>;
  subscribed: Promise<void>;
  stderr(): string;
}

export function spawnStation(args: string[]): StationProcess {
  const child = spawn(process.execPath, [CLI, 'station', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`station exited (${code ?? signal}): ${err}`))));
  exited.catch(() => {});
  const url = Promise.race([
    new Promise<string>((resolve) => {
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /station: (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
    }),
    exited,
  ]);
  const subscribed = Promise.race([new Promise<void>((resolve) => child.stdout!.on('data', () => /station: subscribed/.test(out) && resolve())), exited]);
  url.catch(() => {});
  subscribed.catch(() => {});
  return { child, url, subscribed, stderr: () => err };
}

export function reading(seq: number, alert = false): Reading {
  return { seq, timeMs: 1_767_225_600_000 + seq * 10_000, synced: true, channel: 0, kind: 0, value: 60_000 + (seq % 7) * 100, alert };
}

/**
 * Publishes each device's readings 1..count in all three shapes (single JSON, JSON batch,
 * binary batch), every message QoS 1, every `resendEvery`-th message twice. Returns the number
 * of readings sent twice (the duplicates a station must drop).
 */
export async function publishFleet(client: MqttClient, devs: string[], count: number, resendEvery: number): Promise<number> {
  let resent = 0;
  for (const dev of devs) {
    const enc = new ReadingEncoder(dev, 4096);
    let seq = 1;
    let shape = 0;
    while (seq <= count) {
      const n = Math.min(count - seq + 1, [1, 5, 9][shape % 3]!);
      const rs = Array.from({ length: n }, (_, i) => reading(seq + i, n === 1 && seq % 11 === 0));
      let topic: string;
      let len: number;
      if (shape % 3 === 0) {
        len = enc.encode(rs[0]!);
        topic = rs[0]!.alert ? `pipewatch/${dev}/alerts` : `pipewatch/${dev}/readings`;
      } else if (shape % 3 === 1) {
        len = enc.batch(rs, n);
        topic = `pipewatch/${dev}/readings`;
      } else {
        len = enc.binary(rs, n);
        topic = `pipewatch/${dev}/readings/bin`;
      }
      const payload = Buffer.from(enc.out.bytes.subarray(0, len));
      await client.publishAsync(topic, payload, { qos: 1 });
      if (shape % resendEvery === 0) {
        await client.publishAsync(topic, payload, { qos: 1 });
        resent += n;
      }
      seq += n;
      shape++;
    }
  }
  return resent;
}

export interface Held {
  rows: number;
  perDev: Map<string, number[]>;
  ingested: number;
  duplicates: number;
  malformed: number;
}

/** What the database `db` (a file or a postgres:// URL) holds for the devices, through the store. */
export async function held(db: string, devs: readonly string[]): Promise<Held> {
  const store = await openStore(db);
  try {
    const perDev = new Map<string, number[]>();
    let rows = 0;
    for (const dev of devs) {
      const seqs = (await store.readings(dev, 0, Number.MAX_SAFE_INTEGER)).map((r) => r.seq);
      perDev.set(dev, seqs);
      rows += seqs.length;
    }
    return { rows, perDev, ...(await store.counters()) };
  } finally {
    await store.close();
  }
}

export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** "dev: n missing 3 4 5" for each device whose seqs are not exactly 1..count. */
export function missing(perDev: Map<string, number[]>, count: number): string {
  const out: string[] = [];
  for (const [dev, seqs] of perDev) {
    const have = new Set(seqs);
    const gone = Array.from({ length: count }, (_, i) => i + 1).filter((q) => !have.has(q));
    if (gone.length || seqs.length !== count) out.push(`${dev}: ${seqs.length} rows, missing ${gone.slice(0, 20).join(' ')}`);
  }
  return out.join('; ');
}
