import { copyReading, newReading } from '../store';
import { asciiBytes } from './ascii';
import { MqttClient } from './client';
import { encodePublishHeader, publishHeaderSize } from './packets';
import { ReadingEncoder } from './payload';
import { createBackoffState, createFixedInterval, nextBackoffDelay, noteConnected, noteDisconnected, } from './backoff';
const Slot = { free: 0, backlog: 1, live: 2, alert: 3 };
export class Uplink {
    #host;
    #store;
    #client;
    #encoder;
    #format;
    #statusTopic;
    #online;
    #cmdTopic;
    #otaTopic;
    #cmdName;
    #otaName;
    #window;
    #backlogWindow;
    #batch;
    #maxPacket;
    /** Per slot: kind, packet id, readings carried, send order, packet length, ever sent. */
    #kind;
    #ids;
    #counts;
    #order;
    #lengths;
    #sent;
    /** Sequence numbers per slot: slot i uses [i * batch, i * batch + counts[i]). */
    #seqs;
    #packets;
    #inflight = 0;
    #backlogInflight = 0;
    #backlogReadingsInflight = 0;
    #sendOrder = 0;
    #nextId = 1;
    #backlogThrough = -1;
    #peek;
    #pick;
    #live;
    #liveCount = 0;
    #subIds = new Uint16Array(2);
    #backoff;
    #stableMs;
    #retryTimer;
    #running = false;
    #everConnected = false;
    onCommand;
    onConnect;
    onAcked;
    onSideAcked;
    #sideId = 0;
    #sideSent = false;
    #sideTopic;
    #sidePayload;
    #sideLength = 0;
    stats = {
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
        lastCloseReason: '',
    };
    constructor(host, store, o) {
        this.#host = host;
        this.#store = store;
        this.#format = o.format === 'binary' ? 'binary' : 'json';
        const window = Math.max(2, Math.min(64, Math.floor(o.window ?? 4)));
        this.#window = window;
        this.#backlogWindow = Math.max(1, Math.min(window - 1, Math.floor(o.backlogWindow ?? window - 1)));
        this.#batch = Math.max(1, Math.min(255, Math.floor(o.batchReadings ?? 24)));
        this.#maxPacket = Math.max(256, Math.min(65535, Math.floor(o.maxPacketBytes ?? 1024)));
        this.#kind = new Uint8Array(window);
        this.#ids = new Uint16Array(window);
        this.#counts = new Uint16Array(window);
        this.#order = new Float64Array(window);
        this.#lengths = new Uint16Array(window);
        this.#sent = new Uint8Array(window);
        this.#seqs = new Float64Array(window * this.#batch);
        const packets = new Uint8Array(window * this.#maxPacket);
        this.#packets = [];
        for (let i = 0; i < window; i++)
            this.#packets.push(packets.subarray(i * this.#maxPacket, (i + 1) * this.#maxPacket));
        this.#peek = [];
        for (let i = 0; i < (this.#backlogWindow + 1) * this.#batch; i++)
            this.#peek.push(newReading());
        this.#pick = [];
        for (let i = 0; i < this.#batch; i++)
            this.#pick.push(newReading());
        this.#live = [];
        const liveReadings = Math.max(1, Math.min(this.#batch, Math.floor(o.liveReadings ?? 4)));
        for (let i = 0; i < liveReadings; i++)
            this.#live.push(newReading());
        const topicRoom = 2 + `pipewatch/${o.deviceId}/readings/bin`.length + 2 + 5;
        this.#encoder = new ReadingEncoder(o.deviceId, this.#maxPacket - topicRoom);
        this.#statusTopic = asciiBytes(`pipewatch/${o.deviceId}/status`);
        this.#online = asciiBytes('online');
        this.#cmdName = `pipewatch/${o.deviceId}/cmd`;
        this.#otaName = `pipewatch/${o.deviceId}/ota`;
        this.#cmdTopic = asciiBytes(this.#cmdName);
        this.#otaTopic = asciiBytes(this.#otaName);
        this.onCommand = o.onCommand;
        this.#backoff =
            o.fixedRetryMs !== undefined
                ? createFixedInterval({ intervalMs: o.fixedRetryMs })
                : createBackoffState({ baseMs: o.backoffBaseMs ?? 1000, capMs: o.backoffCapMs ?? 300_000 });
        this.#stableMs = o.stableMs ?? 60_000;
        this.#client = new MqttClient(host, {
            address: o.address,
            port: o.port,
            secure: o.secure,
            clientId: o.deviceId,
            keepaliveSec: o.keepaliveSec ?? 60,
            cleanSession: false,
            username: o.username,
            password: o.password,
            will: { topic: `pipewatch/${o.deviceId}/status`, payload: 'offline', retain: true },
            maxInboundBytes: o.maxInboundBytes ?? 1024,
            txBufferBytes: this.#maxPacket,
            connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
        }, {
            onConnected: () => this.#onConnected(),
            onPuback: (id) => this.#onPuback(id),
            onSuback: (id, granted) => this.#onSuback(id, granted),
            onMessage: (topic, payload) => this.#onMessage(topic, payload),
            onClosed: (reason) => this.#onClosed(reason),
        });
    }
    get client() {
        return this.#client;
    }
    get connected() {
        return this.#client.connected;
    }
    /** PUBLISH packets awaiting PUBACK. */
    get inflight() {
        return this.#inflight;
    }
    get format() {
        return this.#format;
    }
    start() {
        if (this.#running)
            return;
        this.#running = true;
        this.#client.open();
    }
    /** Stops publishing and closes the connection; in-flight readings stay unacknowledged in the store. */
    stop() {
        this.#running = false;
        this.#host.timers.clear(this.#retryTimer);
        this.#retryTimer = undefined;
        this.#client.close();
    }
    /** Called after the store received readings: publishes if the window has room. */
    kick() {
        if (this.#client.connected)
            this.#pump();
    }
    /**
     * The node stored `reading` as `seq`: remember it for the live path (it goes out ahead of a
     * backlog), then publish if the window has room. The reading is copied; nothing allocates.
     */
    noteStored(seq, reading) {
        if (seq >= 0 && !reading.alert) {
            if (this.#liveCount === this.#live.length) {
                // Oldest live reading gives way; it stays in the store and goes out with the backlog.
                const first = this.#live[0];
                for (let i = 1; i < this.#liveCount; i++)
                    this.#live[i - 1] = this.#live[i];
                this.#live[this.#liveCount - 1] = first;
                this.#liveCount--;
            }
            const slot = this.#live[this.#liveCount++];
            copyReading(slot, reading);
            slot.seq = seq;
        }
        this.kick();
    }
    /** True while a side-channel message awaits its PUBACK. */
    get sideBusy() {
        return this.#sideId !== 0;
    }
    /**
     * Publishes `payload[0..length)` on `topic` with QoS 1 outside the reading window. Returns
     * false (nothing taken) while the previous side message awaits its PUBACK. Taken while
     * offline: it goes out after the next CONNACK.
     */
    sendSide(topic, payload, length) {
        if (this.#sideId !== 0)
            return false;
        this.#sideId = this.#allocateId();
        this.#sideTopic = topic;
        this.#sidePayload = payload;
        this.#sideLength = length;
        this.#sideSent = this.#client.publish(topic, payload, length, 1, this.#sideId, false, false);
        return true;
    }
    #resendSide() {
        if (this.#sideId === 0 || !this.#client.connected)
            return;
        const sent = this.#client.publish(this.#sideTopic, this.#sidePayload, this.#sideLength, 1, this.#sideId, this.#sideSent, false);
        this.#sideSent = this.#sideSent || sent;
    }
    #onConnected() {
        noteConnected(this.#backoff, this.#host.clock.monotonic.now());
        if (this.#everConnected)
            this.stats.reconnects++;
        this.#everConnected = true;
        const client = this.#client;
        client.publish(this.#statusTopic, this.#online, this.#online.length, 0, 0, false, true);
        this.#subIds[0] = this.#allocateId();
        if (client.connected)
            client.subscribe(this.#cmdTopic, 1, this.#subIds[0]);
        this.#subIds[1] = this.#allocateId();
        if (client.connected)
            client.subscribe(this.#otaTopic, 1, this.#subIds[1]);
        this.#resendInflight();
        this.#resendSide();
        this.#pump();
        this.onConnect?.();
    }
    #onClosed(reason) {
        this.stats.lastCloseReason = reason;
        this.#subIds[0] = 0;
        this.#subIds[1] = 0;
        if (!this.#running)
            return;
        const now = this.#host.clock.monotonic.now();
        noteDisconnected(this.#backoff, now, this.#stableMs);
        if (reason === 'socket' || reason === 'timeout' || reason === 'dns' || reason.startsWith('refused')) {
            this.stats.connectFailures++;
        }
        const delay = nextBackoffDelay(this.#backoff, this.#host.random.next());
        this.#retryTimer = this.#host.timers.set(() => {
            this.#retryTimer = undefined;
            if (this.#running)
                this.#client.open();
        }, delay);
    }
    #onPuback(id) {
        if (id !== 0 && id === this.#sideId) {
            this.#sideId = 0;
            this.onSideAcked?.();
            return;
        }
        for (let i = 0; i < this.#window; i++) {
            if (this.#kind[i] === Slot.free || this.#ids[i] !== id)
                continue;
            const base = i * this.#batch;
            for (let k = 0; k < this.#counts[i]; k++)
                this.#store.acknowledge(this.#seqs[base + k]);
            const readings = this.#counts[i];
            this.stats.acked += readings;
            this.#free(i);
            this.#pump();
            this.onAcked?.(readings);
            return;
        }
        this.stats.unexpectedAcks++;
        this.#client.abort('E_MQTT_PACKET_ID');
    }
    #onSuback(id, granted) {
        for (let i = 0; i < 2; i++) {
            if (this.#subIds[i] !== id || id === 0)
                continue;
            this.#subIds[i] = 0;
            if (granted === 0x80)
                this.stats.subscribeFailures++;
            return;
        }
        this.stats.unexpectedAcks++;
        this.#client.abort('E_MQTT_PACKET_ID');
    }
    #onMessage(topic, payload) {
        const name = sameBytes(topic, this.#cmdTopic) ? this.#cmdName : sameBytes(topic, this.#otaTopic) ? this.#otaName : '';
        if (name === '') {
            this.stats.unexpectedMessages++;
            return;
        }
        this.stats.commands++;
        this.onCommand?.(name, payload);
    }
    #free(i) {
        if (this.#kind[i] === Slot.backlog) {
            this.#backlogInflight--;
            this.#backlogReadingsInflight -= this.#counts[i];
        }
        this.#kind[i] = Slot.free;
        this.#ids[i] = 0;
        this.#counts[i] = 0;
        this.#sent[i] = 0;
        this.#inflight--;
    }
    #allocateId() {
        for (;;) {
            const id = this.#nextId;
            this.#nextId = id === 65535 ? 1 : id + 1;
            let used = this.#subIds[0] === id || this.#subIds[1] === id || this.#sideId === id;
            for (let i = 0; i < this.#window && !used; i++)
                if (this.#kind[i] !== Slot.free && this.#ids[i] === id)
                    used = true;
            if (!used)
                return id;
        }
    }
    /** Is `seq` carried by an alert or live slot? (Backlog slots are covered by the cursor.) */
    #inAlertOrLiveSlot(seq) {
        for (let i = 0; i < this.#window; i++) {
            const kind = this.#kind[i];
            if (kind !== Slot.alert && kind !== Slot.live)
                continue;
            const base = i * this.#batch;
            for (let k = 0; k < this.#counts[i]; k++)
                if (this.#seqs[base + k] === seq)
                    return true;
        }
        return false;
    }
    #resendInflight() {
        // Oldest first, so a consumer sees the backlog again in the order it was first sent.
        let last = -1;
        for (;;) {
            let next = -1;
            for (let i = 0; i < this.#window; i++) {
                if (this.#kind[i] === Slot.free || this.#order[i] <= last)
                    continue;
                if (next < 0 || this.#order[i] < this.#order[next])
                    next = i;
            }
            if (next < 0 || !this.#client.connected)
                return;
            last = this.#order[next];
            const packet = this.#packets[next];
            if (this.#sent[next])
                packet[0] = packet[0] | 0x08; // DUP [MQTT-3.3.1-1]
            if (!this.#client.sendPacket(packet, this.#lengths[next]))
                return;
            if (this.#sent[next]) {
                this.stats.resent++;
                this.#resentReadings(next);
            }
            this.#sent[next] = 1;
        }
    }
    #resentReadings(i) {
        this.stats.resentReadings += this.#counts[i];
    }
    #freeSlot() {
        if (this.#inflight >= this.#window)
            return -1;
        for (let i = 0; i < this.#window; i++)
            if (this.#kind[i] === Slot.free)
                return i;
        return -1;
    }
    #pump() {
        if (!this.#client.connected)
            return;
        // 1. Alerts, one per PUBLISH.
        if (this.#inflight < this.#window) {
            const n = this.#store.peek(this.#peek, Math.min(this.#peek.length, this.#window), true);
            for (let k = 0; k < n && this.#client.connected; k++) {
                const r = this.#peek[k];
                if (!r.alert || this.#inAlertOrLiveSlot(r.seq))
                    continue;
                const slot = this.#freeSlot();
                if (slot < 0)
                    return;
                copyReading(this.#pick[0], r);
                this.#publish(slot, Slot.alert, 1);
            }
        }
        // 2. Live readings: drop those the backlog already carried; each of the rest goes in a PUBLISH
        // of its own, so a consumer can tell them from backlog batches (only those must arrive
        // oldest first; live readings overtake a backlog on purpose).
        let keep = 0;
        for (let k = 0; k < this.#liveCount; k++) {
            const r = this.#live[k];
            if (r.seq <= this.#backlogThrough || this.#inAlertOrLiveSlot(r.seq))
                continue;
            if (keep !== k) {
                const spare = this.#live[keep];
                this.#live[keep] = r;
                this.#live[k] = spare;
            }
            keep++;
        }
        let sent = 0;
        while (sent < keep && this.#client.connected) {
            const slot = this.#freeSlot();
            if (slot < 0)
                break;
            copyReading(this.#pick[0], this.#live[sent]);
            if (this.#publish(slot, Slot.live, 1) === 0)
                break;
            sent++;
        }
        for (let k = sent; k < keep; k++)
            copyReading(this.#live[k - sent], this.#live[k]);
        this.#liveCount = keep - sent;
        if (sent < keep)
            return;
        // 3. The backlog, oldest first, in batches.
        while (this.#client.connected && this.#backlogInflight < this.#backlogWindow) {
            const slot = this.#freeSlot();
            if (slot < 0)
                return;
            const want = Math.min(this.#peek.length, this.#backlogReadingsInflight + this.#batch + this.#window);
            const n = this.#store.peek(this.#peek, want);
            let picked = 0;
            for (let k = 0; k < n && picked < this.#batch; k++) {
                const r = this.#peek[k];
                if (r.alert || r.seq <= this.#backlogThrough || this.#inAlertOrLiveSlot(r.seq))
                    continue;
                copyReading(this.#pick[picked++], r);
            }
            if (picked === 0)
                return;
            const taken = this.#publish(slot, Slot.backlog, picked);
            if (taken === 0)
                return;
        }
    }
    /**
     * Encodes `#pick[0..count)` into slot `slot`'s packet (as many as fit), registers the slot and
     * sends it. Returns how many readings it took (0: nothing fitted, nothing sent).
     */
    #publish(slot, kind, count) {
        const e = this.#encoder;
        const pick = this.#pick;
        let length;
        let topic;
        let taken = 1;
        if (kind === Slot.alert) {
            length = e.encode(pick[0]);
            topic = e.alertsTopic;
        }
        else if (this.#format === 'binary') {
            length = e.binary(pick, count);
            taken = e.taken;
            topic = e.binaryTopic;
        }
        else if (count === 1) {
            length = e.encode(pick[0]);
            topic = e.readingsTopic;
        }
        else {
            length = e.batch(pick, count);
            taken = e.taken;
            topic = e.readingsTopic;
        }
        if (length === 0 || taken === 0)
            return 0;
        const packet = this.#packets[slot];
        if (publishHeaderSize(topic.length, length, 1) + length > packet.length)
            return 0;
        const id = this.#allocateId();
        const header = encodePublishHeader(packet, topic, length, 1, id, false, false);
        if (header === 0)
            return 0;
        const payload = e.out.bytes;
        for (let k = 0; k < length; k++)
            packet[header + k] = payload[k];
        const base = slot * this.#batch;
        for (let k = 0; k < taken; k++)
            this.#seqs[base + k] = pick[k].seq;
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
            this.#backlogThrough = pick[taken - 1].seq;
            this.stats.batches++;
        }
        else if (kind === Slot.live)
            this.stats.livePublished++;
        else
            this.stats.alertsPublished++;
        this.stats.published++;
        this.stats.readingsPublished += taken;
        // Registered before sending: a write that fails closes the connection, and the packet goes
        // out on the next one (without DUP, since it never left).
        if (this.#client.sendPacket(packet, header + length))
            this.#sent[slot] = 1;
        return taken;
    }
}
function sameBytes(a, b) {
    if (a.length !== b.length)
        return false;
    for (let i = 0; i < a.length; i++)
        if (a[i] !== b[i])
            return false;
    return true;
}
//# sourceMappingURL=uplink.js.map