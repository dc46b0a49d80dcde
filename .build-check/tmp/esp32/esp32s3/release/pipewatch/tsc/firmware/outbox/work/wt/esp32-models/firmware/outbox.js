/*
 * RamStore: the volatile `ReadingStore` for nodes without a cache partition. A fixed ring of
 * preallocated readings; when full, the oldest non-alert reading is dropped and counted.
 * Sequence numbers continue from `firstSeq`, which the node takes from its durable sequence
 * lease so that they never repeat across reboots.
 */
import { copyReading, newReading } from './store';
export class RamStore {
    #ring;
    #acked;
    #head = 0; // index of the oldest held reading
    #count = 0;
    #nextSeq;
    stats = { appended: 0, dropped: 0, failed: 0 };
    constructor(capacity, firstSeq = 1) {
        this.#ring = [];
        for (let i = 0; i < capacity; i++)
            this.#ring.push(newReading());
        this.#acked = new Uint8Array(capacity);
        this.#nextSeq = firstSeq;
    }
    get pending() {
        let n = 0;
        for (let i = 0; i < this.#count; i++)
            if (!this.#acked[(this.#head + i) % this.#ring.length])
                n++;
        return n;
    }
    get nextSeq() {
        return this.#nextSeq;
    }
    append(reading) {
        const capacity = this.#ring.length;
        if (this.#count === capacity)
            this.#dropOne();
        const index = (this.#head + this.#count) % capacity;
        const slot = this.#ring[index];
        copyReading(slot, reading);
        slot.seq = this.#nextSeq++;
        this.#acked[index] = 0;
        this.#count++;
        this.stats.appended++;
        return slot.seq;
    }
    #dropOne() {
        const capacity = this.#ring.length;
        // Drop the oldest non-alert reading; if all are alerts, the oldest alert.
        let victim = 0;
        for (let i = 0; i < this.#count; i++) {
            if (!this.#ring[(this.#head + i) % capacity].alert) {
                victim = i;
                break;
            }
        }
        for (let i = victim; i > 0; i--) {
            const to = (this.#head + i) % capacity;
            const from = (this.#head + i - 1) % capacity;
            copyReading(this.#ring[to], this.#ring[from]);
            this.#acked[to] = this.#acked[from];
        }
        if (!this.#acked[this.#head])
            this.stats.dropped++;
        this.#head = (this.#head + 1) % capacity;
        this.#count--;
    }
    peek(out, max, alertsOnly = false) {
        let n = 0;
        const capacity = this.#ring.length;
        for (let i = 0; i < this.#count && n < max && n < out.length; i++) {
            const index = (this.#head + i) % capacity;
            const r = this.#ring[index];
            if (this.#acked[index] || (alertsOnly && !r.alert))
                continue;
            copyReading(out[n++], r);
        }
        return n;
    }
    acknowledge(seq) {
        const capacity = this.#ring.length;
        for (let i = 0; i < this.#count; i++) {
            const index = (this.#head + i) % capacity;
            if (this.#ring[index].seq === seq)
                this.#acked[index] = 1;
        }
        this.#trim();
    }
    acknowledgeThrough(seq) {
        const capacity = this.#ring.length;
        for (let i = 0; i < this.#count; i++) {
            const index = (this.#head + i) % capacity;
            if (this.#ring[index].seq <= seq)
                this.#acked[index] = 1;
        }
        this.#trim();
    }
    #trim() {
        while (this.#count > 0 && this.#acked[this.#head]) {
            this.#head = (this.#head + 1) % this.#ring.length;
            this.#count--;
        }
    }
}
//# sourceMappingURL=outbox.js.map