import { Decoder, PacketType, encodeConnect, encodeDisconnect, encodePingreq, encodePuback, encodePublishHeader, encodeSubscribe, newInbound, } from './packets';
import { asciiBytes } from './ascii';
export const ClientState = { idle: 0, connecting: 1, connected: 2, resolving: 3 };
/** True for a dotted IPv4 address or anything with a colon (IPv6); no RegExp on purpose. */
export function isIpLiteral(address) {
    if (address.indexOf(':') >= 0)
        return true;
    let groups = 0;
    let digits = 0;
    let value = 0;
    for (let i = 0; i <= address.length; i++) {
        const c = i < address.length ? address.charCodeAt(i) : 0x2e;
        if (c === 0x2e) {
            if (digits === 0 || value > 255)
                return false;
            groups++;
            digits = 0;
            value = 0;
        }
        else if (c >= 0x30 && c <= 0x39 && digits < 3) {
            digits++;
            value = value * 10 + (c - 0x30);
        }
        else
            return false;
    }
    return groups === 4;
}
export class MqttClient {
    #host;
    #o;
    #events;
    #tx;
    #decoder;
    #inbound = newInbound();
    #connect;
    #socket;
    #state = ClientState.idle;
    #timer;
    #lastTxMs = 0;
    #lastRxMs = 0;
    #pingSentMs = -1;
    #connectSent = false;
    /** Bumped by every open() and end(): a late DNS answer for an older attempt is ignored. */
    #attempt = 0;
    stats = {
        connects: 0,
        connected: 0,
        protocolErrors: 0,
        pingTimeouts: 0,
        dnsFailures: 0,
        bytesOut: 0,
        bytesIn: 0,
        packetsOut: 0,
    };
    constructor(host, options, events) {
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
    get state() {
        return this.#state;
    }
    get connected() {
        return this.#state === ClientState.connected;
    }
    /** Resolves the name if needed, opens the socket and sends CONNECT once it is writable. */
    open() {
        if (this.#state !== ClientState.idle)
            return;
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
                dns.resolve(address, (resolved) => {
                    if (this.#attempt !== attempt || this.#state !== ClientState.resolving)
                        return;
                    if (!isIpLiteral(resolved)) {
                        this.stats.dnsFailures++;
                        this.#end('dns');
                        return;
                    }
                    this.#connectTo(resolved);
                }, () => {
                    if (this.#attempt !== attempt || this.#state !== ClientState.resolving)
                        return;
                    this.stats.dnsFailures++;
                    this.#end('dns');
                });
            }
            catch {
                this.stats.dnsFailures++;
                this.#end('dns');
            }
            return;
        }
        this.#state = ClientState.connecting;
        this.#connectTo(address);
    }
    #connectTo(address) {
        this.#state = ClientState.connecting;
        const handlers = {
            address,
            port: this.#o.port,
            nodelay: true,
            onWritable: () => this.#onWritable(),
            onReadable: (count) => this.#onReadable(count),
            onError: () => this.#end('socket'),
        };
        try {
            const { TLSSocket, TCP: TCPClass } = this.#host.io;
            if (this.#o.secure) {
                if (!TLSSocket)
                    throw new Error('this host has no TLS sockets');
                const secure = this.#o.secure;
                const named = secure.serverName !== undefined || isIpLiteral(this.#o.address);
                this.#socket = new TLSSocket({ ...handlers, secure: named ? secure : { ...secure, serverName: this.#o.address } });
            }
            else {
                this.#socket = new TCPClass(handlers);
            }
        }
        catch {
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
    abort(reason) {
        if (this.#state === ClientState.idle)
            return;
        this.stats.protocolErrors++;
        this.#end(reason);
    }
    /** Sends DISCONNECT when connected, then closes. Fires onClosed('closed'). */
    close() {
        if (this.#state === ClientState.idle)
            return;
        if (this.#state === ClientState.connected)
            this.#send(encodeDisconnect(this.#tx));
        this.#end('closed');
    }
    /**
     * Publishes `payload[0..payloadLength)` on `topic`. Returns false (nothing sent) when not
     * connected, when the packet does not fit the transmit buffer, or when the socket refused it.
     */
    publish(topic, payload, payloadLength, qos, packetId, dup, retain) {
        if (this.#state !== ClientState.connected)
            return false;
        const header = encodePublishHeader(this.#tx, topic, payloadLength, qos, packetId, dup, retain);
        if (header === 0 || header + payloadLength > this.#tx.length)
            return false;
        this.#tx.set(payloadLength === payload.length ? payload : payload.subarray(0, payloadLength), header);
        return this.#send(header + payloadLength);
    }
    /**
     * Sends a complete packet the caller built (the uplink keeps its in-flight PUBLISH packets so
     * that a resend is the same bytes with DUP set). Same result as `publish`.
     */
    sendPacket(packet, length) {
        if (this.#state !== ClientState.connected || length > packet.length)
            return false;
        return this.#sendFrom(packet, length);
    }
    subscribe(topic, qos, packetId) {
        if (this.#state !== ClientState.connected)
            return false;
        const n = encodeSubscribe(this.#tx, packetId, topic, qos);
        return n > 0 && this.#send(n);
    }
    #send(length) {
        return this.#sendFrom(this.#tx, length);
    }
    /** Writes `buffer[0..length)`: the one view it makes is what the socket API takes. */
    #sendFrom(buffer, length) {
        const socket = this.#socket;
        if (!socket)
            return false;
        try {
            socket.write(length === buffer.length ? buffer : buffer.subarray(0, length));
        }
        catch {
            this.#end('socket');
            return false;
        }
        this.stats.bytesOut += length;
        this.stats.packetsOut++;
        this.#lastTxMs = this.#host.clock.monotonic.now();
        return true;
    }
    #onWritable() {
        if (this.#state !== ClientState.connecting || this.#connectSent)
            return;
        this.#connectSent = true;
        const n = encodeConnect(this.#tx, this.#connect);
        if (n === 0 || !this.#send(n))
            this.#end('socket');
    }
    #onReadable(count) {
        const socket = this.#socket;
        if (!socket)
            return;
        const chunk = socket.read(count);
        if (!chunk)
            return;
        this.stats.bytesIn += chunk.byteLength;
        this.#lastRxMs = this.#host.clock.monotonic.now();
        let bytes = new Uint8Array(chunk);
        while (bytes.length > 0 && this.#socket === socket) {
            const taken = this.#decoder.push(bytes);
            bytes = bytes.subarray(taken);
            for (;;) {
                const result = this.#decoder.next(this.#inbound);
                if (result === 'more')
                    break;
                if (result !== 'packet') {
                    this.stats.protocolErrors++;
                    this.#end(result);
                    return;
                }
                this.#dispatch();
                if (this.#socket !== socket)
                    return;
            }
            if (taken === 0 && bytes.length > 0) {
                this.stats.protocolErrors++;
                this.#end('E_MQTT_TOO_LARGE');
                return;
            }
        }
    }
    #dispatch() {
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
                if (p.qos === 1)
                    this.#send(encodePuback(this.#tx, p.packetId));
                this.#events.onMessage(b.subarray(p.topicStart, p.topicEnd), b.subarray(p.payloadStart, p.payloadEnd));
                return;
            }
            default:
                this.stats.protocolErrors++; // PUBREC/PUBREL/PUBCOMP/UNSUBACK: never asked for
                this.#end('E_MQTT_UNEXPECTED');
        }
    }
    #setTimer(ms) {
        this.#host.timers.clear(this.#timer);
        this.#timer = this.#host.timers.set(() => this.#onTimer(), ms, this.#state === ClientState.connected ? ms : 0);
    }
    #onTimer() {
        if (this.#state === ClientState.connecting || this.#state === ClientState.resolving) {
            this.#timer = undefined;
            this.#end('timeout');
            return;
        }
        if (this.#state !== ClientState.connected)
            return;
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
            if (this.#send(encodePingreq(this.#tx)))
                this.#pingSentMs = now;
        }
    }
    #end(reason) {
        if (this.#state === ClientState.idle)
            return;
        this.#state = ClientState.idle;
        this.#attempt++;
        this.#host.timers.clear(this.#timer);
        this.#timer = undefined;
        const socket = this.#socket;
        this.#socket = undefined;
        if (socket) {
            try {
                socket.close();
            }
            catch {
                // closing an already failed socket: nothing left to release
            }
        }
        this.#events.onClosed(reason);
    }
}
//# sourceMappingURL=client.js.map