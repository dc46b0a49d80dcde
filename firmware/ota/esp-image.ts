/*
 * The head of an ESP-IDF application image, checked from the first bytes of a download, before
 * anything is written to the slot (issue 11, item 6).
 *
 * Layout (little-endian), from ESP-IDF components/bootloader_support/include/esp_app_format.h
 * and components/esp_app_format/include/esp_app_desc.h:
 *
 *   offset  size  esp_image_header_t (24 bytes)
 *   0       1     magic: 0xE9 (ESP_IMAGE_HEADER_MAGIC)
 *   1       1     segment_count: 1..16 (ESP_IMAGE_MAX_SEGMENTS)
 *   2       1     spi_mode           3   1  spi_speed:4, spi_size:4
 *   4       4     entry_addr         8   1  wp_pin          9   3  spi_pin_drv
 *   12      2     chip_id (esp_chip_id_t): ESP32 0, S2 2, C3 5, S3 9, C2 12, C6 13, H2 16, P4 18
 *   14      1     min_chip_rev (deprecated)
 *   15      2     min_chip_rev_full: major * 100 + minor
 *   17      2     max_chip_rev_full: major * 100 + minor
 *   19      4     reserved           23  1  hash_appended (0 or 1)
 *           esp_image_segment_header_t of the first segment (8 bytes)
 *   24      4     load_addr
 *   28      4     data_len: a multiple of 4, below 16 MiB (verify_segment_header)
 *           esp_app_desc_t, the first 256 bytes of the first segment's data (the DROM segment)
 *   32      4     magic_word: 0xABCD5432 (ESP_APP_DESC_MAGIC_WORD)
 *   36      4     secure_version     40  8  reserv1
 *   48      32    version: NUL-terminated string (PROJECT_VER)
 *   80      32    project_name       112 16 time   128 16 date   144 32 idf_ver
 *   176     32    app_elf_sha256     208 80 reserved
 *   total   288   bytes read here (APP_HEAD_BYTES); nothing past them is looked at.
 *
 * Contract
 * - `checkAppHead(bytes, length, expected)` reads only bytes[0, min(length, 288)), never
 *   throws, and returns undefined when the head is a well-formed ESP-IDF app image for
 *   `expected.chip` whose descriptor version is `expected.version` (as "1.2.3" or "v1.2.3"),
 *   else the first reason found, in the order of the table below.
 * - `readAppHead(bytes, length)` parses the same fields for tools (chip, revisions, version).
 * - `chipOfBoard(board)` maps a board id to its chip (the board id names its chip first:
 *   "esp32-c3-tmp117", "esp32s3-...", Moddable's "esp32/esp32c3"; "esp32-..." and
 *   "esp32/<board>" without a chip are the classic ESP32; "pipewatch-sim" is a classic ESP32).
 *
 *   reason            what was wrong
 *   imageTooShort     fewer than 288 bytes
 *   badImageMagic     byte 0 is not 0xE9
 *   wrongChip         chip_id is not the node's chip
 *   badSegmentCount   0 or more than 16 segments
 *   badSegment        first segment length not a multiple of 4, below 256, or 16 MiB or more
 *   badAppDescriptor  no 0xABCD5432 magic, or a version that is not NUL-terminated ASCII
 *   versionMismatch   the descriptor's version is not the manifest's
 *
 * What ESP-IDF checks later, over the whole image (segment bounds, checksum, appended SHA-256,
 * chip revision against the eFuses) stays with esp_ota_end and the bootloader.
 */

export const ESP_IMAGE_MAGIC = 0xe9;
export const ESP_APP_DESC_MAGIC = 0xabcd5432;
export const ESP_IMAGE_MAX_SEGMENTS = 16;
export const ESP_IMAGE_HEADER_BYTES = 24;
export const ESP_SEGMENT_HEADER_BYTES = 8;
export const ESP_APP_DESC_BYTES = 256;
export const ESP_APP_DESC_OFFSET = ESP_IMAGE_HEADER_BYTES + ESP_SEGMENT_HEADER_BYTES;
export const ESP_APP_VERSION_OFFSET = ESP_APP_DESC_OFFSET + 16;
export const ESP_APP_VERSION_BYTES = 32;
/** Bytes of an image that `checkAppHead` needs: header, first segment header, app descriptor. */
export const APP_HEAD_BYTES = ESP_APP_DESC_OFFSET + ESP_APP_DESC_BYTES;
const SIXTEEN_MB = 0x1000000;

/** esp_chip_id_t values (esp_app_format.h). */
export const EspChip = Object.freeze({
  esp32: 0x0000,
  esp32s2: 0x0002,
  esp32c3: 0x0005,
  esp32s3: 0x0009,
  esp32c2: 0x000c,
  esp32c6: 0x000d,
  esp32h2: 0x0010,
  esp32p4: 0x0012,
} as const);

export type EspImageReason =
  | 'imageTooShort'
  | 'badImageMagic'
  | 'wrongChip'
  | 'badSegmentCount'
  | 'badSegment'
  | 'badAppDescriptor'
  | 'versionMismatch';

export interface AppHead {
  chip: number;
  segmentCount: number;
  minChipRevFull: number;
  maxChipRevFull: number;
  hashAppended: number;
  firstSegmentBytes: number;
  /** The descriptor's version string, or undefined when the descriptor is not valid. */
  version: string | undefined;
}

/** Chip names that may open a board id, longest first; "esp32" last. */
const CHIP_NAMES = Object.freeze([
  'esp32-s2', 'esp32s2', 'esp32-s3', 'esp32s3', 'esp32-c2', 'esp32c2', 'esp32-c3', 'esp32c3',
  'esp32-c6', 'esp32c6', 'esp32-h2', 'esp32h2', 'esp32-p4', 'esp32p4', 'esp32',
]);

/** The esp_chip_id_t of a chip name as listed in CHIP_NAMES, or undefined. */
export function chipByName(name: string): number | undefined {
  const key = name.replace('-', '');
  return Object.prototype.hasOwnProperty.call(EspChip, key) ? EspChip[key as keyof typeof EspChip] : undefined;
}

/** The chip name ("esp32c3") of an esp_chip_id_t, or "chip id N". */
export function chipName(chip: number): string {
  for (const name in EspChip) if (EspChip[name as keyof typeof EspChip] === chip) return name;
  return `chip id ${chip}`;
}

/** The chip a board id names, or undefined when it names none. */
export function chipOfBoard(board: string): number | undefined {
  if (board === 'pipewatch-sim') return EspChip.esp32;
  let id = board;
  let moddable = false;
  if (id.startsWith('esp32/')) {
    id = id.slice(6);
    moddable = true;
  }
  for (let i = 0; i < CHIP_NAMES.length; i++) {
    const name = CHIP_NAMES[i]!;
    if (id.startsWith(name)) {
      const next = id.charCodeAt(name.length);
      if (id.length === name.length || next === 0x2d || next === 0x2e || next === 0x5f) return chipByName(name);
    }
  }
  return moddable ? EspChip.esp32 : undefined;
}

function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** The NUL-terminated printable-ASCII version of the descriptor, or undefined. */
function descriptorVersion(b: Uint8Array): string | undefined {
  if (u32le(b, ESP_APP_DESC_OFFSET) !== ESP_APP_DESC_MAGIC) return undefined;
  let text = '';
  for (let i = 0; i < ESP_APP_VERSION_BYTES; i++) {
    const c = b[ESP_APP_VERSION_OFFSET + i]!;
    if (c === 0) return text.length > 0 ? text : undefined;
    if (c < 0x20 || c > 0x7e) return undefined;
    text += String.fromCharCode(c);
  }
  return undefined;
}

/** Parses the head fields; undefined when fewer than APP_HEAD_BYTES are given. */
export function readAppHead(bytes: Uint8Array, length = bytes.length): AppHead | undefined {
  if (length < APP_HEAD_BYTES || bytes.length < APP_HEAD_BYTES) return undefined;
  return {
    chip: u16le(bytes, 12),
    segmentCount: bytes[1]!,
    minChipRevFull: u16le(bytes, 15),
    maxChipRevFull: u16le(bytes, 17),
    hashAppended: bytes[23]!,
    firstSegmentBytes: u32le(bytes, 28),
    version: descriptorVersion(bytes),
  };
}

/** Starts from failure; one exit. `expected.version` is the manifest's version ("1.2.3"). */
export function checkAppHead(bytes: Uint8Array, length: number, expected: { chip: number; version: string }): EspImageReason | undefined {
  let reason: EspImageReason | undefined = 'imageTooShort';
  if (length >= APP_HEAD_BYTES && bytes.length >= APP_HEAD_BYTES) {
    const segmentBytes = u32le(bytes, 28);
    const version = descriptorVersion(bytes);
    if (bytes[0] !== ESP_IMAGE_MAGIC) reason = 'badImageMagic';
    else if (u16le(bytes, 12) !== expected.chip) reason = 'wrongChip';
    else if (bytes[1]! < 1 || bytes[1]! > ESP_IMAGE_MAX_SEGMENTS) reason = 'badSegmentCount';
    else if (segmentBytes % 4 !== 0 || segmentBytes < ESP_APP_DESC_BYTES || segmentBytes >= SIXTEEN_MB) reason = 'badSegment';
    else if (version === undefined) reason = 'badAppDescriptor';
    else if (version !== expected.version && version !== `v${expected.version}`) reason = 'versionMismatch';
    else reason = undefined;
  }
  return reason;
}
