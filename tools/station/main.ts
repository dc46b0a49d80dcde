/*
 * `pipewatch station`: receives the fleet's messages, stores every reading once, serves the
 * web view. Conventions of the command line (tools/args.ts, run under runVerb): --help on
 * stdout, exit 0; a usage error one line on stderr, exit 2; a failed operation one line, exit 1.
 */
import { hostname } from 'node:os';
import { StationStore } from './store';
import { startIngest } from './ingest';
import { startWeb } from './web';
import { readPlant, type Plant } from './plant';
import { Failure, oneLine, parseDuration, parseInteger, parseOptions, UsageError } from '../args';

export const STATION_USAGE = `usage: npx pipewatch station --broker mqtt://host:port [options]
  --broker URL         the MQTT broker the nodes publish to (mqtt:// or mqtts://)
  --db FILE            SQLite database file (default .pipewatch/station.db; WAL mode)
  --mqtt VERSION       MQTT protocol: 5 (default) or 3.1.1, for brokers without MQTT 5
  --client-id ID       MQTT client id of the persistent session (default pipewatch-station-<host>)
  --port N             web view port (default 0: a free one, printed at start)
  --listen ADDR        web view address (default 127.0.0.1; 0.0.0.0 exposes it)
  --plant FILE         plant JSON (docs/leaks.md): lines, and nodes (id = device id) with their line and posM
  --offline-after DUR  a node with nothing received for this long shows offline (default 60s)
  -h, --help           this text
Prints the web view's address first, then runs until interrupted (Ctrl-C).`;

export interface StationOptions {
  broker: string;
  db: string;
  clientId: string;
  port: number;
  listen: string;
  plant?: Plant;
  offlineAfterMs: number;
  protocolVersion: 4 | 5;
}

export function parseStationOptions(argv: string[]): StationOptions {
  const { values } = parseOptions(
    argv,
    {
      broker: { type: 'string' },
      db: { type: 'string' },
      'client-id': { type: 'string' },
      port: { type: 'string' },
      listen: { type: 'string' },
      plant: { type: 'string' },
      'offline-after': { type: 'string' },
      mqtt: { type: 'string' },
    },
    'pipewatch station',
  );
  if (!values.broker) throw new UsageError('--broker mqtt://host:port is required (see pipewatch station --help)');
  if (!/^mqtts?:\/\/[^/\s]+$/.test(values.broker)) throw new UsageError(`--broker takes mqtt://host:port or mqtts://host:port, got "${values.broker}"`);
  const db: string = values.db ?? '.pipewatch/station.db';
  if (/^postgres(ql)?:/.test(db)) throw new UsageError('--db postgres:// is not supported yet; give an SQLite file');
  const clientId: string = values['client-id'] ?? `pipewatch-station-${hostname()}`.slice(0, 64);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(clientId)) throw new UsageError(`--client-id takes 1 to 64 of A-Z a-z 0-9 _ . -, got "${clientId}"`);
  let plant: Plant | undefined;
  if (values.plant !== undefined) {
    try {
      plant = readPlant(values.plant);
    } catch (error) {
      throw new Failure(oneLine(error));
    }
  }
  const mqtt: string = values.mqtt ?? '5';
  if (mqtt !== '5' && mqtt !== '3.1.1') throw new UsageError(`--mqtt takes 5 or 3.1.1, got "${mqtt}"`);
  return {
    protocolVersion: mqtt === '5' ? 5 : 4,
    broker: values.broker,
    db,
    clientId,
    port: values.port === undefined ? 0 : parseInteger(values.port, '--port', 0, 65535),
    listen: values.listen ?? '127.0.0.1',
    plant,
    offlineAfterMs: values['offline-after'] === undefined ? 60_000 : parseDuration(values['offline-after'], '--offline-after'),
  };
}

export interface Station {
  url: string;
  /** Resolves once the subscriptions are in place (the first CONNACK and SUBACK). */
  subscribed: Promise<void>;
  /** Resolves once no message has arrived for `quietMs` (or after `maxMs`). */
  settled(quietMs: number, maxMs: number): Promise<void>;
  store: StationStore;
  close(): Promise<void>;
}

export async function startStation(o: StationOptions, log: (line: string) => void = () => {}): Promise<Station> {
  const store = new StationStore(o.db);
  const web = await startWeb({ store, port: o.port, listen: o.listen, plant: o.plant, offlineAfterMs: o.offlineAfterMs });
  let lastEventMs = Date.now();
  const ingest = startIngest({
    broker: o.broker,
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    store,
    onEvent: (e) => {
      lastEventMs = Date.now();
      web.notify(e.dev);
    },
    onError: (message) => log(`station: ${message}`),
  });
  return {
    url: web.url,
    subscribed: ingest.ready,
    store,
    settled: async (quietMs, maxMs) => {
      const end = Date.now() + maxMs;
      while (Date.now() - lastEventMs < quietMs && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    },
    close: async () => {
      await ingest.close();
      await web.close();
      store.close();
    },
  };
}

/** The verb's body; tools/cli.ts runs it under runVerb (help, exit codes). */
export async function stationCommand(argv: string[]): Promise<number> {
  const options = parseStationOptions(argv);
  let station: Station;
  try {
    station = await startStation(options, (line) => process.stderr.write(line + '\n'));
  } catch (error) {
    throw new Failure(oneLine(error));
  }
  process.stdout.write(`station: ${station.url} (database ${options.db}, broker ${options.broker})\n`);
  station.subscribed.then(
    () => process.stdout.write(`station: subscribed at ${options.broker} as ${options.clientId}\n`),
    (error: Error) => process.stderr.write(`pipewatch station: subscribing failed: ${oneLine(error)}\n`),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await station.close();
  return 0;
}
