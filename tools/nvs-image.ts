/*
 * An ESP-IDF NVS partition image (format version 2, "multipage blob"), written in TypeScript so
 * that `npm run provision` can put the node's settings into its `nvs` partition with esptool
 * alone (ESP-IDF's nvs_partition_gen.py is not needed). Layout as the ESP-IDF documentation
 * ("Non-Volatile Storage Library", NVS internals) describes it and as nvs_partition_gen.py
 * writes it; test/nvs-image.test.ts compares the bytes with images nvs_partition_gen.py made.
 *
 * - The partition is pages of 4096 bytes. The pages written are ACTIVE (0xFFFFFFFE) for the
 *   last and FULL (0xFFFFFFFC) for the ones before; the rest stay erased (0xFF), and the last
 *   page is always left erased (NVS needs one free page for garbage collection).
 * - Page header (32 bytes): state u32, sequence number u32 (the page's index), version u8
 *   (0xFE = version 2), 19 bytes 0xFF, CRC32 u32 over bytes 4..27.
 * - Entry state bitmap (32 bytes): 2 bits per entry, 0b11 empty, 0b10 written, 0b00 erased.
 * - 126 entries of 32 bytes: namespace index u8, type u8, span u8 (entries of the item), chunk
 *   index u8 (0xFF unless a blob chunk), CRC32 u32 over bytes 0..3 and 8..31, key (16 bytes,
 *   NUL padded, at most 15), data (8 bytes). Primitive values little-endian in the data, padded
 *   with 0xFF. A string (type 0x21): data = size u16 (with its NUL), 0xFFFF, CRC32 of the bytes;
 *   the bytes follow in span - 1 entries. A blob: chunks of type 0x42 (BLOB_DATA, chunk index
 *   0, 1, ...; each at most the page's free room), then an index entry of type 0x48 (BLOB_IDX:
 *   total size u32, chunk count u8, first chunk index u8 = 0, 0xFFFF).
 * - Namespaces: an entry in namespace 0 of type u8 whose key is the name and whose value is
 *   the namespace's index (1, 2, ... in order of first use).
 * CRC32 is IEEE (zlib) started from 0xFFFFFFFF, as nvs_partition_gen.py and esp_rom_crc32_le do.
 *
 * Not produced: encrypted NVS (XTS-AES with the keys of the `nvs_keys` partition). A node whose
 * NVS is encrypted cannot read this image; see docs/security.md.
 */
import { crc32 } from '../hosts/esp32/settings';

export const NVS_PAGE_BYTES = 4096;
const ENTRIES = 126;
const ENTRY = 32;
const FIRST_ENTRY = 64;
const STATE_ACTIVE = 0xfffffffe;
const STATE_FULL = 0xfffffffc;
const VERSION_2 = 0xfe;
const CHUNK_ANY = 0xff;
export const NvsType = Object.freeze({ u8: 0x01, i32: 0x14, str: 0x21, blobData: 0x42, blobIndex: 0x48 });
const MAX_KEY = 15;
const MAX_STRING = 4000;

export type NvsImageValue = { type: 'u8'; value: number } | { type: 'i32'; value: number } | { type: 'str'; value: string } | { type: 'blob'; value: Uint8Array };
export interface NvsImageEntry {
  namespace: string;
  key: string;
  value: NvsImageValue;
}

export class NvsImageProblem extends Error {}

function asciiKey(key: string, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(key);
  if (bytes.length === 0 || bytes.length > MAX_KEY) throw new NvsImageProblem(`${what} "${key}": 1..${MAX_KEY} bytes`);
  return bytes;
}

/** Builds the image; throws an NvsImageProblem when an entry is invalid or the partition is too small. */
export function nvsImage(entries: NvsImageEntry[], partitionBytes: number): Uint8Array {
  if (partitionBytes % NVS_PAGE_BYTES !== 0 || partitionBytes < 3 * NVS_PAGE_BYTES) {
    throw new NvsImageProblem(`an NVS partition is a multiple of ${NVS_PAGE_BYTES} bytes, at least 3 pages (got ${partitionBytes})`);
  }
  const image = new Uint8Array(partitionBytes).fill(0xff);
  const usablePages = partitionBytes / NVS_PAGE_BYTES - 1;
  let page = -1;
  let entry = 0;
  const view = new DataView(image.buffer);

  const base = (): number => page * NVS_PAGE_BYTES;
  const newPage = (): void => {
    if (page >= 0) view.setUint32(base(), STATE_FULL, true);
    page++;
    if (page >= usablePages) throw new NvsImageProblem(`the entries do not fit a ${partitionBytes}-byte NVS partition (one page stays free)`);
    entry = 0;
    const at = base();
    view.setUint32(at, STATE_ACTIVE, true);
    view.setUint32(at + 4, page, true);
    image[at + 8] = VERSION_2;
    view.setUint32(at + 28, crc32(image.subarray(at + 4, at + 28), 0xffffffff), true);
  };
  /** Writes `count` entries of `bytes` (padded with 0xFF) at the current entry and marks them written. */
  const put = (bytes: Uint8Array, count: number): void => {
    const at = base() + FIRST_ENTRY + entry * ENTRY;
    image.set(bytes, at);
    for (let i = 0; i < count; i++) {
      const bit = (entry + i) * 2;
      image[base() + 32 + (bit >> 3)]! &= ~(1 << (bit & 7));
    }
    entry += count;
  };
  const header = (ns: number, type: number, span: number, chunk: number, key: Uint8Array): Uint8Array => {
    const h = new Uint8Array(ENTRY).fill(0xff);
    h[0] = ns;
    h[1] = type;
    h[2] = span;
    h[3] = chunk;
    h.fill(0, 8, 24);
    h.set(key, 8);
    return h;
  };
  const seal = (h: Uint8Array): Uint8Array => {
    const body = new Uint8Array(28);
    body.set(h.subarray(0, 4), 0);
    body.set(h.subarray(8, 32), 4);
    new DataView(h.buffer).setUint32(4, crc32(body, 0xffffffff), true);
    return h;
  };
  const dataEntries = (n: number): number => Math.ceil(n / ENTRY);
  const varHeader = (h: Uint8Array, data: Uint8Array): Uint8Array => {
    const v = new DataView(h.buffer);
    v.setUint16(24, data.length, true);
    v.setUint32(28, crc32(data, 0xffffffff), true);
    return seal(h);
  };

  const namespaces = new Map<string, number>();
  newPage();
  const primitive = (ns: number, key: Uint8Array, type: number, value: number, width: number): void => {
    if (entry >= ENTRIES) newPage();
    const h = header(ns, type, 1, CHUNK_ANY, key);
    const v = new DataView(h.buffer);
    if (width === 1) h[24] = value;
    else v.setInt32(24, value, true);
    put(seal(h), 1);
  };

  for (const e of entries) {
    let ns = namespaces.get(e.namespace);
    if (ns === undefined) {
      const name = asciiKey(e.namespace, 'namespace');
      ns = namespaces.size + 1;
      if (ns > 254) throw new NvsImageProblem('at most 254 namespaces');
      primitive(0, name, NvsType.u8, ns, 1);
      namespaces.set(e.namespace, ns);
    }
    const key = asciiKey(e.key, 'key');
    const v = e.value;
    if (v.type === 'u8') {
      if (!Number.isInteger(v.value) || v.value < 0 || v.value > 255) throw new NvsImageProblem(`${e.key}: u8 is 0..255`);
      primitive(ns, key, NvsType.u8, v.value, 1);
    } else if (v.type === 'i32') {
      if (!Number.isInteger(v.value) || v.value < -0x80000000 || v.value > 0x7fffffff) throw new NvsImageProblem(`${e.key}: i32 out of range`);
      primitive(ns, key, NvsType.i32, v.value, 4);
    } else if (v.type === 'str') {
      const text = new TextEncoder().encode(v.value);
      const data = new Uint8Array(text.length + 1);
      data.set(text);
      if (text.indexOf(0) >= 0 || data.length > MAX_STRING) throw new NvsImageProblem(`${e.key}: a string of at most ${MAX_STRING - 1} bytes, no NUL`);
      if (entry >= ENTRIES || entry + 1 + dataEntries(data.length) >= ENTRIES) newPage();
      put(varHeader(header(ns, NvsType.str, 1 + dataEntries(data.length), CHUNK_ANY, key), data), 1);
      put(data, dataEntries(data.length));
    } else {
      const data = v.value;
      if (data.length === 0) throw new NvsImageProblem(`${e.key}: an empty blob`);
      if (entry >= ENTRIES - 1) newPage();
      let offset = 0;
      let chunks = 0;
      for (;;) {
        if (ENTRIES - entry - 1 < 1) newPage(); // no room for a data entry: start the chunk on a fresh page
        const room = (ENTRIES - entry - 1) * ENTRY;
        const size = Math.min(room, data.length - offset);
        const chunk = data.subarray(offset, offset + size);
        put(varHeader(header(ns, NvsType.blobData, 1 + dataEntries(size), chunks, key), chunk), 1);
        put(chunk, dataEntries(size));
        chunks++;
        offset += size;
        if (offset < data.length || room - size < ENTRY) newPage();
        if (offset === data.length) break;
      }
      const h = header(ns, NvsType.blobIndex, 1, CHUNK_ANY, key);
      const hv = new DataView(h.buffer);
      hv.setUint32(24, data.length, true);
      h[28] = chunks;
      h[29] = 0;
      put(seal(h), 1);
    }
  }
  return image;
}
