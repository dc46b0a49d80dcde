/*
 * `pipewatch station`: receives the fleet's messages, stores every reading once, serves the
 * web view. Conventions of the command line (tools/args.ts on the cli branch): --help on
 * stdout, exit 0; a usage error one line on stderr, exit 2; a failed operation one line, exit 1.
 */
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { StationStore } from './store';
import { startIngest } from './ingest';
import { startWeb } from './web';
import { readPlant, type Plant } from './plant';

export const STATION_USAGE = `usage: npx pipewatch station --broker mqtt://host:port [options]
  --broker URL         the MQTT broker the nodes publish to (mqtt:// or mqtts://)
  --db FILE            SQLite database file (default .pipewatch/station.db; WAL mode)
  --client-id ID       MQTT client id of the persistent session (default pipewatch-station-<host>)
  --port N             web view port (default 0: a free one, printed at start)
  --listen ADDR        web view address (default 127.0.0.1; 0.0.0.0 exposes it)
  --plant FILE         JSON plant layout: {"lines":[{"name":..,"nodes":[{"dev":..,"position":metres}]}]}
  --offline-after DUR  a node with nothing received for this long shows offline (default 60s)
  -h, --help           this text
Prints the web view's address first, then runs until interrupted (Ctrl-C).`;

class UsageError extends Error {}

export interface StationOptions {
  broker: string;
  db: string;
  clientId: string;
  port: number;
  listen: string;
  plant?: Plant;
  offlineAfterMs: number;
}

function duration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw new UsageError(`${flag} takes a duration like 30s, 10m or 1h, got "${text}"`);
  const ms = Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!);
  if (ms <= 0) throw new UsageError(`${flag} must be positive`);
  return ms;
}

export function parseStationOptions(argv: string[]): StationOptions {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        broker: { type: 'string' },
        db: { type: 'string' },
        'client-id': { type: 'string' },
        port: { type: 'string' },
        listen: { type: 'string' },
        plant: { type: 'string' },
        'offline-after': { type: 'string' },
      },
    }).values as Record<string, string | undefined>;
  } catch (error) {
    const e = error as Error & { code?: string };
    const option = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option} (see pipewatch station --help)`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${option} needs a value (see pipewatch station --help)`);
    throw new UsageError(e.message.split('\n')[0]!);
  }
  if (!values.broker) throw new UsageError('--broker mqtt://host:port is required (see pipewatch station --help)');
  if (!/^mqtts?:\/\/[^/\s]+$/.test(values.broker)) throw new UsageError(`--broker takes mqtt://host:port or mqtts://host:port, got "${values.broker}"`);
  const db = values.db ?? '.pipewatch/station.db';
  if (/^postgres(ql)?:/.test(db)) throw new UsageError('--db postgres:// is not supported yet; give an SQLite file');
  let port = 0;
  if (values.port !== undefined) {
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new UsageError(`--port takes 0..65535, got "${values.port}"`);
    port = Number(values.port);
  }
  const clientId = values['client-id'] ?? `pipewatch-station-${hostname()}`.slice(0, 64);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(clientId)) throw new UsageError(`--client-id takes 1 to 64 of A-Z a-z 0-9 _ . -, got "${clientId}"`);
  let plant: Plant | undefined;
  if (values.plant !== undefined) plant = readPlant(values.plant);
  return {
    broker: values.broker,
    db,
    clientId,
    port,
    listen: values.listen ?? '127.0.0.1',
    plant,
    offlineAfterMs: values['offline-after'] ? duration(values['offline-after'], '--offline-after') : 60_000,
  };
}

export interface Station {
  url: string;
  /** Resolves once the subscriptions are in place (the first CONNACK and SUBACK). */
  subscribed: Promise<void>;
  store: StationStore;
  close(): Promise<void>;
}

export async function startStation(o: StationOptions, log: (line: string) => void = () => {}): Promise<Station> {
  const store = new StationStore(o.db);
  const web = await startWeb({ store, port: o.port, listen: o.listen, plant: o.plant, offlineAfterMs: o.offlineAfterMs });
  const ingest = startIngest({
    broker: o.broker,
    clientId: o.clientId,
    store,
    onEvent: (e) => web.notify(e.dev),
    onError: (message) => log(`station: ${message}`),
  });
  return {
    url: web.url,
    subscribed: ingest.ready,
    store,
    close: async () => {
      await ingest.close();
      await web.close();
      store.close();
    },
  };
}

export async function stationCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(STATION_USAGE + '\n');
    return 0;
  }
  let options: StationOptions;
  try {
    options = parseStationOptions(argv);
  } catch (error) {
    process.stderr.write(`pipewatch station: ${(error as Error).message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
  let station: Station;
  try {
    station = await startStation(options, (line) => process.stderr.write(line + '\n'));
  } catch (error) {
    process.stderr.write(`pipewatch station: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`station: ${station.url} (database ${options.db}, broker ${options.broker})\n`);
  station.subscribed.then(
    () => process.stdout.write(`station: subscribed at ${options.broker} as ${options.clientId}\n`),
    (error: Error) => process.stderr.write(`pipewatch station: subscribing failed: ${error.message}\n`),
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await station.close();
  return 0;
}
