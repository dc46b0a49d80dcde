/*
 * MQTT 3.1.1 packet encoding and strict decoding (OASIS MQTT 3.1.1, chapters 2 and 3).
 *
 * Encoding is two-step (size, check, write) into a caller's buffer; nothing allocates.
 * Decoding validates the fixed header (type, reserved flags [MQTT-2.2.2-1/2], remaining
 * length encoding [MQTT-2.2.3]) against a configured maximum BEFORE any byte of the body is
 * buffered, then each packet's exact length and fields.
 */
export const PacketType = {
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
};
/** Why a byte stream from the broker was rejected. */
export const ProtocolError = {
    /** A packet type a client must never receive (CONNECT, SUBSCRIBE, ...) or reserved (0, 15). */
    TYPE: 'E_MQTT_TYPE',
    /** Fixed-header flags other than those §2.2.2 allows for the type. */
    FLAGS: 'E_MQTT_FLAGS',
    /** Remaining length encoded in more than 4 bytes, or not minimally (§2.2.3). */
    LENGTH_ENCODING: 'E_MQTT_LENGTH_ENCODING',
    /** Remaining length larger than this client accepts. */
    TOO_LARGE: 'E_MQTT_TOO_LARGE',
    /** Remaining length wrong for the packet type (e.g. PUBACK not 2). */
    LENGTH: 'E_MQTT_LENGTH',
    /** A field out of range (CONNACK flags/return code, packet id 0, topic length overrun, QoS 3). */
    FIELD: 'E_MQTT_FIELD',
};
/** Bytes needed to encode a remaining length (1..4), or 0 if it exceeds 268,435,455. */
export function remainingLengthSize(length) {
    if (length < 0)
        return 0;
    if (length < 128)
        return 1;
    if (length < 16384)
        return 2;
    if (length < 2097152)
        return 3;
    if (length < 268435456)
        return 4;
    return 0;
}
function writeRemainingLength(out, offset, length) {
    do {
        let byte = length % 128;
        length = Math.floor(length / 128);
        if (length > 0)
            byte |= 0x80;
        out[offset++] = byte;
    } while (length > 0);
    return offset;
}
function writeUint16(out, offset, value) {
    out[offset] = value >> 8;
    out[offset + 1] = value & 0xff;
    return offset + 2;
}
function writeField(out, offset, bytes) {
    offset = writeUint16(out, offset, bytes.length);
    out.set(bytes, offset);
    return offset + bytes.length;
}
/** Encodes CONNECT into `out`; returns its length, or 0 if it does not fit. */
export function encodeConnect(out, o) {
    let body = 10 + 2 + o.clientId.length; // protocol name(6) level(1) flags(1) keepalive(2)
    if (o.will)
        body += 2 + o.will.topic.length + 2 + o.will.payload.length;
    if (o.username)
        body += 2 + o.username.length;
    if (o.password)
        body += 2 + o.password.length;
    const total = 1 + remainingLengthSize(body) + body;
    if (remainingLengthSize(body) === 0 || total > out.length)
        return 0;
    let flags = o.cleanSession ? 0x02 : 0;
    if (o.will)
        flags |= 0x04 | (o.will.qos << 3) | (o.will.retain ? 0x20 : 0);
    if (o.username)
        flags |= 0x80;
    if (o.password)
        flags |= 0x40;
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
    if (o.username)
        p = writeField(out, p, o.username);
    if (o.password)
        p = writeField(out, p, o.password);
    return p;
}
/**
 * Encodes a PUBLISH header (fixed header, topic, packet id) for a payload of `payloadLength`
 * bytes; the caller writes the payload right after the returned offset. Returns 0 if the
 * whole packet would not fit in `out`.
 */
export function encodePublishHeader(out, topic, payloadLength, qos, packetId, dup, retain) {
    const body = 2 + topic.length + (qos ? 2 : 0) + payloadLength;
    const size = remainingLengthSize(body);
    if (size === 0 || 1 + size + body > out.length)
        return 0;
    let p = 0;
    out[p++] = (PacketType.PUBLISH << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
    p = writeRemainingLength(out, p, body);
    p = writeField(out, p, topic);
    if (qos)
        p = writeUint16(out, p, packetId);
    return p;
}
/** Size of the PUBLISH header that `encodePublishHeader` would write. */
export function publishHeaderSize(topicLength, payloadLength, qos) {
    const body = 2 + topicLength + (qos ? 2 : 0) + payloadLength;
    return 1 + remainingLengthSize(body) + body - payloadLength;
}
export function encodePuback(out, packetId) {
    out[0] = PacketType.PUBACK << 4;
    out[1] = 2;
    writeUint16(out, 2, packetId);
    return 4;
}
export function encodeSubscribe(out, packetId, topic, qos) {
    const body = 2 + 2 + topic.length + 1;
    if (1 + remainingLengthSize(body) + body > out.length)
        return 0;
    let p = 0;
    out[p++] = (PacketType.SUBSCRIBE << 4) | 0x02; // [MQTT-3.8.1-1]
    p = writeRemainingLength(out, p, body);
    p = writeUint16(out, p, packetId);
    p = writeField(out, p, topic);
    out[p++] = qos;
    return p;
}
export function encodePingreq(out) {
    out[0] = PacketType.PINGREQ << 4;
    out[1] = 0;
    return 2;
}
export function encodeDisconnect(out) {
    out[0] = PacketType.DISCONNECT << 4;
    out[1] = 0;
    return 2;
}
/**
 * Incremental decoder over one fixed buffer. Feed bytes with `push`; call `next(packet)` until
 * it returns 'more'. After an error the decoder must be `reset()` (the connection is closed).
 */
export class Decoder {
    buffer;
    maxRemaining;
    #length = 0;
    #consumed = 0;
    constructor(maxRemaining) {
        this.maxRemaining = maxRemaining;
        this.buffer = new Uint8Array(maxRemaining + 5);
    }
    reset() {
        this.#length = 0;
        this.#consumed = 0;
    }
    /** Copies as many bytes as fit; returns how many were taken. */
    push(bytes) {
        this.#compact();
        const n = Math.min(bytes.length, this.buffer.length - this.#length);
        this.buffer.set(n === bytes.length ? bytes : bytes.subarray(0, n), this.#length);
        this.#length += n;
        return n;
    }
    #compact() {
        if (this.#consumed === 0)
            return;
        this.buffer.copyWithin(0, this.#consumed, this.#length);
        this.#length -= this.#consumed;
        this.#consumed = 0;
    }
    next(p) {
        const b = this.buffer;
        const start = this.#consumed;
        const available = this.#length - start;
        if (available < 2)
            return 'more';
        const first = b[start];
        const type = first >> 4;
        const flags = first & 0x0f;
        switch (type) {
            case PacketType.PUBLISH:
                if (((flags >> 1) & 3) === 3)
                    return ProtocolError.FIELD; // [MQTT-3.3.1-4]
                break;
            case PacketType.CONNACK:
            case PacketType.PUBACK:
            case PacketType.PUBREC:
            case PacketType.PUBCOMP:
            case PacketType.SUBACK:
            case PacketType.UNSUBACK:
            case PacketType.PINGRESP:
                if (flags !== 0)
                    return ProtocolError.FLAGS;
                break;
            case PacketType.PUBREL:
                if (flags !== 2)
                    return ProtocolError.FLAGS;
                break;
            default:
                return ProtocolError.TYPE;
        }
        let remaining = 0;
        let multiplier = 1;
        let i = 1;
        for (;;) {
            if (i > 4)
                return ProtocolError.LENGTH_ENCODING;
            if (i >= available)
                return 'more';
            const byte = b[start + i];
            if (i > 1 && byte === 0)
                return ProtocolError.LENGTH_ENCODING; // not minimal
            remaining += (byte & 0x7f) * multiplier;
            multiplier *= 128;
            i++;
            if ((byte & 0x80) === 0)
                break;
        }
        if (remaining > this.maxRemaining)
            return ProtocolError.TOO_LARGE;
        if (available < i + remaining)
            return 'more';
        const body = start + i;
        const end = body + remaining;
        p.type = type;
        p.flags = flags;
        switch (type) {
            case PacketType.CONNACK:
                if (remaining !== 2)
                    return ProtocolError.LENGTH;
                if ((b[body] & 0xfe) !== 0)
                    return ProtocolError.FIELD; // [MQTT-3.2.2-1] reserved bits
                if (b[body + 1] > 5)
                    return ProtocolError.FIELD;
                p.sessionPresent = (b[body] & 1) === 1;
                p.returnCode = b[body + 1];
                break;
            case PacketType.PUBACK:
            case PacketType.PUBREC:
            case PacketType.PUBREL:
            case PacketType.PUBCOMP:
            case PacketType.UNSUBACK:
                if (remaining !== 2)
                    return ProtocolError.LENGTH;
                p.packetId = (b[body] << 8) | b[body + 1];
                if (p.packetId === 0)
                    return ProtocolError.FIELD;
                break;
            case PacketType.SUBACK: {
                if (remaining !== 3)
                    return ProtocolError.LENGTH; // this client subscribes one topic at a time
                p.packetId = (b[body] << 8) | b[body + 1];
                const code = b[body + 2];
                if (p.packetId === 0 || (code > 2 && code !== 0x80))
                    return ProtocolError.FIELD;
                p.returnCode = code;
                break;
            }
            case PacketType.PINGRESP:
                if (remaining !== 0)
                    return ProtocolError.LENGTH;
                break;
            case PacketType.PUBLISH: {
                p.qos = (flags >> 1) & 3;
                p.dup = (flags & 8) !== 0;
                p.sessionPresent = (flags & 1) === 1;
                if (remaining < 2)
                    return ProtocolError.LENGTH;
                const topicLength = (b[body] << 8) | b[body + 1];
                let q = body + 2 + topicLength;
                if (topicLength === 0 || q > end)
                    return ProtocolError.FIELD;
                p.topicStart = body + 2;
                p.topicEnd = q;
                if (p.qos > 0) {
                    if (q + 2 > end)
                        return ProtocolError.LENGTH;
                    p.packetId = (b[q] << 8) | b[q + 1];
                    if (p.packetId === 0)
                        return ProtocolError.FIELD;
                    q += 2;
                }
                else
                    p.packetId = 0;
                p.payloadStart = q;
                p.payloadEnd = end;
                break;
            }
        }
        this.#consumed = end;
        return 'packet';
    }
}
export function newInbound() {
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
    };
}
//# sourceMappingURL=packets.js.map