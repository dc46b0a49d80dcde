/*
 * MQTT 3.1.1 packet encoding and strict decoding (OASIS MQTT 3.1.1, chapters 2 and 3).
 *
 * Encoding is two-step (size, check, write) into a caller's buffer; nothing allocates.
 * Decoding validates the fixed header (type, reserved flags [MQTT-2.2.2-1/2], remaining
 * length encoding [MQTT-2.2.3]) against a configured maximum BEFORE any byte of the body is
 * buffered, then each packet's exact length and fields. A PUBLISH over the maximum is not an
 * error: its variable header (topic, packet id) is buffered and checked like any other, and its
 * payload is skipped as it arrives, never buffered ('discard'); the caller acknowledges and
 * drops it. Every other packet type over the maximum is (none of them can legitimately be).
 * Topic names are checked as MQTT strings (well-formed UTF-8 [MQTT-1.5.3-1], no U+0000
 * [MQTT-1.5.3-2]) and for wildcards [MQTT-3.3.2-2].
 */

export const PacketType = Object.freeze({
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const);

/** Why a byte stream from the broker was rejected. */
export const ProtocolError = Object.freeze({
  /** A packet type a client must never receive (CONNECT, SUBSCRIBE, ...) or reserved (0, 15). */
  TYPE: 'E_MQTT_TYPE',
  /** Fixed-header flags other than those §2.2.2 allows for the type. */
  FLAGS: 'E_MQTT_FLAGS',
  /** Remaining length encoded in more than 4 bytes, or not minimally (§2.2.3). */
  LENGTH_ENCODING: 'E_MQTT_LENGTH_ENCODING',
  /**
   * Remaining length larger than this client accepts, for a packet other than PUBLISH (none can
   * legitimately be), or a PUBLISH whose variable header alone does not fit the buffer.
   */
  TOO_LARGE: 'E_MQTT_TOO_LARGE',
  /** Remaining length wrong for the packet type (e.g. PUBACK not 2). */
  LENGTH: 'E_MQTT_LENGTH',
  /**
   * A field out of range (CONNACK flags/return code, session present with a refusal, packet id
   * 0, topic length overrun, QoS 3).
   */
  FIELD: 'E_MQTT_FIELD',
  /** A topic name that is not well-formed UTF-8 or has U+0000 (§1.5.3). */
  UTF8: 'E_MQTT_UTF8',
  /** A topic name with a wildcard character, '+' or '#' [MQTT-3.3.2-2]. */
  TOPIC: 'E_MQTT_TOPIC',
} as const);
export type ProtocolErrorCode = (typeof ProtocolError)[keyof typeof ProtocolError];

/** Bytes needed to encode a remaining length (1..4), or 0 if it exceeds 268,435,455. */
export function remainingLengthSize(length: number): number {
  if (length < 0) return 0;
  if (length < 128) return 1;
  if (length < 16384) return 2;
  if (length < 2097152) return 3;
  if (length < 268435456) return 4;
  return 0;
}

function writeRemainingLength(out: Uint8Array, offset: number, length: number): number {
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    out[offset++] = byte;
  } while (length > 0);
  return offset;
}

function writeUint16(out: Uint8Array, offset: number, value: number): number {
  out[offset] = value >> 8;
  out[offset + 1] = value & 0xff;
  return offset + 2;
}

function writeField(out: Uint8Array, offset: number, bytes: Uint8Array): number {
  offset = writeUint16(out, offset, bytes.length);
  out.set(bytes, offset);
  return offset + bytes.length;
}

export interface ConnectOptions {
  clientId: Uint8Array;
  keepaliveSec: number;
  cleanSession: boolean;
  username?: Uint8Array;
  password?: Uint8Array;
  will?: { topic: Uint8Array; payload: Uint8Array; qos: 0 | 1 | 2; retain: boolean };
}

/** Encodes CONNECT into `out`; returns its length, or 0 if it does not fit. */
export function encodeConnect(out: Uint8Array, o: ConnectOptions): number {
  let body = 10 + 2 + o.clientId.length; // protocol name(6) level(1) flags(1) keepalive(2)
  if (o.will) body += 2 + o.will.topic.length + 2 + o.will.payload.length;
  if (o.username) body += 2 + o.username.length;
  if (o.password) body += 2 + o.password.length;
  const total = 1 + remainingLengthSize(body) + body;
  if (remainingLengthSize(body) === 0 || total > out.length) return 0;
  let flags = o.cleanSession ? 0x02 : 0;
  if (o.will) flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
  if (o.username) flags |= 0x80;
  if (o.password) flags |= 0x40;
  let p = 0;
  out[p++] = PacketType.CONNECT << 4;
  p = writeRemainingLength(out, p, body);
  out.set([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags], p); // "MQTT", level 4
  p += 8;
  p = writeUint16(out, p, o.keepaliveSec);
  p = writeField(out, p, o.clientId);
  if (o.will) {
    p = writeField(out, p, o.will.topic);
    p = writeField(out, p, o.will.payload);
  }
  if (o.username) p = writeField(out, p, o.username);
  if (o.password) p = writeField(out, p, o.password);
  return p;
}

/**
 * Encodes a PUBLISH header (fixed header, topic, packet id) for a payload of `payloadLength`
 * bytes; the caller writes the payload right after the returned offset. Returns 0 if the
 * whole packet would not fit in `out`.
 */
export function encodePublishHeader(
  out: Uint8Array,
  topic: Uint8Array,
  payloadLength: number,
  qos: 0 | 1,
  packetId: number,
  dup: boolean,
  retain: boolean,
): number {
  const body = 2 + topic.length + (qos ? 2 : 0) + payloadLength;
  const size = remainingLengthSize(body);
  if (size === 0 || 1 + size + body > out.length) return 0;
  let p = 0;
  out[p++] = (PacketType.PUBLISH << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  p = writeRemainingLength(out, p, body);
  p = writeField(out, p, topic);
  if (qos) p = writeUint16(out, p, packetId);
  return p;
}

/** Size of the PUBLISH header that `encodePublishHeader` would write. */
export function publishHeaderSize(topicLength: number, payloadLength: number, qos: 0 | 1): number {
  const body = 2 + topicLength + (qos ? 2 : 0) + payloadLength;
  return 1 + remainingLengthSize(body) + body - payloadLength;
}

export function encodePuback(out: Uint8Array, packetId: number): number {
  out[0] = PacketType.PUBACK << 4;
  out[1] = 2;
  writeUint16(out, 2, packetId);
  return 4;
}

export function encodeSubscribe(out: Uint8Array, packetId: number, topic: Uint8Array, qos: 0 | 1): number {
  const body = 2 + 2 + topic.length + 1;
  if (1 + remainingLengthSize(body) + body > out.length) return 0;
  let p = 0;
  out[p++] = (PacketType.SUBSCRIBE << 4) | 0x02; // [MQTT-3.8.1-1]
  p = writeRemainingLength(out, p, body);
  p = writeUint16(out, p, packetId);
  p = writeField(out, p, topic);
  out[p++] = qos;
  return p;
}

export function encodePingreq(out: Uint8Array): number {
  out[0] = PacketType.PINGREQ << 4;
  out[1] = 0;
  return 2;
}

export function encodeDisconnect(out: Uint8Array): number {
  out[0] = PacketType.DISCONNECT << 4;
  out[1] = 0;
  return 2;
}

/** One decoded packet from the broker. Fields not used by a type are left as they were. */
export interface Inbound {
  type: number;
  flags: number;
  /** CONNACK: session present; PUBLISH: retain. */
  sessionPresent: boolean;
  /** CONNACK return code, or SUBACK's granted QoS (0x80 = failure). */
  returnCode: number;
  packetId: number;
  /** PUBLISH: QoS and DUP from the fixed header. */
  qos: number;
  dup: boolean;
  /** PUBLISH: topic and payload as [start, end) offsets into the decoder's buffer. */
  topicStart: number;
  topicEnd: number;
  payloadStart: number;
  payloadEnd: number;
  /** PUBLISH: remaining length (for a discarded one, the size that was skipped). */
  remaining: number;
}

/**
 * 'packet': `p` holds a complete packet. 'discard': `p` holds the fixed and variable header of
 * a PUBLISH over the maximum (payloadStart === payloadEnd); its payload is being skipped.
 */
export type DecodeResult = 'packet' | 'discard' | 'more' | ProtocolErrorCode;

/**
 * Checks topic name bytes [start, end): well-formed UTF-8 per RFC 3629's table (no overlong
 * forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF), no U+0000, no '+' or '#'.
 * Returns undefined when valid.
 */
export function topicNameError(b: Uint8Array, start: number, end: number): ProtocolErrorCode | undefined {
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) {
      if (c === 0) return ProtocolError.UTF8;
      if (c === 0x2b || c === 0x23) return ProtocolError.TOPIC;
      i++;
      continue;
    }
    let more: number;
    let low = 0x80;
    let high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) more = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      more = 2;
      if (c === 0xe0) low = 0xa0; // overlong
      else if (c === 0xed) high = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3;
      if (c === 0xf0) low = 0x90; // overlong
      else if (c === 0xf4) high = 0x8f; // above U+10FFFF
    } else return ProtocolError.UTF8;
    if (i + more >= end) return ProtocolError.UTF8; // truncated sequence
    const second = b[i + 1]!;
    if (second < low || second > high) return ProtocolError.UTF8;
    for (let k = 2; k <= more; k++) {
      const next = b[i + k]!;
      if (next < 0x80 || next > 0xbf) return ProtocolError.UTF8;
    }
    i += more + 1;
  }
  return undefined;
}

/**
 * Incremental decoder over one fixed buffer. Feed bytes with `push`; call `next(packet)` until
 * it returns 'more'. After an error the decoder must be `reset()` (the connection is closed).
 * A discarded PUBLISH costs no memory: `push` drops its payload bytes as they come (`skipping`
 * says how many are still to come); the header of such a PUBLISH must fit the buffer (a topic
 * name longer than `maxRemaining` cannot be one this client subscribed to: E_MQTT_TOO_LARGE).
 */
export class Decoder {
  readonly buffer: Uint8Array;
  readonly maxRemaining: number;
  #length = 0;
  /** Bytes of the buffer already decoded; -1 while a discarded payload is being dropped. */
  #consumed = 0;
  #skip = 0;

  constructor(maxRemaining: number) {
    this.maxRemaining = maxRemaining;
    this.buffer = new Uint8Array(maxRemaining + 5);
  }

  reset(): void {
    this.#length = 0;
    this.#consumed = 0;
    this.#skip = 0;
  }

  /** Payload bytes of a discarded PUBLISH still to be dropped by `push`. */
  get skipping(): number {
    return this.#skip;
  }

  /**
   * Copies as many bytes as fit (after dropping those of a discarded payload); returns how many
   * were taken, dropped ones included.
   */
  push(bytes: Uint8Array): number {
    // The usual case first, with no more tests than before discarding existed (a PUBACK per
    // reading comes through here): compact what was decoded.
    if (this.#consumed > 0) {
      this.buffer.copyWithin(0, this.#consumed, this.#length);
      this.#length -= this.#consumed;
      this.#consumed = 0;
    } else if (this.#consumed < 0) {
      const dropped = Math.min(this.#skip, bytes.length);
      this.#skip -= dropped;
      if (this.#skip > 0) return dropped;
      this.#consumed = 0;
      return dropped + this.push(bytes.subarray(dropped));
    }
    const n = Math.min(bytes.length, this.buffer.length - this.#length);
    this.buffer.set(n === bytes.length ? bytes : bytes.subarray(0, n), this.#length);
    this.#length += n;
    return n;
  }

  next(p: Inbound): DecodeResult {
    const b = this.buffer;
    const start = this.#consumed;
    const available = this.#length - start;
    if (available < 2) return 'more';
    const first = b[start]!;
    const type = first >> 4;
    const flags = first & 0x0f;
    switch (type) {
      case PacketType.PUBLISH:
        if (((flags >> 1) & 3) === 3) return ProtocolError.FIELD; // [MQTT-3.3.1-4]
        if ((flags & 0x0e) === 0x08) return ProtocolError.FLAGS; // DUP on QoS 0 [MQTT-3.3.1-2]
        break;
      case PacketType.CONNACK:
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBCOMP:
      case PacketType.SUBACK:
      case PacketType.UNSUBACK:
      case PacketType.PINGRESP:
        if (flags !== 0) return ProtocolError.FLAGS;
        break;
      case PacketType.PUBREL:
        if (flags !== 2) return ProtocolError.FLAGS;
        break;
      default:
        return ProtocolError.TYPE;
    }
    let remaining = 0;
    let multiplier = 1;
    let i = 1;
    for (;;) {
      if (i > 4) return ProtocolError.LENGTH_ENCODING;
      if (i >= available) return 'more';
      const byte = b[start + i]!;
      if (i > 1 && byte === 0) return ProtocolError.LENGTH_ENCODING; // not minimal
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      i++;
      if ((byte & 0x80) === 0) break;
    }
    if (remaining > this.maxRemaining) {
      return type === PacketType.PUBLISH ? this.#discard(p, start, i, remaining, available, flags) : ProtocolError.TOO_LARGE;
    }
    if (available < i + remaining) return 'more';
    const body = start + i;
    const end = body + remaining;
    p.type = type;
    p.flags = flags;
    switch (type) {
      case PacketType.CONNACK:
        if (remaining !== 2) return ProtocolError.LENGTH;
        if ((b[body]! & 0xfe) !== 0) return ProtocolError.FIELD; // [MQTT-3.2.2-1] reserved bits
        if (b[body + 1]! > 5) return ProtocolError.FIELD;
        if (b[body]! === 1 && b[body + 1]! !== 0) return ProtocolError.FIELD; // [MQTT-3.2.2-4]
        p.sessionPresent = (b[body]! & 1) === 1;
        p.returnCode = b[body + 1]!;
        break;
      case PacketType.PUBACK:
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
      case PacketType.UNSUBACK:
        if (remaining !== 2) return ProtocolError.LENGTH;
        p.packetId = (b[body]! << 8) | b[body + 1]!;
        if (p.packetId === 0) return ProtocolError.FIELD;
        break;
      case PacketType.SUBACK: {
        if (remaining !== 3) return ProtocolError.LENGTH; // this client subscribes one topic at a time
        p.packetId = (b[body]! << 8) | b[body + 1]!;
        const code = b[body + 2]!;
        if (p.packetId === 0 || (code > 2 && code !== 0x80)) return ProtocolError.FIELD;
        p.returnCode = code;
        break;
      }
      case PacketType.PINGRESP:
        if (remaining !== 0) return ProtocolError.LENGTH;
        break;
      case PacketType.PUBLISH: {
        p.qos = (flags >> 1) & 3;
        p.dup = (flags & 8) !== 0;
        p.sessionPresent = (flags & 1) === 1;
        if (remaining < 2) return ProtocolError.LENGTH;
        const topicLength = (b[body]! << 8) | b[body + 1]!;
        let q = body + 2 + topicLength;
        if (topicLength === 0 || q > end) return ProtocolError.FIELD;
        const bad = topicNameError(b, body + 2, q);
        if (bad !== undefined) return bad;
        p.topicStart = body + 2;
        p.topicEnd = q;
        if (p.qos > 0) {
          if (q + 2 > end) return ProtocolError.LENGTH;
          p.packetId = (b[q]! << 8) | b[q + 1]!;
          if (p.packetId === 0) return ProtocolError.FIELD;
          q += 2;
        } else p.packetId = 0;
        p.payloadStart = q;
        p.payloadEnd = end;
        p.remaining = remaining;
        break;
      }
    }
    this.#consumed = end;
    return 'packet';
  }

  /**
   * A PUBLISH over the maximum, fixed header `headerBytes` long at `start`: waits for its
   * variable header, checks it as `next` would, consumes what is buffered of the packet and
   * leaves the rest of the payload to `push` to drop.
   */
  #discard(p: Inbound, start: number, headerBytes: number, remaining: number, available: number, flags: number): DecodeResult {
    const b = this.buffer;
    if (available < headerBytes + 2) return 'more';
    const body = start + headerBytes;
    const qos = (flags >> 1) & 3;
    const topicLength = (b[body]! << 8) | b[body + 1]!;
    const variable = 2 + topicLength + (qos > 0 ? 2 : 0);
    if (topicLength === 0 || variable > remaining) return ProtocolError.FIELD;
    if (headerBytes + variable > b.length) return ProtocolError.TOO_LARGE;
    if (available < headerBytes + variable) return 'more';
    const q = body + 2 + topicLength;
    const bad = topicNameError(b, body + 2, q);
    if (bad !== undefined) return bad;
    const packetId = qos > 0 ? (b[q]! << 8) | b[q + 1]! : 0;
    if (qos > 0 && packetId === 0) return ProtocolError.FIELD;
    p.type = PacketType.PUBLISH;
    p.flags = flags;
    p.qos = qos;
    p.dup = (flags & 8) !== 0;
    p.sessionPresent = (flags & 1) === 1;
    p.topicStart = body + 2;
    p.topicEnd = q;
    p.packetId = packetId;
    p.payloadStart = body + variable;
    p.payloadEnd = body + variable;
    p.remaining = remaining;
    const total = headerBytes + remaining;
    const buffered = available < total ? available : total;
    this.#skip = total - buffered;
    if (this.#skip === 0) this.#consumed = start + buffered;
    else {
      // Everything buffered belongs to this packet: empty the buffer and drop the rest in push().
      this.#length = 0;
      this.#consumed = -1;
    }
    return 'discard';
  }
}

export function newInbound(): Inbound {
  return {
    type: 0,
    flags: 0,
    sessionPresent: false,
    returnCode: 0,
    packetId: 0,
    qos: 0,
    dup: false,
    topicStart: 0,
    topicEnd: 0,
    payloadStart: 0,
    payloadEnd: 0,
    remaining: 0,
  };
}
