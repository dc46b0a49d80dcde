/*
 * On-flash layout of the cache (format version 2; version 1 is recognised only to carry its
 * sequence numbers over when it is re-formatted, see FORMAT.md "Format history"). The byte-by-byte description is in
 * FORMAT.md next to this file; the numbers here are the single source of truth.
 * All multi-byte fields are little-endian.
 */
import type { FlashStatus } from '../host';

export const FORMAT_MAGIC = 0x31435750; // "PWC1" read as a little-endian u32
export const FORMAT_VERSION = 2;
/**
 * Version byte of the encrypted-partition mode (FORMAT.md "Encrypted partitions"): format 2's
 * structures, written once per 16-byte unit. A mount of the other mode re-formats (the version
 * byte differs) instead of misreading.
 */
export const ENCRYPTED_VERSION = 0x82;
/** Bytes of one AES-XTS unit of ESP32 flash encryption: the encrypted mode's write alignment. */
export const UNIT = 16;
/** Version 1 headers: same fields up to slotsPerBlock, CRC-32 of bytes 0..27 at 28, 32 bytes. */
export const V1 = Object.freeze({ version: 1, crc: 28 } as const);

/** Block header (FORMAT.md "Header"): fixed 48 bytes, then padded to writeAlign. */
export const Header = Object.freeze({
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
  corruptAtOpen: 28, // u32: records this ring skipped as corrupt or lost before this block
  skipped: 32, // u16: blocks between the predecessor and this block (bad or unerasable ones)
  // 34..43 reserved (erase value)
  crc: 44, // u32 CRC-32 of bytes 0..43
  bytes: 48,
} as const);

/**
 * Close notes (FORMAT.md "Close notes"), padded to writeAlign. Several, so that a note torn by a
 * power cut can be written again in the next one, and a second block can be recycled while the
 * same block is the head (the first one turned out bad).
 */
export const Note = Object.freeze({
  dropped: 0, // u32: the ring's drop count once the victim is gone
  corrupt: 4, // u32: the ring's corrupt/lost count once the victim is gone
  victim: 8, // u16: ring-relative index of the block being recycled (or counted lost)
  kind: 10, // u16: LOST_NOTE when the victim's records were counted lost at a mount, else erase value

  crc: 12, // u32 CRC-32 of bytes 0..11
  bytes: 16,
} as const);
export const NOTE_BYTES = Note.bytes;
export const LOST_NOTE = 0x4c4c;
export const CLOSE_NOTES = 3;
/** Encrypted mode: close notes per block (a note torn by a cut cannot be written again). */
export const ENCRYPTED_CLOSE_NOTES = 6;

/**
 * Encrypted mode: an entry of a block's acknowledge log (FORMAT.md "Encrypted partitions"),
 * one 16-byte unit. Slots [from, to) acknowledged (or dead: skipped as corrupt, and acknowledged).
 */
export const Entry = Object.freeze({
  kind: 0, // u16: ACK_ENTRY or DEAD_ENTRY
  from: 2, // u16: first slot
  to: 4, // u16: one past the last slot
  // 6..11 reserved (0)
  crc: 12, // u32 CRC-32 of bytes 0..11, XOR the block's epoch
  bytes: 16,
} as const);
export const ACK_ENTRY = 0x4b41; // "AK"
export const DEAD_ENTRY = 0x4444; // "DD"
/** Encrypted mode: log entries beyond one per slot, for writes that did not read back. */
export const LOG_SPARE = 8;
/** Acknowledge bitmaps A and B, then the dead bitmap (FORMAT.md "Bitmaps"). */
export const BITMAPS = 3;

/** Record (FORMAT.md "Record"): 20 bytes, padded to writeAlign with the erase value. */
export const Record = Object.freeze({
  flags: 0, // u8: bit0 synced, bit1 alert, bits2-3 = 0b10 (format marker), bits4-7 kind
  channel: 1, // u8
  timeHigh: 2, // u16: bits 32..47 of timeMs
  timeLow: 4, // u32: bits 0..31 of timeMs
  seq: 8, // u32
  value: 12, // i32, fixed point in the kind's unit
  crc: 16, // u32 CRC-32 of bytes 0..15
  bytes: 20,
} as const);

export const RecordFlags = Object.freeze({
  synced: 0x01,
  alert: 0x02,
  markerMask: 0x0c,
  marker: 0x08,
  kindShift: 4,
} as const);

/** Highest ReadingKind value the format accepts (firmware/store.ts ReadingKind). */
export const MAX_KIND = 2;
/** timeMs is stored in 48 bits. */
export const MAX_TIME_MS = 2 ** 48 - 1;
export const MAX_SEQ = 0xffffffff;

export interface Layout {
  blockLength: number;
  blocks: number;
  writeAlign: number;
  eraseValue: number;
  /** Bytes of one record slot (Record.bytes rounded up to writeAlign). */
  slotLength: number;
  slotsPerBlock: number;
  /** Length of one header copy (Header.bytes rounded up to writeAlign); two copies are written. */
  headerLength: number;
  closeOffset: number;
  /** Length of one close note; there are CLOSE_NOTES of them. */
  noteLength: number;
  closeLength: number;
  /** Offset of acknowledge bitmap A; B follows at + bitmapLength, the dead bitmap at + 2 x bitmapLength. */
  bitmapOffset: number;
  /** Length of one bitmap; there are BITMAPS of them. */
  bitmapLength: number;
  recordsOffset: number;
  /** Encrypted-partition mode (FORMAT.md "Encrypted partitions"): every 16-byte unit written once. */
  encrypted: boolean;
  /** Close notes per block (CLOSE_NOTES, or ENCRYPTED_CLOSE_NOTES). */
  notes: number;
  /** Encrypted mode: offset and entry count of the acknowledge log (0 in plain mode). */
  logOffset: number;
  logEntries: number;
}

export function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Lays out a block for this geometry; undefined when the geometry cannot hold the format. */
export function computeLayout(status: FlashStatus): Layout | undefined {
  const { blockLength, blocks, writeAlign, eraseValue } = status;
  const ok =
    Number.isInteger(blockLength) &&
    Number.isInteger(blocks) &&
    Number.isInteger(writeAlign) &&
    blockLength > 0 &&
    writeAlign > 0 &&
    blockLength % writeAlign === 0 &&
    blocks >= 2 &&
    (eraseValue === 0xff || eraseValue === 0);
  if (!ok) return undefined;
  if (status.encrypted) return encryptedLayout(status);
  const slotLength = roundUp(Record.bytes, writeAlign);
  const headerLength = roundUp(Header.bytes, writeAlign);
  const closeOffset = 2 * headerLength;
  const noteLength = roundUp(NOTE_BYTES, writeAlign);
  const closeLength = CLOSE_NOTES * noteLength;
  const bitmapOffset = closeOffset + closeLength;
  let slots = Math.floor((blockLength - bitmapOffset) / slotLength);
  while (slots > 0 && bitmapOffset + BITMAPS * roundUp(Math.ceil(slots / 8), writeAlign) + slots * slotLength > blockLength) slots--;
  if (slots < 2 || slots > 0xffff || slotLength > 0xffff) return undefined;
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
    recordsOffset: bitmapOffset + BITMAPS * bitmapLength,
    encrypted: false,
    notes: CLOSE_NOTES,
    logOffset: 0,
    logEntries: 0,
  };
}

/**
 * Encrypted mode: header copies and close notes as in format 2, then the acknowledge log (one
 * entry per slot plus LOG_SPARE), then the records, everything in whole 16-byte units. The
 * bitmaps exist only in RAM (replayed from the log), `bitmapLength` sizes them.
 */
function encryptedLayout(status: FlashStatus): Layout | undefined {
  const { blockLength, blocks, eraseValue } = status;
  const align = Math.max(UNIT, status.writeAlign);
  if (blockLength % align !== 0 || align % UNIT !== 0) return undefined;
  const slotLength = roundUp(Record.bytes, align);
  const headerLength = roundUp(Header.bytes, align);
  const closeOffset = 2 * headerLength;
  const noteLength = roundUp(NOTE_BYTES, align);
  const closeLength = ENCRYPTED_CLOSE_NOTES * noteLength;
  const logOffset = closeOffset + closeLength;
  const entryLength = roundUp(Entry.bytes, align);
  const slots = Math.floor((blockLength - logOffset - LOG_SPARE * entryLength) / (slotLength + entryLength));
  if (slots < 2 || slots > 0xffff || slotLength > 0xffff || entryLength !== Entry.bytes) return undefined;
  const logEntries = slots + LOG_SPARE;
  return {
    blockLength,
    blocks,
    writeAlign: align,
    eraseValue,
    slotLength,
    slotsPerBlock: slots,
    headerLength,
    closeOffset,
    noteLength,
    closeLength,
    bitmapOffset: logOffset,
    bitmapLength: Math.ceil(slots / 8),
    recordsOffset: logOffset + logEntries * entryLength,
    encrypted: true,
    notes: ENCRYPTED_CLOSE_NOTES,
    logOffset,
    logEntries,
  };
}
