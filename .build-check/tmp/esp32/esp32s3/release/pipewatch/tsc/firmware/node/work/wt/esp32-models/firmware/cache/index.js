import { copyReading } from '../store';
import { Crc32 } from './crc32';
import { computeLayout, MAX_KIND, MAX_SEQ, MAX_TIME_MS } from './layout';
import { Ring } from './ring';
export { computeLayout } from './layout';
export class FlashCache {
    #main;
    #alerts;
    #layout;
    #nextSeq;
    stats;
    constructor(flash, options = {}) {
        const status = flash.status();
        const layout = computeLayout(status);
        if (!layout) {
            throw new RangeError(`E_CACHE_GEOMETRY: partition of ${status.blocks} x ${status.blockLength} bytes (writeAlign ${status.writeAlign}) cannot hold the cache`);
        }
        const alertBlocks = options.alertBlocks ?? (status.blocks >= 16 ? Math.max(2, Math.floor(status.blocks / 16)) : 0);
        const mainBlocks = status.blocks - alertBlocks;
        if (!Number.isInteger(alertBlocks) || alertBlocks < 0 || alertBlocks === 1 || mainBlocks < 2) {
            throw new RangeError(`E_CACHE_GEOMETRY: alertBlocks ${alertBlocks} of ${status.blocks} (each ring needs 2 blocks)`);
        }
        this.#layout = layout;
        const crc = new Crc32();
        this.#main = new Ring(flash, layout, crc, 0, 0, mainBlocks);
        this.#alerts = alertBlocks > 0 ? new Ring(flash, layout, crc, 1, mainBlocks, alertBlocks) : undefined;
        const main = this.#main;
        const alerts = this.#alerts;
        main.mount();
        alerts?.mount();
        this.#nextSeq = Math.max(main.maxSeqSeen, alerts ? alerts.maxSeqSeen : -1, 0) + 1;
        if (!main.usable)
            main.format(this.#nextSeq);
        if (alerts && !alerts.usable)
            alerts.format(this.#nextSeq);
        this.stats = {
            appended: 0,
            dropped: 0,
            failed: 0,
            invalid: 0,
            formatted: main.formatted || (alerts?.formatted ?? false),
            corruptSkipped: 0,
            lostBlocks: main.lostBlocks + (alerts?.lostBlocks ?? 0),
            eraseMin: 0,
            eraseMax: 0,
            eraseTotal: 0,
            blocksOpened: 0,
            mountChainBlocks: main.chainLength,
            mountHeadSlot: main.writeSlot,
        };
        this.#refresh();
    }
    /** The sequence number the next append gets. */
    get nextSeq() {
        return this.#nextSeq;
    }
    get pending() {
        return this.#main.pending + (this.#alerts?.pending ?? 0);
    }
    /** Readings the main ring holds at least (its size minus the block being recycled). */
    get capacity() {
        return this.#main.capacity;
    }
    /** Unacknowledged alerts kept at least before the oldest alert is dropped (0: shared ring). */
    get alertCapacity() {
        return this.#alerts?.capacity ?? 0;
    }
    get layout() {
        return this.#layout;
    }
    append(reading) {
        const stats = this.stats;
        if (!validReading(reading)) {
            stats.invalid++;
            stats.failed++;
            return -1;
        }
        const seq = this.#nextSeq;
        if (seq > MAX_SEQ) {
            stats.failed++;
            return -1;
        }
        const ring = reading.alert && this.#alerts ? this.#alerts : this.#main;
        ring.append(reading, seq, seq);
        this.#nextSeq = seq + 1;
        stats.appended++;
        this.#refresh();
        return seq;
    }
    peek(out, max, alertsOnly = false) {
        const limit = Math.min(max, out.length);
        if (!(limit > 0))
            return 0;
        const main = this.#main;
        const alerts = this.#alerts;
        let a = alertsOnly && alerts ? false : main.iterStart(alertsOnly);
        let b = alerts ? alerts.iterStart(false) : false;
        let n = 0;
        while (n < limit && (a || b)) {
            if (a && (!b || main.current.seq < alerts.current.seq)) {
                copyReading(out[n++], main.current);
                if (n < limit)
                    a = main.iterNext();
            }
            else {
                copyReading(out[n++], alerts.current);
                if (n < limit)
                    b = alerts.iterNext();
            }
        }
        this.#refresh();
        return n;
    }
    acknowledge(seq) {
        if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ)
            return;
        if (!this.#alerts?.acknowledge(seq))
            this.#main.acknowledge(seq);
        this.#refresh();
    }
    acknowledgeThrough(seq) {
        if (!Number.isInteger(seq) || seq < 0)
            return;
        const through = Math.min(seq, MAX_SEQ);
        this.#main.acknowledgeThrough(through);
        this.#alerts?.acknowledgeThrough(through);
        this.#refresh();
    }
    #refresh() {
        const stats = this.stats;
        const main = this.#main;
        const alerts = this.#alerts;
        stats.dropped = main.dropped + (alerts?.dropped ?? 0);
        stats.corruptSkipped = main.corruptSkipped + (alerts?.corruptSkipped ?? 0);
        stats.eraseMin = alerts ? Math.min(main.eraseMin, alerts.eraseMin) : main.eraseMin;
        stats.eraseMax = alerts ? Math.max(main.eraseMax, alerts.eraseMax) : main.eraseMax;
        stats.eraseTotal = main.eraseTotal + (alerts?.eraseTotal ?? 0);
        stats.blocksOpened = main.blocksOpened + (alerts?.blocksOpened ?? 0);
    }
}
function validReading(r) {
    return (Number.isInteger(r.value) &&
        r.value >= -0x80000000 &&
        r.value <= 0x7fffffff &&
        Number.isInteger(r.channel) &&
        r.channel >= 0 &&
        r.channel <= 255 &&
        Number.isInteger(r.kind) &&
        r.kind >= 0 &&
        r.kind <= MAX_KIND &&
        Number.isInteger(r.timeMs) &&
        r.timeMs >= 0 &&
        r.timeMs <= MAX_TIME_MS &&
        typeof r.synced === 'boolean' &&
        typeof r.alert === 'boolean');
}
//# sourceMappingURL=index.js.map