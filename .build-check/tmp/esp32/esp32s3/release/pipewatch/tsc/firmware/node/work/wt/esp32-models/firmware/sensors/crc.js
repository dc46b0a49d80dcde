/*
 * CRC-8 checks of the I2C parts. Bitwise (no table): a few bytes per sample, and no module state.
 *
 * - Sensirion CRC-8 (SHT3x datasheet §4.12 Table 19, SHT4x datasheet §4.4): polynomial 0x31
 *   (x^8 + x^5 + x^4 + 1), initial value 0xFF, no reflection, no final XOR; CRC(0xBEEF) = 0x92.
 * - SMBus PEC (SMBus 3.0 §6.4, MLX90614 datasheet §8.4.3): CRC-8 polynomial 0x07
 *   (x^8 + x^2 + x + 1), initial value 0x00, over every byte of the transaction including the
 *   address bytes with their R/W bit; CRC-8/SMBUS("123456789") = 0xF4.
 */
/** Folds one byte into a CRC-8 with the given (non-reflected) polynomial. */
export function crc8Update(crc, byte, polynomial) {
    crc = (crc ^ byte) & 0xff;
    for (let bit = 0; bit < 8; bit++) {
        crc = crc & 0x80 ? ((crc << 1) ^ polynomial) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
}
export const SENSIRION_POLYNOMIAL = 0x31;
export const SENSIRION_INIT = 0xff;
export const SMBUS_POLYNOMIAL = 0x07;
/** Sensirion CRC-8 over `length` bytes of `bytes` from `offset`. */
export function crc8Sensirion(bytes, offset, length) {
    let crc = SENSIRION_INIT;
    for (let i = offset; i < offset + length; i++)
        crc = crc8Update(crc, bytes[i], SENSIRION_POLYNOMIAL);
    return crc;
}
/** SMBus PEC step: fold one byte into a running PEC (start from 0). */
export function pecUpdate(pec, byte) {
    return crc8Update(pec, byte, SMBUS_POLYNOMIAL);
}
/** SMBus PEC over `length` bytes of `bytes` from `offset`, continuing from `pec` (0 to start). */
export function pecOf(bytes, offset, length, pec = 0) {
    for (let i = offset; i < offset + length; i++)
        pec = crc8Update(pec, bytes[i], SMBUS_POLYNOMIAL);
    return pec;
}
/**
 * True when both words of a 6-byte Sensirion answer (word, CRC, word, CRC) carry their CRC
 * (SHT3x §4.12, SHT4x §4.4).
 */
export function sensirionWordsOk(rx) {
    return crc8Sensirion(rx, 0, 2) === rx[2] && crc8Sensirion(rx, 3, 2) === rx[5];
}
//# sourceMappingURL=crc.js.map