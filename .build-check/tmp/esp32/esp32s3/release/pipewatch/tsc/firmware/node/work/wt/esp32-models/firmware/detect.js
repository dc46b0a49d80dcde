export class SpikeDetector {
    #rise;
    #windowMs;
    #holdoffMs;
    #depth;
    #times;
    #values;
    #count;
    #next;
    #quietUntil;
    alerts = 0;
    constructor(channels, o = {}) {
        this.#rise = o.riseMilliCelsius ?? 5000;
        this.#windowMs = o.windowMs ?? 180_000;
        this.#holdoffMs = o.holdoffMs ?? 1_800_000;
        this.#depth = Math.min(255, Math.max(2, o.depth ?? 32));
        this.#times = new Float64Array(channels * this.#depth);
        this.#values = new Int32Array(channels * this.#depth);
        this.#count = new Uint8Array(channels);
        this.#next = new Uint8Array(channels);
        this.#quietUntil = new Float64Array(channels).fill(-Infinity);
    }
    /** Records a sample; returns true when it is the start of a leak-like rise. */
    update(channel, timeMs, milliCelsius) {
        const depth = this.#depth;
        const base = channel * depth;
        let low = milliCelsius;
        const count = this.#count[channel];
        for (let i = 0; i < count; i++) {
            const k = base + i;
            if (timeMs - this.#times[k] <= this.#windowMs && this.#values[k] < low)
                low = this.#values[k];
        }
        const slot = this.#next[channel];
        this.#times[base + slot] = timeMs;
        this.#values[base + slot] = milliCelsius;
        this.#next[channel] = (slot + 1) % depth;
        if (count < depth)
            this.#count[channel] = count + 1;
        if (milliCelsius - low < this.#rise || timeMs < this.#quietUntil[channel])
            return false;
        this.#quietUntil[channel] = timeMs + this.#holdoffMs;
        this.alerts++;
        return true;
    }
}
//# sourceMappingURL=detect.js.map