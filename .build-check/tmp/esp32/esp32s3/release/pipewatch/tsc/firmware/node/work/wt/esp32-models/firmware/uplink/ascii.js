/*
 * ASCII text into a fixed byte buffer, for JSON payloads and topics without allocating.
 * Every write checks the remaining room; once a write did not fit, `overflow` stays true and
 * the caller drops the whole message (it never sends a truncated one).
 */
export class AsciiWriter {
    bytes;
    length = 0;
    overflow = false;
    #digits = new Uint8Array(20);
    constructor(capacity) {
        this.bytes = new Uint8Array(capacity);
    }
    reset() {
        this.length = 0;
        this.overflow = false;
        return this;
    }
    /** Appends a string of 7-bit characters (callers pass only ASCII: ids are validated). */
    text(s) {
        if (this.length + s.length > this.bytes.length) {
            this.overflow = true;
            return this;
        }
        for (let i = 0; i < s.length; i++)
            this.bytes[this.length++] = s.charCodeAt(i) & 0x7f;
        return this;
    }
    raw(b) {
        if (this.length + b.length > this.bytes.length) {
            this.overflow = true;
            return this;
        }
        this.bytes.set(b, this.length);
        this.length += b.length;
        return this;
    }
    /** Appends an integer (safe-integer range) in decimal. */
    int(value) {
        let v = Math.trunc(value);
        let negative = false;
        if (v < 0) {
            negative = true;
            v = -v;
        }
        let n = 0;
        do {
            this.#digits[n++] = 0x30 + (v % 10);
            v = Math.floor(v / 10);
        } while (v > 0);
        if (this.length + n + (negative ? 1 : 0) > this.bytes.length) {
            this.overflow = true;
            return this;
        }
        if (negative)
            this.bytes[this.length++] = 0x2d;
        while (n > 0)
            this.bytes[this.length++] = this.#digits[--n];
        return this;
    }
}
/** ASCII bytes of a string known to be ASCII (ids, topics built from validated ids). */
export function asciiBytes(s) {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++)
        out[i] = s.charCodeAt(i) & 0x7f;
    return out;
}
/** Device ids and topic segments: 1..64 characters of [A-Za-z0-9_.-]. */
export function isValidId(s) {
    if (s.length < 1 || s.length > 64)
        return false;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f;
        if (!ok)
            return false;
    }
    return true;
}
//# sourceMappingURL=ascii.js.map