/*
 * One MQTT 3.1.1 connection over the host's TCP (or TLS) socket: CONNECT/CONNACK, PUBLISH and
 * PUBACK (QoS 0/1), SUBSCRIBE/SUBACK, PINGREQ/PINGRESP with a half-open detector, DISCONNECT.
 * Reconnection policy, in-flight bookkeeping and the store live in the uplink; this class
 * only reports events. Buffers are allocated once, in the constructor.
 *
 * Lifecycle: `open()` -> (onConnected | onClosed) ... `close()`; after `onClosed` the client
 * may be opened again. `onClosed` fires exactly once per `open()`.
 */
import type { Host, TCP, TLSOptions } from '../host';
import {
  Decoder,
  PacketType,
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublishHeader,
  encodeSubscribe,
  newInbound,
  type ConnectOptions,
} from './packets';
import { asciiBytes } from './ascii';

export interface MqttClientOptions {
  address: string;
  port: number;
  secure?: TLSOptions['secure'];
  clientId: string;
  keepaliveSec: number;
  cleanSession: boolean;
  username?: string;
  password?: string;
  will?: { topic: string; payload: string; retain: boolean };
  /** Largest remaining length accepted from the broker. */
  maxInboundBytes: number;
  /** Size of the one transmit buffer (largest packet this client sends). */
  txBufferBytes: number;
  /** Time allowed from open() to CONNACK. */
  connectTimeoutMs: number;
}

export interface MqttClientEvents {
  onConnected(sessionPresent: boolean): void;
  onPuback(packetId: number): void;
  onSuback(packetId: number, grantedQos: number): void;
  onMessage(topic: Uint8Array, payload: Uint8Array): void;
  /** `reason`: 'closed' | 'refused:<rc>' | 'socket' | 'timeout' | 'ping-timeout' | protocol code. */
  onClosed(reason: string): void;
}

export const ClientState = { idle: 0, connecting: 1, connected: 2 } as const;

export interface MqttClientStats {
  connects: number;
  connected: number;
  protocolErrors: number;
  pingTimeouts: number;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
}

export class MqttClient {
  readonly #host: Host;
  readonly #o: MqttClientOptions;
  readonly #events: MqttClientEvents;
  readonly #tx: Uint8Array;
  readonly #decoder: Decoder;
  readonly #inbound = newInbound();
  readonly #connect: ConnectOptions;
  #socket: TCP | undefined;
  #state: number = ClientState.idle;
  #timer: number | undefined;
  #lastTxMs = 0;
  #pingSentMs = -1;
  #connectSent = false;
  readonly stats: MqttClientStats = {
    connects: 0,
    connected: 0,
    protocolErrors: 0,
    pingTimeouts: 0,
    bytesOut: 0,
    bytesIn: 0,
    packetsOut: 0,
  };

  constructor(host: Host, options: MqttClientOptions, events: MqttClientEvents) {
    this.#host = host;
    this.#o = options;
    this.#events = events;
    this.#tx = new Uint8Array(options.txBufferBytes);
    this.#decoder = new Decoder(options.maxInboundBytes);
    this.#connect = {
      clientId: asciiBytes(options.clientId),
      keepaliveSec: options.keepaliveSec,
      cleanSession: options.cleanSession,
      username: options.username === undefined ? undefined : asciiBytes(options.username),
      password: options.password === undefined ? undefined : asciiBytes(options.password),
      will: options.will && {
        topic: asciiBytes(options.will.topic),
        payload: asciiBytes(options.will.payload),
        qos: 1,
        retain: options.will.retain,
      },
    };
  }

  get state(): number {
    return this.#state;
  }

  get connected(): boolean {
    return this.#state === ClientState.connected;
  }

  /** Opens the socket and sends CONNECT once it is writable. */
  open(): void {
    if (this.#state !== ClientState.idle) return;
    this.#state = ClientState.connecting;
    this.stats.connects++;
    this.#decoder.reset();
    this.#pingSentMs = -1;
    this.#connectSent = false;
    const handlers = {
      address: this.#o.address,
      port: this.#o.port,
      nodelay: true,
      onWritable: () => this.#onWritable(),
      onReadable: (count: number) => this.#onReadable(count),
      onError: () => this.#end('socket'),
    };
    try {
      const { TLSSocket, TCP: TCPClass } = this.#host.io;
      if (this.#o.secure) {
        if (!TLSSocket) throw new Error('this host has no TLS sockets');
        this.#socket = new TLSSocket({ ...handlers, secure: this.#o.secure });
      } else {
        this.#socket = new TCPClass(handlers);
      }
    } catch {
      this.#socket = undefined;
      this.#end('socket');
      return;
    }
    this.#setTimer(this.#o.connectTimeoutMs);
  }

  /** Sends DISCONNECT when connected, then closes. Fires onClosed('closed'). */
  close(): void {
    if (this.#state === ClientState.idle) return;
    if (this.#state === ClientState.connected) this.#send(encodeDisconnect(this.#tx));
    this.#end('closed');
  }

  /**
   * Publishes `payload[0..payloadLength)` on `topic`. Returns false (nothing sent) when not
   * connected, when the packet does not fit the transmit buffer, or when the socket refused it.
   */
  publish(
    topic: Uint8Array,
    payload: Uint8Array,
    payloadLength: number,
    qos: 0 | 1,
    packetId: number,
    dup: boolean,
    retain: boolean,
  ): boolean {
    if (this.#state !== ClientState.connected) return false;
    const header = encodePublishHeader(this.#tx, topic, payloadLength, qos, packetId, dup, retain);
    if (header === 0 || header + payloadLength > this.#tx.length) return false;
    this.#tx.set(payloadLength === payload.length ? payload : payload.subarray(0, payloadLength), header);
    return this.#send(header + payloadLength);
  }

  subscribe(topic: Uint8Array, qos: 0 | 1, packetId: number): boolean {
    if (this.#state !== ClientState.connected) return false;
    const n = encodeSubscribe(this.#tx, packetId, topic, qos);
    return n > 0 && this.#send(n);
  }

  #send(length: number): boolean {
    const socket = this.#socket;
    if (!socket) return false;
    try {
      socket.write(this.#tx.subarray(0, length));
    } catch {
      this.#end('socket');
      return false;
    }
    this.stats.bytesOut += length;
    this.stats.packetsOut++;
    this.#lastTxMs = this.#host.clock.monotonic.now();
    return true;
  }

  #onWritable(): void {
    if (this.#state !== ClientState.connecting || this.#connectSent) return;
    this.#connectSent = true;
    const n = encodeConnect(this.#tx, this.#connect);
    if (n === 0 || !this.#send(n)) this.#end('socket');
  }

  #onReadable(count: number): void {
    const socket = this.#socket;
    if (!socket) return;
    const chunk = socket.read(count);
    if (!chunk) return;
    this.stats.bytesIn += chunk.byteLength;
    let bytes = new Uint8Array(chunk);
    while (bytes.length > 0 && this.#socket === socket) {
      const taken = this.#decoder.push(bytes);
      bytes = bytes.subarray(taken);
      for (;;) {
        const result = this.#decoder.next(this.#inbound);
        if (result === 'more') break;
        if (result !== 'packet') {
          this.stats.protocolErrors++;
          this.#end(result);
          return;
        }
        this.#dispatch();
        if (this.#socket !== socket) return;
      }
      if (taken === 0 && bytes.length > 0) {
        this.stats.protocolErrors++;
        this.#end('E_MQTT_TOO_LARGE');
        return;
      }
    }
  }

  #dispatch(): void {
    const p = this.#inbound;
    const connecting = this.#state === ClientState.connecting;
    if (connecting !== (p.type === PacketType.CONNACK)) {
      // [MQTT-3.2.0-1]: the first packet from the server is CONNACK, and only once.
      this.stats.protocolErrors++;
      this.#end('E_MQTT_SEQUENCE');
      return;
    }
    switch (p.type) {
      case PacketType.CONNACK:
        if (p.returnCode !== 0) {
          this.#end(`refused:${p.returnCode}`);
          return;
        }
        this.#state = ClientState.connected;
        this.stats.connected++;
        this.#lastTxMs = this.#host.clock.monotonic.now();
        this.#setTimer((this.#o.keepaliveSec * 1000) / 2);
        this.#events.onConnected(p.sessionPresent);
        return;
      case PacketType.PUBACK:
        this.#events.onPuback(p.packetId);
        return;
      case PacketType.SUBACK:
        this.#events.onSuback(p.packetId, p.returnCode);
        return;
      case PacketType.PINGRESP:
        this.#pingSentMs = -1;
        return;
      case PacketType.PUBLISH: {
        const b = this.#decoder.buffer;
        if (p.qos === 2) {
          this.stats.protocolErrors++; // never subscribed with QoS 2
          this.#end('E_MQTT_QOS');
          return;
        }
        if (p.qos === 1) this.#send(encodePuback(this.#tx, p.packetId));
        this.#events.onMessage(b.subarray(p.topicStart, p.topicEnd), b.subarray(p.payloadStart, p.payloadEnd));
        return;
      }
      default:
        this.stats.protocolErrors++; // PUBREC/PUBREL/PUBCOMP/UNSUBACK: never asked for
        this.#end('E_MQTT_UNEXPECTED');
    }
  }

  #setTimer(ms: number): void {
    this.#host.timers.clear(this.#timer);
    this.#timer = this.#host.timers.set(() => this.#onTimer(), ms, this.#state === ClientState.connected ? ms : 0);
  }

  #onTimer(): void {
    if (this.#state === ClientState.connecting) {
      this.#timer = undefined;
      this.#end('timeout');
      return;
    }
    if (this.#state !== ClientState.connected) return;
    const now = this.#host.clock.monotonic.now();
    if (this.#pingSentMs >= 0) {
      // No PINGRESP within half a keepalive period: the link is half-open.
      this.stats.pingTimeouts++;
      this.#end('ping-timeout');
      return;
    }
    if (now - this.#lastTxMs >= (this.#o.keepaliveSec * 1000) / 2) {
      if (this.#send(encodePingreq(this.#tx))) this.#pingSentMs = now;
    }
  }

  #end(reason: string): void {
    if (this.#state === ClientState.idle) return;
    this.#state = ClientState.idle;
    this.#host.timers.clear(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      try {
        socket.close();
      } catch {
        // closing an already failed socket: nothing left to release
      }
    }
    this.#events.onClosed(reason);
  }
}
