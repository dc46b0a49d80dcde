/*
 * CRC-32 (IEEE 802.3, as zlib): reflected polynomial 0xEDB88320, initial value 0xFFFFFFFF,
 * final XOR 0xFFFFFFFF; CRC-32("123456789") = 0xCBF43926.
 * The 1 KB table belongs to the instance (no module state); built once in the constructor.
 */
export const CRC32_POLYNOMIAL_REFLECTED = 0xedb88320;
export class Crc32 {
    #table = new Uint32Array(256);
    constructor() {
        for (let n = 0; n < 256; n++) {
            let c = n;
            for (let k = 0; k < 8; k++)
                c = c & 1 ? CRC32_POLYNOMIAL_REFLECTED ^ (c >>> 1) : c >>> 1;
            this.#table[n] = c >>> 0;
        }
    }
    /** CRC-32 of `length` bytes of `bytes` from `offset`. */
    of(bytes, offset, length) {
        const table = this.#table;
        let crc = 0xffffffff;
        for (let i = offset; i < offset + length; i++)
            crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
        return (crc ^ 0xffffffff) >>> 0;
    }
}
//# sourceMappingURL=crc32.js.map