/*
 * The station's MQTT side: one persistent session (clean: false, a fixed client id), QoS 1
 * subscriptions to the node topics, strict decoding with firmware/uplink/decode.ts, and the
 * PUBACK of each message sent only after its rows are committed. MQTT.js handles incoming
 * packets one at a time and sends the PUBACK from the callback of `client.handleMessage`
 * (its documented back-pressure hook), so a message's acknowledgement never overtakes its
 * commit. (`customHandleAcks` does the same but MQTT.js ignores it under MQTT 3.1.1 and acks on
 * receipt, which brokers such as the simulator's aedes need.) If the commit throws (disk full,
 * database locked), the acknowledgement is held and the commit retried: the broker keeps it.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeMessage } from '../../firmware/uplink/decode';
import type { StationStore } from './store';
import { HEALTH_TEXT_LIMIT } from './store-web';

export const TOPICS = [
  'pipewatch/+/readings',
  'pipewatch/+/readings/bin',
  'pipewatch/+/alerts',
  'pipewatch/+/status',
  'pipewatch/+/ota/status',
  'pipewatch/+/health',
] as const;

/** How long the broker keeps the station's session (and queues its messages) while it is away: 7 days. */
export const SESSION_EXPIRY_S = 7 * 24 * 3600;

/** How long a failed commit waits before it is tried again (the message stays unacknowledged). */
export const RETRY_MS = 500;

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
}

export interface BrokerCredentials {
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** The device id segment of `pipewatch/<dev>/...` as raw text (may be hostile: escape it to show it). */
export function topicDevice(topic: string): string {
  const parts = topic.split('/');
  return parts.length >= 3 && parts[0] === 'pipewatch' ? parts[1]! : topic;
}

function latin1(payload: Uint8Array): string {
  let s = '';
  for (let i = 0; i < payload.length && i < 200; i++) s += String.fromCharCode(payload[i]!);
  return s;
}

/** Handles one message: stores what it carries, or counts it as malformed. Throws only if the database does. */
export function handleMessage(store: StationStore, topic: string, payload: Uint8Array, nowMs: number): IngestEvent {
  const dev = topicDevice(topic);
  const parts = topic.split('/');
  const leaf = parts.slice(2).join('/');
  if (leaf === 'status' && parts.length === 3) {
    const text = latin1(payload);
    if (text !== 'online' && text !== 'offline') {
      store.storeMalformed(dev, `status: ${text}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    store.storeStatus(dev, text, nowMs);
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
      store.storeMalformed(dev, `ota/status: not a JSON object: ${text}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    store.storeOtaStatus(dev, text, nowMs);
    return { dev, kind: 'ota' };
  }
  if (leaf === 'health' && parts.length === 3) {
    // The latest heartbeat is kept as it came (the pages show its fw, pending and faults as text).
    const text = payload.length <= HEALTH_TEXT_LIMIT ? new TextDecoder('utf-8', { fatal: false }).decode(payload) : '';
    let ok = false;
    try {
      const body = JSON.parse(text) as unknown;
      ok = typeof body === 'object' && body !== null && !Array.isArray(body);
    } catch {
      ok = false;
    }
    if (!ok) {
      store.storeMalformed(dev, `health: not a JSON object of at most ${HEALTH_TEXT_LIMIT} bytes: ${latin1(payload)}`, nowMs);
      return { dev, kind: 'malformed' };
    }
    store.storeHealth(dev, text, nowMs);
    return { dev, kind: 'health' };
  }
  const decoded = decodeMessage(topic, payload);
  if (decoded.error !== undefined) {
    store.storeMalformed(dev, `${leaf}: ${decoded.error}`, nowMs);
    return { dev, kind: 'malformed' };
  }
  const { added } = store.storeReadings(decoded.dev, decoded.readings, nowMs);
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
  const process = (topic: string, payload: Uint8Array, ack: () => void): void => {
    const attempt = (): void => {
      if (closing) return;
      let event: IngestEvent;
      try {
        event = handleMessage(o.store, topic, payload, now());
      } catch (error) {
        o.onError?.(`database: ${(error as Error).message}; holding the acknowledgement, retrying in ${RETRY_MS} ms`);
        setTimeout(attempt, RETRY_MS);
        return;
      }
      ack();
      o.onEvent?.(event);
    };
    attempt();
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
    process(packet.topic, packet.payload as Uint8Array, () => callback());
  };
  client.on('error', (error) => {
    const hint = /protocol version/i.test(error.message) ? ' (the broker may speak MQTT 3.1.1 only: --mqtt 3.1.1)' : '';
    o.onError?.(`broker: ${error.message}${hint}`);
  });
  const ready = new Promise<void>((resolve, reject) => {
    // Subscribing again to a session that has the subscriptions keeps its queued messages.
    client.once('connect', () => {
      client.subscribe([...TOPICS], { qos: 1 }, (error) => (error ? reject(error) : resolve()));
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
