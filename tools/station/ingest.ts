/*
 * The station's MQTT side: one persistent session (clean: false, a fixed client id), QoS 1
 * subscriptions to the node topics, strict decoding with firmware/uplink/decode.ts, and the
 * PUBACK of each message sent only after its rows are committed. MQTT.js handles incoming
 * packets one at a time and sends the PUBACK from the callback of `client.handleMessage`
 * (its documented back-pressure hook), so a message's acknowledgement never overtakes its
 * commit. (`customHandleAcks` does the same but MQTT.js ignores it under MQTT 3.1.1 and acks on
 * receipt, which brokers such as the simulator's aedes need.) If the commit fails (disk full,
 * database locked, PostgreSQL unreachable), the acknowledgement is held and the commit retried:
 * the broker keeps the message, and the ones after it, until the database is back.
 *
 * `share` subscribes through a shared subscription, `$share/<group>/pipewatch/+/...`: the
 * broker hands each message to one of the group's sessions (several stations on one database).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeMessage } from '../../firmware/uplink/decode';
import type { HeartbeatKey, StationStore } from './store';
import type { FleetHeartbeat } from '../fleet/metrics';

export const TOPICS = [
  'pipewatch/+/readings',
  'pipewatch/+/readings/bin',
  'pipewatch/+/alerts',
  'pipewatch/+/status',
  'pipewatch/+/ota/status',
  'pipewatch/+/health',
] as const;

/** Largest heartbeat read (the node's buffer is 1 KiB, firmware/health.ts HEALTH_BYTES). */
export const HEARTBEAT_LIMIT = 4096;

/** How long the broker keeps the station's session (and queues its messages) while it is away: 7 days. */
export const SESSION_EXPIRY_S = 7 * 24 * 3600;

/** How long a failed commit waits before it is tried again (the message stays unacknowledged). */
export const RETRY_MS = 500;

/** The topic filters subscribed: TOPICS, or each under `$share/<group>/` when sharing. */
export function topicFilters(share?: string): string[] {
  return TOPICS.map((t) => (share === undefined ? t : `$share/${share}/${t}`));
}

/** A shared subscription's group name: no wildcard, separator or empty name (MQTT 5 §4.8.2). */
export function isShareGroup(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name);
}

/** The one line logged when a commit fails; a full disk says so plainly. */
export function commitErrorLine(error: Error, retryMs: number): string {
  const full = /disk is full|database or disk is full|No space left on device|could not extend file/i.test(error.message);
  const what = full ? `database: the disk is full (${error.message}); free space` : `database: ${error.message}`;
  return `${what}; holding the acknowledgement, retrying in ${retryMs} ms`;
}

export interface IngestEvent {
  dev: string;
  kind: 'readings' | 'malformed' | 'status' | 'ota' | 'health';
  added?: number;
}

export interface IngestOptions {
  broker: string;
  clientId: string;
  store: StationStore;
  now?: () => number;
  onEvent?: (event: IngestEvent) => void;
  onError?: (message: string) => void;
  /** MQTT protocol level: 5 (default) or 4 (3.1.1, for brokers without MQTT 5). */
  protocolVersion?: 4 | 5;
  /** The station's own credentials at the broker: user name and password, TLS CA and client certificate (PEM). */
  credentials?: BrokerCredentials;
  /** Shared subscription group: subscribe `$share/<share>/pipewatch/+/...` (see isShareGroup). */
  share?: string;
  /** Wait before a failed commit is tried again (default RETRY_MS). */
  retryMs?: number;
}

export interface BrokerCredentials {
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * The device id segment of `pipewatch/<dev>/...` as raw text (may be hostile: escape it to show
 * it), NUL written as `\0` (MQTT forbids NUL in topics; PostgreSQL text cannot hold one).
 */
export function topicDevice(topic: string): string {
  const parts = topic.split('/');
  return (parts.length >= 3 && parts[0] === 'pipewatch' ? parts[1]! : topic).replace(/\0/g, '\\0');
}

function latin1(payload: Uint8Array): string {
  let s = '';
  for (let i = 0; i < payload.length && i < 200; i++) s += String.fromCharCode(payload[i]!);
  return s;
}

export type CheckedHeartbeat = FleetHeartbeat & HeartbeatKey & Record<string, unknown>;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * A health heartbeat (docs/payload.md) checked for what the store and the fleet metrics read:
 * a JSON object of `dev` (the topic's), `ts`, `sync`, `up_ms`, `conn_ms`, `exp_ms` (counts,
 * conn_ms at most exp_ms), `boot` and `faults` when present. Returns the reason it is refused, or
 * the heartbeat.
 */
export function checkHeartbeat(dev: string, text: string): { error: string } | { hb: CheckedHeartbeat } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'not a JSON object' };
  const hb = body as Record<string, unknown>;
  if (hb.dev !== dev) return { error: `dev ${JSON.stringify(hb.dev)} is not the topic's` };
  for (const key of ['ts', 'up_ms', 'conn_ms', 'exp_ms'] as const) if (!isCount(hb[key])) return { error: `${key} is not a count` };
  if (typeof hb.sync !== 'boolean') return { error: 'sync is not true or false' };
  if ((hb.conn_ms as number) > (hb.exp_ms as number)) return { error: 'conn_ms exceeds exp_ms' };
  if (hb.boot !== undefined && !isCount(hb.boot)) return { error: 'boot is not a count' };
  if (hb.faults !== undefined && !(Array.isArray(hb.faults) && hb.faults.every((f) => Array.isArray(f) && f.length === 3 && isCount(f[0]) && typeof f[1] === 'string' && isCount(f[2])))) {
    return { error: 'faults is not a list of [channel, code, count]' };
  }
  return { hb: hb as unknown as CheckedHeartbeat };
}

/** Handles one message: stores what it carries, or counts it as malformed. Rejects only if the database does. */
/**
 * `redelivered`: the broker's DUP flag (a QoS 1 message sent again, e.g. to a station that
 * restarted before its PUBACK went out). Readings and heartbeats carry their own keys; an OTA
 * status event has none, so a redelivered one equal to the device's last stored event is that
 * event again and is not stored twice.
 */
export async function handleMessage(store: StationStore, topic: string, payload: Uint8Array, nowMs: number, redelivered = false): Promise<IngestEvent> {
  const dev = topicDevice(topic);
  const parts = topic.split('/');
  const leaf = parts.slice(2).join('/');
  if (leaf === 'status' && parts.length === 3) {
    const text = latin1(payload);
    if (text !== 'online' && text !== 'offline') {
      await store.storeMalformed(dev, `status: ${text}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    await store.storeStatus(dev, text, nowMs);
    return { dev, kind: 'status' };
  }
  if (leaf === 'ota/status' && parts.length === 4) {
    const text = latin1(payload);
    let ok = false;
    try {
      const body = JSON.parse(text) as unknown;
      ok = typeof body === 'object' && body !== null && !Array.isArray(body);
    } catch {
      ok = false;
    }
    if (!ok) {
      await store.storeMalformed(dev, `ota/status: not a JSON object: ${text}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    await store.storeOtaStatus(dev, text, nowMs);
    await store.storeOtaEvent(dev, text, nowMs, redelivered);
    return { dev, kind: 'ota' };
  }
  if (leaf === 'health' && parts.length === 3) {
    if (payload.length > HEARTBEAT_LIMIT) {
      await store.storeMalformed(dev, `health: ${payload.length} bytes, over ${HEARTBEAT_LIMIT}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(payload);
    const checked = checkHeartbeat(dev, text);
    if ('error' in checked) {
      await store.storeMalformed(dev, `health: ${checked.error}: ${text}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    const added = await store.storeHeartbeat(checked.hb, text, nowMs);
    // The pages show the latest heartbeat's fw, pending and faults (store-web.ts, device_health).
    // Also when not added: a retry after a failed storeHealth finds the heartbeat already stored.
    await store.storeHealth(dev, text, nowMs);
    return { dev, kind: 'health', added: added ? 1 : 0 };
  }
  const decoded = decodeMessage(topic, payload);
  if (decoded.error !== undefined) {
    await store.storeMalformed(dev, `${leaf}: ${decoded.error}`, nowMs);
    return { dev, kind: 'malformed' };
  }
  const { added } = await store.storeReadings(decoded.dev, decoded.readings, nowMs);
  return { dev, kind: 'readings', added };
}

export interface Ingest {
  client: MqttClient;
  /** Resolves once subscribed (after the first CONNACK). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function startIngest(o: IngestOptions): Ingest {
  const now = o.now ?? Date.now;
  let closing = false;
  const process = (topic: string, payload: Uint8Array, redelivered: boolean, ack: () => void): void => {
    const retryMs = o.retryMs ?? RETRY_MS;
    const attempt = (): void => {
      if (closing) return;
      handleMessage(o.store, topic, payload, now(), redelivered).then(
        (event) => {
          ack();
          o.onEvent?.(event);
        },
        (error: Error) => {
          o.onError?.(commitErrorLine(error, retryMs));
          if (!closing) setTimeout(attempt, retryMs);
        },
      );
    };
    void attempt();
  };
  const client = mqtt.connect(o.broker, {
    clientId: o.clientId,
    clean: false,
    protocolVersion: o.protocolVersion ?? 5,
    // An MQTT 5 session ends at disconnect unless it is given an expiry interval (3.1.1: kept).
    properties: (o.protocolVersion ?? 5) === 5 ? { sessionExpiryInterval: SESSION_EXPIRY_S } : undefined,
    reconnectPeriod: 1000,
    ...o.credentials,
  });
  // MQTT.js sends a QoS 1 message's PUBACK from handleMessage's callback, one message at a time,
  // under MQTT 3.1.1 and 5 alike (customHandleAcks is only honoured under 5 and runs before it).
  client.handleMessage = (packet, callback) => {
    if (packet.cmd !== 'publish') return callback();
    process(packet.topic, packet.payload as Uint8Array, packet.dup === true, () => callback());
  };
  client.on('error', (error) => {
    const hint = /protocol version/i.test(error.message) ? ' (the broker may speak MQTT 3.1.1 only: --mqtt 3.1.1)' : '';
    o.onError?.(`broker: ${error.message}${hint}`);
  });
  const ready = new Promise<void>((resolve, reject) => {
    // Subscribing again to a session that has the subscriptions keeps its queued messages.
    client.once('connect', () => {
      client.subscribe(topicFilters(o.share), { qos: 1 }, (error) => (error ? reject(error) : resolve()));
    });
  });
  return {
    client,
    ready,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        client.end(false, {}, () => resolve());
      }),
  };
}
