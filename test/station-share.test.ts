/*
 * Several stations, one subscription: two `pipewatch station` processes in one `--share` group
 * against a real mosquitto, writing one database (a private Debian PostgreSQL, and one SQLite
 * file); one is SIGKILLed mid-stream and started again. Every reading ends in the database
 * exactly once, and each message went to one station (the duplicates are the publisher's
 * resends only).
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { startMosquitto } from './harness/mosquitto';
import { startPostgres, type PostgresHandle } from './harness/postgres';
import { held, missing, publishFleet, spawnStation, waitFor } from './harness/station-cli';

let postgres: PostgresHandle | undefined;
let databases = 0;
test.before(async () => {
  postgres = await startPostgres({ fsync: false });
});
test.after.always(async () => {
  await postgres?.stop();
});

function fleet(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(3, '0')}`);
}

for (const backend of ['postgres', 'sqlite'] as const) {
  test.serial(`two stations in one --share group on one ${backend} database: one killed mid-stream and restarted, every reading once, each message to one station`, async (t) => {
    const broker = await startMosquitto();
    const dir = mkdtempSync(join(tmpdir(), 'station-share-'));
    const db = backend === 'postgres' ? await postgres!.createDatabase(`share${++databases}`) : join(dir, 'station.db');
    const base = ['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', db, '--share', 'plant-a'];
    const a = spawnStation([...base, '--client-id', 'station-a']);
    const b = spawnStation([...base, '--client-id', 'station-b']);
    const started = [a, b];
    t.teardown(async () => {
      for (const s of started) s.child.kill('SIGKILL');
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    await Promise.all([a.subscribed, b.subscribed]);
    const devs = fleet(8, 'node');
    const perDev = 240;
    const total = devs.length * perDev;
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'share-publisher' });
    // A failed assertion must not leave the publisher reconnecting for ever (the file would never end).
    t.teardown(() => publisher.end(true));
    // Half the fleet publishes before the kill, the other half after it (so there is always a
    // stream left for station b, however fast the first half went).
    const first = publishFleet(publisher, devs.slice(0, devs.length / 2), perDev, 5);
    await waitFor(async () => (await held(db, devs)).rows > 400, 30_000, 'the first readings');
    a.child.kill('SIGKILL');
    await once(a.child, 'exit');
    const atKill = (await held(db, devs)).rows;
    t.true(atKill < total, `killed mid-stream (${atKill} stored)`);
    const resent = (await first) + (await publishFleet(publisher, devs.slice(devs.length / 2), perDev, 5));
    // Station b goes on alone with its share.
    await waitFor(async () => (await held(db, devs)).rows > atKill + 100, 30_000, 'the other station to go on');
    await publisher.endAsync();
    // Wait until station b has stored all it will (no change for 1.5 s).
    let before = -1;
    for (let now = (await held(db, devs)).rows; now !== before; now = (await held(db, devs)).rows) {
      before = now;
      await new Promise((res) => setTimeout(res, 1500));
    }
    // mosquitto keeps the away station's share for its session (docs/station.md): station b,
    // settled, has not got it.
    t.true(before < total, `${before} of ${total} stored before the killed station came back`);
    // Station a comes back on its session and takes the messages the broker kept for it.
    const again = spawnStation([...base, '--client-id', 'station-a']);
    started.push(again);
    await again.subscribed;
    await waitFor(async () => (await held(db, devs)).rows >= total, 30_000, 'every reading').catch(async (e: Error) => {
      throw new Error(`${e.message}: ${missing((await held(db, devs)).perDev, perDev)} (${atKill} at the kill)`);
    });
    const final = await held(db, devs);
    t.is(missing(final.perDev, perDev), '');
    t.is(final.ingested, total);
    // Shared: each message went to one station. Without --share both would take every message
    // and drop about `total` duplicates; here only the publisher's resends, plus at most one
    // message committed but not acknowledged at the kill.
    t.true(final.duplicates >= resent && final.duplicates <= resent + 9, `${final.duplicates} duplicates, ${resent} resent`);
    t.is(final.malformed, 0);
  });
}

