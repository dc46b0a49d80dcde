/*
 * One MQTT 3.1.1 connection over the host's TCP (or TLS) socket: CONNECT/CONNACK, PUBLISH and
 * PUBACK (QoS 0/1), SUBSCRIBE/SUBACK, PINGREQ/PINGRESP with a half-open detector, DISCONNECT.
 * Reconnection policy, in-flight bookkeeping and the store live in the uplink; this class
 * only reports events. Buffers are allocated once, in the constructor.
 *
 * Lifecycle: `open()` -> (onConnected | onClosed) ... `close()`; after `onClosed` the client
 * may be opened again. `onClosed` fires exactly once per `open()`.
 *
 * Strings: client id, will topic and user name are MQTT UTF-8 strings (§1.5.3), encoded here by
 * hand (./utf8); the password is binary data (§3.1.3.5): a Uint8Array is sent as is, a string
 * as UTF-8. The constructor throws a clear Error for what cannot be sent (U+0000 or a lone
 * surrogate in a string, more than 65,535 bytes, a password without a user name
 * [MQTT-3.1.2-22], a will QoS other than 0, 1, 2, a keepalive outside 0..65,535 s, a CONNECT
 * larger than `txBufferBytes`, which could never be sent): a configuration mistake is refused,
 * never sent mangled. `connectOptionsProblem` gives the same
 * verdict without throwing, for settings checks.
 *
 * Inbound PUBLISH over `maxInboundBytes`: acknowledged (QoS 1) as soon as its header was read
 * and checked, its payload skipped unbuffered as it arrives, counted (`stats.discarded`) and
 * reported (`onDiscarded`); the connection stays up. Acknowledging at the header means that a
 * connection lost during a long payload does not make the broker send it again.
 *
 * Keepalive 0 turns the keepalive mechanism off (§3.1.2.10): no PINGREQ, no half-open detector.
 *
 * Names: when `address` is not an IP literal and the host has `dns`, the name is resolved first
 * (a failure closes with 'dns', and the uplink backs off as for any failed attempt); a host
 * without `dns` gets the name as is (it resolves names itself). For TLS the server name is the
 * configured name, whatever address it resolved to.
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
  remainingLengthSize,
  type ConnectOptions,
} from './packets';
import { mqttBinaryBytes, mqttBinaryProblem, mqttStringBytes, mqttStringProblem, utf8Length } from './utf8';

export interface MqttClientOptions {
  address: string;
  port: number;
  secure?: TLSOptions['secure'];
  clientId: string;
  keepaliveSec: number;
  cleanSession: boolean;
  username?: string;
  /** Binary data: bytes as given, or a string as UTF-8. Needs `username` [MQTT-3.1.2-22]. */
  password?: string | Uint8Array;
  /** `qos`: what the broker publishes the will with (default 1). */
  will?: { topic: string; payload: string; retain: boolean; qos?: number };
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
  /** A PUBLISH over `maxInboundBytes` was acknowledged (QoS 1) and dropped; `bytes`: its remaining length. */
  onDiscarded?(topic: Uint8Array, bytes: number): void;
  /**
   * `reason`: 'closed' | 'refused:<rc>' (CONNACK return code 1-5) | 'dns' | 'socket' | 'timeout'
   * (no CONNACK in time) | 'ping-timeout' (half-open link) | a protocol error code (E_MQTT_*).
   */
  onClosed(reason: string): void;
}

export const ClientState = Object.freeze({ idle: 0, connecting: 1, connected: 2, resolving: 3 } as const);

/** True for a dotted IPv4 address or anything with a colon (IPv6); no RegExp on purpose. */
export function isIpLiteral(address: string): boolean {
  if (address.indexOf(':') >= 0) return true;
  let groups = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= address.length; i++) {
    const c = i < address.length ? address.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || value > 255) return false;
      groups++;
      digits = 0;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      digits++;
      value = value * 10 + (c - 0x30);
    } else return false;
  }
  return groups === 4;
}

export interface MqttClientStats {
  connects: number;
  connected: number;
  protocolErrors: number;
  pingTimeouts: number;
  dnsFailures: number;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  /** MQTT packets received (energy accounting: firmware/energy.ts). */
  packetsIn: number;
  /** Inbound PUBLISH packets over `maxInboundBytes`, acknowledged and dropped unread. */
  discarded: number;
}

/** Bytes of the bytes-or-UTF-8 value `v` once checked (`mqttBinaryProblem` returned ''). */
function binaryLength(v: string | Uint8Array): number {
  return v instanceof Uint8Array ? v.length : utf8Length(v, true);
}

/**
 * Why these options cannot make a CONNECT, or '' when they can: the checks the constructor
 * throws for, as a string (settings validation, `pipewatch provision`). Without
 * `txBufferBytes`, the CONNECT's size is not checked.
 */
export function connectOptionsProblem(
  o: Pick<MqttClientOptions, 'clientId' | 'username' | 'password' | 'will' | 'keepaliveSec'> & Partial<Pick<MqttClientOptions, 'txBufferBytes'>>,
): string {
  let problem = mqttStringProblem(o.clientId);
  if (problem !== '') return `MQTT client id ${problem}`;
  if (o.clientId.length === 0) return 'MQTT client id is empty (this client keeps a persistent session)';
  if (o.username !== undefined && (problem = mqttStringProblem(o.username)) !== '') return `MQTT user name ${problem}`;
  if (o.password !== undefined) {
    if ((problem = mqttBinaryProblem(o.password)) !== '') return `MQTT password ${problem}`;
    if (o.username === undefined) return 'MQTT password without a user name (MQTT 3.1.1 [MQTT-3.1.2-22])';
  }
  if (!Number.isInteger(o.keepaliveSec) || o.keepaliveSec < 0 || o.keepaliveSec > 65535) {
    return `MQTT keepalive ${String(o.keepaliveSec)}: an integer 0..65535 seconds`;
  }
  if (o.will) {
    if ((problem = mqttStringProblem(o.will.topic)) !== '') return `MQTT will topic ${problem}`;
    if ((problem = mqttBinaryProblem(o.will.payload)) !== '') return `MQTT will message ${problem}`;
    const qos = o.will.qos ?? 1;
    if (qos !== 0 && qos !== 1 && qos !== 2) return `MQTT will QoS ${String(qos)}: 0, 1 or 2`;
  }
  if (o.txBufferBytes !== undefined) {
    // The sizes encodeConnect (./packets) adds up: fixed header, variable header (10), fields.
    let body = 10 + 2 + utf8Length(o.clientId, false);
    if (o.will) body += 2 + utf8Length(o.will.topic, false) + 2 + binaryLength(o.will.payload);
    if (o.username !== undefined) body += 2 + utf8Length(o.username, false);
    if (o.password !== undefined) body += 2 + binaryLength(o.password);
    const total = 1 + remainingLengthSize(body) + body;
    if (total > o.txBufferBytes) {
      return `MQTT CONNECT would be ${total} bytes, more than the ${o.txBufferBytes}-byte transmit buffer (shorter user name, password or client id)`;
    }
  }
  return '';
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
  #lastRxMs = 0;
  #pingSentMs = -1;
  #connectSent = false;
  /** Bumped by every open() and end(): a late DNS answer for an older attempt is ignored. */
  #attempt = 0;
  readonly stats: MqttClientStats = {
    connects: 0,
    connected: 0,
    protocolErrors: 0,
    pingTimeouts: 0,
    dnsFailures: 0,
    bytesOut: 0,
    bytesIn: 0,
    packetsOut: 0,
    packetsIn: 0,
    discarded: 0,
  };

  constructor(host: Host, options: MqttClientOptions, events: MqttClientEvents) {
    const problem = connectOptionsProblem(options);
    if (problem !== '') throw new Error(problem);
    this.#host = host;
    this.#o = options;
    this.#events = events;
    this.#tx = new Uint8Array(options.txBufferBytes);
    this.#decoder = new Decoder(options.maxInboundBytes);
    this.#connect = {
      clientId: mqttStringBytes(options.clientId, 'client id'),
      keepaliveSec: options.keepaliveSec,
      cleanSession: options.cleanSession,
      username: options.username === undefined ? undefined : mqttStringBytes(options.username, 'user name'),
      password: options.password === undefined ? undefined : mqttBinaryBytes(options.password, 'password'),
      will: options.will && {
        topic: mqttStringBytes(options.will.topic, 'will topic'),
        payload: mqttBinaryBytes(options.will.payload, 'will message'),
        qos: (options.will.qos ?? 1) as 0 | 1 | 2,
        retain: options.will.retain,
      },
    };
  }

  /**
   * Points the next `open()` at another broker (one found by the mDNS search); `serverName`, the
   * broker's host name, is what a TLS connection checks its certificate against. While idle only.
   */
  setBroker(address: string, port: number, serverName?: string): void {
    if (this.#state !== ClientState.idle) return;
    this.#o.address = address;
    this.#o.port = port;
    if (this.#o.secure) {
      // A name found with the broker replaces the one before; without one the address names it (#connectTo).
      const { serverName: _previous, ...rest } = this.#o.secure;
      this.#o.secure = serverName !== undefined ? { ...rest, serverName } : rest;
    }
  }

  /** Largest PUBLISH remaining length read into memory; larger ones are dropped. */
  get maxInboundBytes(): number {
    return this.#o.maxInboundBytes;
  }

  get state(): number {
    return this.#state;
  }

  get connected(): boolean {
    return this.#state === ClientState.connected;
  }

  /** Resolves the name if needed, opens the socket and sends CONNECT once it is writable. */
  open(): void {
    if (this.#state !== ClientState.idle) return;
    this.stats.connects++;
    this.#decoder.reset();
    this.#pingSentMs = -1;
    this.#connectSent = false;
    const attempt = ++this.#attempt;
    const address = this.#o.address;
    const dns = this.#host.dns;
    if (dns && !isIpLiteral(address)) {
      this.#state = ClientState.resolving;
      this.#setTimer(this.#o.connectTimeoutMs);
      try {
        dns.resolve(
          address,
          (resolved) => {
            if (this.#attempt !== attempt || this.#state !== ClientState.resolving) return;
            if (!isIpLiteral(resolved)) {
              this.stats.dnsFailures++;
              this.#end('dns');
              return;
            }
            this.#connectTo(resolved);
          },
          () => {
            if (this.#attempt !== attempt || this.#state !== ClientState.resolving) return;
            this.stats.dnsFailures++;
            this.#end('dns');
          },
        );
      } catch {
        this.stats.dnsFailures++;
        this.#end('dns');
      }
      return;
    }
    this.#state = ClientState.connecting;
    this.#connectTo(address);
  }

  #connectTo(address: string): void {
    this.#state = ClientState.connecting;
    const handlers = {
      address,
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
        const secure = this.#o.secure;
        const named = secure.serverName !== undefined || isIpLiteral(this.#o.address);
        this.#socket = new TLSSocket({ ...handlers, secure: named ? secure : { ...secure, serverName: this.#o.address } });
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

  /**
   * Closes at once without DISCONNECT (so the broker publishes the will) because the peer broke
   * the protocol in a way only the caller can see (a PUBACK for nothing); counted as a protocol
   * error. Fires onClosed(reason).
   */
  abort(reason: string): void {
    if (this.#state === ClientState.idle) return;
    this.stats.protocolErrors++;
    this.#end(reason);
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

  /**
   * Sends a complete packet the caller built (the uplink keeps its in-flight PUBLISH packets so
   * that a resend is the same bytes with DUP set). Same result as `publish`.
   */
  sendPacket(packet: Uint8Array, length: number): boolean {
    if (this.#state !== ClientState.connected || length > packet.length) return false;
    return this.#sendFrom(packet, length);
  }

  subscribe(topic: Uint8Array, qos: 0 | 1, packetId: number): boolean {
    if (this.#state !== ClientState.connected) return false;
    const n = encodeSubscribe(this.#tx, packetId, topic, qos);
    return n > 0 && this.#send(n);
  }

  #send(length: number): boolean {
    return this.#sendFrom(this.#tx, length);
  }

  /** Writes `buffer[0..length)`: the one view it makes is what the socket API takes. */
  #sendFrom(buffer: Uint8Array, length: number): boolean {
    const socket = this.#socket;
    if (!socket) return false;
    try {
      socket.write(length === buffer.length ? buffer : buffer.subarray(0, length));
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
    this.#lastRxMs = this.#host.clock.monotonic.now();
    let bytes = new Uint8Array(chunk);
    while (bytes.length > 0 && this.#socket === socket) {
      const taken = this.#decoder.push(bytes);
      bytes = bytes.subarray(taken);
      for (;;) {
        const result = this.#decoder.next(this.#inbound);
        if (result === 'more') break;
        if (result === 'packet') {
          this.stats.packetsIn++;
          this.#dispatch();
        }
        else if (result === 'discard') this.#discarded();
        else {
          this.stats.protocolErrors++;
          this.#end(result);
          return;
        }
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
        this.#lastRxMs = this.#lastTxMs;
        if (this.#o.keepaliveSec > 0) this.#setTimer((this.#o.keepaliveSec * 1000) / 2);
        else {
          this.#host.timers.clear(this.#timer);
          this.#timer = undefined;
        }
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

  /** The header of a PUBLISH over the limit: acknowledged (QoS 1), counted, reported; its payload is skipped. */
  #discarded(): void {
    const p = this.#inbound;
    if (this.#state !== ClientState.connected) {
      this.stats.protocolErrors++; // [MQTT-3.2.0-1]
      this.#end('E_MQTT_SEQUENCE');
      return;
    }
    if (p.qos === 2) {
      this.stats.protocolErrors++; // never subscribed with QoS 2
      this.#end('E_MQTT_QOS');
      return;
    }
    if (p.qos === 1 && !this.#send(encodePuback(this.#tx, p.packetId))) return;
    this.stats.discarded++;
    const b = this.#decoder.buffer;
    this.#events.onDiscarded?.(b.subarray(p.topicStart, p.topicEnd), p.remaining);
  }

  #setTimer(ms: number): void {
    this.#host.timers.clear(this.#timer);
    this.#timer = this.#host.timers.set(() => this.#onTimer(), ms, this.#state === ClientState.connected ? ms : 0);
  }

  #onTimer(): void {
    if (this.#state === ClientState.connecting || this.#state === ClientState.resolving) {
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
    const half = (this.#o.keepaliveSec * 1000) / 2;
    // Ping when either direction was quiet: a stalled link that still takes our writes is caught too.
    if (now - this.#lastTxMs >= half || now - this.#lastRxMs >= half) {
      if (this.#send(encodePingreq(this.#tx))) this.#pingSentMs = now;
    }
  }

  #end(reason: string): void {
    if (this.#state === ClientState.idle) return;
    this.#state = ClientState.idle;
    this.#attempt++;
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
