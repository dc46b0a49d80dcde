/*
 * A strict NOR flash model implementing the ECMA-419 `Flash` of firmware/host.ts.
 *
 * Strict like MCUboot's simflash, and stricter where real parts are:
 * - `write` programs bits only away from the erase value (1 -> 0 for eraseValue 0xff); a write
 *   that would move a programmed bit back towards the erase value throws `E_FLASH_PROGRAM`.
 *   Re-programming a word with a superset of its programmed bits is allowed (NOR allows it).
 * - write offset and length must be multiples of `writeAlign` (`E_FLASH_ALIGN`); every access must
 *   lie inside the partition (`E_FLASH_RANGE`); erases are whole blocks only.
 * - every block has an erase counter; `operations` counts writes and erases (the operations that
 *   change the array, and the only ones a power cut can tear). Reads are counted separately.
 *
 * Power cuts: `cutAfter(n, { tear, seed })` lets n more writes/erases complete; the next one is
 * cut: without `tear` it changes nothing, with `tear` it applies a random prefix of its words (a
 * word is `writeAlign` bytes, at least 4) plus, in the word where it stopped, a random subset of
 * the bits it was changing (a half-programmed or half-erased word), then throws `PowerCut`.
 * With `scatter: p` the cut operation instead applies each bit it was changing with probability
 * p, anywhere in its range (a part that programs or erases all its cells in parallel: a torn
 * erase leaves a few cells of every structure erased, the rest as they were).
 * From then on every call on this view throws `PowerCut`; `reboot()` returns a fresh view of
 * the same surviving bits (the old view stays dead). A cut armed but not yet reached stays armed
 * across `reboot()`, so a cut can also hit the next mount.
 *
 * Encrypted mode (`encrypted: true`, ESP32 flash encryption of a partition flagged `encrypted`):
 * the chip stores AES-XTS ciphertext and every read decrypts, so the rules are those of 16-byte
 * units (`ENCRYPTED_UNIT`):
 * - writeAlign is 16 (the default in this mode; smaller is refused): writes are 16-byte aligned
 *   multiples of 16 (`E_FLASH_ALIGN`).
 * - the first write to a unit since its erase stores it. A second write with different data is
 *   accepted (esp_partition_write returns ESP_OK) but the chip ANDs two unrelated ciphertexts: the
 *   unit reads back as garbage from then on. Design choice: model that corruption rather than
 *   throw, because it is what the hardware does and it is stricter: software is not told, only a
 *   later read-back or CRC finds out. Rewriting identical data writes identical ciphertext and is
 *   harmless, as on the chip. Every second write is counted (`counters.unitRewrites`) so tests can
 *   require none.
 * - the plaintext "program only 1 -> 0" rule does not apply (ciphertext bits are unrelated).
 * - the unit is 16 bytes on every chip: the original ESP32's engine writes 32-byte rows, but
 *   esp_flash_write_encrypted (ESP-IDF spi_flash/esp_flash_api.c) fills the other half of a row
 *   with its own contents read back decrypted, which re-encrypts to the ciphertext already there
 *   (0xFF over an erased half): programming it again changes nothing.
 * - an erased unit reads back as garbage too (0xff ciphertext decrypts to noise, esp_partition_read
 *   decrypts whatever is there): software cannot test "erased" by reading.
 * - a torn write or erase leaves each unit it was changing whole (all its bits landed), untouched
 *   (none did) or garbage (some did); `bitFlip` turns the unit it hits into garbage.
 * `peekBytes` and `snapshot` show what the model holds (plaintext of written units, the erase value
 * for erased units, the garbage of corrupted ones); `read` shows what the software sees.
 *
 * Portable: no Node APIs, so it runs inside XS too. `file.ts` adds a file-backed variant.
 */
import type { Bytes, Flash, FlashStatus } from '../../firmware/host';

export interface SimFlashGeometry {
  blockLength?: number;
  blocks: number;
  writeAlign?: number;
  eraseValue?: number;
  /** ESP32 flash encryption on this partition (see the header comment). */
  encrypted?: boolean;
}

/** Bytes of one AES-XTS unit of ESP32 flash encryption. */
export const ENCRYPTED_UNIT = 16;
/** Unit states in encrypted mode. */
const ERASED = 0;
const WRITTEN = 1;

/** Thrown by every operation once the power is cut. */
export class PowerCut extends Error {
  override name = 'PowerCut';
  readonly code = 'E_POWER_CUT';
}

/** A contract violation (misaligned, out of range, programming a 0 back to 1, closed). */
export class FlashError extends Error {
  override name = 'FlashError';
  constructor(
    readonly code: 'E_FLASH_ALIGN' | 'E_FLASH_RANGE' | 'E_FLASH_PROGRAM' | 'E_FLASH_CLOSED',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Deterministic PRNG (mulberry32): the model never uses Math.random(). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CutOptions {
  /** Apply a random part of the cut operation before failing (torn write / torn erase). */
  tear?: boolean;
  seed?: number;
  /** With `tear`: each changing bit of the whole operation lands with this probability (0..1). */
  scatter?: number;
}

export interface FlashSnapshot {
  geometry: Required<SimFlashGeometry>;
  bytes: Uint8Array;
  eraseCounts: Uint32Array;
  /** Encrypted mode: which 16-byte units were written since their erase (1) or are erased (0). */
  units?: Uint8Array;
}

/** The physical chip shared by every view (boot) of it. */
class Chip {
  readonly bytes: Uint8Array;
  readonly eraseCounts: Uint32Array;
  generation = 0;
  operations = 0;
  reads = 0;
  writes = 0;
  erases = 0;
  bytesWritten = 0;
  cuts = 0;
  unitRewrites = 0;
  corruptions = 0;
  /** Encrypted mode: ERASED or WRITTEN per 16-byte unit; empty otherwise. */
  readonly units: Uint8Array;
  /** Operations still allowed before the cut; -1: no cut armed. */
  cutCountdown = -1;
  cutTear = false;
  cutScatter = 0;
  cutRandom: () => number = prng(1);
  /** Set when a cut happened, until reboot. */
  dead = false;
  onChange: ((bytes: Uint8Array, byteOffset: number, byteLength: number) => void) | undefined;
  onErase: ((block: number, count: number) => void) | undefined;

  constructor(
    readonly geometry: Required<SimFlashGeometry>,
    bytes?: Uint8Array,
    eraseCounts?: Uint32Array,
    units?: Uint8Array,
    storage?: Uint8Array,
  ) {
    const size = geometry.blockLength * geometry.blocks;
    if (storage && storage.byteLength !== size) throw new RangeError(`SimFlash: storage is ${storage.byteLength} bytes, the geometry needs ${size}`);
    this.bytes = storage ?? new Uint8Array(size);
    if (bytes) this.bytes.set(bytes.subarray(0, size));
    else this.bytes.fill(geometry.eraseValue);
    this.eraseCounts = new Uint32Array(geometry.blocks);
    if (eraseCounts) this.eraseCounts.set(eraseCounts.subarray(0, geometry.blocks));
    this.units = new Uint8Array(geometry.encrypted ? size / ENCRYPTED_UNIT : 0);
    if (geometry.encrypted && units) this.units.set(units.subarray(0, this.units.length));
    else if (geometry.encrypted) {
      // A restored image: a unit holding anything but the erase value was written.
      for (let u = 0; u < this.units.length; u++) {
        for (let i = u * ENCRYPTED_UNIT; i < (u + 1) * ENCRYPTED_UNIT; i++) {
          if (this.bytes[i] !== geometry.eraseValue) {
            this.units[u] = WRITTEN;
            break;
          }
        }
      }
    }
  }
}

/** What decrypting the unit at `unit` yields when its ciphertext is not one the key wrote. */
function noise(target: Uint8Array, at: number, unit: number, salt: number): void {
  const random = prng((Math.imul(unit + 1, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0);
  for (let i = 0; i < ENCRYPTED_UNIT; i++) target[at + i] = (random() * 256) | 0;
}

function checkGeometry(g: SimFlashGeometry): Required<SimFlashGeometry> {
  const encrypted = g.encrypted ?? false;
  const geometry = {
    blockLength: g.blockLength ?? 4096,
    blocks: g.blocks,
    writeAlign: g.writeAlign ?? (encrypted ? ENCRYPTED_UNIT : 4),
    eraseValue: g.eraseValue ?? 0xff,
    encrypted,
  };
  if (encrypted && (geometry.writeAlign < ENCRYPTED_UNIT || geometry.blockLength < ENCRYPTED_UNIT)) {
    throw new RangeError('SimFlash: an encrypted partition has writeAlign >= 16 (the AES-XTS unit)');
  }
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(geometry.blockLength) || !pow2(geometry.writeAlign) || geometry.writeAlign > geometry.blockLength) {
    throw new RangeError('SimFlash: blockLength and writeAlign must be powers of two, writeAlign <= blockLength');
  }
  if (!Number.isInteger(geometry.blocks) || geometry.blocks < 1) throw new RangeError('SimFlash: blocks must be >= 1');
  if (geometry.eraseValue !== 0xff && geometry.eraseValue !== 0) throw new RangeError('SimFlash: eraseValue is 0xff or 0');
  return geometry;
}

function asBytes(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new Uint8Array(buffer);
}

export class SimFlash implements Flash {
  readonly #chip: Chip;
  readonly #generation: number;
  #closed = false;

  constructor(geometry: SimFlashGeometry, chip?: Chip) {
    this.#chip = chip ?? new Chip(checkGeometry(geometry));
    this.#generation = this.#chip.generation;
  }

  /**
   * A blank chip whose cells are `storage` (exactly blocks * blockLength bytes), e.g. memory the
   * host keeps outside the script's heap, as a real chip is outside the device's RAM.
   */
  static onStorage(geometry: SimFlashGeometry, storage: Uint8Array): SimFlash {
    return new SimFlash(geometry, new Chip(checkGeometry(geometry), undefined, undefined, undefined, storage));
  }

  /**
   * Encrypted mode: the chip after the bootloader's first boot with flash encryption, which
   * encrypts a flagged partition in place, every sector (ESP-IDF bootloader_support
   * flash_encrypt.c, encrypt_partition): `storage` keeps its plaintext, and every unit is written,
   * erased ones included (they read back as the erase value, and a write to them garbles them).
   */
  static encryptedInPlace(geometry: SimFlashGeometry, storage: Uint8Array): SimFlash {
    const g = checkGeometry({ ...geometry, encrypted: true });
    const units = new Uint8Array(storage.byteLength / ENCRYPTED_UNIT).fill(WRITTEN);
    return new SimFlash(g, new Chip(g, storage.slice(), undefined, units, storage));
  }

  static fromSnapshot(snapshot: FlashSnapshot): SimFlash {
    return new SimFlash(snapshot.geometry, new Chip(checkGeometry(snapshot.geometry), snapshot.bytes, snapshot.eraseCounts, snapshot.units));
  }

  // ---- ECMA-419 Flash ----

  status(): FlashStatus {
    this.#alive();
    const g = this.#chip.geometry;
    const status: FlashStatus = { blockLength: g.blockLength, blocks: g.blocks, writeAlign: g.writeAlign, eraseValue: g.eraseValue };
    if (g.encrypted) status.encrypted = true;
    return status;
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer;
  read(buffer: Bytes, byteOffset: number): void;
  read(target: number | Bytes, byteOffset: number): ArrayBuffer | void {
    this.#alive();
    const chip = this.#chip;
    const length = typeof target === 'number' ? target : target.byteLength;
    this.#range(byteOffset, length);
    chip.reads++;
    const source = chip.bytes.subarray(byteOffset, byteOffset + length);
    const out = typeof target === 'number' ? source.slice() : asBytes(target);
    if (typeof target !== 'number') out.set(source);
    if (chip.geometry.encrypted) this.#decryptErased(out, byteOffset, length);
    if (typeof target === 'number') return out.buffer as ArrayBuffer;
  }

  write(buffer: Bytes, byteOffset: number): void {
    this.#alive();
    const chip = this.#chip;
    const data = asBytes(buffer);
    const align = chip.geometry.writeAlign;
    this.#range(byteOffset, data.length);
    if (byteOffset % align !== 0 || data.length % align !== 0) {
      throw new FlashError('E_FLASH_ALIGN', `write of ${data.length} bytes at ${byteOffset} not aligned to ${align}`);
    }
    if (chip.geometry.encrypted) return this.#writeEncrypted(data, byteOffset);
    const erase = chip.geometry.eraseValue;
    for (let i = 0; i < data.length; i++) {
      // Programmed bits (those differing from the erase value) may never return to the erase value.
      const was = chip.bytes[byteOffset + i]! ^ erase;
      const will = data[i]! ^ erase;
      if ((was & ~will) !== 0) {
        throw new FlashError(
          'E_FLASH_PROGRAM',
          `write at ${byteOffset + i} would change 0x${chip.bytes[byteOffset + i]!.toString(16)} to 0x${data[i]!.toString(16)} without an erase`,
        );
      }
    }
    const torn = this.#countdown();
    chip.writes++;
    if (torn >= 0) {
      this.#tear(byteOffset, data, torn);
      this.#cut();
    }
    chip.bytes.set(data, byteOffset);
    chip.bytesWritten += data.length;
    chip.onChange?.(chip.bytes, byteOffset, data.length);
  }

  eraseBlock(block: number): void {
    this.#alive();
    const chip = this.#chip;
    const g = chip.geometry;
    if (!Number.isInteger(block) || block < 0 || block >= g.blocks) {
      throw new FlashError('E_FLASH_RANGE', `block ${block} outside 0..${g.blocks - 1}`);
    }
    const start = block * g.blockLength;
    const torn = this.#countdown();
    chip.erases++;
    if (torn >= 0) {
      if (torn > 0) {
        const erased = new Uint8Array(g.blockLength).fill(g.eraseValue);
        chip.eraseCounts[block]!++;
        if (g.encrypted) this.#tearEncrypted(start, erased, true);
        else this.#tear(start, erased, torn);
        chip.onErase?.(block, chip.eraseCounts[block]!);
      }
      this.#cut();
    }
    chip.bytes.fill(g.eraseValue, start, start + g.blockLength);
    if (g.encrypted) chip.units.fill(ERASED, start / ENCRYPTED_UNIT, (start + g.blockLength) / ENCRYPTED_UNIT);
    chip.eraseCounts[block]!++;
    chip.onChange?.(chip.bytes, start, g.blockLength);
    chip.onErase?.(block, chip.eraseCounts[block]!);
  }

  close(): void {
    this.#closed = true;
  }

  // ---- simulation controls ----

  /** Lets `operations` more writes/erases complete; the next one is cut (torn with `tear`). */
  cutAfter(operations: number, options: CutOptions = {}): void {
    const chip = this.#chip;
    chip.cutCountdown = operations;
    chip.cutTear = options.tear ?? false;
    chip.cutScatter = options.scatter ?? 0;
    chip.cutRandom = prng(options.seed ?? 1);
  }

  /** Disarms a pending cut. */
  cancelCut(): void {
    this.#chip.cutCountdown = -1;
  }

  /** True once power was cut (until `reboot()`). */
  get poweredOff(): boolean {
    return this.#chip.dead || this.#generation !== this.#chip.generation;
  }

  /** Power comes back: a fresh view of the same chip. This view stays dead. */
  reboot(): SimFlash {
    const chip = this.#chip;
    chip.generation++;
    chip.dead = false;
    return new SimFlash(chip.geometry, chip);
  }

  get geometry(): Required<SimFlashGeometry> {
    return { ...this.#chip.geometry };
  }

  /** Writes and erases so far (the operations a power cut can hit). */
  get operations(): number {
    return this.#chip.operations;
  }

  /**
   * `unitRewrites`: encrypted mode, writes to a unit already written since its erase (identical
   * data included); `corruptions`: units turned into garbage (rewrites, torn operations, bit flips).
   */
  get counters(): {
    reads: number;
    writes: number;
    erases: number;
    bytesWritten: number;
    cuts: number;
    unitRewrites: number;
    corruptions: number;
  } {
    const c = this.#chip;
    return {
      reads: c.reads,
      writes: c.writes,
      erases: c.erases,
      bytesWritten: c.bytesWritten,
      cuts: c.cuts,
      unitRewrites: c.unitRewrites,
      corruptions: c.corruptions,
    };
  }

  /** Erase count of one block, or a copy of all of them. */
  eraseCount(block: number): number {
    return this.#chip.eraseCounts[block] ?? 0;
  }

  eraseCounts(): Uint32Array {
    return this.#chip.eraseCounts.slice();
  }

  snapshot(): FlashSnapshot {
    const chip = this.#chip;
    const snapshot: FlashSnapshot = { geometry: { ...chip.geometry }, bytes: chip.bytes.slice(), eraseCounts: chip.eraseCounts.slice() };
    if (chip.geometry.encrypted) snapshot.units = chip.units.slice();
    return snapshot;
  }

  /** Direct view of the array, for tests that inspect it (not for corruption: use the helpers). */
  peekBytes(byteOffset: number, byteLength: number): Uint8Array {
    return this.#chip.bytes.slice(byteOffset, byteOffset + byteLength);
  }

  /** Flips one bit in place (either direction), as a disturbed or worn cell would. */
  bitFlip(byteOffset: number, bit: number): void {
    if (this.#chip.geometry.encrypted) {
      // One flipped ciphertext bit garbles the whole unit on decryption.
      this.#corrupt(Math.floor(byteOffset / ENCRYPTED_UNIT), bit + 1);
      this.#chip.onChange?.(this.#chip.bytes, byteOffset - (byteOffset % ENCRYPTED_UNIT), ENCRYPTED_UNIT);
      return;
    }
    this.#chip.bytes[byteOffset]! ^= 1 << (bit & 7);
    this.#chip.onChange?.(this.#chip.bytes, byteOffset, 1);
  }

  /** Fills a range with seeded garbage, as a foreign firmware would have left it. */
  fillGarbage(byteOffset: number, byteLength: number, seed = 1): void {
    const random = prng(seed);
    const bytes = this.#chip.bytes;
    for (let i = byteOffset; i < byteOffset + byteLength && i < bytes.length; i++) bytes[i] = (random() * 256) | 0;
    const units = this.#chip.units;
    if (units.length > 0) {
      const end = Math.min(bytes.length, byteOffset + byteLength);
      for (let u = Math.floor(byteOffset / ENCRYPTED_UNIT); u * ENCRYPTED_UNIT < end; u++) units[u] = WRITTEN;
    }
    this.#chip.onChange?.(bytes, byteOffset, byteLength);
  }

  /** Hooks for persistence (file.ts): called after every change of the array. */
  setPersistence(
    onChange: (bytes: Uint8Array, byteOffset: number, byteLength: number) => void,
    onErase?: (block: number, count: number) => void,
  ): void {
    this.#chip.onChange = onChange;
    this.#chip.onErase = onErase;
  }

  /** For subclasses restoring persisted state. */
  protected loadState(bytes: Uint8Array, eraseCounts?: Uint32Array): void {
    this.#chip.bytes.set(bytes.subarray(0, this.#chip.bytes.length));
    if (eraseCounts) this.#chip.eraseCounts.set(eraseCounts.subarray(0, this.#chip.eraseCounts.length));
  }

  // ---- internals ----

  #alive(): void {
    if (this.#closed) throw new FlashError('E_FLASH_CLOSED', 'flash is closed');
    if (this.poweredOff) throw new PowerCut('power is off');
  }

  #range(byteOffset: number, byteLength: number): void {
    const size = this.#chip.bytes.length;
    if (
      !Number.isInteger(byteOffset) ||
      !Number.isInteger(byteLength) ||
      byteOffset < 0 ||
      byteLength < 0 ||
      byteOffset + byteLength > size
    ) {
      throw new FlashError('E_FLASH_RANGE', `${byteLength} bytes at ${byteOffset} outside 0..${size}`);
    }
  }

  /** Counts a mutating operation; returns -1, or (for the cut one) how many words to apply. */
  #countdown(): number {
    const chip = this.#chip;
    chip.operations++;
    if (chip.cutCountdown < 0) return -1;
    if (chip.cutCountdown > 0) {
      chip.cutCountdown--;
      return -1;
    }
    chip.cutCountdown = -1;
    return chip.cutTear ? 1 : 0;
  }

  /** Applies a random prefix of `target` at `start`, word by word, then part of the next word. */
  #tear(start: number, target: Uint8Array, mode: number): void {
    if (mode === 0) return;
    const chip = this.#chip;
    const random = chip.cutRandom;
    if (chip.cutScatter > 0) {
      for (let i = 0; i < target.length; i++) {
        const now = chip.bytes[start + i]!;
        const changing = now ^ target[i]!;
        if (changing === 0) continue;
        let landed = 0;
        for (let b = 0; b < 8; b++) if ((changing >> b) & 1 && random() < chip.cutScatter) landed |= 1 << b;
        chip.bytes[start + i] = now ^ landed;
      }
      chip.onChange?.(chip.bytes, start, target.length);
      return;
    }
    const word = Math.max(4, chip.geometry.writeAlign);
    const words = Math.ceil(target.length / word);
    const full = Math.floor(random() * words);
    const end = Math.min(target.length, full * word);
    chip.bytes.set(target.subarray(0, end), start);
    // The word being programmed (or erased) when the power went: some of its changing bits made it.
    for (let i = end; i < Math.min(target.length, end + word); i++) {
      const now = chip.bytes[start + i]!;
      const changing = now ^ target[i]!;
      const landed = changing & ((random() * 256) | 0);
      chip.bytes[start + i] = now ^ landed;
    }
    chip.onChange?.(chip.bytes, start, target.length);
  }

  /** Encrypted mode: an erased unit in what was read decrypts to noise. */
  #decryptErased(out: Uint8Array, byteOffset: number, length: number): void {
    const units = this.#chip.units;
    const scratch = new Uint8Array(ENCRYPTED_UNIT);
    const first = Math.floor(byteOffset / ENCRYPTED_UNIT);
    for (let u = first; u * ENCRYPTED_UNIT < byteOffset + length; u++) {
      if (units[u] !== ERASED) continue;
      noise(scratch, 0, u, 0);
      const from = Math.max(byteOffset, u * ENCRYPTED_UNIT);
      const to = Math.min(byteOffset + length, (u + 1) * ENCRYPTED_UNIT);
      for (let i = from; i < to; i++) out[i - byteOffset] = scratch[i - u * ENCRYPTED_UNIT]!;
    }
  }

  /** Encrypted mode: the unit's ciphertext is no longer one the key wrote. */
  #corrupt(unit: number, salt: number): void {
    const chip = this.#chip;
    chip.corruptions++;
    chip.units[unit] = WRITTEN;
    noise(chip.bytes, unit * ENCRYPTED_UNIT, unit, (chip.corruptions + salt) >>> 0);
  }

  #writeEncrypted(data: Uint8Array, byteOffset: number): void {
    const chip = this.#chip;
    const torn = this.#countdown();
    chip.writes++;
    if (torn >= 0) {
      if (torn > 0) this.#tearEncrypted(byteOffset, data, false);
      this.#cut();
    }
    for (let at = 0; at < data.length; at += ENCRYPTED_UNIT) this.#storeUnit(byteOffset + at, data, at);
    chip.bytesWritten += data.length;
    chip.onChange?.(chip.bytes, byteOffset, data.length);
  }

  /** Programs one unit whole: stored when it was erased, garbage when it was written with other data. */
  #storeUnit(offset: number, data: Uint8Array, at: number): void {
    const chip = this.#chip;
    const unit = offset / ENCRYPTED_UNIT;
    if (chip.units[unit] === ERASED) {
      chip.units[unit] = WRITTEN;
      chip.bytes.set(data.subarray(at, at + ENCRYPTED_UNIT), offset);
      return;
    }
    chip.unitRewrites++;
    let same = true;
    for (let i = 0; i < ENCRYPTED_UNIT && same; i++) if (chip.bytes[offset + i] !== data[at + i]) same = false;
    if (!same) this.#corrupt(unit, 0);
  }

  /**
   * Encrypted mode, the cut operation: prefix mode lands a random number of whole units and garbles
   * the one being programmed; scatter mode decides each unit by its 128 bits (about half of them
   * changing): all landed -> whole, none -> untouched, else garbage.
   */
  #tearEncrypted(start: number, target: Uint8Array, erase: boolean): void {
    const chip = this.#chip;
    const random = chip.cutRandom;
    const count = target.length / ENCRYPTED_UNIT;
    const land = (u: number) => {
      const offset = start + u * ENCRYPTED_UNIT;
      if (erase) {
        chip.bytes.fill(chip.geometry.eraseValue, offset, offset + ENCRYPTED_UNIT);
        chip.units[offset / ENCRYPTED_UNIT] = ERASED;
      } else this.#storeUnit(offset, target, u * ENCRYPTED_UNIT);
    };
    const changing = (u: number) => !(erase && chip.units[(start + u * ENCRYPTED_UNIT) / ENCRYPTED_UNIT] === ERASED);
    if (chip.cutScatter > 0) {
      for (let u = 0; u < count; u++) {
        if (!changing(u)) continue;
        let landed = 0;
        for (let b = 0; b < 64; b++) if (random() < chip.cutScatter) landed++;
        if (landed === 64) land(u);
        else if (landed > 0) this.#corrupt((start + u * ENCRYPTED_UNIT) / ENCRYPTED_UNIT, 0);
      }
    } else {
      const full = Math.floor(random() * count);
      for (let u = 0; u < full; u++) land(u);
      if (full < count && changing(full)) this.#corrupt((start + full * ENCRYPTED_UNIT) / ENCRYPTED_UNIT, 0);
    }
    chip.onChange?.(chip.bytes, start, target.length);
  }

  #cut(): never {
    this.#chip.dead = true;
    this.#chip.cuts++;
    throw new PowerCut('power cut during a flash operation');
  }
}
