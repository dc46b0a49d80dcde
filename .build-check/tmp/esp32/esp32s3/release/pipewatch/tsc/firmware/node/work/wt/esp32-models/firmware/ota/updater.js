import { Sha256, SHA256_STATE_BYTES, sha256 } from '../crypto/sha256';
import { toHex } from '../crypto/hex';
import { RecordLog, crc32 } from './journal';
import { checkOffer, MAX_MANIFEST_BYTES, packVersion, verifySignedManifest, versionText } from './manifest';
import { isTransient, parseUrl, RangeGet } from './http';
import { encodeSlotHeader, SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from './slot';
const PHASE_IDLE = 0;
const PHASE_DOWNLOADING = 1;
const PHASE_AWAITING_TRIAL = 2;
const RECORD_PAYLOAD = 84;
const MAX_URL = 400;
function u16(b, o) {
    return (b[o] << 8) | b[o + 1];
}
function u32(b, o) {
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function put32(b, o, v) {
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
}
export class Updater {
    o;
    block;
    header = new Uint8Array(SLOT_HEADER_BYTES);
    headBuffer = new Uint8Array(2048);
    record = new Uint8Array(RECORD_PAYLOAD);
    hashState = new Uint8Array(SHA256_STATE_BYTES);
    hash = new Sha256();
    journal;
    writeAlign;
    flashBlock;
    stateValue = 'idle';
    manifest;
    manifestBytes;
    manifestDigest = new Uint8Array(32);
    target;
    target_;
    request;
    timer;
    offset = 0;
    fill = 0;
    failuresInARow = 0;
    lastProgress = 0;
    trialVersion = 0;
    sensorOk = false;
    publishAcked = false;
    stats = { bytesDownloaded: 0, bytesRefetched: 0, retries: 0, resumes: 0 };
    constructor(options) {
        this.o = {
            blockBytes: 4096,
            healthWindowMs: 120_000,
            timeoutMs: 15_000,
            retryMs: 5_000,
            maxRetries: 20,
            rebootDelayMs: 500,
            progressEveryBytes: 65_536,
            ...options,
        };
        const status = options.flash.status();
        if (status.blocks < 3)
            throw new RangeError('Updater: the ota partition needs 3 erase blocks');
        const blockBytes = this.o.blockBytes;
        if (blockBytes % 64 !== 0 || blockBytes % status.blockLength !== 0 && status.blockLength % blockBytes !== 0) {
            throw new RangeError('Updater: blockBytes must be a multiple of 64 and align with the flash block');
        }
        this.flashBlock = status.blockLength;
        this.writeAlign = Math.max(4, status.writeAlign);
        this.block = new Uint8Array(blockBytes);
        this.journal = new RecordLog(options.flash, 1, RECORD_PAYLOAD);
    }
    get state() {
        return this.stateValue;
    }
    /** Bytes of the current image written so far. */
    get bytesDone() {
        return this.offset;
    }
    emit(event) {
        this.o.onEvent(event);
    }
    saveRecord(phase, version) {
        const r = this.record;
        r.fill(0);
        r[0] = phase;
        put32(r, 4, this.offset);
        put32(r, 8, version);
        if (phase === PHASE_DOWNLOADING) {
            r.set(this.hashState, 12);
            r.set(this.manifestDigest, 52);
        }
        this.journal.append(r);
    }
    /** Accepted manifest and URL in block 0: [len u16][manifest][urlLen u16][url][crc32 u32]. */
    saveManifest(bytes, url) {
        const h = this.header;
        const length = 2 + bytes.length + 2 + url.length;
        const padded = Math.ceil((length + 4) / this.writeAlign) * this.writeAlign;
        h.fill(0xff, 0, padded);
        h[0] = bytes.length >> 8;
        h[1] = bytes.length & 0xff;
        h.set(bytes, 2);
        h[2 + bytes.length] = url.length >> 8;
        h[3 + bytes.length] = url.length & 0xff;
        for (let i = 0; i < url.length; i++)
            h[4 + bytes.length + i] = url.charCodeAt(i);
        put32(h, length, crc32(h, 0, length));
        this.o.flash.eraseBlock(0);
        this.o.flash.write(h.subarray(0, padded), 0);
    }
    loadManifest() {
        const h = this.header;
        this.o.flash.read(h.subarray(0, 4 + MAX_MANIFEST_BYTES + 2 + MAX_URL + 4), 0);
        const m = u16(h, 0);
        if (m < 1 || m > MAX_MANIFEST_BYTES)
            return undefined;
        const urlLength = u16(h, 2 + m);
        if (urlLength > MAX_URL)
            return undefined;
        const length = 4 + m + urlLength;
        if (u32(h, length) !== crc32(h, 0, length))
            return undefined;
        let url = '';
        for (let i = 0; i < urlLength; i++)
            url += String.fromCharCode(h[4 + m + i]);
        return { bytes: h.slice(2, 2 + m), url };
    }
    runningInfo() {
        const running = this.o.update.running();
        return { ...running, packed: packVersion(running.version) };
    }
    /**
     * An update offer (from the OTA topic). Returns the refusal reason, or undefined when the
     * download started. A refusal is also reported as a `refused` event.
     */
    offer(manifestBytes, url) {
        let refusal;
        let version;
        const checked = verifySignedManifest(manifestBytes, this.o.publicKey);
        if (!checked.ok)
            refusal = checked.reason;
        else {
            const m = checked.manifest;
            version = versionText(m.version);
            const digest = sha256(manifestBytes);
            const running = this.runningInfo();
            const offerCheck = checkOffer(m, {
                board: this.o.board,
                version: running.packed,
                securityCounter: this.o.securityCounter,
                maxImageBytes: this.o.maxImageBytes,
            });
            const chosenUrl = url !== undefined && url.length > 0 ? url : m.url;
            const target = parseUrl(chosenUrl);
            if (this.stateValue === 'downloading' || this.stateValue === 'waitingRetry') {
                refusal = toHex(digest) === toHex(this.manifestDigest) ? undefined : 'busy';
                if (refusal === undefined)
                    return undefined;
            }
            else if (this.stateValue !== 'idle' || running.trial)
                refusal = running.trial ? 'onTrial' : 'busy';
            else if (!offerCheck.ok)
                refusal = offerCheck.reason;
            else if (chosenUrl.length === 0)
                refusal = 'noUrl';
            else if (!target || chosenUrl.length > MAX_URL)
                refusal = 'badUrl';
            else {
                try {
                    this.target_ = this.o.update.open({ byteLength: SLOT_IMAGE_OFFSET + m.imageBytes });
                }
                catch {
                    refusal = 'slotUnavailable';
                }
                if (refusal === undefined) {
                    this.manifest = m;
                    this.manifestBytes = manifestBytes.slice();
                    this.manifestDigest.set(digest);
                    this.target = target;
                    this.offset = 0;
                    this.fill = 0;
                    this.failuresInARow = 0;
                    this.lastProgress = 0;
                    this.hash.reset();
                    this.hash.exportState(this.hashState);
                    this.saveManifest(this.manifestBytes, chosenUrl);
                    this.saveRecord(PHASE_DOWNLOADING, m.version);
                    this.stateValue = 'downloading';
                    this.fetch();
                }
            }
        }
        if (refusal !== undefined)
            this.emit({ type: 'refused', reason: refusal, version });
        return refusal;
    }
    /**
     * Call once at start-up, after the network stack exists (it may not be connected yet).
     * Resumes an interrupted download, or starts / settles the health check of a trial image.
     */
    boot() {
        const r = this.record;
        const running = this.runningInfo();
        const hasRecord = this.journal.read(r);
        if (running.trial) {
            this.startHealthWindow(running.packed);
            if (!hasRecord || r[0] !== PHASE_AWAITING_TRIAL || u32(r, 8) !== running.packed) {
                this.offset = 0;
                this.saveRecord(PHASE_AWAITING_TRIAL, running.packed);
            }
            return;
        }
        if (!hasRecord || r[0] === PHASE_IDLE)
            return;
        const offset = u32(r, 4);
        const version = u32(r, 8);
        if (r[0] === PHASE_AWAITING_TRIAL) {
            this.offset = 0;
            if (running.packed === version) {
                this.saveRecord(PHASE_IDLE, 0);
                this.emit({ type: 'confirmed', version: versionText(version) });
            }
            else {
                this.saveRecord(PHASE_IDLE, 0);
                this.emit({ type: 'rolledBack', version: versionText(version) });
            }
            return;
        }
        if (r[0] !== PHASE_DOWNLOADING) {
            this.saveRecord(PHASE_IDLE, 0);
            return;
        }
        const stored = this.loadManifest();
        const checked = stored ? verifySignedManifest(stored.bytes, this.o.publicKey) : undefined;
        const target = stored ? parseUrl(stored.url) : undefined;
        let valid = false;
        if (stored && checked && checked.ok && target) {
            const m = checked.manifest;
            const digest = sha256(stored.bytes);
            let same = m.version === version;
            for (let i = 0; i < 32; i++)
                if (digest[i] !== r[52 + i])
                    same = false;
            const offer = checkOffer(m, { board: this.o.board, version: running.packed, securityCounter: this.o.securityCounter, maxImageBytes: this.o.maxImageBytes });
            if (same && offer.ok && offset % this.o.blockBytes === 0 && offset < m.imageBytes && this.hash.importState(r.subarray(12, 52)) && this.hash.length === offset) {
                try {
                    this.target_ = this.o.update.open({ byteLength: SLOT_IMAGE_OFFSET + m.imageBytes });
                    valid = true;
                }
                catch {
                    valid = false;
                }
                if (valid) {
                    this.manifest = m;
                    this.manifestBytes = stored.bytes;
                    this.manifestDigest.set(digest);
                    this.target = target;
                    this.offset = offset;
                    this.lastProgress = offset;
                    this.fill = 0;
                    this.failuresInARow = 0;
                    this.hashState.set(r.subarray(12, 52));
                    this.stats.resumes++;
                    this.stateValue = 'downloading';
                    this.fetch();
                }
            }
        }
        if (!valid) {
            this.offset = 0;
            this.saveRecord(PHASE_IDLE, 0);
            this.emit({ type: 'failed', reason: 'resumeInvalid' });
        }
    }
    /** The network is back: retry a waiting download now instead of at the next retry tick. */
    resume() {
        if (this.stateValue !== 'waitingRetry')
            return;
        this.o.timers.clear(this.timer);
        this.timer = undefined;
        this.stateValue = 'downloading';
        this.fetch();
    }
    /** Health evidence on a trial image; confirms once both a valid reading and an acked publish were seen. */
    noteHealthy(evidence) {
        if (this.stateValue !== 'trial')
            return;
        if (evidence.sensorOk)
            this.sensorOk = true;
        if (evidence.publishAcked)
            this.publishAcked = true;
        if (!(this.sensorOk && this.publishAcked))
            return;
        this.o.timers.clear(this.timer);
        this.timer = undefined;
        const version = versionText(this.trialVersion);
        try {
            this.o.update.confirm();
        }
        catch {
            this.emit({ type: 'failed', reason: 'confirmFailed', version });
            this.stateValue = 'rebooting';
            this.o.restart();
            return;
        }
        this.stateValue = 'idle';
        this.saveRecord(PHASE_IDLE, 0);
        this.emit({ type: 'confirmed', version });
    }
    /** Stops timers and sockets (node shutdown); the journal keeps what a reboot needs. */
    close() {
        this.o.timers.clear(this.timer);
        this.timer = undefined;
        this.request?.close();
        this.request = undefined;
    }
    startHealthWindow(version) {
        this.trialVersion = version;
        this.stateValue = 'trial';
        this.sensorOk = false;
        this.publishAcked = false;
        this.timer = this.o.timers.set(() => this.healthTimeout(), this.o.healthWindowMs);
    }
    healthTimeout() {
        this.timer = undefined;
        if (this.stateValue !== 'trial')
            return;
        this.stateValue = 'rebooting';
        this.emit({ type: 'failed', reason: 'healthCheckTimeout', version: versionText(this.trialVersion) });
        this.o.restart();
    }
    fetch() {
        const m = this.manifest;
        this.fill = 0;
        this.request = new RangeGet({
            TCP: this.o.io.TCP,
            TLSSocket: this.o.io.TLSSocket,
            timers: this.o.timers,
            target: this.target,
            first: this.offset,
            last: m.imageBytes - 1,
            total: m.imageBytes,
            timeoutMs: this.o.timeoutMs,
            headBuffer: this.headBuffer,
            onBody: (bytes) => this.body(bytes),
            onEnd: (result) => {
                this.request = undefined;
                if (this.stateValue !== 'downloading')
                    return;
                if (result.ok)
                    this.finish();
                else
                    this.interrupted(result.reason);
            },
        });
    }
    body(bytes) {
        if (this.stateValue !== 'downloading')
            return;
        const total = this.manifest.imageBytes;
        let i = 0;
        while (i < bytes.length) {
            const take = Math.min(bytes.length - i, this.block.length - this.fill);
            this.block.set(bytes.subarray(i, i + take), this.fill);
            this.fill += take;
            i += take;
            this.stats.bytesDownloaded += take;
            if (this.fill === this.block.length || this.offset + this.fill === total) {
                if (!this.commitBlock())
                    return;
            }
        }
    }
    /** Hashes and writes the block buffer, then journals; false when the download was aborted. */
    commitBlock() {
        const n = this.fill;
        const m = this.manifest;
        const data = this.block.subarray(0, n);
        const padded = Math.ceil(n / this.writeAlign) * this.writeAlign;
        this.block.fill(0xff, n, padded);
        try {
            this.target_.write(this.block.subarray(0, padded), SLOT_IMAGE_OFFSET + this.offset);
        }
        catch {
            this.abort('writeFailed');
            return false;
        }
        this.hash.update(data);
        this.offset += n;
        this.fill = 0;
        this.failuresInARow = 0;
        if (this.offset < m.imageBytes) {
            this.hash.exportState(this.hashState);
            this.saveRecord(PHASE_DOWNLOADING, m.version);
        }
        if (this.offset - this.lastProgress >= this.o.progressEveryBytes || this.offset === m.imageBytes) {
            this.lastProgress = this.offset;
            this.emit({ type: 'progress', bytes: this.offset, total: m.imageBytes });
        }
        return true;
    }
    interrupted(reason) {
        const m = this.manifest;
        this.stats.bytesRefetched += this.fill;
        this.fill = 0;
        if (!isTransient(reason)) {
            this.abort(reason);
            return;
        }
        this.failuresInARow++;
        if (this.failuresInARow > this.o.maxRetries) {
            this.abort('networkGaveUp');
            return;
        }
        this.stats.retries++;
        this.stateValue = 'waitingRetry';
        this.emit({ type: 'interrupted', reason, bytes: this.offset, total: m.imageBytes });
        this.timer = this.o.timers.set(() => {
            this.timer = undefined;
            if (this.stateValue !== 'waitingRetry')
                return;
            this.stateValue = 'downloading';
            this.fetch();
        }, this.o.retryMs);
    }
    abort(reason) {
        const version = this.manifest ? versionText(this.manifest.version) : undefined;
        this.request?.close();
        this.request = undefined;
        this.o.timers.clear(this.timer);
        this.timer = undefined;
        try {
            this.target_?.cancel();
        }
        catch {
            this.target_ = undefined;
        }
        this.target_ = undefined;
        this.stateValue = 'idle';
        this.offset = 0;
        this.fill = 0;
        this.saveRecord(PHASE_IDLE, 0);
        this.emit({ type: 'failed', reason, version });
    }
    /** All bytes are in: digest and signature first, then the header, then complete(). */
    finish() {
        const m = this.manifest;
        const version = versionText(m.version);
        if (this.offset !== m.imageBytes) {
            this.abort('truncated');
            return;
        }
        const digest = this.hash.digest();
        let diff = 0;
        for (let i = 0; i < 32; i++)
            diff |= digest[i] ^ m.imageSha256[i];
        let failure = diff === 0 ? undefined : 'digestMismatch';
        if (failure === undefined && !verifySignedManifest(this.manifestBytes, this.o.publicKey).ok)
            failure = 'badSignature';
        if (failure !== undefined) {
            this.abort(failure);
            return;
        }
        try {
            encodeSlotHeader(this.manifestBytes, this.header);
            this.target_.write(this.header, 0);
            this.target_.complete();
        }
        catch {
            this.abort('completeFailed');
            return;
        }
        this.target_ = undefined;
        this.offset = 0;
        this.saveRecord(PHASE_AWAITING_TRIAL, m.version);
        this.stateValue = 'rebooting';
        this.emit({ type: 'verified', version, sha256: toHex(digest) });
        this.emit({ type: 'rebooting', version });
        this.timer = this.o.timers.set(() => {
            this.timer = undefined;
            this.o.restart();
        }, this.o.rebootDelayMs);
    }
}
//# sourceMappingURL=updater.js.map