/*
 * `pipewatch incidents --broker mqtt://host:port --plant FILE [--json]`: the fleet incidents
 * module (tools/fleet/incidents.ts) live, on the receiving side.
 *
 * It subscribes to every node's readings and alerts (pipewatch/+/readings, .../readings/bin,
 * .../alerts, QoS 1), decodes them with the firmware's own strict decoder, and feeds channel 0's
 * temperature of each node the plant file names (device id = plant node id) to the fleet; a
 * reading on the alerts topic is that node's alert too. Resends collapse by (device, seq); a
 * reading older than the newest one the fleet has from that node (a backlog drained after an
 * outage) is counted and not fed (the fleet needs time order). Each incident is a line on
 * stdout (a JSON line with --json) and a retained QoS 1 message on
 * pipewatch/plant/<line>/incident. Runs until Ctrl-C (or SIGTERM), then prints its counts;
 * SIGUSR2 prints the counts so far without stopping (SIGUSR1 is Node's debugger signal).
 */
import mqtt from 'mqtt';

import { ReadingKind } from '../firmware/store';
import { decodeMessage } from '../firmware/uplink/decode';
import { readPlantFile } from './plant-file';
import { Failure, oneLine, parseOptions, runVerb, UsageError } from './args';
import { Fleet, type Incident } from './fleet/incidents';

export const INCIDENTS_USAGE = `usage: npx pipewatch incidents --broker mqtt://host:port --plant FILE [--json]

Watches every node's readings and alerts at the broker and raises leak incidents from local
evidence only (docs/leaks.md): a line on stdout per incident, and a retained message on
pipewatch/plant/<line>/incident. Runs until Ctrl-C (or SIGTERM), then prints its counts;
SIGUSR2 prints the counts so far without stopping (SIGUSR1 is Node's debugger signal).

  --broker URL   mqtt://host:port of the broker the nodes publish to
  --plant FILE   plant JSON: lines and nodes (node id = device id) with their positions
  --json         JSON lines: {"kind":"incident","line","node","t_ms","pos_m","rule"}
  -h, --help     this text`;

export function incidentJson(i: Incident): string {
  return `{"kind":"incident","line":${JSON.stringify(i.line)},"node":${JSON.stringify(i.node)},"t_ms":${i.tMs},"pos_m":${i.posM},"rule":"${i.rule}","relative_mC":${i.relativeMilliCelsius}}`;
}

export function incidentsCommand(argv: string[]): Promise<number> {
  return runVerb('pipewatch incidents', INCIDENTS_USAGE, argv, () => watch(argv));
}

async function watch(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { broker: { type: 'string' }, plant: { type: 'string' }, json: { type: 'boolean' } }, 'pipewatch incidents');
  const url = values.broker as string | undefined;
  if (!url || !/^mqtt:\/\/([^/:@]+|\[[0-9a-fA-F:]+\]):\d{1,5}\/?$/.test(url)) throw new UsageError('--broker takes mqtt://host:port (see pipewatch incidents --help)');
  if (!values.plant) throw new UsageError('--plant FILE is required (see pipewatch incidents --help)');
  const plant = readPlantFile(values.plant as string);
  const json = values.json === true;
  const fleet = new Fleet(plant.nodes);
  const lastSeq = new Map<string, number>();
  const lastT = new Float64Array(plant.nodes.length).fill(-Infinity);
  const counts = { readings: 0, late: 0, unknown: 0, malformed: 0 };
  const client = mqtt.connect(url, { clientId: `pipewatch-incidents-${process.pid}`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed')));
    });
  } catch (error) {
    await client.endAsync(true).catch(() => {});
    throw new Failure(`cannot reach the broker ${url} (${(error as NodeJS.ErrnoException).code ?? oneLine(error)})`);
  }
  client.options.reconnectPeriod = 1000;
  client.on('error', (error) => process.stderr.write(`pipewatch incidents: broker: ${oneLine(error)}\n`));
  client.on('offline', () => process.stderr.write('pipewatch incidents: connection to the broker lost; reconnecting\n'));
  fleet.onIncident = (i) => {
    const line = json ? incidentJson(i) : `incident  line ${i.line} node ${i.node} t_ms ${i.tMs} pos_m ${i.posM} (${i.rule}, +${i.relativeMilliCelsius / 1000} °C over its neighbours)`;
    process.stdout.write(line + '\n');
    client.publish(`pipewatch/plant/${i.line}/incident`, incidentJson(i), { qos: 1, retain: true });
  };
  client.on('message', (topic, payload) => {
    const decoded = decodeMessage(topic, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
    if (decoded.error !== undefined) {
      counts.malformed++;
      return;
    }
    const node = fleet.indexOf(decoded.dev);
    if (node < 0) {
      counts.unknown++;
      return;
    }
    for (const r of decoded.readings) {
      if (r.channel !== 0 || r.kind !== ReadingKind.milliCelsius) continue;
      // Resends collapse by (device, seq); older readings than the fleet has are a drained backlog.
      if (lastSeq.get(decoded.dev) === r.seq || r.timeMs <= lastT[node]!) {
        if (lastSeq.get(decoded.dev) !== r.seq) counts.late++;
        continue;
      }
      lastSeq.set(decoded.dev, r.seq);
      lastT[node] = r.timeMs;
      counts.readings++;
      fleet.reading(node, r.timeMs, r.value);
      if (decoded.shape === 'alert' || r.alert) fleet.alert(node, r.timeMs);
    }
  });
  await client.subscribeAsync(['pipewatch/+/readings', 'pipewatch/+/readings/bin', 'pipewatch/+/alerts'], { qos: 1 });
  process.stderr.write(`pipewatch incidents: watching ${plant.nodes.length} nodes on ${fleet.lineIds.length} lines at ${url}\n`);
  const countsLine = () =>
    `pipewatch incidents: ${counts.readings} readings, ${fleet.incidents} incidents, ${fleet.alertsSuppressed} node alerts not local, ${counts.late} late, ${counts.unknown} from nodes not in the plant, ${counts.malformed} malformed\n`;
  const onStatus = () => process.stderr.write(countsLine());
  process.on('SIGUSR2', onStatus);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.off('SIGUSR2', onStatus);
  process.stderr.write(countsLine());
  // Retained incidents published last go out before the connection closes (end() flushes).
  await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  client.removeAllListeners();
  return 0;
}
