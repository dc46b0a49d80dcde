/*
 * The ESP32 power model: turns a node's energy counters (firmware/energy.ts) into charge. Every
 * figure of ESP32_POWER_MODEL is cited in docs/energy.md; change the table (or pass another) to
 * model another board. Portable: no Node APIs (the bench and the summary use it).
 *
 * Charge per node, mA·s (then mAh, mJ at `supplyVolts`):
 * - associated time, by mode: always-connected at `modemSleepMilliAmps` (Wi-Fi modem sleep, CPU
 *   on); light-sleep at `autoLightSleepMilliAmps` between exchanges and `modemSleepMilliAmps`
 *   during them; wake-cycle windows at `modemSleepMilliAmps`;
 * - on top of that, air time: each packet sent `txMsPerPacket` + its bytes at `phyMbps`, at
 *   (`txMilliAmps` - the base); each packet received likewise at `rxMilliAmps`;
 * - each Wi-Fi join: `wifiJoinMs` at `wifiJoinMilliAmps` (the radio time it took is not counted
 *   twice: the join is taken out of the associated time);
 * - each TLS handshake: `tlsHandshakeMs` of CPU at `cpuActiveMilliAmps` and `tlsHandshakeBytes`;
 * - each wake from deep sleep: `deepWakeMs` (boot to the sample stored) at `cpuActiveMilliAmps`;
 * - each sensor conversion: `sensorConversionMs` at `sensorMilliAmps`;
 * - deep sleep at `deepSleepMicroAmps` (the wakes' awake time taken out);
 * - on XS, `computronsPerMs` turns the engine's computrons into CPU time, at
 *   (`cpuActiveMilliAmps` - `modemSleepMilliAmps`) over the base (always-connected: 0, the CPU is
 *   in the base) — reported, and counted in the sleeping modes.
 */
import type { EnergyCounts } from '../firmware/energy';

export interface PowerModel {
  supplyVolts: number;
  txMilliAmps: number;
  rxMilliAmps: number;
  modemSleepMilliAmps: number;
  autoLightSleepMilliAmps: number;
  cpuActiveMilliAmps: number;
  deepSleepMicroAmps: number;
  wifiJoinMs: number;
  wifiJoinMilliAmps: number;
  tlsHandshakeMs: number;
  tlsHandshakeBytes: number;
  deepWakeMs: number;
  sensorConversionMs: number;
  sensorMilliAmps: number;
  phyMbps: number;
  txMsPerPacket: number;
  computronsPerMs: number;
  /** Usable charge of the cells, mAh. */
  cell18650MilliAmpHours: number;
  cellsAAMilliAmpHours: number;
}

/** docs/energy.md cites each figure. */
export const ESP32_POWER_MODEL: Readonly<PowerModel> = Object.freeze({
  supplyVolts: 3.3,
  txMilliAmps: 240,
  rxMilliAmps: 100,
  modemSleepMilliAmps: 30,
  autoLightSleepMilliAmps: 2.5,
  cpuActiveMilliAmps: 40,
  deepSleepMicroAmps: 10,
  wifiJoinMs: 1200,
  wifiJoinMilliAmps: 110,
  tlsHandshakeMs: 2000,
  tlsHandshakeBytes: 4500,
  deepWakeMs: 300,
  sensorConversionMs: 15.5,
  sensorMilliAmps: 0.135,
  phyMbps: 11,
  txMsPerPacket: 0.5,
  computronsPerMs: 2000,
  cell18650MilliAmpHours: 3000,
  cellsAAMilliAmpHours: 2500,
});

export interface NodeEnergy {
  deviceId?: string;
  mode: string;
  mJ: number;
  mJPerReading: number | null;
  meanCurrentMilliAmps: number;
  batteryDays18650: number;
  batteryDays2AA: number;
  /** Charge by cost, mA·s (what the node spent it on). */
  breakdownMilliAmpSeconds: Record<string, number>;
  counts: EnergyCounts;
}

const round = (v: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** One node's charge from its counters; `computrons` where the node ran on XS. */
export function nodeEnergy(counts: EnergyCounts, readings: number, model: PowerModel = ESP32_POWER_MODEL, computrons = 0, deviceId?: string): NodeEnergy {
  const m = model;
  const s = (ms: number) => ms / 1000;
  const joinMs = Math.min(counts.radioOnMs, counts.wifiJoins * m.wifiJoinMs);
  const associatedMs = Math.max(0, counts.radioOnMs - joinMs);
  let base: number;
  let associated: number;
  if (counts.mode === 'light-sleep') {
    const active = Math.min(associatedMs, counts.exchangeMs);
    associated = s(associatedMs - active) * m.autoLightSleepMilliAmps + s(active) * m.modemSleepMilliAmps;
    base = m.autoLightSleepMilliAmps;
  } else {
    associated = s(associatedMs) * m.modemSleepMilliAmps;
    base = m.modemSleepMilliAmps;
  }
  const airTx = counts.packetsTx * m.txMsPerPacket + ((counts.bytesTx + counts.tlsHandshakes * m.tlsHandshakeBytes / 2) * 8) / (m.phyMbps * 1000);
  const airRx = counts.packetsRx * m.txMsPerPacket + ((counts.bytesRx + counts.tlsHandshakes * m.tlsHandshakeBytes / 2) * 8) / (m.phyMbps * 1000);
  const breakdown: Record<string, number> = {
    associated,
    tx: s(airTx) * Math.max(0, m.txMilliAmps - base),
    rx: s(airRx) * Math.max(0, m.rxMilliAmps - base),
    wifiJoin: counts.wifiJoins * s(m.wifiJoinMs) * m.wifiJoinMilliAmps,
    tls: counts.tlsHandshakes * s(m.tlsHandshakeMs) * m.cpuActiveMilliAmps,
    deepWakes: counts.deepWakes * s(m.deepWakeMs) * m.cpuActiveMilliAmps,
    sensors: counts.sensorConversions * s(m.sensorConversionMs) * m.sensorMilliAmps,
    deepSleep: s(Math.max(0, counts.deepSleepMs - counts.deepWakes * m.deepWakeMs)) * (m.deepSleepMicroAmps / 1000),
    cpu: counts.mode === 'always-connected' ? 0 : s(computrons / m.computronsPerMs) * Math.max(0, m.cpuActiveMilliAmps - m.modemSleepMilliAmps),
  };
  let mAs = 0;
  for (const k of Object.keys(breakdown)) {
    mAs += breakdown[k]!;
    breakdown[k] = round(breakdown[k]!);
  }
  const seconds = Math.max(1e-9, s(counts.uptimeMs));
  const mean = mAs / seconds;
  const mJ = mAs * m.supplyVolts;
  const days = (capacity: number) => (mean > 0 ? round(capacity / mean / 24, 1) : 0);
  return {
    ...(deviceId ? { deviceId } : {}),
    mode: counts.mode,
    mJ: round(mJ, 1),
    mJPerReading: readings > 0 ? round(mJ / readings, 2) : null,
    meanCurrentMilliAmps: round(mean, 4),
    batteryDays18650: days(m.cell18650MilliAmpHours),
    batteryDays2AA: days(m.cellsAAMilliAmpHours),
    breakdownMilliAmpSeconds: breakdown,
    counts,
  };
}

export interface FleetEnergy {
  mode: string;
  mJPerReading: number | null;
  meanCurrentMilliAmps: number;
  batteryDays18650: number;
  batteryDays2AA: number;
  mJ: number;
  /** Bytes on the wire (MQTT over TCP, both ways) per node per day. */
  bytesPerNodePerDay: number;
  wifiJoins: number;
  tcpConnects: number;
  tlsHandshakes: number;
  deepWakes: number;
  windows: number;
  alertWindows: number;
  /** Wake-cycle windows that did not reach the broker (they back off; docs/energy.md). */
  failedWindows: number;
  /** Wakes whose retained state did not check out (the node started clean). */
  retainedFailures: number;
  breakdownMilliAmpSeconds: Record<string, number>;
  model: 'esp32';
  perNode?: NodeEnergy[];
}

/** The fleet's figures: mean current per node, the battery life of the mean node, mJ per published reading. */
export function fleetEnergy(nodes: Array<{ deviceId: string; energy?: EnergyCounts; readingsGenerated: number; retainedFailures?: number }>, computrons = 0, perNode = false, model: PowerModel = ESP32_POWER_MODEL): FleetEnergy | undefined {
  const withCounts = nodes.filter((n) => n.energy);
  if (withCounts.length === 0) return undefined;
  const share = computrons / withCounts.length;
  const each = withCounts.map((n) => nodeEnergy(n.energy!, n.readingsGenerated, model, share, n.deviceId));
  const readings = withCounts.reduce((a, n) => a + n.readingsGenerated, 0);
  const mJ = each.reduce((a, e) => a + e.mJ, 0);
  const mean = each.reduce((a, e) => a + e.meanCurrentMilliAmps, 0) / each.length;
  const sum = (k: keyof EnergyCounts) => withCounts.reduce((a, n) => a + (n.energy![k] as number), 0);
  const uptimeDays = sum('uptimeMs') / 86_400_000;
  const breakdown: Record<string, number> = {};
  for (const e of each) for (const [k, v] of Object.entries(e.breakdownMilliAmpSeconds)) breakdown[k] = round((breakdown[k] ?? 0) + v);
  const modes = [...new Set(each.map((e) => e.mode))];
  return {
    mode: modes.join(','),
    mJPerReading: readings > 0 ? round(mJ / readings, 2) : null,
    meanCurrentMilliAmps: round(mean, 4),
    batteryDays18650: mean > 0 ? round(model.cell18650MilliAmpHours / mean / 24, 1) : 0,
    batteryDays2AA: mean > 0 ? round(model.cellsAAMilliAmpHours / mean / 24, 1) : 0,
    mJ: round(mJ, 1),
    bytesPerNodePerDay: uptimeDays > 0 ? Math.round((sum('bytesTx') + sum('bytesRx')) / uptimeDays) : 0,
    wifiJoins: sum('wifiJoins'),
    tcpConnects: sum('tcpConnects'),
    tlsHandshakes: sum('tlsHandshakes'),
    deepWakes: sum('deepWakes'),
    windows: sum('windows'),
    alertWindows: sum('alertWindows'),
    failedWindows: sum('failedWindows'),
    retainedFailures: withCounts.reduce((a, n) => a + (n.retainedFailures ?? 0), 0),
    breakdownMilliAmpSeconds: breakdown,
    model: 'esp32',
    ...(perNode ? { perNode: each } : {}),
  };
}

/**
 * A node's counters over several boots (an OTA or a crash reboots it: the new boot's counters
 * start from zero): every count and time summed, the mode the current boot's.
 */
export function addEnergyCounts(current: EnergyCounts | undefined, earlier: EnergyCounts | undefined): EnergyCounts | undefined {
  if (!current || !earlier) return current ?? earlier;
  const sum = { ...current };
  for (const k of Object.keys(sum) as Array<keyof EnergyCounts>) {
    if (k !== 'mode' && typeof earlier[k] === 'number') (sum[k] as number) = (current[k] as number) + (earlier[k] as number);
  }
  return sum;
}
