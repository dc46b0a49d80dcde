/*
 * Strict models of the SDK's ESP32 storage modules over the project's partition table
 * (manifests/esp32/partitions.csv): embedded:storage/flash (modules/io/flash/esp32/
 * flash-esp32.c), embedded:update (modules/io/update/esp32/update-esp32.c) and the project's own
 * natives for the running slot (hosts/esp32/ota-state.c), with ESP-IDF's esp_partition and
 * app_update behaviour behind them: NOR flash (erase sets 0xFF, a write can only clear bits),
 * 4 KB erase blocks, reads and writes bounded by the partition.
 *
 * Flash encryption (`flashEncryption: true`, the eFuse state of a production chip): a data
 * partition whose Flags column says `encrypted` has esp_partition_t.encrypted, and its reads and
 * writes go through ESP-IDF's encrypted path, modelled by the project's strict encrypted flash
 * (simulator/flash): esp_partition_write of an offset or length that is not a multiple of 16
 * returns ESP_ERR_INVALID_ARG (esp_flash_write_encrypted), so xs_flashstorage_write throws
 * "write failed"; a 16-byte unit written twice reads back as garbage; erased flash reads back as
 * noise (esp_partition_read decrypts it). The model starts such a partition as the bootloader's
 * first encrypted boot leaves it: encrypted in place, every unit written (erased sectors read
 * 0xFF until erased again). Without flash encryption the flag changes nothing.
 */
import { readFileSync } from 'node:fs';
import { SimFlash } from '../../../simulator/flash/index';
import { toInteger } from './chip';

type Options = Record<string, unknown>;

/** SPI flash sector: esp_partition_t.erase_size. */
export const ERASE_SIZE = 4096;
/** ESP_IMAGE_HEADER_MAGIC (esp_app_format.h): an app image's first byte. */
export const ESP_IMAGE_MAGIC = 0xe9;

export interface Partition {
  name: string;
  type: 'app' | 'data';
  subtype: string;
  offset: number;
  size: number;
  bytes: Uint8Array;
  /** Bits a write tried to set (1 over 0): NOR cannot, the data is corrupt. */
  overwrites: number;
  /** The partition table's Flags column says `encrypted`. */
  encryptedFlag: boolean;
  /** With flash encryption on: the encrypted flash behind an `encrypted` data partition. */
  encrypted?: SimFlash;
}

/** Parses manifests/esp32/partitions.csv. */
export function loadPartitions(path: string): Partition[] {
  const out: Partition[] = [];
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [name, type, subtype, offset, size, flags] = line.split(',').map((f) => f.trim());
    const bytes = Number(size);
    const encryptedFlag = (flags ?? '').split(':').some((f) => f.trim() === 'encrypted');
    // A real part's data partitions would hold whatever was there; the project's image starts them erased.
    out.push({
      name: name!,
      type: type as 'app' | 'data',
      subtype: subtype!,
      offset: Number(offset),
      size: bytes,
      bytes: new Uint8Array(type === 'app' ? 0 : bytes).fill(0xff),
      overwrites: 0,
      encryptedFlag,
    });
  }
  return out;
}

function bytesOf(buffer: unknown): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected buffer');
}

export interface OtaState {
  /** Index of the running app slot (ota_0 = 0). */
  running: number;
  /** Slot the bootloader boots next (esp_ota_set_boot_partition). */
  boot: number;
  /** ESP_OTA_IMG_PENDING_VERIFY on the running image. */
  trial: boolean;
  version: string;
}

export function storageModels(partitions: Partition[], ota: OtaState, flashEncryption = false) {
  if (flashEncryption) {
    for (const p of partitions) {
      if (p.type === 'data' && p.encryptedFlag && !p.encrypted) {
        // The first boot with flash encryption encrypts flagged partitions in place, erased sectors
        // too: every unit starts written (it reads back as what it held, 0xFF when it was erased).
        p.encrypted = SimFlash.encryptedInPlace({ blockLength: ERASE_SIZE, blocks: p.size / ERASE_SIZE }, p.bytes);
      }
    }
  }
  const apps = partitions.filter((p) => p.type === 'app' && p.subtype.startsWith('ota_'));
  for (const app of apps) if (app.bytes.length === 0) app.bytes = new Uint8Array(app.size).fill(0xff);
  const slotIndex = (p: Partition): number => Number(p.subtype.slice(4));
  const nextSlot = (): Partition | undefined => apps.find((p) => slotIndex(p) !== ota.running);
  const handles = new WeakMap<object, { partition: Partition; readOnly: boolean; closed: boolean }>();

  /** The object flash-esp32.js builds: host chunk { partition, readOnly }. */
  class FlashPartition {
    /** xs_flashstorage_read: (count | buffer, offset); esp_partition_read fails outside the partition → "read failed". */
    read(target: number | ArrayBuffer | ArrayBufferView, offset: number): ArrayBuffer | number {
      const h = use(this);
      const at = toInteger(offset);
      const into = typeof target === 'number' ? new Uint8Array(toInteger(target)) : bytesOf(target);
      if (at < 0 || at + into.length > h.partition.size) throw new Error('read failed');
      if (h.partition.encrypted) h.partition.encrypted.read(into, at);
      else into.set(h.partition.bytes.subarray(at, at + into.length));
      return typeof target === 'number' ? (into.buffer as ArrayBuffer) : into.length;
    }
    /** xs_flashstorage_write: read-only → "read-only"; out of range → "write failed"; NOR: bits only clear. */
    write(buffer: ArrayBuffer | ArrayBufferView, offset: number): void {
      const h = use(this);
      if (h.readOnly) throw new Error('read-only');
      const at = toInteger(offset);
      const data = bytesOf(buffer);
      if (at < 0 || at + data.length > h.partition.size) throw new Error('write failed');
      if (h.partition.encrypted) {
        // esp_flash_write_encrypted: ESP_ERR_INVALID_ARG unless 16-byte aligned, a multiple of 16.
        if (at % 16 !== 0 || data.length % 16 !== 0) throw new Error('write failed');
        h.partition.encrypted.write(data, at);
        return;
      }
      const bytes = h.partition.bytes;
      for (let i = 0; i < data.length; i++) {
        const old = bytes[at + i]!;
        if ((data[i]! & ~old) !== 0) h.partition.overwrites++;
        bytes[at + i] = old & data[i]!;
      }
    }
    /** xs_flashstorage_eraseBlock(start[, stop]): esp_partition_erase_range of whole sectors. */
    eraseBlock(start: number, stop?: number): void {
      const h = use(this);
      if (h.readOnly) throw new Error('read-only');
      const first = toInteger(start);
      const end = stop === undefined ? first + 1 : toInteger(stop);
      if (first < 0 || end <= first || end * ERASE_SIZE > h.partition.size) throw new Error('erase failed');
      if (h.partition.encrypted) {
        for (let b = first; b < end; b++) h.partition.encrypted.eraseBlock(b);
        return;
      }
      h.partition.bytes.fill(0xff, first * ERASE_SIZE, end * ERASE_SIZE);
    }
    /** xs_flashstorage_status: size, blockLength, blocks. */
    status(): { size: number; blockLength: number; blocks: number } {
      const h = use(this);
      return { size: h.partition.size, blockLength: ERASE_SIZE, blocks: h.partition.size / ERASE_SIZE };
    }
    close(): void {
      const h = handles.get(this);
      if (h) h.closed = true;
    }
    get format(): string {
      return 'buffer';
    }
  }

  function use(instance: object): { partition: Partition; readOnly: boolean; closed: boolean } {
    const h = handles.get(instance);
    if (!h || h.closed) throw new Error('closed');
    return h;
  }

  /** embedded:storage/flash (flash-esp32.js): `open` only. */
  const Flash = Object.freeze({
    /** xs_flashstorage_open: "no path"; "nextota" = esp_ota_get_next_update_partition; data partitions by name; mode r | r+ (default r+). */
    open(options: Options): FlashPartition {
      if (!options || typeof options !== 'object' || !('path' in options)) throw new Error('no path');
      const path = String(options.path);
      let partition: Partition | undefined;
      if (path === 'nextota') partition = nextSlot();
      else if (path === 'running') partition = apps.find((p) => slotIndex(p) === ota.running);
      else partition = partitions.find((p) => p.type === 'data' && p.name === path);
      if (!partition) throw new Error("can't find partition");
      let readOnly = false;
      if ('mode' in options) {
        const mode = String(options.mode);
        if (mode === 'r') readOnly = true;
        else if (mode !== 'r+') throw new Error('invalid mode');
      }
      if ('format' in options && options.format && options.format !== 'buffer') throw new RangeError('unsupported');
      const instance = new FlashPartition();
      handles.set(instance, { partition, readOnly, closed: false });
      return instance;
    },
  });

  /** embedded:update (update-esp32.js, update-esp32.c) over esp_ota_*. */
  class UpdateSession {
    #partition: Partition | undefined;
    readonly #append: boolean;
    #appendAt = 0;
    #written = 0;
    constructor(partition: Partition, append: boolean) {
      this.#partition = partition;
      this.#append = append;
    }
    /** xs_update_write: "a" mode takes no offset; "w" mode writes at `offset` (esp_ota_write_with_offset). */
    write(buffer: ArrayBuffer | ArrayBufferView, ...rest: unknown[]): void {
      const partition = this.#partition;
      if (!partition) throw new Error('already complete');
      let at: number;
      if (this.#append) {
        if (rest.length > 0) throw new Error('offset not allowed');
        at = this.#appendAt;
      } else {
        const offset = Number(rest[0]);
        if (offset < 0 || offset > 0xffffffff) throw new RangeError('invalid offset');
        at = Number.isNaN(offset) ? 0 : Math.trunc(offset);
      }
      const data = bytesOf(buffer);
      if (at + data.length > partition.size) throw new Error('write failed');
      for (let i = 0; i < data.length; i++) {
        const old = partition.bytes[at + i]!;
        if ((data[i]! & ~old) !== 0) partition.overwrites++;
        partition.bytes[at + i] = old & data[i]!;
      }
      this.#appendAt = at + data.length;
      this.#written += data.length;
    }
    /** xs_update_complete: esp_ota_end validates the image (magic byte; the model does not parse segments), then the boot slot changes. */
    complete(): void {
      const partition = this.#partition;
      if (!partition) throw new Error('already complete');
      this.#partition = undefined;
      if (this.#written === 0 || partition.bytes[0] !== ESP_IMAGE_MAGIC) throw new Error('end failed');
      ota.boot = slotIndex(partition);
    }
    /** xs_update_close: esp_ota_abort when not complete. */
    close(): void {
      this.#partition = undefined;
    }
  }

  const Update = Object.freeze({
    /** xs_update_open: "no partition"; partition must be a flash instance, writable; mode a | w; byteLength ≤ partition. */
    open(options: Options): UpdateSession {
      if (!options || typeof options !== 'object' || !('partition' in options)) throw new Error('no partition');
      const h = handles.get(options.partition as object);
      if (!h || h.closed) throw new Error('invalid');
      if (h.readOnly) throw new Error('read-only partition');
      let append = true;
      if ('mode' in options) {
        const mode = String(options.mode);
        if (mode === 'w') append = false;
        else if (mode !== 'a') throw new RangeError('invalid mode');
      }
      let byteLength = h.partition.size;
      if ('byteLength' in options) {
        const n = Number(options.byteLength);
        if (Number.isNaN(n) || n < 0 || n > 0xffffffff || n > h.partition.size) throw new RangeError('invalid byteLength');
        byteLength = n;
      }
      // esp_ota_begin: only an OTA app slot that is not running; erases the image's sectors.
      if (h.partition.type !== 'app' || slotIndex(h.partition) === ota.running) throw new Error('begin failed');
      h.partition.bytes.fill(0xff, 0, Math.min(h.partition.size, Math.ceil(byteLength / ERASE_SIZE) * ERASE_SIZE));
      return new UpdateSession(h.partition, append);
    },
  });

  /** hosts/esp32/ota-state.c. */
  const natives: Record<string, (...args: unknown[]) => unknown> = {
    xs_pipewatch_ota_running: () => ({ slot: ota.running, version: ota.version, trial: ota.trial }),
    xs_pipewatch_ota_confirm: () => {
      ota.trial = false;
    },
    /** esp_partition_find_first(DATA, ANY, label)->encrypted: flagged and flash encryption on. */
    xs_pipewatch_partition_encrypted: (label: unknown) => {
      const p = partitions.find((q) => q.type === 'data' && q.name === String(label));
      return p !== undefined && p.encryptedFlag && flashEncryption;
    },
  };

  return { Flash, Update, natives, partitions };
}
