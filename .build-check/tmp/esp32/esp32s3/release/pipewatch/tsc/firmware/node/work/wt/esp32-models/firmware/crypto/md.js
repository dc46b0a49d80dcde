/*
 * The Merkle–Damgård frame shared by SHA-256 and SHA-512 (FIPS 180-4 §5.1, §6): one fixed block
 * buffer, `update` that compresses whole blocks straight from the input, and the final padding
 * (0x80, zeros, the message length in bits, big-endian, in the last 8 or 16 bytes). Subclasses
 * give the initial state and the compression function; nothing here allocates after the
 * constructor.
 */
/** Largest message length counted exactly (2^53 - 1 bytes); far beyond any image. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;
export function writeUint32BE(out, offset, value) {
    out[offset] = value >>> 24;
    out[offset + 1] = value >>> 16;
    out[offset + 2] = value >>> 8;
    out[offset + 3] = value;
}
export function readUint32BE(bytes, offset) {
    return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0;
}
export class MdHash {
    /** Chaining value as big-endian uint32 words (SHA-512: high, low pairs). */
    state;
    block;
    used = 0;
    byteCount = 0;
    finished = false;
    #name;
    #digestBytes;
    /** Padding: the length field takes the last `lengthBytes` of the final block. */
    #lengthBytes;
    constructor(name, blockBytes, digestBytes, lengthBytes) {
        this.#name = name;
        this.#digestBytes = digestBytes;
        this.#lengthBytes = lengthBytes;
        this.state = new Uint32Array(digestBytes / 4);
        this.block = new Uint8Array(blockBytes);
    }
    reset() {
        this.initState();
        this.block.fill(0);
        this.used = 0;
        this.byteCount = 0;
        this.finished = false;
        return this;
    }
    /** Bytes hashed so far. */
    get length() {
        return this.byteCount;
    }
    update(bytes) {
        if (this.finished)
            throw new Error(`${this.#name}: update after digest`);
        const n = bytes.length;
        if (this.byteCount + n > MAX_BYTES)
            throw new Error(`${this.#name}: message too long`);
        const size = this.block.length;
        let i = 0;
        if (this.used > 0) {
            const take = Math.min(size - this.used, n);
            for (let j = 0; j < take; j++)
                this.block[this.used + j] = bytes[j];
            this.used += take;
            i = take;
            if (this.used === size) {
                this.compress(this.block, 0);
                this.used = 0;
            }
        }
        for (; i + size <= n; i += size)
            this.compress(bytes, i);
        for (; i < n; i++)
            this.block[this.used++] = bytes[i];
        this.byteCount += n;
        return this;
    }
    /** Pads, writes the digest into `out` (or a new array) and finishes the context until reset(). */
    digest(out = new Uint8Array(this.#digestBytes)) {
        if (this.finished)
            throw new Error(`${this.#name}: digest twice`);
        if (out.length < this.#digestBytes)
            throw new Error(`${this.#name}: output too short`);
        this.finished = true;
        const block = this.block;
        const size = block.length;
        block[this.used++] = 0x80;
        if (this.used > size - this.#lengthBytes) {
            block.fill(0, this.used);
            this.compress(block, 0);
            this.used = 0;
        }
        block.fill(0, this.used);
        writeUint32BE(block, size - 8, Math.floor(this.byteCount / 0x20000000));
        writeUint32BE(block, size - 4, (this.byteCount * 8) >>> 0);
        this.compress(block, 0);
        for (let i = 0; i < this.state.length; i++)
            writeUint32BE(out, i * 4, this.state[i]);
        return out;
    }
}
//# sourceMappingURL=md.js.map