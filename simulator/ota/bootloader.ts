/*
 * Simulated A/B bootloader and the `UpdateProvider` it hands to the firmware.
 *
 * Flash: two slots (slot layout in firmware/ota/slot.ts) and a two-block boot-state log
 * (firmware/ota/journal.ts records, 16-byte payload):
 *   [0] active slot  [1] pending slot (0xff: none)  [2] phase  [3] 0
 *   [4..8) security-counter floor  [8..12) pending version  [12..16) last rolled-back version
 * phases: 0 none, 1 trial requested (complete() ran), 2 trial running (booted, not confirmed).
 *
 * Boot (`boot()`), like MCUboot's test-and-confirm mode:
 * - phase 2 at boot: the trial image was never confirmed: roll back (phase 0, remember which
 *   version was rolled back) and boot the active slot.
 * - phase 1: the pending slot must verify (signature, board, counter floor, digest, and the
 *   ESP-IDF app image: magic, chip, revision, segments, checksum, hash); then
 *   phase 2 is written *before* it runs, on trial. If it does not verify: roll back.
 * - otherwise the active slot, if it verifies; else the other slot, if it does (it becomes
 *   active); else no bootable image (a test failure: "bricked").
 * The provider: `open()` refuses while on trial (the fallback slot must survive) and when the
 * image cannot fit; writes go to the inactive slot, erasing each block as the first write
 * reaches its start; `complete()` verifies the whole slot before requesting a trial;
 * `confirm()` makes the trial slot active and raises the counter floor to its counter.
 */
import type { Bytes, Flash, Update, UpdateProvider } from '../../firmware/host';
import { RecordLog } from '../../firmware/ota/journal';
import { versionText, type Manifest } from '../../firmware/ota/manifest';
import { encodeSlotHeader, SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET, verifySlot, type SlotReason, type SlotResult } from '../../firmware/ota/slot';
import { chipOfBoard } from '../../firmware/ota/esp-image';
import { SIM_CHIP_REV, verifyAppImage, type AppImageReason } from './esp-image';

const NONE = 0xff;

interface BootState {
  active: number;
  pending: number;
  phase: 0 | 1 | 2;
  counterFloor: number;
  pendingVersion: number;
  rolledBackVersion: number;
}

export type BootOutcome =
  | { ok: true; slot: number; manifest: Manifest; trial: boolean; rolledBackVersion: number }
  | { ok: false; reason: 'noBootableImage' };

export interface SimBootloaderOptions {
  /** Two erase blocks for the boot state. */
  state: Flash;
  slots: [Flash, Flash];
  publicKey: Uint8Array;
  board: string;
  /** esp_chip_id_t of the simulated chip; default: the chip the board id names. */
  chip?: number;
  /** Its revision (major * 100 + minor); default SIM_CHIP_REV of the chip. */
  chipRevFull?: number;
}

/** A slot check: the firmware's slot format, then ESP-IDF's check of the app image in it. */
export type BootVerifyResult = SlotResult | { ok: false; reason: SlotReason | AppImageReason };

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
function asBytes(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new Uint8Array(buffer);
}

export class SimBootloader {
  private readonly log: RecordLog;
  private readonly payload = new Uint8Array(16);
  private readonly scratch = new Uint8Array(SLOT_HEADER_BYTES);
  private readonly slotBytes: number;
  private readonly chip: number;
  private readonly chipRevFull: number;
  private outcome: BootOutcome | undefined;
  private state: BootState = { active: 0, pending: NONE, phase: 0, counterFloor: 0, pendingVersion: 0, rolledBackVersion: 0 };
  readonly counters = { boots: 0, rollbacks: 0, verifyFailures: 0 };

  constructor(private readonly options: SimBootloaderOptions) {
    this.log = new RecordLog(options.state, 0, 16);
    const a = options.slots[0].status();
    const b = options.slots[1].status();
    this.slotBytes = Math.min(a.blocks * a.blockLength, b.blocks * b.blockLength);
    const chip = options.chip ?? chipOfBoard(options.board);
    if (chip === undefined) throw new RangeError(`SimBootloader: board "${options.board}" names no ESP32 chip; give options.chip`);
    this.chip = chip;
    this.chipRevFull = options.chipRevFull ?? SIM_CHIP_REV[chip] ?? 0;
  }

  private load(): void {
    const p = this.payload;
    if (this.log.read(p)) {
      this.state = {
        active: p[0]! & 1,
        pending: p[1] === NONE ? NONE : p[1]! & 1,
        phase: p[2] === 1 ? 1 : p[2] === 2 ? 2 : 0,
        counterFloor: u32(p, 4),
        pendingVersion: u32(p, 8),
        rolledBackVersion: u32(p, 12),
      };
    } else {
      this.state = { active: 0, pending: NONE, phase: 0, counterFloor: 0, pendingVersion: 0, rolledBackVersion: 0 };
    }
  }

  private save(next: BootState): void {
    const p = this.payload;
    p.fill(0);
    p[0] = next.active;
    p[1] = next.pending;
    p[2] = next.phase;
    put32(p, 4, next.counterFloor);
    put32(p, 8, next.pendingVersion);
    put32(p, 12, next.rolledBackVersion);
    this.log.append(p);
    this.state = next;
  }

  /**
   * Checks one slot from flash: the signed slot header and image digest (slot.ts), then the
   * ESP-IDF app image from SLOT_IMAGE_OFFSET as ESP-IDF's bootloader and esp_ota_end check it
   * in the app partition (./esp-image.ts: magic, chip id and revision, segments, checksum,
   * appended SHA-256). An image that fails either is never run.
   */
  verify(slot: number): BootVerifyResult {
    const flash = this.options.slots[slot]!;
    let result: BootVerifyResult = verifySlot(
      (buffer, offset) => flash.read(buffer, offset),
      this.slotBytes,
      this.options.publicKey,
      this.options.board,
      this.state.counterFloor,
      this.scratch,
    );
    if (result.ok) {
      const app = verifyAppImage(
        (buffer, offset) => flash.read(buffer, SLOT_IMAGE_OFFSET + offset),
        this.slotBytes - SLOT_IMAGE_OFFSET,
        this.chip,
        this.chipRevFull,
        this.scratch,
      );
      if (app !== undefined) result = { ok: false, reason: app };
    }
    if (!result.ok) this.counters.verifyFailures++;
    return result;
  }

  /** Factory programming: writes a signed image into `slot` and makes it the active one. */
  provision(slot: number, manifestBytes: Uint8Array, image: Uint8Array): void {
    const flash = this.options.slots[slot]!;
    const { blockLength, blocks } = flash.status();
    for (let b = 0; b < blocks; b++) flash.eraseBlock(b);
    const header = new Uint8Array(SLOT_HEADER_BYTES);
    encodeSlotHeader(manifestBytes, header);
    flash.write(header, 0);
    const padded = new Uint8Array(Math.ceil(image.length / blockLength) * blockLength).fill(0xff);
    padded.set(image);
    flash.write(padded, SLOT_IMAGE_OFFSET);
    this.save({ active: slot, pending: NONE, phase: 0, counterFloor: 0, pendingVersion: 0, rolledBackVersion: 0 });
  }

  /** Power-on: picks, verifies and "runs" a slot. */
  boot(): BootOutcome {
    this.counters.boots++;
    this.log.invalidate();
    this.load();
    let s = this.state;
    let rolledBackVersion = 0;
    let outcome: BootOutcome = { ok: false, reason: 'noBootableImage' };
    if (s.phase === 2 || (s.phase === 1 && s.pending === s.active)) {
      rolledBackVersion = s.pendingVersion;
      this.counters.rollbacks++;
      this.save({ ...s, pending: NONE, phase: 0, pendingVersion: 0, rolledBackVersion });
    } else if (s.phase === 1) {
      const trial = this.verify(s.pending);
      if (trial.ok) {
        this.save({ ...s, phase: 2 });
        outcome = { ok: true, slot: s.pending, manifest: trial.manifest, trial: true, rolledBackVersion: 0 };
      } else {
        rolledBackVersion = s.pendingVersion;
        this.counters.rollbacks++;
        this.save({ ...s, pending: NONE, phase: 0, pendingVersion: 0, rolledBackVersion });
      }
    }
    if (!outcome.ok) {
      s = this.state;
      const active = this.verify(s.active);
      if (active.ok) outcome = { ok: true, slot: s.active, manifest: active.manifest, trial: false, rolledBackVersion };
      else {
        const other = 1 - s.active;
        const fallback = this.verify(other);
        if (fallback.ok) {
          this.save({ ...s, active: other, pending: NONE, phase: 0, pendingVersion: 0 });
          outcome = { ok: true, slot: other, manifest: fallback.manifest, trial: false, rolledBackVersion };
        }
      }
    }
    this.outcome = outcome;
    return outcome;
  }

  /** The Update provider for the image running since the last `boot()`. */
  readonly update: UpdateProvider = {
    running: () => {
      const o = this.outcome;
      if (!o || !o.ok) throw new Error('E_OTA_NOT_BOOTED');
      return { slot: o.slot, version: versionText(o.manifest.version), trial: o.trial, securityCounter: o.manifest.securityCounter };
    },
    confirm: () => {
      const o = this.outcome;
      if (!o || !o.ok) throw new Error('E_OTA_NOT_BOOTED');
      if (!o.trial) return;
      const floor = Math.max(this.state.counterFloor, o.manifest.securityCounter);
      this.save({ active: o.slot, pending: NONE, phase: 0, counterFloor: floor, pendingVersion: 0, rolledBackVersion: 0 });
      this.outcome = { ...o, trial: false };
    },
    open: (options?: { byteLength?: number }): Update => {
      const o = this.outcome;
      if (!o || !o.ok) throw new Error('E_OTA_NOT_BOOTED');
      if (o.trial) throw new Error('E_OTA_TRIAL: the running image is on trial; confirm it first');
      const byteLength = options?.byteLength ?? this.slotBytes;
      if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > this.slotBytes) {
        throw new RangeError(`E_OTA_SIZE: ${byteLength} bytes do not fit a ${this.slotBytes}-byte slot`);
      }
      if (this.state.phase === 1) this.save({ ...this.state, pending: NONE, phase: 0, pendingVersion: 0 });
      return this.openTarget(1 - o.slot, byteLength);
    },
  };

  /**
   * The target as ESP-IDF's OTA API behind Moddable's embedded:update in "w" mode bounds it
   * (modules/io/update/esp32/update-esp32.c: xs_update_open, xs_update_write):
   * - `byteLength` above the slot is refused ("invalid byteLength");
   * - esp_ota_begin(partition, byteLength) erases byteLength rounded up to whole erase blocks
   *   (components/app_update/esp_ota_ops.c), and esp_ota_write_with_offset accepts a write
   *   anywhere in the partition (esp_partition_write: ESP_ERR_INVALID_SIZE past its end).
   *   Past the erased range ESP-IDF would program over stale bits without a word; here such a
   *   write is refused (E_OTA_RANGE), so a write is accepted exactly where the real one works:
   *   inside the erased range, which may extend past `byteLength` up to the block end.
   * - writes are multiples of the flash's write alignment (the simulated NOR's rule; ESP-IDF
   *   asks 16 bytes with flash encryption, any size without).
   */
  private openTarget(slot: number, byteLength: number): Update {
    const flash = this.options.slots[slot]!;
    const { blockLength, writeAlign } = flash.status();
    const erasedEnd = Math.min(this.slotBytes, Math.ceil(byteLength / blockLength) * blockLength);
    let open = true;
    let next = 0;
    const alive = () => {
      if (!open) throw new Error('E_OTA_CLOSED: the update target is closed');
    };
    return {
      write: (buffer: Bytes, byteOffset?: number) => {
        alive();
        const bytes = asBytes(buffer);
        const at = byteOffset ?? next;
        if (!Number.isInteger(at) || at < 0 || at + bytes.length > erasedEnd) {
          throw new RangeError(`E_OTA_RANGE: ${bytes.length} bytes at ${at} outside the ${erasedEnd} bytes erased for a ${byteLength}-byte update`);
        }
        if (at % writeAlign !== 0 || bytes.length % writeAlign !== 0) {
          throw new RangeError(`E_OTA_ALIGN: writes must be multiples of ${writeAlign} bytes`);
        }
        for (let b = Math.ceil(at / blockLength); b * blockLength < at + bytes.length; b++) flash.eraseBlock(b);
        flash.write(bytes, at);
        next = at + bytes.length;
      },
      complete: () => {
        alive();
        open = false;
        const checked = this.verify(slot);
        if (!checked.ok) throw new Error(`E_OTA_VERIFY: ${checked.reason}`);
        this.save({ ...this.state, pending: slot, phase: 1, pendingVersion: checked.manifest.version });
      },
      cancel: () => {
        open = false;
      },
    };
  }
}
