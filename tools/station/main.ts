/*
 * `pipewatch station`: receives the fleet's messages, stores every reading once, serves the
 * web view. Conventions of the command line (tools/args.ts, run under runVerb): --help on
 * stdout, exit 0; a usage error one line on stderr, exit 2; a failed operation one line, exit 1.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isPostgresUrl, openStore, type Retention, type StationStore } from './store';
import { isShareGroup, startIngest, type BrokerCredentials } from './ingest';
import { isLoopbackAddress, startWeb } from './web';
import { StationIncidents } from './incidents';
import { readPlant, type Plant } from './plant';
import { Failure, oneLine, parseDuration, parseInteger, parseOptions, UsageError } from '../args';

export const STATION_USAGE = `usage: npx pipewatch station --broker mqtt://host:port [options]
  --broker URL         the MQTT broker the nodes publish to (mqtt:// or mqtts://)
  --db FILE|URL        SQLite database file (default .pipewatch/station.db; WAL mode), or
                       postgres://user:password@host:port/database for PostgreSQL
  --retain-days N      keep raw readings N days (default 30)
  --retain-aggregates-days N  keep one-minute aggregates N days (default 365)
  --share GROUP        shared subscription $share/GROUP/...: the stations of one group split the
                       messages (give each its own --client-id and the same database)
  --mqtt VERSION       MQTT protocol: 5 (default) or 3.1.1, for brokers without MQTT 5
  --client-id ID       MQTT client id of the persistent session (default pipewatch-station-<host>)
  --port N             web view port (default 0: a free one, printed at start)
  --listen ADDR        web view address (default 127.0.0.1; any other needs the token, e.g. 0.0.0.0)
  --token TOKEN        access token of the page and API (default: none on loopback; on any other
                       address a new one, printed once in the address: ?token=...)
  --plant FILE         plant JSON (docs/leaks.md): lines, and nodes (id = device id) with their
                       line and posM; the station then raises leak incidents (docs/leaks.md)
  --offline-after DUR  a node with nothing received for this long shows offline (default 60s)
  --username NAME      the station's own user name at the broker
  --password TEXT      its password (or --password-file FILE, first line)
  --ca FILE            PEM CA the broker's TLS certificate must chain to (mqtts://)
  --cert FILE          the station's TLS client certificate (PEM), with --key FILE
  --advertise          announce --broker as _mqtt._tcp by mDNS (224.0.0.251:5353), so that nodes
                       with no broker set find it; --broker's host must be the IPv4 address nodes reach
  --advertise-host NAME  the broker's host name in the answer (SRV target; default <client id>.local):
                       over TLS the broker's certificate must name it, nodes check it as the server name
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
  /** Advertise the broker as `_mqtt._tcp` (tools/mdns-advertise.ts); `socket`: multicast-dns options (tests: loopback). */
  advertise?: { host: string; port: number; name?: string; socket?: Record<string, unknown> };
  /** The page's access token; required when set. */
  token?: string;
  credentials?: BrokerCredentials;
  retention?: Retention;
  share?: string;
}

/** Tokens main.ts makes for a non-loopback --listen: 128 random bits, hex. */
export function newToken(): string {
  return randomBytes(16).toString('hex');
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Failure(`cannot read ${what} ${file}: ${oneLine(error)}`);
  }
}

/** How often the station deletes what retention no longer keeps (and once at start). */
export const PRUNE_INTERVAL_MS = 10 * 60_000;

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
      token: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'retain-days': { type: 'string' },
      'retain-aggregates-days': { type: 'string' },
      share: { type: 'string' },
      advertise: { type: 'boolean' },
      'advertise-host': { type: 'string' },
    },
    'pipewatch station',
  );
  if (!values.broker) throw new UsageError('--broker mqtt://host:port is required (see pipewatch station --help)');
  if (!/^mqtts?:\/\/[^/\s]+$/.test(values.broker)) throw new UsageError(`--broker takes mqtt://host:port or mqtts://host:port, got "${values.broker}"`);
  const db: string = values.db ?? '.pipewatch/station.db';
  if (/^postgres(ql)?:/i.test(db) && !isPostgresUrl(db)) throw new UsageError(`--db takes postgres://user:password@host:port/database, got "${db}"`);
  if (isPostgresUrl(db)) {
    try {
      new URL(db);
    } catch {
      throw new UsageError('--db: not a valid postgres:// URL');
    }
  }
  const readingsDays = values['retain-days'] === undefined ? 30 : parseInteger(values['retain-days'], '--retain-days', 1, 100_000);
  const aggregatesDays =
    values['retain-aggregates-days'] === undefined ? Math.max(365, readingsDays) : parseInteger(values['retain-aggregates-days'], '--retain-aggregates-days', 1, 100_000);
  if (aggregatesDays < readingsDays) throw new UsageError(`--retain-aggregates-days (${aggregatesDays}) must be at least --retain-days (${readingsDays})`);
  if (values.share !== undefined && !isShareGroup(values.share)) throw new UsageError(`--share takes 1 to 64 of A-Z a-z 0-9 _ . -, got "${values.share}"`);
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
  const listen: string = values.listen ?? '127.0.0.1';
  if (values.token !== undefined && !/^[A-Za-z0-9._~+/-]{16,200}$/.test(values.token)) throw new UsageError('--token takes 16 to 200 of A-Z a-z 0-9 . _ ~ + / -');
  const token: string | undefined = values.token ?? (isLoopbackAddress(listen) ? undefined : newToken());
  if (values.password !== undefined && values['password-file'] !== undefined) throw new UsageError('give --password or --password-file, not both');
  if ((values.password !== undefined || values['password-file'] !== undefined) && values.username === undefined) throw new UsageError('--password needs --username');
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  if ((values.ca ?? values.cert) !== undefined && !values.broker.startsWith('mqtts://')) throw new UsageError('--ca, --cert and --key need an mqtts:// broker');
  const credentials: BrokerCredentials = {};
  if (values.username !== undefined) credentials.username = values.username;
  if (values.password !== undefined) credentials.password = values.password;
  if (values['password-file'] !== undefined) credentials.password = readText(values['password-file'], '--password-file').split(/\r?\n/)[0]!;
  if (values.ca !== undefined) credentials.ca = readText(values.ca, '--ca');
  if (values.cert !== undefined) credentials.cert = readText(values.cert, '--cert');
  if (values.key !== undefined) credentials.key = readText(values.key, '--key');
  let advertise: StationOptions['advertise'];
  if (values.advertise === true) {
    const m = /^mqtts?:\/\/(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(values.broker);
    if (!m) throw new UsageError(`--advertise needs --broker with the IPv4 address the nodes reach (mqtt://192.168.1.10:1883), got "${values.broker}"`);
    advertise = { host: m[1]!, port: m[2] ? parseInteger(m[2], '--broker port', 1, 65535) : values.broker.startsWith('mqtts') ? 8883 : 1883 };
    const name = values['advertise-host'];
    if (name !== undefined) {
      if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name) || name.length > 253) {
        throw new UsageError(`--advertise-host: a host name (labels of letters, digits and -), got "${name}"`);
      }
      advertise.name = name.endsWith('.local') ? name.slice(0, -'.local'.length) : name;
    }
  } else if (values['advertise-host'] !== undefined) {
    throw new UsageError('--advertise-host needs --advertise');
  }
  return {
    advertise,
    token,
    credentials,
    protocolVersion: mqtt === '5' ? 5 : 4,
    broker: values.broker,
    db,
    clientId,
    port: values.port === undefined ? 0 : parseInteger(values.port, '--port', 0, 65535),
    listen,
    plant,
    offlineAfterMs: values['offline-after'] === undefined ? 60_000 : parseDuration(values['offline-after'], '--offline-after'),
    retention: { readingsDays, aggregatesDays },
    share: values.share,
  };
}

export interface Station {
  url: string;
  /** Resolves once the subscriptions are in place (the first CONNACK and SUBACK). */
  subscribed: Promise<void>;
  /** Resolves once no message has arrived for `quietMs` (or after `maxMs`). */
  settled(quietMs: number, maxMs: number): Promise<void>;
  store: StationStore;
  /** With a plant file: the leak incident engine on the stored readings. */
  incidents?: StationIncidents;
  close(): Promise<void>;
}

/** Readings fed again to the incident engine when the station starts (its state rebuilt). */
export const INCIDENT_REPLAY_MS = 3_600_000;

export async function startStation(o: StationOptions, log: (line: string) => void = () => {}): Promise<Station> {
  const store = await openStore(o.db, o.retention, (message) => log(`station: ${message}`));
  let web: Awaited<ReturnType<typeof startWeb>>;
  try {
    web = await startWeb({ store, port: o.port, listen: o.listen, plant: o.plant, offlineAfterMs: o.offlineAfterMs, token: o.token });
  } catch (error) {
    await store.close();
    throw error;
  }
  const pruner = startPruning(store, Date.now, PRUNE_INTERVAL_MS, log);
  const incidents = o.plant
    ? new StationIncidents({ store, plant: o.plant, onIncident: (row) => web.notifyIncident(row), onError: (message) => log(`station: ${message}`) })
    : undefined;
  await incidents?.replay(Date.now() - INCIDENT_REPLAY_MS);
  let lastEventMs = Date.now();
  const { advertiseBroker } = await import('../mdns-advertise');
  const advertisement = o.advertise
    ? advertiseBroker({ instance: o.clientId, host: o.advertise.name ?? o.clientId.replace(/\./g, '-'), address: o.advertise.host, port: o.advertise.port, socket: o.advertise.socket })
    : undefined;
  if (advertisement) {
    try {
      await advertisement.ready;
    } catch (error) {
      await web.close();
      store.close();
      throw error;
    }
  }
  const ingest = startIngest({
    broker: o.broker,
    clientId: o.clientId,
    protocolVersion: o.protocolVersion,
    credentials: o.credentials,
    share: o.share,
    store,
    onEvent: (e) => {
      lastEventMs = Date.now();
      if (e.kind === 'readings' && e.added) void incidents?.pull(e.dev);
      web.notify(e.dev);
    },
    onError: (message) => log(`station: ${message}`),
  });
  return {
    url: web.url,
    subscribed: ingest.ready,
    store,
    incidents,
    settled: async (quietMs, maxMs) => {
      const end = Date.now() + maxMs;
      while (Date.now() - lastEventMs < quietMs && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    },
    close: async () => {
      await advertisement?.close();
      await ingest.close();
      await incidents?.idle();
      await pruner.stop();
      await web.close();
      await store.close();
    },
  };
}

/**
 * Runs store.prune(now()) at once and then every intervalMs, one run at a time; a failed run is
 * logged and tried at the next interval. Readings older than the retention never block ingest
 * (prune deletes in batches).
 */
export function startPruning(store: StationStore, now: () => number, intervalMs: number, log: (line: string) => void): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = (): void => {
    if (running) return; // the previous run is still deleting
    running = store.prune(now()).then(
      (p) => {
        if (p.readings || p.aggregates) log(`station: retention removed ${p.readings} readings and ${p.aggregates} one-minute aggregates`);
      },
      (error: Error) => log(`station: retention: ${error.message} (tried again in ${Math.round(intervalMs / 1000)} s)`),
    ).finally(() => (running = undefined));
  };
  run();
  const timer = setInterval(() => {
    if (!stopped) run();
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
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
  process.stdout.write(`station: ${station.url} (database ${station.store.where}, broker ${options.broker}${options.share ? `, shared group ${options.share}` : ''})\n`);
  if (options.token !== undefined && !isLoopbackAddress(options.listen)) {
    process.stdout.write(`station: the page and API at ${options.listen} need the access token in that address (or Authorization: Bearer TOKEN); it is printed only here\n`);
  }
  if (options.advertise) process.stdout.write(`station: advertising ${options.advertise.host}:${options.advertise.port} as _mqtt._tcp by mDNS\n`);
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
