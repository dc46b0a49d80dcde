/*
 * A power-safe log of fixed-size records over two erase blocks of a NOR `Flash`.
 *
 * Layout: each of the two blocks holds `floor(blockLength / recordBytes)` slots. A record is
 *   [0..4)   sequence number, uint32 big-endian, strictly increasing over the log's life
 *   [4..n-4) payload (caller-defined, `payloadBytes`)
 *   [n-4..n) CRC-32 (IEEE) of bytes [0, n-4), big-endian
 * with n = recordBytes = payloadBytes + 8 rounded up to the flash's write alignment.
 *
 * Contract
 * - `read(out)` copies the payload of the valid record with the highest sequence into `out`
 *   and returns true; false when there is none (fresh or foreign flash). Torn or corrupt
 *   records fail their CRC and are skipped, so a power cut during `append` leaves the previous
 *   record in force.
 * - `append(payload)` writes the next record into the first blank slot after the last used one
 *   in the current block; when that block is full it erases the other block and starts there.
 *   The block holding the newest valid record is never erased. Throws what the flash throws.
 * - Buffers are allocated once in the constructor.
 */
import type { Flash } from '../host';

export function crc32(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function readUint32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeUint32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export class RecordLog {
  readonly recordBytes: number;
  private readonly slotsPerBlock: number;
  private readonly blockLength: number;
  private readonly eraseValue: number;
  private readonly record: Uint8Array;
  /** Where the next append goes: block (0/1) and slot, and the next sequence number. */
  private block = 0;
  private slot = 0;
  private sequence = 1;
  private scanned = false;

  constructor(
    private readonly flash: Flash,
    /** First of the two erase blocks the log owns. */
    private readonly firstBlock: number,
    readonly payloadBytes: number,
  ) {
    const status = flash.status();
    if (firstBlock < 0 || firstBlock + 2 > status.blocks) throw new RangeError('RecordLog: needs two blocks inside the partition');
    const align = Math.max(4, status.writeAlign);
    this.recordBytes = Math.ceil((payloadBytes + 8) / align) * align;
    this.blockLength = status.blockLength;
    this.eraseValue = status.eraseValue;
    this.slotsPerBlock = Math.floor(status.blockLength / this.recordBytes);
    if (this.slotsPerBlock < 2) throw new RangeError('RecordLog: record larger than half a block');
    this.record = new Uint8Array(this.recordBytes);
  }

  private offsetOf(block: number, slot: number): number {
    return (this.firstBlock + block) * this.blockLength + slot * this.recordBytes;
  }

  private isBlank(): boolean {
    for (let i = 0; i < this.recordBytes; i++) if (this.record[i] !== this.eraseValue) return false;
    return true;
  }

  private isValid(): boolean {
    const n = this.recordBytes;
    return readUint32(this.record, n - 4) === crc32(this.record, 0, n - 4);
  }

  /** Finds the newest valid record; leaves it in `this.record` and returns its sequence (0: none). */
  private scan(): number {
    let bestSeq = 0;
    let bestBlock = -1;
    let bestSlot = -1;
    for (let block = 0; block < 2; block++) {
      for (let slot = 0; slot < this.slotsPerBlock; slot++) {
        this.flash.read(this.record, this.offsetOf(block, slot));
        if (this.isBlank() || !this.isValid()) continue;
        const seq = readUint32(this.record, 0);
        if (seq > bestSeq) {
          bestSeq = seq;
          bestBlock = block;
          bestSlot = slot;
        }
      }
    }
    if (bestBlock < 0) {
      this.block = 0;
      this.slot = this.slotsPerBlock;
      this.sequence = 1;
    } else {
      this.block = bestBlock;
      this.sequence = bestSeq + 1;
      let next = bestSlot + 1;
      for (let slot = bestSlot + 1; slot < this.slotsPerBlock; slot++) {
        this.flash.read(this.record, this.offsetOf(bestBlock, slot));
        if (!this.isBlank()) next = slot + 1;
      }
      this.slot = next;
      this.flash.read(this.record, this.offsetOf(bestBlock, bestSlot));
    }
    this.scanned = true;
    return bestSeq;
  }

  read(out: Uint8Array): boolean {
    const found = this.scan() > 0;
    if (found) out.set(this.record.subarray(4, 4 + Math.min(out.length, this.payloadBytes)));
    return found;
  }

  append(payload: Uint8Array): void {
    if (!this.scanned) this.scan();
    if (this.slot >= this.slotsPerBlock) {
      this.block = this.sequence === 1 ? 0 : 1 - this.block;
      this.flash.eraseBlock(this.firstBlock + this.block);
      this.slot = 0;
    }
    const r = this.record;
    r.fill(0);
    writeUint32(r, 0, this.sequence);
    r.set(payload.subarray(0, this.payloadBytes), 4);
    writeUint32(r, this.recordBytes - 4, crc32(r, 0, this.recordBytes - 4));
    const at = this.offsetOf(this.block, this.slot);
    this.slot++;
    this.sequence++;
    this.flash.write(r, at);
  }

  /** Forgets the in-memory position; the next call rescans the flash (after a reboot). */
  invalidate(): void {
    this.scanned = false;
  }
}
