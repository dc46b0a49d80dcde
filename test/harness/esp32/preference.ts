/*
 * A strict model of the Moddable SDK's `preference` module on ESP32 (modules/files/preference/
 * preference.js over esp32/modPreference.c) with ESP-IDF's NVS (components/nvs_flash) behind it.
 * What the C code does, line by line (modPreference.c of SDK 8.2.x):
 *
 * - `set(domain, key, value)` (xs_preference_set):
 *   - `nvs_open(xsmcToString(domain), NVS_READWRITE)` first: a namespace name longer than 15
 *     bytes cannot be created (nvs_page.cpp Page::writeItem: `keySize > Item::MAX_KEY_LENGTH`
 *     → ESP_ERR_NVS_KEY_TOO_LONG; NVS_NS_NAME_MAX_SIZE 16 with its NUL), nor a 255th namespace
 *     (nvs_storage.cpp: the namespace index is a u8, 0 and 255 reserved) → `Error("nvs_open fail")`.
 *   - the key goes through `xsmcToStringBuffer(key, char[64])` (xsAPI.c fxToStringBuffer: UTF-8
 *     length + NUL > 64 → `RangeError("cannot buffer string")`); a key of 16..63 bytes passes
 *     that and NVS refuses it (ESP_ERR_NVS_KEY_TOO_LONG) → `Error("nvs set fail")`.
 *   - the value by its XS type: boolean → nvs_set_u8; integer → nvs_set_i32; a number that is
 *     not integral → `Error("float unsupported")` (`dbl != (int)dbl`); a string → nvs_set_str
 *     (UTF-8 + NUL at most 4000 bytes: Page::CHUNK_MAX_SIZE, a string is never split → else
 *     ESP_ERR_NVS_VALUE_TOO_LONG → "nvs set fail"); an ArrayBuffer (`xsmcIsInstanceOf(...,
 *     xsArrayBufferPrototype)`) → nvs_set_blob; anything else, a Uint8Array or DataView
 *     included → `Error("unsupported type")`.
 *   - before each nvs_set_*, ERASE_KEY: `nvs_erase_key(handle, key)` whose result is ignored (the
 *     macro tests the stale `err`). So a set is NOT atomic: a power cut between the erase and the
 *     set leaves the key absent — neither the old nor the new value. The model makes both steps
 *     separate power-cut points.
 *   - Stricter than the chip where the C behaviour is undefined: an integral number outside
 *     int32 (the C cast `(int)dbl` is undefined behaviour) and a string holding U+0000 (cut short
 *     by the C string) are refused with a `RangeError` naming the model.
 * - `get(domain, key)` (xs_preference_get): the key buffer first (RangeError as above); a domain
 *   that does not exist (or cannot: over 15 bytes) → undefined; then tries u8 (→ boolean), i32
 *   (→ number), string, blob (→ a new ArrayBuffer), else undefined. A key of 16..63 bytes: NVS
 *   truncates it on lookup; the model refuses it (RangeError) rather than guess.
 * - `delete(domain, key)` (xs_preference_delete): both through 64-byte buffers (RangeError);
 *   `nvs_open` READWRITE (creates the namespace); a missing key is not an error.
 * - `keys(domain)` (xs_preference_keys): the domain's keys (NVS iterates in flash order; the
 *   model in the order they were written).
 *
 * Capacity (ESP-IDF NVS, docs "Non-Volatile Storage Library" and nvs_page.hpp): pages of 4096
 * bytes, 126 entries of 32 bytes each; one page is kept free for garbage collection. An item
 * costs one entry; a string or blob chunk one header entry plus ceil(bytes / 32) data entries;
 * a blob is split into chunks of at most 4000 bytes (Page::CHUNK_MAX_SIZE) plus one index entry;
 * each namespace costs one entry. Erased entries are reclaimed. Exceeding the live capacity →
 * ESP_ERR_NVS_NOT_ENOUGH_SPACE → "nvs set fail". (Lenient on purpose in one way: the model does
 * not pack pages, so fragmentation that could make a real part refuse a little earlier is not
 * modelled; `entriesUsed` lets tests keep a wide margin.) A blob is at most 508000 bytes or
 * 97.6 % of the partition minus 4000 bytes (the NVS documentation's limit).
 *
 * Power cuts: `state.cutAfter(n)` lets n more NVS write operations (erase key, set value)
 * complete; the next one throws `PowerCut` without changing anything, and so does every later
 * call until `state.reboot()` (a new boot reads what survived). Portable: no Node APIs.
 */

export type NvsItem =
  | { type: 'u8'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'str'; value: string }
  | { type: 'blob'; value: Uint8Array };

/** Thrown by every call once the model's power is cut (see the header). */
export class PowerCut extends Error {
  constructor() {
    super('power cut');
  }
}

export const NVS_PAGE_BYTES = 4096;
export const NVS_ENTRIES_PER_PAGE = 126;
export const NVS_ENTRY_BYTES = 32;
/** Page::CHUNK_MAX_SIZE = ENTRY_SIZE * (ENTRY_COUNT - 1). */
export const NVS_CHUNK_MAX = 4000;
/** NVS_KEY_NAME_MAX_SIZE - 1 and NVS_NS_NAME_MAX_SIZE - 1. */
export const NVS_KEY_MAX = 15;
/** The C buffers of modPreference.c: `char key[64]`, `char domain[64]`. */
const C_BUFFER = 64;
const MAX_NAMESPACES = 254;

/** UTF-8 byte length of a string (XS strings are UTF-8 inside). */
export function utf8Bytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function entriesForBytes(bytes: number): number {
  return 1 + Math.ceil(bytes / NVS_ENTRY_BYTES);
}

/** Entries an item occupies (see the header's capacity rules). */
export function entriesOf(item: NvsItem): number {
  if (item.type === 'u8' || item.type === 'i32') return 1;
  if (item.type === 'str') return entriesForBytes(utf8Bytes(item.value) + 1);
  let entries = 1; // the blob index
  let left = item.value.length;
  do {
    const chunk = Math.min(left, NVS_CHUNK_MAX);
    entries += entriesForBytes(chunk);
    left -= chunk;
  } while (left > 0);
  return entries;
}

/** What the NVS partition holds; survives reboots (tests keep it across `bootEsp32` calls). */
export class NvsState {
  readonly namespaces = new Map<string, Map<string, NvsItem>>();
  /** NVS write operations so far (erase key, set value). */
  operations = 0;
  cutCountdown = -1;
  powerCut = false;
  constructor(readonly partitionBytes = 0x5000) {}

  get capacityEntries(): number {
    return (this.partitionBytes / NVS_PAGE_BYTES - 1) * NVS_ENTRIES_PER_PAGE;
  }

  get maxBlobBytes(): number {
    return Math.min(508_000, Math.floor(this.partitionBytes * 0.976) - NVS_CHUNK_MAX);
  }

  get entriesUsed(): number {
    let n = 0;
    for (const items of this.namespaces.values()) {
      n += 1;
      for (const item of items.values()) n += entriesOf(item);
    }
    return n;
  }

  /** Lets `operations` more NVS writes complete; the next one is cut. */
  cutAfter(operations: number): void {
    this.cutCountdown = operations;
  }

  /** Power back on: the values that survived, a fresh boot. */
  reboot(): void {
    this.powerCut = false;
  }

  /** Called before every write operation: throws once the power is (or gets) cut. */
  operation(): void {
    if (this.powerCut) throw new PowerCut();
    if (this.cutCountdown === 0) {
      this.cutCountdown = -1;
      this.powerCut = true;
      throw new PowerCut();
    }
    if (this.cutCountdown > 0) this.cutCountdown--;
    this.operations++;
  }

  alive(): void {
    if (this.powerCut) throw new PowerCut();
  }
}

/** fxToStringBuffer into `char[64]`. */
function cBuffer(value: unknown): string {
  const text = String(value);
  if (utf8Bytes(text) + 1 > C_BUFFER) throw new RangeError('cannot buffer string');
  return text;
}

/** The module object `import Preference from "preference"` gives, over `state`. */
export function preferenceModel(state: NvsState) {
  /** nvs_open READWRITE: the namespace, created if missing; undefined when NVS refuses. */
  const openWrite = (domain: string): Map<string, NvsItem> | undefined => {
    let items = state.namespaces.get(domain);
    if (items) return items;
    if (utf8Bytes(domain) > NVS_KEY_MAX || state.namespaces.size >= MAX_NAMESPACES) return undefined;
    if (state.entriesUsed + 1 > state.capacityEntries) return undefined;
    state.operation();
    items = new Map();
    state.namespaces.set(domain, items);
    return items;
  };

  const Preference = {
    set(domain: unknown, key: unknown, value: unknown): void {
      state.alive();
      const items = openWrite(String(domain));
      if (!items) throw new Error('nvs_open fail');
      const name = cBuffer(key);
      let item: NvsItem;
      if (typeof value === 'boolean') item = { type: 'u8', value: value ? 1 : 0 };
      else if (typeof value === 'number') {
        if (!Number.isInteger(value)) throw new Error('float unsupported');
        if (value < -0x80000000 || value > 0x7fffffff) throw new RangeError('preference model: an integer outside int32 ((int)dbl is undefined behaviour in modPreference.c)');
        item = { type: 'i32', value: value | 0 };
      } else if (typeof value === 'string') {
        if (value.indexOf('\u0000') >= 0) throw new RangeError('preference model: a string with U+0000 (the C string would end there)');
        item = { type: 'str', value };
      } else if (value instanceof ArrayBuffer) item = { type: 'blob', value: new Uint8Array(value.slice(0)) };
      else throw new Error('unsupported type');
      // ERASE_KEY: nvs_erase_key, result ignored.
      state.operation();
      items.delete(name);
      let ok = utf8Bytes(name) <= NVS_KEY_MAX;
      if (ok && item.type === 'str') ok = utf8Bytes(item.value) + 1 <= NVS_CHUNK_MAX;
      if (ok && item.type === 'blob') ok = item.value.length <= state.maxBlobBytes;
      if (ok) ok = state.entriesUsed + entriesOf(item) <= state.capacityEntries;
      if (!ok) throw new Error('nvs set fail');
      state.operation();
      items.set(name, item);
    },

    get(domain: unknown, key: unknown): boolean | number | string | ArrayBuffer | undefined {
      state.alive();
      const name = cBuffer(key);
      const items = state.namespaces.get(String(domain));
      if (!items) return undefined;
      if (utf8Bytes(name) > NVS_KEY_MAX) throw new RangeError('preference model: a key over 15 bytes (NVS truncates it on lookup)');
      const item = items.get(name);
      if (!item) return undefined;
      if (item.type === 'u8') return item.value !== 0;
      if (item.type === 'i32' || item.type === 'str') return item.value;
      return item.value.slice().buffer as ArrayBuffer;
    },

    delete(domain: unknown, key: unknown): void {
      state.alive();
      const d = cBuffer(domain);
      const name = cBuffer(key);
      const items = openWrite(d);
      if (!items) return;
      if (!items.has(name)) return;
      state.operation();
      items.delete(name);
    },

    keys(domain: unknown): string[] {
      state.alive();
      return [...(state.namespaces.get(String(domain))?.keys() ?? [])];
    },
  };
  return Object.freeze(Preference);
}

/**
 * crc32 (IEEE, reflected) as NVS computes it: esp_rom_crc32_le(0xFFFFFFFF, ...), like zlib's
 * crc32(data, 0xFFFFFFFF): the register starts at ~0xFFFFFFFF = 0 and is inverted at the end.
 * An independent copy for the reader (the writer uses hosts/esp32/settings.ts crc32).
 */
function nvsCrc(bytes: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < bytes.length; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * Reads an NVS partition image as ESP-IDF's NVS would mount it (nvs_page.cpp Page::load and
 * mLoadEntryTable, nvs_storage.cpp Storage::init): pages in state ACTIVE or FULL with a good
 * header CRC; entries marked written in the bitmap whose header CRC (and data CRC for strings
 * and blob chunks) holds; namespaces from namespace 0; blobs assembled from their index and
 * chunks. What NVS would skip (bad CRC, a chunk without index) is skipped and listed in
 * `problems`, so a test can require none. Version 2 pages (0xFE) only.
 */
export function nvsStateFromImage(image: Uint8Array): { state: NvsState; problems: string[] } {
  const state = new NvsState(image.length);
  const problems: string[] = [];
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const nsNames = new Map<number, string>();
  const items: Array<{ ns: number; type: number; key: string; chunk: number; data: Uint8Array; header: Uint8Array }> = [];
  const keyOf = (h: Uint8Array): string => {
    let end = 8;
    while (end < 24 && h[end] !== 0) end++;
    return new TextDecoder().decode(h.subarray(8, end));
  };
  for (let page = 0; page * NVS_PAGE_BYTES < image.length; page++) {
    const at = page * NVS_PAGE_BYTES;
    const pageState = view.getUint32(at, true);
    if (pageState === 0xffffffff) continue;
    if (pageState !== 0xfffffffe && pageState !== 0xfffffffc) {
      problems.push(`page ${page}: state 0x${pageState.toString(16)}`);
      continue;
    }
    if (nvsCrc(image.subarray(at + 4, at + 28)) !== view.getUint32(at + 28, true)) {
      problems.push(`page ${page}: header CRC`);
      continue;
    }
    if (image[at + 8] !== 0xfe) {
      problems.push(`page ${page}: version 0x${image[at + 8]!.toString(16)} (not 2)`);
      continue;
    }
    const entryState = (i: number): number => (image[at + 32 + ((i * 2) >> 3)]! >> ((i * 2) & 7)) & 3;
    for (let i = 0; i < NVS_ENTRIES_PER_PAGE; ) {
      if (entryState(i) !== 2) {
        i++;
        continue;
      }
      const e = at + 64 + i * NVS_ENTRY_BYTES;
      const h = image.subarray(e, e + NVS_ENTRY_BYTES);
      const body = new Uint8Array(28);
      body.set(h.subarray(0, 4), 0);
      body.set(h.subarray(8, 32), 4);
      if (nvsCrc(body) !== view.getUint32(e + 4, true)) {
        problems.push(`page ${page} entry ${i}: header CRC`);
        i++;
        continue;
      }
      const type = h[1]!;
      const span = h[2]!;
      let data = h.subarray(24, 32);
      if (type === 0x21 || type === 0x42) {
        const size = view.getUint16(e + 24, true);
        if (span !== 1 + Math.ceil(size / NVS_ENTRY_BYTES) || i + span > NVS_ENTRIES_PER_PAGE) {
          problems.push(`page ${page} entry ${i}: span ${span} for ${size} bytes`);
          i++;
          continue;
        }
        data = image.slice(e + NVS_ENTRY_BYTES, e + NVS_ENTRY_BYTES + size);
        if (nvsCrc(data) !== view.getUint32(e + 28, true)) {
          problems.push(`page ${page} entry ${i}: data CRC`);
          i += span;
          continue;
        }
      } else if (span !== 1) {
        problems.push(`page ${page} entry ${i}: span ${span} for type 0x${type.toString(16)}`);
        i++;
        continue;
      }
      items.push({ ns: h[0]!, type, key: keyOf(h), chunk: h[3]!, data, header: h.slice() });
      i += span;
    }
  }
  for (const item of items) if (item.ns === 0 && item.type === 0x01) nsNames.set(item.data[0]!, item.key);
  for (const name of nsNames.values()) state.namespaces.set(name, new Map());
  for (const item of items) {
    if (item.ns === 0) continue;
    const ns = nsNames.get(item.ns);
    if (ns === undefined) {
      problems.push(`${item.key}: namespace index ${item.ns} not defined`);
      continue;
    }
    const into = state.namespaces.get(ns)!;
    const dv = new DataView(item.header.buffer);
    if (item.type === 0x01) into.set(item.key, { type: 'u8', value: item.header[24]! });
    else if (item.type === 0x14) into.set(item.key, { type: 'i32', value: dv.getInt32(24, true) });
    else if (item.type === 0x21) {
      if (item.data[item.data.length - 1] !== 0) problems.push(`${item.key}: string without its NUL`);
      else into.set(item.key, { type: 'str', value: new TextDecoder().decode(item.data.subarray(0, item.data.length - 1)) });
    } else if (item.type === 0x48) {
      const size = dv.getUint32(24, true);
      const count = item.header[28]!;
      const start = item.header[29]!;
      const parts: Uint8Array[] = [];
      for (let c = 0; c < count; c++) {
        const chunk = items.find((x) => x.type === 0x42 && x.ns === item.ns && x.key === item.key && x.chunk === start + c);
        if (!chunk) break;
        parts.push(chunk.data);
      }
      const total = parts.reduce((n, p) => n + p.length, 0);
      if (parts.length !== count || total !== size) {
        problems.push(`${item.key}: blob index names ${count} chunks / ${size} bytes, found ${parts.length} / ${total}`);
        continue;
      }
      const value = new Uint8Array(size);
      let p = 0;
      for (const part of parts) {
        value.set(part, p);
        p += part.length;
      }
      into.set(item.key, { type: 'blob', value });
    } else if (item.type !== 0x42) problems.push(`${item.key}: type 0x${item.type.toString(16)} not modelled`);
  }
  return { state, problems };
}
