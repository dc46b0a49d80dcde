export const FORMAT_MAGIC = 0x31435750; // "PWC1" read as a little-endian u32
export const FORMAT_VERSION = 1;
/** Block header (FORMAT.md "Block header"): fixed 32 bytes, then padded to writeAlign. */
export const Header = {
    magic: 0, // u32
    version: 4, // u8
    ringId: 5, // u8
    ringBlocks: 6, // u16
    epoch: 8, // u32
    seqFirst: 12, // u32
    droppedAtOpen: 16, // u32
    eraseCount: 20, // u32
    slotLength: 24, // u16
    slotsPerBlock: 26, // u16
    crc: 28, // u32 CRC-32 of bytes 0..27
    bytes: 32,
};
/**
 * Close notes (FORMAT.md "Close notes"): each u32 droppedAtClose, u32 its complement, padded to
 * writeAlign. Several, so that a note torn by a power cut can be written again in the next one.
 */
export const NOTE_BYTES = 8;
export const CLOSE_NOTES = 3;
/** Record (FORMAT.md "Record"): 20 bytes, padded to writeAlign with the erase value. */
export const Record = {
    flags: 0, // u8: bit0 synced, bit1 alert, bits2-3 = 0b10 (format marker), bits4-7 kind
    channel: 1, // u8
    timeHigh: 2, // u16: bits 32..47 of timeMs
    timeLow: 4, // u32: bits 0..31 of timeMs
    seq: 8, // u32
    value: 12, // i32, fixed point in the kind's unit
    crc: 16, // u32 CRC-32 of bytes 0..15
    bytes: 20,
};
export const RecordFlags = {
    synced: 0x01,
    alert: 0x02,
    markerMask: 0x0c,
    marker: 0x08,
    kindShift: 4,
};
/** Highest ReadingKind value the format accepts (firmware/store.ts ReadingKind). */
export const MAX_KIND = 2;
/** timeMs is stored in 48 bits. */
export const MAX_TIME_MS = 2 ** 48 - 1;
export const MAX_SEQ = 0xffffffff;
export function roundUp(n, align) {
    return Math.ceil(n / align) * align;
}
/** Lays out a block for this geometry; undefined when the geometry cannot hold the format. */
export function computeLayout(status) {
    const { blockLength, blocks, writeAlign, eraseValue } = status;
    const ok = Number.isInteger(blockLength) &&
        Number.isInteger(blocks) &&
        Number.isInteger(writeAlign) &&
        blockLength > 0 &&
        writeAlign > 0 &&
        blockLength % writeAlign === 0 &&
        blocks >= 2 &&
        (eraseValue === 0xff || eraseValue === 0);
    if (!ok)
        return undefined;
    const slotLength = roundUp(Record.bytes, writeAlign);
    const headerLength = roundUp(Header.bytes, writeAlign);
    const closeOffset = 2 * headerLength;
    const noteLength = roundUp(NOTE_BYTES, writeAlign);
    const closeLength = CLOSE_NOTES * noteLength;
    const bitmapOffset = closeOffset + closeLength;
    let slots = Math.floor((blockLength - bitmapOffset) / slotLength);
    while (slots > 0 && bitmapOffset + roundUp(Math.ceil(slots / 8), writeAlign) + slots * slotLength > blockLength)
        slots--;
    if (slots < 2 || slots > 0xffff || slotLength > 0xffff)
        return undefined;
    const bitmapLength = roundUp(Math.ceil(slots / 8), writeAlign);
    return {
        blockLength,
        blocks,
        writeAlign,
        eraseValue,
        slotLength,
        slotsPerBlock: slots,
        headerLength,
        closeOffset,
        noteLength,
        closeLength,
        bitmapOffset,
        bitmapLength,
        recordsOffset: bitmapOffset + bitmapLength,
    };
}
//# sourceMappingURL=layout.js.map