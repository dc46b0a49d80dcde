/*
 * `pipewatch station --db postgres://...` against a real mosquitto and a private Debian
 * PostgreSQL (test/harness/postgres.ts): SIGKILL mid-stream and restart; PostgreSQL stopped and
 * started again mid-stream (ingest pauses with its acknowledgements held, then resumes). Each
 * ends with every reading in the database exactly once. The web view's JSON, CSV and /metrics
 * served from PostgreSQL. The options of the command line.
 * (Shared subscriptions: station-share.test.ts.)
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import mqtt from 'mqtt';
import { startMosquitto } from './harness/mosquitto';
import { startPostgres, type PostgresHandle } from './harness/postgres';
import { held, missing, publishFleet, spawnStation, waitFor } from './harness/station-cli';
import { parseStationOptions, startStation, STATION_USAGE } from '../tools/station/main';
import { UsageError } from '../tools/args';
import { topicFilters } from '../tools/station/ingest';

const CLI = new URL('../tools/pipewatch.mjs', import.meta.url).pathname;

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

test.serial('PostgreSQL: SIGKILL mid-stream and restart, every reading in the database exactly once', async (t) => {
  const broker = await startMosquitto();
  const db = await postgres!.createDatabase(`kill${++databases}`);
  const args = ['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', db, '--client-id', 'station-pg-kill'];
  const first = spawnStation(args);
  t.teardown(async () => {
    first.child.kill('SIGKILL');
    await broker.stop();
  });
  await first.subscribed;
  const devs = fleet(4, 'node');
  const perDev = 200;
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'pg-kill-publisher' });
  // Half the fleet publishes before the kill, the other half after it: the kill lands mid-stream
  // however fast the first half is stored (a CI run once stored all 800 before the kill).
  const publishing = publishFleet(publisher, devs.slice(0, devs.length / 2), perDev, 4);
  await waitFor(async () => (await held(db, devs)).rows > 150, 30_000, 'the first readings');
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  const atKill = (await held(db, devs)).rows;
  t.true(atKill < devs.length * perDev, `killed mid-stream (${atKill} stored)`);
  const resent = (await publishing) + (await publishFleet(publisher, devs.slice(devs.length / 2), perDev, 4));
  await publisher.endAsync();
  const second = spawnStation(args);
  t.teardown(() => void second.child.kill('SIGKILL'));
  await second.subscribed;
  await waitFor(async () => (await held(db, devs)).rows >= devs.length * perDev, 30_000, 'every reading after the restart').catch(async (e: Error) => {
    throw new Error(`${e.message}: ${missing((await held(db, devs)).perDev, perDev)} (${atKill} at the kill)`);
  });
  const final = await held(db, devs);
  t.is(missing(final.perDev, perDev), '');
  t.is(final.ingested, devs.length * perDev);
  // The publisher's resends, plus at most the one message committed but not acknowledged at the kill.
  t.true(final.duplicates >= resent && final.duplicates <= resent + 9, `${final.duplicates} duplicates, ${resent} resent`);
});

test.serial('PostgreSQL stopped mid-stream: ingest pauses with acknowledgements held, and resumes when it is back', async (t) => {
  const broker = await startMosquitto();
  const db = await postgres!.createDatabase(`outage${++databases}`);
  const lines: string[] = [];
  const station = await startStation(
    parseStationOptions(['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', db, '--client-id', 'station-pg-outage']),
    (line) => lines.push(line),
  );
  t.teardown(async () => {
    await postgres!.start().catch(() => {});
    await station.close();
    await broker.stop();
  });
  await station.subscribed;
  const devs = fleet(4, 'node');
  const perDev = 200;
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'outage-publisher' });
  const publishing = publishFleet(publisher, devs, perDev, 6);
  await waitFor(async () => (await station.store.counters()).ingested > 150, 30_000, 'the first readings');
  await postgres!.halt();
  // The station says so, and keeps trying the same message; the publisher is not held up.
  await waitFor(() => lines.filter((l) => /^station: database: .*; holding the acknowledgement, retrying in 500 ms$/.test(l)).length >= 3, 20_000, 'the failed commits');
  const resent = await publishing;
  await publisher.endAsync();
  t.true(lines.filter((l) => /holding the acknowledgement/.test(l)).length >= 3);
  await postgres!.start();
  await waitFor(async () => (await station.store.counters().catch(() => ({ ingested: 0 }))).ingested >= devs.length * perDev, 30_000, 'every reading after the database came back').catch(async (e: Error) => {
    throw new Error(`${e.message}: ${missing((await held(db, devs)).perDev, perDev)}\n${lines.slice(-5).join('\n')}`);
  });
  const final = await held(db, devs);
  t.is(missing(final.perDev, perDev), '');
  t.is(final.ingested, devs.length * perDev);
  // A commit whose reply was lost with the connection is retried and found a duplicate: at most one message's worth.
  t.true(final.duplicates >= resent && final.duplicates <= resent + 9, `${final.duplicates} duplicates, ${resent} resent`);
});

test('command line: --db postgres URL, --share, --retain-* checked; an unreachable database is one line, exit 1', async (t) => {
  const broker = ['--broker', 'mqtt://127.0.0.1:1'];
  for (const [args, message] of [
    [['--db', 'postgres:/nohost'], /^--db takes postgres:\/\/user:password@host:port\/database/],
    [['--share', 'a/b'], /^--share takes 1 to 64/],
    [['--share', '+'], /^--share takes 1 to 64/],
    [['--retain-days', '0'], /--retain-days/],
    [['--retain-days', '40', '--retain-aggregates-days', '30'], /must be at least --retain-days/],
  ] as Array<[string[], RegExp]>) {
    t.throws(() => parseStationOptions([...broker, ...args]), { instanceOf: UsageError, message }, args.join(' '));
  }
  t.like(parseStationOptions([...broker, '--db', 'postgres://u:p@db.example:5432/plant', '--share', 'g1', '--retain-days', '7']), {
    db: 'postgres://u:p@db.example:5432/plant',
    share: 'g1',
    retention: { readingsDays: 7, aggregatesDays: 365 },
  });
  t.like(parseStationOptions(broker), { db: '.pipewatch/station.db', share: undefined, retention: { readingsDays: 30, aggregatesDays: 365 } });
  t.regex(STATION_USAGE, /--db FILE\|URL/);
  t.regex(STATION_USAGE, /--share GROUP/);
  t.deepEqual(topicFilters('g1').slice(0, 2), ['$share/g1/pipewatch/+/readings', '$share/g1/pipewatch/+/readings/bin']);
  // The process: a database it cannot reach is one line on stderr and exit 1, the password hidden.
  const child = spawn(process.execPath, [CLI, 'station', ...broker, '--db', postgres!.url('no_such_database').replace('pipewatch@', 'pipewatch:hunter2@')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 1);
  t.regex(err, /^pipewatch station: PostgreSQL postgres:\/\/pipewatch:\*\*\*@127\.0\.0\.1:\d+\/no_such_database: [^\n]*does not exist\n$/);
  t.false(err.includes('hunter2'));
});

test.serial('the web view and exports on PostgreSQL: fleet, node, CSV and /metrics from the database', async (t) => {
  const broker = await startMosquitto();
  const db = await postgres!.createDatabase(`web${++databases}`);
  const station = await startStation(parseStationOptions(['--broker', `mqtt://127.0.0.1:${broker.port}`, '--db', db, '--client-id', 'station-pg-web']));
  t.teardown(async () => {
    await station.close();
    await broker.stop();
  });
  await station.subscribed;
  const devs = fleet(2, 'node');
  const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'web-publisher' });
  await publishFleet(publisher, devs, 30, 3);
  await publisher.publishAsync('pipewatch/node-001/status', 'online', { qos: 1 });
  await publisher.publishAsync('pipewatch/node-002/readings', '{"bad":', { qos: 1 });
  await publisher.endAsync();
  await waitFor(async () => {
    const c = await station.store.counters();
    return c.ingested === 60 && c.malformed === 1;
  }, 20_000, 'the messages');
  const get = async (path: string): Promise<string> => {
    const res = await fetch(new URL(path, station.url));
    t.is(res.status, 200, path);
    return res.text();
  };
  const api = JSON.parse(await get('/api/fleet')) as { nodes: Array<{ dev: string; readings: number; malformed: number; status: string | null; online: boolean }> };
  t.deepEqual(api.nodes.map((n) => [n.dev, n.readings, n.malformed]), [['node-001', 30, 0], ['node-002', 30, 1]]);
  t.like(api.nodes[0], { status: 'online', online: true });
  const node = JSON.parse(await get('/api/node/node-001?from=0')) as { readings: Array<{ seq: number }> };
  t.deepEqual(node.readings.map((r) => r.seq), Array.from({ length: 30 }, (_, i) => i + 1));
  const csv = (await get('/api/node/node-002/readings.csv?from=0')).trim().split('\n');
  t.is(csv.length, 31);
  t.regex(csv[1]!, /^node-002,1,1767225610000,1,0,mC,60100,0,\d+$/);
  const metrics = await get('/metrics');
  t.regex(metrics, /^pipewatch_readings_ingested_total 60$/m);
  t.regex(metrics, /^pipewatch_malformed_total 1$/m);
  t.regex(metrics, /^pipewatch_duplicates_dropped_total [1-9]\d*$/m);
});
