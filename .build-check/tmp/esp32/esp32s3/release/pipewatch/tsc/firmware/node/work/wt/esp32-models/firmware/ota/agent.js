import { fromHex } from '../crypto/hex';
import { MAX_URL_BYTES, MIN_MANIFEST_BYTES } from './manifest';
import { Updater } from './updater';
import { SLOT_HEADER_BYTES } from './slot';
export const STATUS_SLOTS = 8;
export const STATUS_BYTES = 256;
export class OtaAgent {
    updater;
    #host;
    #uplink;
    #otaTopic;
    #statusTopic;
    #ring;
    #lengths = new Uint16Array(STATUS_SLOTS);
    #progress = new Uint8Array(STATUS_SLOTS);
    #head = 0;
    #count = 0;
    /** The head message is on the wire, awaiting its PUBACK (it keeps its slot until then). */
    #onWire = false;
    #sawReading = false;
    #sawAck = false;
    stats;
    /**
     * Returns the agent, or a sentence saying why this node runs without OTA (no update target,
     * no journal partition, a bad key).
     */
    static create(host, deviceId, uplink, config) {
        if (!host.update)
            return 'this host has no update target';
        if (!host.flash)
            return 'this host has no flash';
        const key = typeof config.publicKey === 'string' ? fromHex(config.publicKey) : config.publicKey;
        if (!key || key.length !== 32)
            return 'ota.publicKey must be 32 bytes (64 hex digits)';
        let flash;
        try {
            flash = host.flash.open({ path: config.partition ?? 'ota' });
        }
        catch (error) {
            return `no ota partition (${error.message})`;
        }
        try {
            return new OtaAgent(host, deviceId, uplink, config, key, flash);
        }
        catch (error) {
            return error.message;
        }
    }
    constructor(host, deviceId, uplink, config, key, flash) {
        this.#host = host;
        this.#uplink = uplink;
        this.#otaTopic = `pipewatch/${deviceId}/ota`;
        const statusTopic = `${this.#otaTopic}/status`;
        this.#statusTopic = new Uint8Array(statusTopic.length);
        for (let i = 0; i < statusTopic.length; i++)
            this.#statusTopic[i] = statusTopic.charCodeAt(i);
        this.#ring = new Uint8Array(STATUS_SLOTS * STATUS_BYTES);
        const update = host.update;
        const running = update.running();
        this.stats = { running: running.version, trial: running.trial, offers: 0, statusSent: 0, statusDropped: 0, lastEvent: '' };
        this.updater = new Updater({
            io: host.io,
            timers: host.timers,
            update,
            flash,
            publicKey: key,
            board: config.board,
            securityCounter: running.securityCounter ?? 0,
            maxImageBytes: config.maxImageBytes ?? 1536 * 1024 - SLOT_HEADER_BYTES,
            healthWindowMs: config.healthWindowMs ?? 120_000,
            restart: () => host.restart(),
            onEvent: (event) => this.#onEvent(event),
            ...config.updater,
        });
        uplink.onConnect = () => this.updater.resume();
        uplink.onAcked = () => this.#noteAck();
        uplink.onSideAcked = () => {
            this.#onWire = false;
            this.#head = (this.#head + 1) % STATUS_SLOTS;
            this.#count--;
            this.#pumpStatus();
        };
    }
    /** At node start: reports the running image, resumes a download or starts a health check. */
    boot() {
        this.#queue(`{"event":"booted","running":"${this.stats.running}","trial":${this.stats.trial}}`, false);
        this.updater.boot();
    }
    /** A message on one of the node's command topics; returns true when it was an OTA offer. */
    onMessage(topic, payload) {
        if (topic !== this.#otaTopic)
            return false;
        this.stats.offers++;
        this.#host.log('info', `ota offer: ${payload.length} bytes`);
        let manifestLength = payload.length;
        if (payload.length >= MIN_MANIFEST_BYTES) {
            const declared = 120 + payload[6] + ((payload[8] << 8) | payload[9]);
            if (declared <= payload.length)
                manifestLength = declared;
        }
        let url;
        const urlLength = payload.length - manifestLength;
        if (urlLength > 0 && urlLength <= MAX_URL_BYTES) {
            url = '';
            for (let i = manifestLength; i < payload.length; i++) {
                const c = payload[i];
                if (c < 0x21 || c > 0x7e) {
                    url = undefined;
                    break;
                }
                url += String.fromCharCode(c);
            }
        }
        if (urlLength > 0 && url === undefined) {
            this.#onEvent({ type: 'refused', reason: 'badUrl' });
            return true;
        }
        this.updater.offer(payload.subarray(0, manifestLength), url);
        return true;
    }
    /** The node stored a valid reading. */
    noteReading() {
        if (this.#sawReading)
            return;
        this.#sawReading = true;
        this.updater.noteHealthy({ sensorOk: true });
    }
    close() {
        this.updater.close();
    }
    #noteAck() {
        if (this.#sawAck)
            return;
        this.#sawAck = true;
        this.updater.noteHealthy({ publishAcked: true });
    }
    #onEvent(event) {
        this.stats.lastEvent = event.type;
        let json = `{"event":"${event.type}","running":"${this.stats.running}"`;
        if ('version' in event && event.version !== undefined)
            json += `,"version":"${event.version}"`;
        if ('reason' in event)
            json += `,"reason":"${event.reason}"`;
        if ('bytes' in event)
            json += `,"bytes":${event.bytes},"total":${event.total}`;
        if ('sha256' in event)
            json += `,"sha256":"${event.sha256}"`;
        json += '}';
        if (event.type === 'confirmed')
            this.stats.trial = false;
        this.#host.log(event.type === 'progress' ? 'debug' : 'info', `ota ${json}`);
        this.#queue(json, event.type === 'progress');
    }
    #queue(json, progress) {
        if (json.length > STATUS_BYTES)
            json = json.slice(0, STATUS_BYTES);
        if (this.#count === STATUS_SLOTS) {
            if (progress) {
                this.stats.statusDropped++;
                return;
            }
            this.#dropOne();
        }
        const slot = (this.#head + this.#count) % STATUS_SLOTS;
        const base = slot * STATUS_BYTES;
        for (let i = 0; i < json.length; i++)
            this.#ring[base + i] = json.charCodeAt(i) & 0x7f;
        this.#lengths[slot] = json.length;
        this.#progress[slot] = progress ? 1 : 0;
        this.#count++;
        this.#pumpStatus();
    }
    /** Ring full: drop the oldest waiting progress message, else the oldest message. */
    #dropOne() {
        this.stats.statusDropped++;
        // The head may be on the wire (awaiting its PUBACK): never drop it while busy.
        const first = this.#onWire ? 1 : 0;
        let victim = -1;
        for (let k = first; k < this.#count && victim < 0; k++) {
            if (this.#progress[(this.#head + k) % STATUS_SLOTS])
                victim = k;
        }
        if (victim < 0)
            victim = first;
        for (let k = victim; k < this.#count - 1; k++) {
            const to = (this.#head + k) % STATUS_SLOTS;
            const from = (this.#head + k + 1) % STATUS_SLOTS;
            this.#ring.copyWithin(to * STATUS_BYTES, from * STATUS_BYTES, from * STATUS_BYTES + this.#lengths[from]);
            this.#lengths[to] = this.#lengths[from];
            this.#progress[to] = this.#progress[from];
        }
        this.#count--;
    }
    #pumpStatus() {
        if (this.#onWire || this.#count === 0)
            return;
        const slot = this.#head;
        const base = slot * STATUS_BYTES;
        if (!this.#uplink.sendSide(this.#statusTopic, this.#ring.subarray(base, base + STATUS_BYTES), this.#lengths[slot]))
            return;
        this.#onWire = true;
        this.stats.statusSent++;
    }
}
//# sourceMappingURL=agent.js.map