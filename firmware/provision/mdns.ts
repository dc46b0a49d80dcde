/*
 * Finding the broker by DNS-SD over mDNS (RFC 6762/6763, issue 16 item 4), portable: the query
 * for `_mqtt._tcp.local` and a strict parser of the answers, over a datagram transport the host
 * gives (`send` a query, `receive` each datagram). The host decides where datagrams go (the mDNS
 * group 224.0.0.251:5353 on a device; a loopback port in tests).
 *
 * The answer used: the first PTR `_mqtt._tcp.local` → instance, that instance's SRV (port,
 * target host), and the target's A record when the same message carries it (else the target
 * name, for the host's resolver). Every length and pointer is bounds-checked: a name of more than
 * 255 bytes, a label over 63, more than 16 compression jumps or a pointer loop, a record running
 * past the message, or a message that is not a response makes the message count as malformed;
 * nothing in it is used.
 */
import type { Host, TimerId, UDP } from '../host';

export const MQTT_SERVICE = '_mqtt._tcp.local';
const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_SRV = 33;
const MAX_JUMPS = 16;

export interface FoundBroker {
  /** The service instance ("station._mqtt._tcp.local"). */
  instance: string;
  /** Dotted IPv4 when the answer carried the target's A record, else the target host name. */
  address: string;
  port: number;
  /** The SRV target, the broker's host name ("station.local"): the name its TLS certificate must carry. */
  target: string;
}

/** Writes the query (one PTR question, QU bit clear) into `out`; returns its length (34 bytes). */
export function writeMqttQuery(out: Uint8Array): number {
  const labels = MQTT_SERVICE.split('.');
  let p = 0;
  for (let i = 0; i < 12; i++) out[p++] = 0;
  out[5] = 1; // QDCOUNT
  for (const label of labels) {
    out[p++] = label.length;
    for (let i = 0; i < label.length; i++) out[p++] = label.charCodeAt(i);
  }
  out[p++] = 0;
  out[p++] = 0;
  out[p++] = TYPE_PTR;
  out[p++] = 0;
  out[p++] = 1; // class IN
  return p;
}

/** Reads a (possibly compressed) name at `at`; its text and where the record goes on, or undefined. */
function readName(m: Uint8Array, at: number): { name: string; next: number } | undefined {
  let name = '';
  let p = at;
  let next = -1;
  let jumps = 0;
  let bytes = 0;
  for (;;) {
    if (p >= m.length) return undefined;
    const length = m[p]!;
    if (length === 0) {
      if (next < 0) next = p + 1;
      return { name, next };
    }
    if ((length & 0xc0) === 0xc0) {
      if (p + 1 >= m.length || ++jumps > MAX_JUMPS) return undefined;
      if (next < 0) next = p + 2;
      p = ((length & 0x3f) << 8) | m[p + 1]!;
      continue;
    }
    if (length > 63 || p + 1 + length > m.length) return undefined;
    bytes += length + 1;
    if (bytes > 255) return undefined;
    let label = '';
    for (let i = 0; i < length; i++) label += String.fromCharCode(m[p + 1 + i]!);
    name += (name ? '.' : '') + label;
    p += 1 + length;
  }
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The broker an mDNS response names, 'none' when it names none, 'malformed' when it breaks a rule. */
export function parseMqttAnswer(message: Uint8Array): FoundBroker | 'none' | 'malformed' {
  const m = message;
  if (m.length < 12 || (m[2]! & 0x80) === 0) return 'malformed';
  const count = (i: number) => (m[i]! << 8) | m[i + 1]!;
  const questions = count(4);
  const records = count(6) + count(8) + count(10);
  let p = 12;
  for (let i = 0; i < questions; i++) {
    const q = readName(m, p);
    if (!q || q.next + 4 > m.length) return 'malformed';
    p = q.next + 4;
  }
  let instance: string | undefined;
  const srv: Array<{ name: string; port: number; target: string }> = [];
  const a: Array<{ name: string; address: string }> = [];
  for (let i = 0; i < records; i++) {
    const r = readName(m, p);
    if (!r || r.next + 10 > m.length) return 'malformed';
    const type = count(r.next);
    const length = count(r.next + 8);
    const data = r.next + 10;
    if (data + length > m.length) return 'malformed';
    if (type === TYPE_PTR && same(r.name, MQTT_SERVICE) && instance === undefined) {
      const target = readName(m, data);
      if (!target || target.next > data + length) return 'malformed';
      instance = target.name;
    } else if (type === TYPE_SRV) {
      if (length < 7) return 'malformed';
      const target = readName(m, data + 6);
      if (!target || target.next > data + length) return 'malformed';
      srv.push({ name: r.name, port: count(data + 4), target: target.name });
    } else if (type === TYPE_A) {
      if (length !== 4) return 'malformed';
      a.push({ name: r.name, address: `${m[data]}.${m[data + 1]}.${m[data + 2]}.${m[data + 3]}` });
    }
    p = data + length;
  }
  if (instance === undefined) return 'none';
  const service = srv.find((s) => same(s.name, instance!));
  if (!service || service.port === 0) return 'none';
  const host = a.find((r) => same(r.name, service.target));
  return { instance, address: host ? host.address : service.target, port: service.port, target: service.target };
}

export interface BrokerFinderOptions {
  /** `random` spreads the first query over 20-120 ms (below). */
  host: Pick<Host, 'timers' | 'random'>;
  /** Sends one query datagram (to the mDNS group on a device). */
  send(query: Uint8Array): void;
  /** Once: the broker found, or undefined after the last try (the caller uses the build's default). */
  done(found: FoundBroker | undefined): void;
  /**
   * Queries at d, d + 1 s and d + 3 s (RFC 6762 §5.2: increasing intervals), d drawn from 20 to
   * 119 ms (§5.2's first-query delay), so a plant's nodes powered on together do not query at
   * one instant: 1,000 simulated ones did, and the kernel dropped 1,464 of their queries at the
   * responder's socket (UDP RcvbufErrors). The search ends at `timeoutMs` (5 s) from its start.
   */
  timeoutMs?: number;
}

export interface BrokerFinderStats {
  queries: number;
  messages: number;
  malformed: number;
  sendErrors: number;
}

/** RFC 6762 §5.2: the first query waits a random 20 to 120 ms. */
const FIRST_QUERY_MIN_MS = 20;
const FIRST_QUERY_SPREAD_MS = 100;
/** The queries after the first one's delay. */
const QUERY_AFTER_MS = Object.freeze([0, 1000, 3000] as const);

/** One search for `_mqtt._tcp`: a few queries, the first usable answer wins. */
export class BrokerFinder {
  readonly stats: BrokerFinderStats = { queries: 0, messages: 0, malformed: 0, sendErrors: 0 };
  readonly #o: BrokerFinderOptions;
  readonly #query = new Uint8Array(64);
  readonly #queryLength: number;
  readonly #timers: TimerId[] = [];
  #finished = false;

  constructor(options: BrokerFinderOptions) {
    this.#o = options;
    this.#queryLength = writeMqttQuery(this.#query);
    const timers = options.host.timers;
    const first = FIRST_QUERY_MIN_MS + Math.floor(options.host.random.next() * FIRST_QUERY_SPREAD_MS);
    for (const after of QUERY_AFTER_MS) this.#timers.push(timers.set(() => this.#ask(), first + after));
    this.#timers.push(timers.set(() => this.#finish(undefined), options.timeoutMs ?? 5000));
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** A datagram from the network (any sender; only a response naming `_mqtt._tcp` counts). */
  receive(message: Uint8Array): void {
    if (this.#finished) return;
    this.stats.messages++;
    const found = parseMqttAnswer(message);
    if (found === 'malformed') this.stats.malformed++;
    else if (found !== 'none') this.#finish(found);
  }

  stop(): void {
    this.#finished = true;
    for (const id of this.#timers) this.#o.host.timers.clear(id);
  }

  #ask(): void {
    if (this.#finished) return;
    this.stats.queries++;
    try {
      this.#o.send(this.#query.subarray(0, this.#queryLength));
    } catch {
      this.stats.sendErrors++;
    }
  }

  #finish(found: FoundBroker | undefined): void {
    if (this.#finished) return;
    this.stop();
    try {
      this.#o.done(found);
    } catch {
      // the caller's callback must not throw into a timer
    }
  }
}

/** The mDNS group and port (RFC 6762 §3). */
export const MDNS_ADDRESS = '224.0.0.251';
export const MDNS_PORT = 5353;

export interface BrokerSearchStats extends BrokerFinderStats {
  /** Searches started, and those that ended with no usable answer. */
  searches: number;
  notFound: number;
  /**
   * Searches that could not run: no UDP socket on this host, its constructor threw, or a query
   * could not be sent (no network yet). Such a search ends at once and says it did not search.
   */
  socketErrors: number;
}

/**
 * Runs `BrokerFinder` searches over the host's UDP socket: each `find` opens a socket on an
 * ephemeral port, sends the query to the mDNS group (224.0.0.251:5353) and reads the answers.
 * From a port other than 5353 the query is a one-shot query (RFC 6762 §5.1), so responders send
 * a unicast reply to that port (§6.7), and the node needs no group membership. One search at a
 * time; `done` runs once per `find`, later, never inside the call; nothing throws into a timer.
 * `done(undefined, false)` says the search could not run now (the socket would not open, or
 * the network took no query): not that no broker is there. A host with no UDP class at all
 * gets `done(undefined, true)`: it never will.
 * Security: mDNS answers are not authenticated. Over TLS with the plant CA pinned, a rogue
 * answer costs a failed handshake, not a reading (docs/moddable.md).
 */
export class BrokerSearch {
  readonly stats: BrokerSearchStats = { searches: 0, notFound: 0, socketErrors: 0, queries: 0, messages: 0, malformed: 0, sendErrors: 0 };
  readonly #host: Pick<Host, 'io' | 'timers' | 'random'>;
  readonly #timeoutMs: number | undefined;
  #socket: UDP | undefined;
  #finder: BrokerFinder | undefined;

  constructor(host: Pick<Host, 'io' | 'timers' | 'random'>, timeoutMs?: number) {
    this.#host = host;
    this.#timeoutMs = timeoutMs;
  }

  find(done: (found: FoundBroker | undefined, searched: boolean) => void): void {
    this.stop();
    this.stats.searches++;
    const UDPClass = this.#host.io.UDP;
    let socket: UDP | undefined;
    try {
      if (UDPClass) {
        socket = new UDPClass({
          onReadable: (count: number) => {
            for (let i = 0; i < count; i++) {
              let datagram: ArrayBuffer | undefined;
              try {
                datagram = this.#socket?.read();
              } catch {
                datagram = undefined;
              }
              if (!datagram) break;
              this.#finder?.receive(new Uint8Array(datagram));
            }
          },
        });
      }
    } catch {
      socket = undefined;
    }
    const unable = (searched: boolean): void => {
      this.stats.socketErrors++;
      if (searched) this.stats.notFound++;
      this.#host.timers.set(() => {
        try {
          done(undefined, searched);
        } catch {
          // the caller's callback must not throw into a timer
        }
      }, 0);
    };
    if (!socket) {
      // A host with no UDP at all never finds one (its default is the answer); a socket that would not open may later.
      unable(!UDPClass);
      return;
    }
    this.#socket = socket;
    const finder = new BrokerFinder({
      host: this.#host,
      timeoutMs: this.#timeoutMs,
      send: (query) => {
        try {
          socket.write(query, MDNS_ADDRESS, MDNS_PORT);
        } catch {
          // No route yet (lwIP: "UDP send failed" before DHCP): the search cannot run now.
          if (this.#finder === finder) {
            this.stats.sendErrors++;
            this.stop();
            unable(false);
          }
        }
      },
      done: (found) => {
        this.#add(finder.stats);
        this.#close();
        if (!found) this.stats.notFound++;
        done(found, true);
      },
    });
    this.#finder = finder;
  }

  /** Ends a search in progress (its `done` is not called). */
  stop(): void {
    const finder = this.#finder;
    if (!finder) return;
    finder.stop();
    this.#add(finder.stats);
    this.#close();
  }

  #add(s: BrokerFinderStats): void {
    this.stats.queries += s.queries;
    this.stats.messages += s.messages;
    this.stats.malformed += s.malformed;
    this.stats.sendErrors += s.sendErrors;
  }

  #close(): void {
    this.#finder = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    try {
      socket?.close();
    } catch {
      // closing a failed socket must not throw into the caller
    }
  }
}
