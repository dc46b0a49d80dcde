/*
 * Issue 15, "Done when": a virtual-time run with network outages, the station attached to it,
 * and `pipewatch fleet report --json` on the station's database. Every metric is checked against
 * a count made independently from the simulator's own records, not from the heartbeats:
 *
 *   - the embedded broker's record of each node's MQTT sessions (CONNECT accepted to the end of
 *     the connection, in simulated time: `onLink`), i.e. the simulated link's up and down times;
 *   - the nodes' boot records (`onNodeStart`: when each node's firmware started).
 *
 * A node's heartbeats cover its uptime from boot to its last heartbeat (every 15 min after boot),
 * expecting all of it (the uplink runs from boot); so its connectivity uptime must be its
 * sessions' time within [boot, last heartbeat] over that span. Activation: registered nodes that
 * ever had a session, over the registry (which also names spares that never ran). Monthly
 * active devices: nodes with a session in the month. No update is offered: the OTA success
 * rate is null, as no node started a download.
 *
 * FLEET_NODES sets the node count (default 100, for the suite on a 2-core machine); the
 * 1,000-node case runs the same checks: FLEET_NODES=1000 (see docs/fleet.md).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulation, simDeviceId, type SimOptions } from '../simulator/run';
import { defaultPlant } from '../simulator/plant/model';
import { attachStation } from '../tools/station/attach';
import { VIRTUAL_EPOCH_MS } from '../hosts/node/host';

const CLI = new URL('../tools/pipewatch.mjs', import.meta.url).pathname;
const NODES = Number(process.env.FLEET_NODES ?? 100);
const HEARTBEAT_MS = 15 * 60_000;
/** Not a multiple of 15 min: the last heartbeat (3 h) is well inside the run and delivered. */
const DURATION_MS = 3 * 3_600_000 + 5 * 60_000;
const OUTAGES = [
  { atMs: 40 * 60_000, forMs: 35 * 60_000 },
  { atMs: 2 * 3_600_000, forMs: 12 * 60_000 },
];

function utcMonth(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

test(`${NODES} nodes, two outages: fleet report --json and the sim's fleet summary match counts from the link's and the boots' records`, async (t) => {
  t.timeout(20 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-fleet-report-'));
  const ids = Array.from({ length: NODES }, (_, i) => simDeviceId(i, NODES));
  const plant = defaultPlant(NODES, 7, DURATION_MS);
  const lineOf = new Map(plant.nodes.map((n, i) => [ids[i]!, n.line]));
  const spares = ['spare-1', 'spare-2', 'spare-3'];
  const registry = [...ids.map((id) => ({ id, line: lineOf.get(id)! })), ...spares.map((id) => ({ id, line: plant.nodes[0]!.line }))];
  const registryFile = join(dir, 'registry.json');
  writeFileSync(registryFile, JSON.stringify(registry));

  // The simulator's own records.
  const sessions = new Map<string, Array<{ up: number; down: number }>>();
  const boots = new Map<string, number[]>();
  let station: Awaited<ReturnType<typeof attachStation>> | undefined;
  const options: SimOptions = {
    nodes: NODES,
    engine: 'node',
    durationMs: DURATION_MS,
    virtual: true,
    seed: 7,
    // A reading every 15 min (as often as the heartbeat): the subject is the heartbeats, and
    // fewer readings let the 1,000-node case run in minutes.
    intervalMs: 15 * 60_000,
    sensors: [{ part: 'tmp117' }],
    drainMs: 30_000,
    leakShare: 0,
    plant,
    outages: OUTAGES,
    onLink: (id, up, simMs) => {
      let list = sessions.get(id);
      if (!list) sessions.set(id, (list = []));
      if (up) list.push({ up: simMs, down: Infinity });
      else {
        const open = [...list].reverse().find((s) => s.down === Infinity);
        if (open) open.down = simMs;
      }
    },
    onNodeStart: (i, simMs) => {
      const id = ids[i]!;
      boots.set(id, [...(boots.get(id) ?? []), simMs]);
    },
    beforeNodes: async (broker) => {
      station = await attachStation(broker, dir);
    },
  };
  let summary;
  try {
    summary = await startSimulation(options).done;
  } finally {
    await station?.close();
  }
  t.is(summary.readingsLost, 0);
  const endMs = summary.simulatedSeconds * 1000;

  // Independent counts.
  let connected = 0;
  let expected = 0;
  const perLine = new Map<string, { conn: number; exp: number }>();
  const months = new Map<string, Set<string>>();
  for (const id of ids) {
    const b = boots.get(id) ?? [];
    t.is(b.length, 1, `${id} booted once (no OTA in this run)`);
    const start = b[0]!;
    const last = start + Math.floor((endMs - start) / HEARTBEAT_MS) * HEARTBEAT_MS;
    let conn = 0;
    for (const s of sessions.get(id) ?? []) {
      const up = Math.max(s.up, start);
      const down = Math.min(s.down, last);
      if (down > up) conn += down - up;
      for (let m = Math.max(s.up, start); m <= Math.min(s.down, endMs); m += 86_400_000) {
        const month = utcMonth(VIRTUAL_EPOCH_MS + m);
        if (!months.has(month)) months.set(month, new Set());
        months.get(month)!.add(id);
      }
    }
    connected += conn;
    expected += last - start;
    const line = lineOf.get(id)!;
    const l = perLine.get(line) ?? { conn: 0, exp: 0 };
    l.conn += conn;
    l.exp += last - start;
    perLine.set(line, l);
  }
  const activated = registry.filter((r) => (sessions.get(r.id) ?? []).length > 0).length;
  const uptime = connected / expected;
  const mad = Object.fromEntries([...months].sort().map(([m, s]) => [m, s.size]));
  t.true(uptime < 1 - 47 / 185 + 0.01, `the outages cost uptime: ${uptime}`);

  // pipewatch fleet report --json on the station's database.
  const r = spawnSync(process.execPath, [CLI, 'fleet', 'report', '--json', '--db', join(dir, 'station.db'), '--registry', registryFile, '--since', '2025-12-01', '--until', '2026-02-01'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    activationRate: number;
    connectivityUptime: number;
    otaSuccessRate: number | null;
    monthlyActiveDevices: Record<string, number>;
    activation: { registered: number; activated: number; unregistered: string[] };
    uptime: { devices: Record<string, Record<string, { connectedMs: number; expectedMs: number }>>; lines: Record<string, Record<string, { connectedMs: number; expectedMs: number }>> };
  };
  t.is(report.activation.registered, NODES + spares.length);
  t.is(report.activation.activated, activated);
  t.is(report.activationRate, activated / (NODES + spares.length));
  t.deepEqual(report.activation.unregistered, []);
  t.deepEqual(report.monthlyActiveDevices, mad);
  t.is(report.otaSuccessRate, null);
  // Session edges as the broker saw them and as the node saw them (CONNACK, close) are the same
  // simulated instant in virtual time, up to a clock step while a close is under way.
  const tolerance = 2000 * NODES * 6;
  let reportedConn = 0;
  let reportedExp = 0;
  for (const perDay of Object.values(report.uptime.devices)) {
    for (const d of Object.values(perDay)) {
      reportedConn += d.connectedMs;
      reportedExp += d.expectedMs;
    }
  }
  t.is(reportedExp, expected, 'expected time: boot to last heartbeat, every node');
  t.true(Math.abs(reportedConn - connected) <= tolerance, `connected ms: report ${reportedConn}, link records ${connected}`);
  t.true(Math.abs(report.connectivityUptime - uptime) < 1e-3, `uptime: report ${report.connectivityUptime}, link records ${uptime}`);
  for (const [line, l] of perLine) {
    const days = Object.values(report.uptime.lines[line] ?? {});
    const exp = days.reduce((s, d) => s + d.expectedMs, 0);
    const conn = days.reduce((s, d) => s + d.connectedMs, 0);
    t.is(exp, l.exp, `line ${line} expected`);
    t.true(Math.abs(conn / exp - l.conn / l.exp) < 2e-3, `line ${line}: report ${conn / exp}, link records ${l.conn / l.exp}`);
  }

  // The simulator's own summary (what the observer received) says the same.
  const fleet = summary.fleet!;
  t.is(fleet.activationRate, 1, 'the run\'s nodes are the simulator\'s registry');
  t.true(Math.abs(fleet.connectivityUptime! - uptime) < 1e-3, `sim summary uptime ${fleet.connectivityUptime}, link records ${uptime}`);
  t.is(fleet.otaSuccessRate, null);
  t.deepEqual(fleet.monthlyActiveDevices, mad);
  t.is(fleet.heartbeatsRefused, 0);
  t.log(`${NODES} nodes: uptime ${uptime.toFixed(5)} (link records), report ${report.connectivityUptime.toFixed(5)}, sim ${fleet.connectivityUptime!.toFixed(5)}; ${summary.wallSeconds} s wall`);
  rmSync(dir, { recursive: true, force: true });
});
