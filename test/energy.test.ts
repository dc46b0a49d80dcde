/*
 * Energy (docs/energy.md): the summary's energy object, report by exception end to end, and the
 * duty-cycle modes in the simulator on Node and XS: a day of wake-cycle with outages loses
 * nothing it published, and an alert in wake-cycle reaches the broker within the connect time.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startSimulation, type SimOptions } from '../simulator/run';
import { ESP32_POWER_MODEL, nodeEnergy } from '../simulator/energy';
import { VIRTUAL_EPOCH_MS } from '../hosts/node/host';
import type { PlantSpec } from '../simulator/plant/model';
import { ROOT } from '../tools/moddable';

const base: SimOptions = {
  nodes: 1,
  engine: 'node',
  durationMs: 3_600_000,
  virtual: true,
  seed: 1,
  intervalMs: 10_000,
  sensors: [{ part: 'tmp117' }],
  drainMs: 120_000,
  leakShare: 0,
};

test('the summary has an energy object: always-connected costs the modem-sleep current all day', async (t) => {
  const s = await startSimulation({ ...base, perNode: true }).done;
  const e = s.energy!;
  t.is(e.mode, 'always-connected');
  t.is(s.samples, 360);
  t.is(s.readingsGenerated, 360);
  t.true(e.mJPerReading! > 0);
  // Associated all the time: the mean is the modem-sleep current plus a little air time.
  t.true(e.meanCurrentMilliAmps >= ESP32_POWER_MODEL.modemSleepMilliAmps && e.meanCurrentMilliAmps < ESP32_POWER_MODEL.modemSleepMilliAmps + 1, String(e.meanCurrentMilliAmps));
  t.true(e.batteryDays18650 > 3 && e.batteryDays18650 < 5, String(e.batteryDays18650));
  t.is(e.wifiJoins, 1);
  t.is(e.tcpConnects, 1);
  t.is(e.perNode!.length, 1);
  t.is(e.perNode![0]!.deviceId, 'node-001');
  t.true(e.perNode![0]!.counts.bytesTx > 360 * 50);
  t.is(e.perNode![0]!.counts.sensorConversions, 360);
});

test('the model: charge adds up from the table, and a node that sleeps more lasts longer', (t) => {
  const counts = { mode: 'wake-cycle', uptimeMs: 86_400_000, radioOnMs: 0, wifiJoins: 0, tcpConnects: 0, tlsHandshakes: 0, bytesTx: 0, bytesRx: 0, packetsTx: 0, packetsRx: 0, lightSleepMs: 0, deepSleepMs: 86_400_000, deepWakes: 0, sensorConversions: 0, windows: 0, alertWindows: 0, exchangeMs: 0, failedWindows: 0 };
  const asleep = nodeEnergy(counts, 0);
  t.is(asleep.meanCurrentMilliAmps, ESP32_POWER_MODEL.deepSleepMicroAmps / 1000);
  const joins = nodeEnergy({ ...counts, wifiJoins: 288, radioOnMs: 288 * 3000 }, 288);
  t.true(joins.meanCurrentMilliAmps > asleep.meanCurrentMilliAmps * 10);
  t.is(joins.breakdownMilliAmpSeconds.wifiJoin, Math.round(288 * (ESP32_POWER_MODEL.wifiJoinMs / 1000) * ESP32_POWER_MODEL.wifiJoinMilliAmps * 1000) / 1000);
  t.is(nodeEnergy(counts, 0, { ...ESP32_POWER_MODEL, deepSleepMicroAmps: 5 }).meanCurrentMilliAmps, 0.005, 'the table is a parameter');
});

test('report by exception: fewer readings than samples, every published one delivered', async (t) => {
  const s = await startSimulation({ ...base, report: { deadband: 500, maxIntervalMs: 600_000 } }).done;
  t.is(s.samples, 360);
  t.true(s.readingsGenerated < s.samples / 2, `${s.readingsGenerated} of ${s.samples}`);
  t.true(s.readingsGenerated >= 6, 'at least one per max interval');
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.readingsLost, 0);
});

for (const engine of ['node', 'xs'] as const) {
  test(`wake-cycle, a virtual day with outages on ${engine}: every published reading delivered, the radio off most of the day`, async (t) => {
    const s = await startSimulation({
      ...base,
      engine,
      durationMs: 86_400_000,
      intervalMs: 60_000,
      power: { mode: 'wake-cycle', reportIntervalMs: 900_000 },
      outages: [{ atMs: 2 * 3_600_000, forMs: 3 * 3_600_000 }, { atMs: 20 * 3_600_000, forMs: 1_800_000 }],
    }).done;
    t.is(s.samples, 1440);
    t.is(s.readingsGenerated, 1440);
    t.is(s.readingsLost, 0);
    t.is(s.pendingOnNodes, 0);
    t.is(s.readingsDelivered, s.readingsGenerated);
    const e = s.energy!;
    t.is(e.mode, 'wake-cycle');
    // 96 windows a day, fewer in the 3 h outage (failed windows back off; docs/energy.md).
    t.true(e.windows >= 80 && e.windows <= 100, String(e.windows));
    t.true(e.failedWindows >= 3 && e.failedWindows < 12, `failed windows ${e.failedWindows}`);
    t.true(e.deepWakes > 1300, String(e.deepWakes));
    t.true(e.wifiJoins >= e.windows - 1, 'a join per window');
    const counts = (await startSimulation({ ...base, engine, durationMs: 600_000, perNode: true, power: { mode: 'wake-cycle' } }).done).energy!.perNode![0]!.counts;
    t.true(counts.radioOnMs < counts.uptimeMs / 4, `radio on ${counts.radioOnMs} ms of ${counts.uptimeMs}`);
    t.true(e.meanCurrentMilliAmps < 5, String(e.meanCurrentMilliAmps));
  });
}

/** One node beside a large leak at 30 min. */
const leakPlant: PlantSpec = {
  seed: 3,
  lines: [{ id: 'L1', ambientC: 25 }],
  nodes: [{ id: 'L1-N01', line: 'L1', posM: 0 }],
  events: [{ kind: 'leak', size: 'large', line: 'L1', posM: 0.2, atMs: 1_800_000, riseC: 30, tauMs: 40_000 } as never],
};

test('wake-cycle: a sample that raises an alert connects at once; the alert reaches the broker within join + connect', async (t) => {
  let alertSampleMs = -1;
  let alertArrivedMs = -1;
  const s = await startSimulation({
    ...base,
    plant: leakPlant,
    deviceIds: ['L1-N01'],
    power: { mode: 'wake-cycle', reportIntervalMs: 900_000 },
    onDelivered: (r, at) => {
      if (r.alert && alertArrivedMs < 0) {
        alertArrivedMs = at;
        alertSampleMs = r.sync ? r.ts - VIRTUAL_EPOCH_MS : r.ts;
      }
    },
  }).done;
  t.is(s.alertsRaised, 1);
  t.is(s.alertsDelivered, 1);
  t.true(s.energy!.alertWindows >= 1);
  t.true(alertSampleMs > 1_800_000, 'the alert came from a sample after the onset');
  const delay = alertArrivedMs - alertSampleMs;
  // Not the next 15-minute window: the join (the model's 1.2 s) and the MQTT connect.
  t.true(delay >= ESP32_POWER_MODEL.wifiJoinMs && delay < ESP32_POWER_MODEL.wifiJoinMs + 2000, `alert ${delay} ms after its sample`);
  t.is(s.readingsLost, 0);
});

function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'tools', 'pipewatch.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

test('sim --power and --report-interval: a bad value is one line and exit 2', async (t) => {
  const bad = await cli(['sim', '--power', 'turbo', '--virtual', '--duration', '1m']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--power takes always-connected, light-sleep, wake-cycle/);
  const interval = await cli(['sim', '--report-interval', '5m', '--virtual', '--duration', '1m']);
  t.is(interval.code, 2);
  t.regex(interval.stderr, /--report-interval is for --power light-sleep or wake-cycle/);
  const max = await cli(['sim', '--max-interval', '5m', '--virtual', '--duration', '1m']);
  t.is(max.code, 2);
  t.regex(max.stderr, /--deadband/);
});

test('light-sleep on XS: stays associated, readings go out in batches per window, an alert at once', async (t) => {
  let alertSampleMs = -1;
  let alertArrivedMs = -1;
  let batchedReadings = 0;
  const s = await startSimulation({
    ...base,
    engine: 'xs',
    plant: leakPlant,
    deviceIds: ['L1-N01'],
    power: { mode: 'light-sleep', reportIntervalMs: 300_000 },
    onDelivered: (r, at) => {
      if (!r.alert && at - ((r.sync ? r.ts - VIRTUAL_EPOCH_MS : r.ts)) > 60_000) batchedReadings++;
      if (r.alert && alertArrivedMs < 0) {
        alertArrivedMs = at;
        alertSampleMs = r.sync ? r.ts - VIRTUAL_EPOCH_MS : r.ts;
      }
    },
  }).done;
  t.is(s.readingsLost, 0);
  t.is(s.readingsDelivered, s.readingsGenerated);
  t.is(s.energy!.wifiJoins, 1, 'one join: associated all along');
  t.true(batchedReadings > s.readingsGenerated / 2, `${batchedReadings} of ${s.readingsGenerated} waited for a window`);
  t.is(s.alertsDelivered, 1);
  t.true(alertArrivedMs - alertSampleMs < 1000, `alert ${alertArrivedMs - alertSampleMs} ms after its sample`);
  t.true(s.energy!.meanCurrentMilliAmps < 5, String(s.energy!.meanCurrentMilliAmps));
});
