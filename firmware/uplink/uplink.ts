/*
 * Store-and-forward uplink: publishes what the store holds with QoS 1 and acknowledges each
 * reading in the store only after the broker's PUBACK for the PUBLISH that carried it.
 *
 * What goes out, in this order, whenever the in-flight window has room:
 *   1. alerts (`peek(..., alertsOnly)`), one per PUBLISH, single JSON on .../alerts;
 *   2. live readings the node announced with `noteStored` (the newest), single JSON (or binary);
 *   3. the backlog, oldest first, several readings per PUBLISH (JSON batch or binary), with at
 *      most `backlogWindow` batches in flight, so at least `window - backlogWindow` slots are
 *      always left for alerts and live readings during a long drain.
 * Backlog batches carry increasing sequence numbers; alerts and live readings may overtake the
 * backlog (a consumer orders by `seq`).
 *
 * In flight: each slot keeps the complete PUBLISH packet it sent. After a reconnect (persistent
 * session) every slot is sent again, oldest first, with the same packet id and DUP set: the
 * bytes are the same whatever the store did meanwhile. A PUBACK or SUBACK for a packet id that
 * is not outstanding breaks the protocol: counted, the connection is closed (no DISCONNECT) and
 * the uplink reconnects; nothing is lost, since only acknowledged readings leave the store.
 *
 * Reconnects wait a full-jitter backoff (./backoff), which resets only after a connection stayed
 * up `stableMs`. After each CONNACK the node publishes "online" (retained; the will says
 * "offline", and so does `stop()` before its DISCONNECT) and subscribes to pipewatch/<dev>/cmd
 * and pipewatch/<dev>/ota (QoS 1); messages there go to `onCommand`. A message there over `maxInboundBytes` is acknowledged and dropped
 * without being read into memory (the client skips its payload), counted in `stats.discarded`
 * and logged; the connection stays up, so a retained or redelivered oversized message cannot
 * keep the node offline. The default limit takes the largest valid OTA offer (see
 * DEFAULT_MAX_INBOUND_BYTES).
 *
 * Side channel (OTA status): `sendSide(topic, payload, length)` publishes one QoS 1 message
 * outside the reading window, one at a time; its packet id never collides with the window's; it
 * is sent again with DUP after a reconnect until its PUBACK, which fires `onSideAcked`. Hooks
 * for the OTA agent: `onConnect` after each CONNACK, `onAcked(readings)` after each reading PUBACK,
 * `onDiscarded(topic, bytes)` after an oversized message on cmd or ota was dropped.
 *
 * Health slot (the node's heartbeat, firmware/health.ts): `sendHealth(topic, payload, length)`
 * is a second QoS 1 slot of its own, so a heartbeat waiting offline for hours never holds up OTA
 * status or leak evidence on the side channel. Same rules: one at a time, its own packet id, sent
 * again with DUP after a reconnect until its PUBACK, which fires `onHealthAcked`.
 *
 * Watched topic (an integration such as Home Assistant discovery, firmware/homeassistant.ts):
 * `watch(topic, onMessage, onConnected)` adds one more QoS 1 subscription, made after each
 * CONNACK; its messages go to `onMessage`, and `onConnected` runs after each CONNACK (after the
 * "online" status). `publishNow(topic, payload, length, retain)` sends one QoS 0 message at
 * once when connected (nothing kept: the caller sends it again when it matters).
 *
 * Connection accounting for the heartbeat: `expectedMs()` is the time the uplink was running
 * (trying to be online), `connectedMs()` the part of it with a session up (CONNACK to close);
 * `stats.attempts` counts connection attempts, `stats.disconnects` sessions that ended.
 *
 * Memory: every buffer (slots, packets, the peek buffer, the live ring) is allocated here, once.
 * The backlog cursor: every unacknowledged non-alert reading with a sequence number up to
 * `#backlogThrough` is in flight, so the next batch is the oldest readings above it.
 */
import type { Host, TLSOptions } from '../host';
import { copyReading, newReading, type NewReading, type Reading, type ReadingStore } from '../store';
import { asciiBytes, bytesToAscii } from './ascii';
import { ClientState, MqttClient, connectOptionsProblem } from './client';
import { encodePublishHeader, publishHeaderSize } from './packets';
import { ReadingEncoder, type PayloadFormat } from './payload';
import {
  createBackoffState,
  createFixedInterval,
  nextBackoffDelay,
  noteConnected,
  noteDisconnected,
  type RetryState,
} from './backoff';

/** What the node may tune (NodeConfig.uplink). */
export interface UplinkTuning {
  /** Publishes awaiting PUBACK at once (default 4). */
  window?: number;
  /** Of those, backlog batches at most (default window - 1, at least 1). */
  backlogWindow?: number;
  /** Readings per backlog PUBLISH at most (default 24; binary: at most 255). */
  batchReadings?: number;
  /** Largest PUBLISH packet this node sends, bytes (default 1024). */
  maxPacketBytes?: number;
  /** 'json' (default) or 'binary' (docs/payload.md). */
  format?: PayloadFormat;
  /** Newest readings remembered for the live path (default 4). */
  liveReadings?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** A connection must stay up this long before the backoff resets (default 60 s). */
  stableMs?: number;
  /**
   * Retry every this many ms instead of the full-jitter backoff: what ESPHome and Tasmota do.
   * Only for comparisons (the reconnect storm test); a fleet should never use it.
   */
  fixedRetryMs?: number;
  connectTimeoutMs?: number;
  /**
   * Largest PUBLISH read from the broker, remaining length (default DEFAULT_MAX_INBOUND_BYTES,
   * 1034: the largest valid OTA offer). A larger one is acknowledged and dropped, counted.
   */
  maxInboundBytes?: number;
  /** QoS of the will ("offline", retained) the broker publishes for this node: 0, 1 (default) or 2. */
  willQos?: 0 | 1 | 2;
}

/**
 * The largest valid OTA offer payload (firmware/ota/agent.ts): a signed manifest of its format's
 * maximum, MAX_MANIFEST_BYTES = 56 + 32 (board id) + 400 (URL) + 64 (signature) = 552 bytes
 * (firmware/ota/manifest.ts), followed by an offer URL of MAX_URL_BYTES = 400. Kept as a number
 * here so the uplink does not pull the OTA code in; test/portable/uplink.ts checks it against
 * the manifest's constants.
 */
export const MAX_OFFER_PAYLOAD_BYTES = 952;

/**
 * Default `maxInboundBytes`: the remaining length of a QoS 1 PUBLISH carrying the largest valid
 * offer on the longest command topic, `pipewatch/<64-character device id>/ota` (78 bytes):
 * 2 (topic length) + 78 + 2 (packet id) + 952 = 1034. The decoder buffers that plus 5 bytes.
 */
export const DEFAULT_MAX_INBOUND_BYTES = 2 + 'pipewatch/'.length + 64 + '/ota'.length + 2 + MAX_OFFER_PAYLOAD_BYTES;

/**
 * Finds the broker for a node that was given none (firmware/provision/mdns.ts `BrokerSearch`):
 * `done` runs once per `find`, later; `searched` false says the search could not run (no
 * network yet), which is no evidence that no broker is there.
 */
export interface BrokerLocator {
  find(done: (found: { address: string; port: number; target: string } | undefined, searched: boolean) => void): void;
  stop(): void;
}

/** Consecutive failed connections to a found broker after which the uplink searches again (it may have moved). */
export const SEARCH_AGAIN_AFTER = 3;

export interface UplinkOptions extends UplinkTuning {
  deviceId: string;
  /**
   * The broker. With `locate`, this is the build's default, used when a search finds none; ''
   * for none (the uplink then searches again after its backoff).
   */
  address: string;
  port: number;
  /** Searches for the broker before the first connection and after SEARCH_AGAIN_AFTER failures in a row. */
  locate?: BrokerLocator;
  secure?: TLSOptions['secure'];
  /** MQTT user name (UTF-8, §1.5.3). */
  username?: string;
  /** Binary data: a Uint8Array as is, a string as UTF-8; needs `username`. */
  password?: string | Uint8Array;
  /** 0 turns keepalive off (no PINGREQ); default 60. */
  keepaliveSec?: number;
  /** Messages on pipewatch/<dev>/cmd and .../ota; `payload` is valid only during the call. */
  onCommand?: (topic: string, payload: Uint8Array) => void;
}

/** What decides the uplink's CONNECT packet. */
export type UplinkConnect = Pick<UplinkOptions, 'deviceId' | 'username' | 'password' | 'keepaliveSec' | 'willQos' | 'maxPacketBytes'>;

/** `maxPacketBytes` as the uplink applies it: 256..65,535, default 1024. */
function packetBytes(maxPacketBytes: number | undefined): number {
  return Math.max(256, Math.min(65535, Math.floor(maxPacketBytes ?? 1024)));
}

/** The CONNECT part of the client options for `o`: one mapping, used by the constructor and `uplinkConnectProblem`. */
function connectOf(o: UplinkConnect) {
  return {
    clientId: o.deviceId,
    keepaliveSec: o.keepaliveSec ?? 60,
    username: o.username,
    password: o.password,
    will: { topic: `pipewatch/${o.deviceId}/status`, payload: 'offline', retain: true, qos: o.willQos ?? 1 },
    txBufferBytes: packetBytes(o.maxPacketBytes),
  };
}

/**
 * Why an uplink with these options could never connect (the client's own verdict on the CONNECT
 * it would send: device id, credentials, will, size), or '' when it can. For settings checks.
 */
export function uplinkConnectProblem(o: UplinkConnect): string {
  return connectOptionsProblem(connectOf(o));
}

export interface UplinkStats {
  /** PUBLISH packets sent for readings (first sends, not resends). */
  published: number;
  readingsPublished: number;
  /** Readings acknowledged in the store after a PUBACK. */
  acked: number;
  batches: number;
  alertsPublished: number;
  livePublished: number;
  /** PUBLISH packets sent again with DUP after a reconnect, and the readings they carried. */
  resent: number;
  resentReadings: number;
  reconnects: number;
  connectFailures: number;
  /** PUBACKs and SUBACKs for a packet id that was not outstanding (each closed the connection). */
  unexpectedAcks: number;
  subscribeFailures: number;
  commands: number;
  /** PUBLISHes from the broker on a topic this node never subscribed to. */
  unexpectedMessages: number;
  /** PUBLISHes from the broker over `maxInboundBytes`: acknowledged and dropped unread. */
  discarded: number;
  /** Connection attempts (each open of the client) and sessions that ended after their CONNACK. */
  attempts: number;
  disconnects: number;
  lastCloseReason: string;
  /** Broker searches (with `locate`), those that found one, and connections made to the default instead. */
  searches: number;
  brokersFound: number;
  defaultBroker: number;
}

const Slot = Object.freeze({ free: 0, backlog: 1, live: 2, alert: 3 } as const);

export class Uplink {
  readonly #host: Host;
  readonly #store: ReadingStore;
  readonly #client: MqttClient;
  readonly #encoder: ReadingEncoder;
  readonly #format: PayloadFormat;
  readonly #statusTopic: Uint8Array;
  readonly #online: Uint8Array;
  readonly #offline: Uint8Array;
  readonly #cmdTopic: Uint8Array;
  readonly #otaTopic: Uint8Array;
  readonly #cmdName: string;
  readonly #otaName: string;
  readonly #window: number;
  readonly #backlogWindow: number;
  readonly #batch: number;
  readonly #maxPacket: number;
  /** Per slot: kind, packet id, readings carried, send order, packet length, ever sent. */
  readonly #kind: Uint8Array;
  readonly #ids: Uint16Array;
  readonly #counts: Uint16Array;
  readonly #order: Float64Array;
  readonly #lengths: Uint16Array;
  readonly #sent: Uint8Array;
  /** Sequence numbers per slot: slot i uses [i * batch, i * batch + counts[i]). */
  readonly #seqs: Float64Array;
  readonly #packets: Uint8Array[];
  #inflight = 0;
  #backlogInflight = 0;
  #backlogReadingsInflight = 0;
  #sendOrder = 0;
  #nextId = 1;
  #backlogThrough = -1;
  readonly #peek: Reading[];
  readonly #pick: Reading[];
  readonly #live: Reading[];
  #liveCount = 0;
  readonly #subIds = new Uint16Array(3);
  #watchTopic: Uint8Array | undefined;
  #onWatched: ((payload: Uint8Array) => void) | undefined;
  #onWatchConnected: (() => void) | undefined;
  readonly #backoff: RetryState;
  readonly #stableMs: number;
  #retryTimer: number | undefined;
  #running = false;
  #everConnected = false;
  readonly #locate: BrokerLocator | undefined;
  readonly #defaultAddress: string;
  readonly #defaultPort: number;
  /** With `locate`: a broker is known (found, or the default after a search found none). */
  #located = false;
  #missesAtBroker = 0;
  onCommand: ((topic: string, payload: Uint8Array) => void) | undefined;
  onConnect: (() => void) | undefined;
  onAcked: ((readings: number) => void) | undefined;
  onSideAcked: (() => void) | undefined;
  /** A message over `maxInboundBytes` on the node's cmd or ota topic was dropped (e.g. for the OTA agent to report it). */
  onDiscarded: ((topic: string, bytes: number) => void) | undefined;
  #sideId = 0;
  #sideSent = false;
  #sideTopic: Uint8Array | undefined;
  #sidePayload: Uint8Array | undefined;
  #sideLength = 0;
  readonly stats: UplinkStats = {
    published: 0,
    readingsPublished: 0,
    acked: 0,
    batches: 0,
    alertsPublished: 0,
    livePublished: 0,
    resent: 0,
    resentReadings: 0,
    reconnects: 0,
    connectFailures: 0,
    unexpectedAcks: 0,
    subscribeFailures: 0,
    commands: 0,
    unexpectedMessages: 0,
    discarded: 0,
    attempts: 0,
    disconnects: 0,
    lastCloseReason: '',
    searches: 0,
    brokersFound: 0,
    defaultBroker: 0,
  };
  onHealthAcked: (() => void) | undefined;
  #healthId = 0;
  #healthSent = false;
  #healthTopic: Uint8Array | undefined;
  #healthPayload: Uint8Array | undefined;
  #healthLength = 0;
  #runningSince = -1;
  #expectedTotal = 0;
  #connectedSince = -1;
  #connectedTotal = 0;

  constructor(host: Host, store: ReadingStore, o: UplinkOptions) {
    this.#host = host;
    this.#store = store;
    this.#format = o.format === 'binary' ? 'binary' : 'json';
    const window = Math.max(2, Math.min(64, Math.floor(o.window ?? 4)));
    this.#window = window;
    this.#backlogWindow = Math.max(1, Math.min(window - 1, Math.floor(o.backlogWindow ?? window - 1)));
    this.#batch = Math.max(1, Math.min(255, Math.floor(o.batchReadings ?? 24)));
    this.#maxPacket = packetBytes(o.maxPacketBytes);
    this.#kind = new Uint8Array(window);
    this.#ids = new Uint16Array(window);
    this.#counts = new Uint16Array(window);
    this.#order = new Float64Array(window);
    this.#lengths = new Uint16Array(window);
    this.#sent = new Uint8Array(window);
    this.#seqs = new Float64Array(window * this.#batch);
    const packets = new Uint8Array(window * this.#maxPacket);
    this.#packets = [];
    for (let i = 0; i < window; i++) this.#packets.push(packets.subarray(i * this.#maxPacket, (i + 1) * this.#maxPacket));
    this.#peek = [];
    for (let i = 0; i < (this.#backlogWindow + 1) * this.#batch; i++) this.#peek.push(newReading());
    this.#pick = [];
    for (let i = 0; i < this.#batch; i++) this.#pick.push(newReading());
    this.#live = [];
    const liveReadings = Math.max(1, Math.min(this.#batch, Math.floor(o.liveReadings ?? 4)));
    for (let i = 0; i < liveReadings; i++) this.#live.push(newReading());
    const topicRoom = 2 + `pipewatch/${o.deviceId}/readings/bin`.length + 2 + 5;
    this.#encoder = new ReadingEncoder(o.deviceId, this.#maxPacket - topicRoom);
    this.#statusTopic = asciiBytes(`pipewatch/${o.deviceId}/status`);
    this.#online = asciiBytes('online');
    this.#offline = asciiBytes('offline');
    this.#cmdName = `pipewatch/${o.deviceId}/cmd`;
    this.#otaName = `pipewatch/${o.deviceId}/ota`;
    this.#cmdTopic = asciiBytes(this.#cmdName);
    this.#otaTopic = asciiBytes(this.#otaName);
    this.onCommand = o.onCommand;
    this.#locate = o.locate;
    this.#defaultAddress = o.address;
    this.#defaultPort = o.port;
    this.#backoff =
      o.fixedRetryMs !== undefined
        ? createFixedInterval({ intervalMs: o.fixedRetryMs })
        : createBackoffState({ baseMs: o.backoffBaseMs ?? 1000, capMs: o.backoffCapMs ?? 300_000 });
    this.#stableMs = o.stableMs ?? 60_000;
    this.#client = new MqttClient(
      host,
      {
        address: o.address,
        port: o.port,
        secure: o.secure,
        ...connectOf(o),
        cleanSession: false,
        maxInboundBytes: o.maxInboundBytes ?? DEFAULT_MAX_INBOUND_BYTES,
        connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
      },
      {
        onConnected: () => this.#onConnected(),
        onPuback: (id) => this.#onPuback(id),
        onSuback: (id, granted) => this.#onSuback(id, granted),
        onMessage: (topic, payload) => this.#onMessage(topic, payload),
        onDiscarded: (topic, bytes) => this.#onDiscarded(topic, bytes),
        onClosed: (reason) => this.#onClosed(reason),
      },
    );
  }

  get client(): MqttClient {
    return this.#client;
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  /** PUBLISH packets awaiting PUBACK. */
  get inflight(): number {
    return this.#inflight;
  }

  get format(): PayloadFormat {
    return this.#format;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#runningSince = this.#host.clock.monotonic.now();
    this.#open();
  }

  /**
   * Stops publishing and closes the connection; in-flight readings stay unacknowledged in the
   * store. A clean stop says so first: "offline", retained, on the status topic (the DISCONNECT
   * that follows makes the broker discard the will, which would have said it).
   */
  stop(): void {
    if (this.#running) {
      this.#expectedTotal += this.#host.clock.monotonic.now() - this.#runningSince;
      this.#runningSince = -1;
    }
    this.#running = false;
    this.#host.timers.clear(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#locate?.stop();
    if (this.#client.connected) this.#client.publish(this.#statusTopic, this.#offline, this.#offline.length, 0, 0, false, true);
    this.#client.close();
  }

  /** Called after the store received readings: publishes if the window has room. */
  kick(): void {
    if (this.#client.connected) this.#pump();
  }

  /**
   * The node stored `reading` as `seq`: remember it for the live path (it goes out ahead of a
   * backlog), then publish if the window has room. The reading is copied; nothing allocates.
   */
  noteStored(seq: number, reading: NewReading): void {
    if (seq >= 0 && !reading.alert) {
      if (this.#liveCount === this.#live.length) {
        // Oldest live reading gives way; it stays in the store and goes out with the backlog.
        const first = this.#live[0]!;
        for (let i = 1; i < this.#liveCount; i++) this.#live[i - 1] = this.#live[i]!;
        this.#live[this.#liveCount - 1] = first;
        this.#liveCount--;
      }
      const slot = this.#live[this.#liveCount++]!;
      copyReading(slot, reading as Reading);
      slot.seq = seq;
    }
    this.kick();
  }

  /** True while a side-channel message awaits its PUBACK. */
  get sideBusy(): boolean {
    return this.#sideId !== 0;
  }

  /**
   * Publishes `payload[0..length)` on `topic` with QoS 1 outside the reading window. Returns
   * false (nothing taken) while the previous side message awaits its PUBACK. Taken while
   * offline: it goes out after the next CONNACK.
   */
  sendSide(topic: Uint8Array, payload: Uint8Array, length: number): boolean {
    if (this.#sideId !== 0) return false;
    this.#sideId = this.#allocateId();
    this.#sideTopic = topic;
    this.#sidePayload = payload;
    this.#sideLength = length;
    this.#sideSent = this.#client.publish(topic, payload, length, 1, this.#sideId, false, false);
    return true;
  }

  /** True while a heartbeat awaits its PUBACK. */
  get healthBusy(): boolean {
    return this.#healthId !== 0;
  }

  /**
   * Publishes `payload[0..length)` on `topic` with QoS 1 in the health slot; the payload must
   * stay unchanged until `onHealthAcked`. Returns false (nothing taken) while the previous one
   * awaits its PUBACK. Taken while offline: it goes out after the next CONNACK.
   */
  sendHealth(topic: Uint8Array, payload: Uint8Array, length: number): boolean {
    if (this.#healthId !== 0) return false;
    this.#healthId = this.#allocateId();
    this.#healthTopic = topic;
    this.#healthPayload = payload;
    this.#healthLength = length;
    this.#healthSent = this.#client.publish(topic, payload, length, 1, this.#healthId, false, false);
    return true;
  }

  /**
   * Takes back the heartbeat in the health slot if it never left on any connection (so the
   * broker cannot have it); returns false when there is none or it was sent.
   */
  withdrawHealth(): boolean {
    if (this.#healthId === 0 || this.#healthSent) return false;
    this.#healthId = 0;
    return true;
  }

  /**
   * Subscribes to `topic` (QoS 1) after each CONNACK, handing its messages to `onMessage`, and
   * calls `onConnected` after each CONNACK. One watched topic per uplink; a second call replaces it.
   */
  watch(topic: string, onMessage: (payload: Uint8Array) => void, onConnected: () => void): void {
    this.#watchTopic = asciiBytes(topic);
    this.#onWatched = onMessage;
    this.#onWatchConnected = onConnected;
  }

  /** Publishes `payload[0..length)` on `topic` with QoS 0 now; false when offline or it did not fit. */
  publishNow(topic: Uint8Array, payload: Uint8Array, length: number, retain: boolean): boolean {
    return this.#client.publish(topic, payload, length, 0, 0, false, retain);
  }

  /** Time the uplink was running (trying to be online) since it was made, ms. */
  expectedMs(): number {
    return this.#expectedTotal + (this.#runningSince >= 0 ? this.#host.clock.monotonic.now() - this.#runningSince : 0);
  }

  /** Time with an MQTT session up (CONNACK to close) since the uplink was made, ms. */
  connectedMs(): number {
    return this.#connectedTotal + (this.#connectedSince >= 0 ? this.#host.clock.monotonic.now() - this.#connectedSince : 0);
  }

  #open(): void {
    if (this.#locate && !this.#located) {
      this.#search(this.#locate);
      return;
    }
    this.stats.attempts++;
    this.#client.open();
  }

  /** Looks for the broker; connects to what it finds, else to the default, else backs off and looks again. */
  #search(locate: BrokerLocator): void {
    this.stats.searches++;
    locate.find((found, searched) => {
      if (!this.#running || this.#client.state !== ClientState.idle) return;
      if (!searched) {
        this.#onClosed('socket');
        return;
      }
      if (found) {
        this.stats.brokersFound++;
        this.#client.setBroker(found.address, found.port, found.target);
      } else if (this.#defaultAddress !== '') {
        this.stats.defaultBroker++;
        this.#client.setBroker(this.#defaultAddress, this.#defaultPort);
      } else {
        this.#onClosed('no-broker');
        return;
      }
      this.#located = true;
      this.#missesAtBroker = 0;
      this.stats.attempts++;
      this.#client.open();
    });
  }

  #resendHealth(): void {
    if (this.#healthId === 0 || !this.#client.connected) return;
    const sent = this.#client.publish(this.#healthTopic!, this.#healthPayload!, this.#healthLength, 1, this.#healthId, this.#healthSent, false);
    this.#healthSent = this.#healthSent || sent;
  }

  #resendSide(): void {
    if (this.#sideId === 0 || !this.#client.connected) return;
    const sent = this.#client.publish(this.#sideTopic!, this.#sidePayload!, this.#sideLength, 1, this.#sideId, this.#sideSent, false);
    this.#sideSent = this.#sideSent || sent;
  }

  #onConnected(): void {
    const now = this.#host.clock.monotonic.now();
    noteConnected(this.#backoff, now);
    this.#missesAtBroker = 0;
    this.#connectedSince = now;
    if (this.#everConnected) this.stats.reconnects++;
    this.#everConnected = true;
    const client = this.#client;
    client.publish(this.#statusTopic, this.#online, this.#online.length, 0, 0, false, true);
    this.#subIds[0] = this.#allocateId();
    if (client.connected) client.subscribe(this.#cmdTopic, 1, this.#subIds[0]);
    this.#subIds[1] = this.#allocateId();
    if (client.connected) client.subscribe(this.#otaTopic, 1, this.#subIds[1]);
    if (this.#watchTopic) {
      this.#subIds[2] = this.#allocateId();
      if (client.connected) client.subscribe(this.#watchTopic, 1, this.#subIds[2]);
    }
    this.#resendInflight();
    this.#resendSide();
    this.#resendHealth();
    this.#pump();
    this.onConnect?.();
    if (this.#onWatchConnected && client.connected) this.#onWatchConnected();
  }

  #onClosed(reason: string): void {
    this.stats.lastCloseReason = reason;
    if (this.#connectedSince >= 0) {
      this.#connectedTotal += this.#host.clock.monotonic.now() - this.#connectedSince;
      this.#connectedSince = -1;
      this.stats.disconnects++;
    }
    this.#subIds[0] = 0;
    this.#subIds[1] = 0;
    this.#subIds[2] = 0;
    if (!this.#running) return;
    const now = this.#host.clock.monotonic.now();
    noteDisconnected(this.#backoff, now, this.#stableMs);
    if (reason === 'socket' || reason === 'timeout' || reason === 'dns' || reason === 'no-broker' || reason.startsWith('refused')) {
      this.stats.connectFailures++;
      if (this.#located && ++this.#missesAtBroker >= SEARCH_AGAIN_AFTER) this.#located = false;
    }
    const delay = nextBackoffDelay(this.#backoff, this.#host.random.next());
    this.#retryTimer = this.#host.timers.set(() => {
      this.#retryTimer = undefined;
      if (this.#running) this.#open();
    }, delay);
  }

  #onPuback(id: number): void {
    if (id !== 0 && id === this.#sideId) {
      this.#sideId = 0;
      this.onSideAcked?.();
      return;
    }
    if (id !== 0 && id === this.#healthId) {
      this.#healthId = 0;
      this.onHealthAcked?.();
      return;
    }
    for (let i = 0; i < this.#window; i++) {
      if (this.#kind[i] === Slot.free || this.#ids[i] !== id) continue;
      const base = i * this.#batch;
      for (let k = 0; k < this.#counts[i]!; k++) this.#store.acknowledge(this.#seqs[base + k]!);
      const readings = this.#counts[i]!;
      this.stats.acked += readings;
      this.#free(i);
      this.#pump();
      this.onAcked?.(readings);
      return;
    }
    this.stats.unexpectedAcks++;
    this.#client.abort('E_MQTT_PACKET_ID');
  }

  #onSuback(id: number, granted: number): void {
    for (let i = 0; i < 3; i++) {
      if (this.#subIds[i] !== id || id === 0) continue;
      this.#subIds[i] = 0;
      if (granted === 0x80) this.stats.subscribeFailures++;
      return;
    }
    this.stats.unexpectedAcks++;
    this.#client.abort('E_MQTT_PACKET_ID');
  }

  #onMessage(topic: Uint8Array, payload: Uint8Array): void {
    if (this.#watchTopic && sameBytes(topic, this.#watchTopic)) {
      this.#onWatched?.(payload);
      return;
    }
    const name = sameBytes(topic, this.#cmdTopic) ? this.#cmdName : sameBytes(topic, this.#otaTopic) ? this.#otaName : '';
    if (name === '') {
      this.stats.unexpectedMessages++;
      return;
    }
    this.stats.commands++;
    this.onCommand?.(name, payload);
  }

  #onDiscarded(topic: Uint8Array, bytes: number): void {
    this.stats.discarded++;
    this.#host.log('warn', `mqtt: dropped a ${bytes}-byte message on ${bytesToAscii(topic)} (limit ${this.#client.maxInboundBytes})`);
    const name = sameBytes(topic, this.#cmdTopic) ? this.#cmdName : sameBytes(topic, this.#otaTopic) ? this.#otaName : '';
    if (name !== '') this.onDiscarded?.(name, bytes);
  }

  #free(i: number): void {
    if (this.#kind[i] === Slot.backlog) {
      this.#backlogInflight--;
      this.#backlogReadingsInflight -= this.#counts[i]!;
    }
    this.#kind[i] = Slot.free;
    this.#ids[i] = 0;
    this.#counts[i] = 0;
    this.#sent[i] = 0;
    this.#inflight--;
  }

  #allocateId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = id === 65535 ? 1 : id + 1;
      let used = this.#subIds[0] === id || this.#subIds[1] === id || this.#subIds[2] === id || this.#sideId === id || this.#healthId === id;
      for (let i = 0; i < this.#window && !used; i++) if (this.#kind[i] !== Slot.free && this.#ids[i] === id) used = true;
      if (!used) return id;
    }
  }

  /** Is `seq` carried by an alert or live slot? (Backlog slots are covered by the cursor.) */
  #inAlertOrLiveSlot(seq: number): boolean {
    for (let i = 0; i < this.#window; i++) {
      const kind = this.#kind[i];
      if (kind !== Slot.alert && kind !== Slot.live) continue;
      const base = i * this.#batch;
      for (let k = 0; k < this.#counts[i]!; k++) if (this.#seqs[base + k] === seq) return true;
    }
    return false;
  }

  #resendInflight(): void {
    // Oldest first, so a consumer sees the backlog again in the order it was first sent.
    let last = -1;
    for (;;) {
      let next = -1;
      for (let i = 0; i < this.#window; i++) {
        if (this.#kind[i] === Slot.free || this.#order[i]! <= last) continue;
        if (next < 0 || this.#order[i]! < this.#order[next]!) next = i;
      }
      if (next < 0 || !this.#client.connected) return;
      last = this.#order[next]!;
      const packet = this.#packets[next]!;
      if (this.#sent[next]) packet[0] = packet[0]! | 0x08; // DUP [MQTT-3.3.1-1]
      if (!this.#client.sendPacket(packet, this.#lengths[next]!)) return;
      if (this.#sent[next]) {
        this.stats.resent++;
        this.#resentReadings(next);
      }
      this.#sent[next] = 1;
    }
  }

  #resentReadings(i: number): void {
    this.stats.resentReadings += this.#counts[i]!;
  }

  #freeSlot(): number {
    if (this.#inflight >= this.#window) return -1;
    for (let i = 0; i < this.#window; i++) if (this.#kind[i] === Slot.free) return i;
    return -1;
  }

  #pump(): void {
    if (!this.#client.connected) return;
    // 1. Alerts, one per PUBLISH.
    if (this.#inflight < this.#window) {
      const n = this.#store.peek(this.#peek, Math.min(this.#peek.length, this.#window), true);
      for (let k = 0; k < n && this.#client.connected; k++) {
        const r = this.#peek[k]!;
        if (!r.alert || this.#inAlertOrLiveSlot(r.seq)) continue;
        const slot = this.#freeSlot();
        if (slot < 0) return;
        copyReading(this.#pick[0]!, r);
        this.#publish(slot, Slot.alert, 1);
      }
    }
    // 2. Live readings: drop those the backlog already carried; each of the rest goes in a PUBLISH
    // of its own, so a consumer can tell them from backlog batches (only those must arrive
    // oldest first; live readings overtake a backlog on purpose).
    let keep = 0;
    for (let k = 0; k < this.#liveCount; k++) {
      const r = this.#live[k]!;
      if (r.seq <= this.#backlogThrough || this.#inAlertOrLiveSlot(r.seq)) continue;
      if (keep !== k) {
        const spare = this.#live[keep]!;
        this.#live[keep] = r;
        this.#live[k] = spare;
      }
      keep++;
    }
    let sent = 0;
    while (sent < keep && this.#client.connected) {
      const slot = this.#freeSlot();
      if (slot < 0) break;
      copyReading(this.#pick[0]!, this.#live[sent]!);
      if (this.#publish(slot, Slot.live, 1) === 0) break;
      sent++;
    }
    for (let k = sent; k < keep; k++) copyReading(this.#live[k - sent]!, this.#live[k]!);
    this.#liveCount = keep - sent;
    if (sent < keep) return;
    // 3. The backlog, oldest first, in batches.
    while (this.#client.connected && this.#backlogInflight < this.#backlogWindow) {
      const slot = this.#freeSlot();
      if (slot < 0) return;
      const want = Math.min(this.#peek.length, this.#backlogReadingsInflight + this.#batch + this.#window);
      const n = this.#store.peek(this.#peek, want);
      let picked = 0;
      for (let k = 0; k < n && picked < this.#batch; k++) {
        const r = this.#peek[k]!;
        if (r.alert || r.seq <= this.#backlogThrough || this.#inAlertOrLiveSlot(r.seq)) continue;
        copyReading(this.#pick[picked++]!, r);
      }
      if (picked === 0) return;
      const taken = this.#publish(slot, Slot.backlog, picked);
      if (taken === 0) return;
    }
  }

  /**
   * Encodes `#pick[0..count)` into slot `slot`'s packet (as many as fit), registers the slot and
   * sends it. Returns how many readings it took (0: nothing fitted, nothing sent).
   */
  #publish(slot: number, kind: number, count: number): number {
    const e = this.#encoder;
    const pick = this.#pick;
    let length: number;
    let topic: Uint8Array;
    let taken = 1;
    if (kind === Slot.alert) {
      length = e.encode(pick[0]!);
      topic = e.alertsTopic;
    } else if (this.#format === 'binary') {
      length = e.binary(pick, count);
      taken = e.taken;
      topic = e.binaryTopic;
    } else if (count === 1) {
      length = e.encode(pick[0]!);
      topic = e.readingsTopic;
    } else {
      length = e.batch(pick, count);
      taken = e.taken;
      topic = e.readingsTopic;
    }
    if (length === 0 || taken === 0) return 0;
    const packet = this.#packets[slot]!;
    if (publishHeaderSize(topic.length, length, 1) + length > packet.length) return 0;
    const id = this.#allocateId();
    const header = encodePublishHeader(packet, topic, length, 1, id, false, false);
    if (header === 0) return 0;
    const payload = e.out.bytes;
    for (let k = 0; k < length; k++) packet[header + k] = payload[k]!;
    const base = slot * this.#batch;
    for (let k = 0; k < taken; k++) this.#seqs[base + k] = pick[k]!.seq;
    this.#kind[slot] = kind;
    this.#ids[slot] = id;
    this.#counts[slot] = taken;
    this.#order[slot] = this.#sendOrder++;
    this.#lengths[slot] = header + length;
    this.#sent[slot] = 0;
    this.#inflight++;
    if (kind === Slot.backlog) {
      this.#backlogInflight++;
      this.#backlogReadingsInflight += taken;
      this.#backlogThrough = pick[taken - 1]!.seq;
      this.stats.batches++;
    } else if (kind === Slot.live) this.stats.livePublished++;
    else this.stats.alertsPublished++;
    this.stats.published++;
    this.stats.readingsPublished += taken;
    // Registered before sending: a write that fails closes the connection, and the packet goes
    // out on the next one (without DUP, since it never left).
    if (this.#client.sendPacket(packet, header + length)) this.#sent[slot] = 1;
    return taken;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
