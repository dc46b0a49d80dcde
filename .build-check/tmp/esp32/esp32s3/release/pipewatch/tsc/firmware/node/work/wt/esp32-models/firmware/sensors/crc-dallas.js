/*
 * Dallas/Maxim 1-Wire CRC-8, polynomial x^8 + x^5 + x^4 + 1 (DS18B20 datasheet, section
 * "CRC Generation", Figure 11; Maxim application note 27). LSB first, initial value 0, no final
 * XOR, computed with the reflected polynomial 0x8C. The CRC of a block followed by its own CRC
 * byte is 0, which is how a scratchpad or a ROM id is checked.
 *
 * Bitwise (no 256-byte table) to keep RAM on the ESP32 for other uses; 9 or 8 bytes per check.
 */
/** Reflected form of x^8 + x^5 + x^4 + 1. */
export const DALLAS_CRC8_POLY_REFLECTED = 0x8c;
/** CRC-8 of `bytes[start, end)`. */
export function crc8Dallas(bytes, start = 0, end = bytes.length) {
    let crc = 0;
    for (let i = start; i < end; i++) {
        let b = bytes[i];
        for (let bit = 0; bit < 8; bit++) {
            const mix = (crc ^ b) & 1;
            crc >>= 1;
            if (mix)
                crc ^= DALLAS_CRC8_POLY_REFLECTED;
            b >>= 1;
        }
    }
    return crc;
}
/** True when the last byte of `bytes[start, end)` is the Dallas CRC-8 of the bytes before it. */
export function checkCrc8Dallas(bytes, start = 0, end = bytes.length) {
    return end - start >= 2 && crc8Dallas(bytes, start, end) === 0;
}
//# sourceMappingURL=crc-dallas.js.map