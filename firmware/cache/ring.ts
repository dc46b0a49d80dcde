/*
 * One log-structured ring of blocks inside the cache partition (see FORMAT.md).
 *
 * The ring owns blocks [first, first + count). Blocks are opened in physical order, each with a
 * header carrying an epoch one higher than its predecessor; the live blocks form a chain
 * tail..head of consecutive epochs. Records are appended in the head block; when it is full the
 * next block is erased and opened (dropping the tail's unacknowledged records if the ring is full).
 *
 * RAM: a few numbers, the iterator's bitmap buffer, 3 bytes per block of the ring (the chain
 * list and the bad-block flags); the other buffers are in the Scratch shared with the other ring.
 * Bad flash content never throws. A flash operation that throws propagates out of `append`,
 * `acknowledge*` and the iterator with the ring still consistent (FlashCache counts it and fails
 * soft); an erase that throws or does not read back erased is retried once, then the block is
 * passed over and, when the mark can be written, marked bad (FORMAT.md "Bad blocks").
 *
 * Memos (this instance only; a new instance, i.e. every mount, starts cold). Only this instance
 * changes the partition while it is mounted, and it throws away nothing it cannot re-derive:
 * - the seqFirst of the last two headers looked up on the hot paths (peek, acknowledge), kept
 *   with the ring's generation, which every erase, header write and close-note write bumps;
 *   the header a block open writes is memoized as written;
 * - the first slot of one block that may be unacknowledged: acknowledge bits are only ever
 *   programmed, so slots before it stay acknowledged until that block is erased (which forgets it);
 * - the last record this instance appended (its slot and content, as written), until its block is
 *   erased; it stands for reading the slot back only where the bounds check would pass.
 * Every other record and every bitmap is still read and checked on each peek and acknowledge.
 */
import type { Flash } from '../host';
import { copyReading, newReading, type Reading, type ReadingKindValue } from '../store';
import type { Crc32 } from './crc32';
import {
  ACK_ENTRY,
  CLOSE_NOTES,
  DEAD_ENTRY,
  ENCRYPTED_VERSION,
  Entry,
  FORMAT_MAGIC,
  FORMAT_VERSION,
  Header,
  LOST_NOTE,
  MAX_KIND,
  MAX_SEQ,
  Note,
  Record,
  RecordFlags,
  roundUp,
  V1,
  type Layout,
} from './layout';

const enum Slot {
  valid = 0,
  blank = 1,
  corrupt = 2,
}

const enum Close {
  erased = 0,
  valid = 1,
  invalid = 2,
}

const TWO_POW_32 = 4294967296;
/** Encrypted mode: log entries read per flash read when a block's log is replayed. */
const LOG_CHUNK = 8;

/**
 * What both rings of one FlashCache use only within a single call (so one copy serves both: RAM):
 * scratch buffers, the results of the last header parse, and the log of absorbed flash faults.
 */
export class Scratch {
  readonly hdr: Uint8Array;
  readonly hdrView: DataView;
  readonly slot: Uint8Array;
  readonly slotView: DataView;
  /** The three bitmaps of one block (acknowledge A, acknowledge B, dead), read in one read. */
  readonly bitmap: Uint8Array;
  /** Scratch reading for lookups (acknowledge), so iteration's `current` is never clobbered. */
  readonly probe: Reading = newReading();

  // Last parsed header (Ring.#parseHeader).
  hEpoch = 0;
  hSeqFirst = 0;
  hDropped = 0;
  hCorrupt = 0;
  hSkipped = 0;
  hEraseCount = 0;
  hClose: Close = Close.erased;
  hCloseDropped = 0;
  hCloseCorrupt = 0;
  hCloseVictim = 0;
  /** The newest valid note counted its victim lost (#countLostHead). */
  hCloseLost = false;
  hIntactSeq = -1;
  /** The intact header is of format 1 (FORMAT.md "Format history"). */
  hV1 = false;
  /** The header area carries the bad-block mark. */
  hBad = false;
  /** The two header copies are all erase value. */
  hBlank = true;
  /** First erased close note, or -1 when all were used. */
  hFreeNote = 0;

  /** Flash faults that were absorbed, and the last one's message. */
  faults = 0;
  lastFault = '';

  /**
   * Encrypted mode: a chunk of acknowledge-log entries being replayed (LOG_CHUNK entries) and one
   * unit for read-backs after it; empty in plain mode.
   */
  readonly log!: Uint8Array;
  readonly logView!: DataView;
  /** The block whose log was last replayed into `bitmap`, and its next free entry (-1: none). */
  logBlock = -1;
  logFree = 0;

  constructor(layout: Layout) {
    this.hdr = new Uint8Array(layout.closeOffset + layout.closeLength);
    this.hdrView = new DataView(this.hdr.buffer);
    this.slot = new Uint8Array(layout.slotLength);
    this.slotView = new DataView(this.slot.buffer);
    this.bitmap = new Uint8Array(3 * layout.bitmapLength);
    if (layout.encrypted) {
      // Encrypted mode only: plain mode's RAM stays as it was.
      this.log = new Uint8Array((LOG_CHUNK + 1) * Entry.bytes);
      this.logView = new DataView(this.log.buffer);
    }
  }

  note(message: string): void {
    this.faults++;
    this.lastFault = message;
  }
}

export class Ring {
  readonly #flash: Flash;
  readonly #layout: Layout;
  readonly #crc: Crc32;
  /** Encrypted-partition mode (FORMAT.md "Encrypted partitions"). */
  readonly #enc: boolean;
  readonly first: number;
  readonly count: number;
  readonly id: number;

  /** The bitmaps being iterated (per ring: both rings' iterators are interleaved by peek). */
  readonly #iterBitmap: Uint8Array;
  /** The record the iterator stands on. */
  readonly current: Reading = newReading();
  /** Chain blocks (ring-relative), tail first, in a circular list from #chainStart. */
  readonly #chain: Uint16Array;
  #chainStart = 0;
  /** 1 for a block known bad (marked on flash, or failed since mount). */
  readonly #bad: Uint8Array;

  usable = false;
  #headIndex = 0;
  #tailIndex = 0;
  #chainLength = 0;
  #writeSlot = 0;
  #headEpoch = 0;
  #headEraseCount = 0;
  #headFreeNote = 0;
  pending = 0;
  dropped = 0;
  /** Corrupt or lost records of blocks no longer in the chain (persisted in headers and notes). */
  #corruptBase = 0;
  /** Dead slots (dead bitmap) of the chain blocks. */
  #corruptLive = 0;
  lostBlocks = 0;
  badBlocks = 0;
  /** Unacknowledged readings found in blocks of format 1 (lost when the ring is re-formatted). */
  formatOneReadings = 0;
  maxEpochSeen = 0;
  maxSeqSeen = -1;
  /** Highest seqFirst of any intact header (this format or an older one), -1 if none. */
  maxSeqFirst = -1;
  /**
   * Mount found something that may hide sequence numbers above everything it could read: the
   * number of non-blank blocks without a valid header, plus one for a corrupt slot after the
   * head's last good record (FlashCache then reserves a gap, FORMAT.md "Recovery").
   */
  uncertain = 0;
  eraseMin = 0;
  eraseMax = 0;
  eraseTotal = 0;
  /** Blocks whose erase count is eraseMin (the minimum is rescanned only when the last one goes). */
  #atMin = 0;
  blocksOpened = 0;
  /** Scratch buffers, last parsed header and fault log, shared by the rings of one FlashCache. */
  readonly #s: Scratch;
  /** Chain distance (from the tail) of the first block that may hold an unacknowledged record. */
  #cursor = 0;

  /** Bumped by every erase, header write and close-note write of this instance. */
  #gen = 0;
  /** Header memo, two entries of [block, generation, seqFirst or -1 for an invalid header]. */
  readonly #memo = new Float64Array(6);
  #memoNext = 0;
  /** The last record appended (its write completed) and where: block #appendedBlock (-1: none). */
  readonly #appended: Reading = newReading();
  #appendedBlock = -1;
  #appendedSlot = 0;
  /**
   * Encrypted mode: the replay of one block's acknowledge log (bitmaps as #replayLog leaves them)
   * and its next free entry, kept as this instance last read or wrote it, until that block is
   * erased; a log write this instance makes updates it, a write that throws forgets it.
   */
  readonly #logMemo!: Uint8Array;
  #logMemoBlock = -1;
  #logMemoFree = 0;
  /** Slots [0, #ackedBelow) of block #ackedBlock are known acknowledged (-1: no block). */
  #ackedBlock = -1;
  #ackedBelow = 0;

  #iterD = 0;
  #iterSlot = 0;
  #iterUsed = 0;
  #iterLoaded = false;
  #iterLower = 0;
  #iterUpper = 0;
  #iterAlertsOnly = false;
  /** Encrypted mode: the epoch the iterated block's records are bound to (0 in plain mode). */
  #iterBind = 0;

  constructor(flash: Flash, layout: Layout, crc: Crc32, scratch: Scratch, id: number, first: number, count: number) {
    this.#flash = flash;
    this.#s = scratch;
    this.#layout = layout;
    this.#enc = layout.encrypted;
    this.#crc = crc;
    this.id = id;
    this.first = first;
    this.count = count;
    this.#iterBitmap = new Uint8Array(3 * layout.bitmapLength);
    if (layout.encrypted) this.#logMemo = new Uint8Array(3 * layout.bitmapLength);
    this.#chain = new Uint16Array(count);
    this.#bad = new Uint8Array(count);
    this.#memo.fill(-1);
  }

  get capacity(): number {
    return (this.count - 1) * this.#layout.slotsPerBlock;
  }

  get chainLength(): number {
    return this.#chainLength;
  }

  get headBlock(): number {
    return this.first + this.#headIndex;
  }

  get tailBlock(): number {
    return this.first + this.#tailIndex;
  }

  get writeSlot(): number {
    return this.#writeSlot;
  }

  get corruptSkipped(): number {
    return this.#corruptBase + this.#corruptLive;
  }

  // ---------------------------------------------------------------- mount

  /** Finds head and tail (O(blocks) header reads + one scan of the head block). */
  mount(): void {
    const L = this.#layout;
    const n = this.count;
    let best = -1;
    let bestEpoch = 0;
    let bestSeq = 0;
    let valid = 0;
    this.uncertain = 0;
    this.badBlocks = 0;
    // Wear figures from the same pass (as #rescanWear computes them).
    let min = Infinity;
    let max = 0;
    let total = 0;
    let atMin = 0;
    for (let i = 0; i < n; i++) {
      const ok = this.#parseHeader(this.first + i);
      if (!this.#s.hBad) {
        const count = ok ? this.#s.hEraseCount : 0;
        if (count < min) {
          min = count;
          atMin = 0;
        }
        if (count === min) atMin++;
        if (count > max) max = count;
        total += count;
      }
      if (this.#s.hIntactSeq > this.maxSeqFirst) this.maxSeqFirst = this.#s.hIntactSeq;
      if (this.#s.hIntactSeq - 1 > this.maxSeqSeen) this.maxSeqSeen = this.#s.hIntactSeq - 1;
      if (this.#s.hBad) {
        this.#bad[i] = 1;
        this.badBlocks++;
        continue;
      }
      if (!ok) {
        // Encrypted mode: a block never opened reads as noise, not blank. Numbers may hide in a block
        // with an intact header of another layout or mode, and in the block after the head, which
        // #countLostHead looks at.
        if (this.#enc ? this.#s.hIntactSeq >= 0 : !this.#s.hBlank) this.uncertain++;
        if (this.#s.hV1) this.formatOneReadings += this.#countFormatOne(this.first + i);
        continue;
      }
      valid++;
      if (this.#s.hEpoch > this.maxEpochSeen) this.maxEpochSeen = this.#s.hEpoch;
      if (best < 0 || this.#s.hEpoch > bestEpoch || (this.#s.hEpoch === bestEpoch && this.#s.hSeqFirst > bestSeq)) {
        best = i;
        bestEpoch = this.#s.hEpoch;
        bestSeq = this.#s.hSeqFirst;
      }
    }
    this.eraseMin = min === Infinity ? 0 : min;
    this.eraseMax = max;
    this.eraseTotal = total;
    this.#atMin = atMin;
    if (best < 0) {
      this.usable = false;
      return;
    }
    this.#parseHeader(this.first + best);
    let skipped = this.#s.hSkipped;
    const headClose = this.#s.hClose;
    const freeNote = this.#s.hFreeNote;
    const headDropped = this.#s.hDropped;
    const headCorrupt = this.#s.hCorrupt;
    const closeDropped = this.#s.hCloseDropped;
    const closeCorrupt = this.#s.hCloseCorrupt;
    const closeLost = headClose === Close.valid && this.#s.hCloseLost;
    const headSeqFirst = this.#s.hSeqFirst;
    this.#headEpoch = this.#s.hEpoch;
    this.#headEraseCount = this.#s.hEraseCount;
    this.#headFreeNote = freeNote;
    // Blocks after the head up to the victim of its newest close note are being recycled (their
    // drop count is in the note): never part of the chain again, whatever an interrupted erase left.
    let excluded = 0;
    if (headClose === Close.valid) {
      excluded = (this.#s.hCloseVictim - best + n) % n;
    } else if (headClose === Close.invalid && freeNote < 0) {
      excluded = (this.#nextGood(best) - best + n) % n;
    }
    // Walk back from the head while epochs are consecutive and seqFirst does not grow; each header
    // says how many blocks (bad or unerasable) lie between it and its predecessor.
    const chain = this.#chain;
    chain[0] = best;
    let length = 1;
    let epoch = bestEpoch;
    let seqFirst = bestSeq;
    for (let back = 1 + skipped; back < n && length < n; back += 1 + skipped) {
      const previous = (best - back + n) % n;
      if (excluded > 0 && n - back <= excluded) break;
      if (!this.#parseHeader(this.first + previous)) break;
      if (this.#s.hEpoch !== epoch - 1 || this.#s.hSeqFirst > seqFirst) break;
      chain[length++] = previous;
      epoch = this.#s.hEpoch;
      seqFirst = this.#s.hSeqFirst;
      skipped = this.#s.hSkipped;
    }
    // Collected head first: turn it into tail first.
    for (let i = 0, j = length - 1; i < j; i++, j--) {
      const t = chain[i]!;
      chain[i] = chain[j]!;
      chain[j] = t;
    }
    this.#chainStart = 0;
    this.lostBlocks = valid - length;
    this.#tailIndex = chain[0]!;
    this.#headIndex = best;
    this.#chainLength = length;

    this.dropped = headClose === Close.valid ? closeDropped : headDropped;
    this.#corruptBase = headClose === Close.valid ? closeCorrupt : headCorrupt;
    if (headClose === Close.invalid && freeNote < 0) {
      // Every close note was torn and the victim may be gone: its counts are unknown, count a full
      // block (an over-count of at most one block, never a count that goes down).
      this.dropped = (headDropped + L.slotsPerBlock) >>> 0;
      this.#corruptBase = (headCorrupt + L.slotsPerBlock) >>> 0;
    }

    const abs = this.first + best;
    if (this.#enc) {
      this.#mountChain(length, this.#mountHeadEncrypted(abs, headSeqFirst, bestEpoch));
      if (!closeLost) this.#countLostHead(headSeqFirst);
      return;
    }
    // Write position: one past the last slot that is not blank.
    let w = 0;
    for (let s = L.slotsPerBlock - 1; s >= 0; s--) {
      this.#readSlot(abs, s);
      if (!this.#isBlank()) {
        w = s + 1;
        break;
      }
    }
    this.#writeSlot = w;
    // Torn or corrupt slots before it are marked dead (acknowledged and dead bits programmed).
    this.#flash.read(this.#s.bitmap, abs * L.blockLength + L.bitmapOffset);
    let lower = headSeqFirst;
    let last = headSeqFirst - 1;
    let badSinceLast = 0;
    for (let s = 0; s < w; s++) {
      this.#readSlot(abs, s);
      if (this.#decode(this.#s.probe, lower, MAX_SEQ) === Slot.valid) {
        lower = this.#s.probe.seq + 1;
        last = this.#s.probe.seq;
        badSinceLast = 0;
        continue;
      }
      badSinceLast++;
      if (!this.#isAcked(this.#s.bitmap, s)) this.#ackSlots(abs, s, s + 1, true, 0);
    }
    // A bad slot after the last good one may have carried the newest number: one per slot here,
    // and FlashCache reserves a gap (the other ring may have taken numbers in between).
    if (badSinceLast > 0) this.uncertain++;
    last += badSinceLast;
    if (last > this.maxSeqSeen) this.maxSeqSeen = last;
    this.#mountChain(length, w);
    if (!closeLost) this.#countLostHead(headSeqFirst);
  }

  /**
   * Encrypted mode: the head's write slot, found without reading erased flash: one past the last
   * valid record or dead slot. The slots after it read as noise whether erased or torn; the next
   * append writes there and reads back. A flipped bit in the newest record could hide its number
   * there: the mount reserves numbers (`uncertain`) whenever such slots remain.
   */
  #mountHeadEncrypted(abs: number, headSeqFirst: number, epoch: number): number {
    const L = this.#layout;
    const n = L.slotsPerBlock;
    const bitmap = this.#s.bitmap;
    this.#replayLog(bitmap, abs, epoch);
    // Invalid slots, as bits of the iterator's buffer (free during a mount).
    const invalid = this.#iterBitmap;
    invalid.fill(0);
    let lower = headSeqFirst;
    let last = headSeqFirst - 1;
    let lastValid = -1;
    let lastDead = -1;
    for (let s = 0; s < n; s++) {
      if ((((bitmap[2 * L.bitmapLength + (s >> 3)]! ^ L.eraseValue) >> (s & 7)) & 1) === 1) lastDead = s;
      this.#readSlot(abs, s);
      if (this.#decode(this.#s.probe, lower, MAX_SEQ, epoch) === Slot.valid) {
        lower = this.#s.probe.seq + 1;
        last = this.#s.probe.seq;
        lastValid = s;
      } else {
        invalid[s >> 3]! |= 1 << (s & 7);
      }
    }
    const w = (lastValid > lastDead ? lastValid : lastDead) + 1;
    for (let s = 0; s < w; s++) {
      if (((invalid[s >> 3]! >> (s & 7)) & 1) === 1 && !this.#isAcked(this.#s.bitmap, s)) {
        if (this.#s.logBlock !== abs) this.#replayLog(bitmap, abs, epoch);
        this.#ackSlots(abs, s, s + 1, true, epoch, true);
      }
    }
    const hidden = w - 1 - lastValid + (w < n ? 1 : 0);
    if (hidden > 0) this.uncertain++;
    last += hidden;
    if (last > this.maxSeqSeen) this.maxSeqSeen = last;
    return w;
  }

  /** Pending count, dead slots and the cursor: one read of the bitmaps (or log) per chain block. */
  #mountChain(length: number, w: number): void {
    const L = this.#layout;
    this.#writeSlot = w;
    let pending = 0;
    let dead = 0;
    let cursor = -1;
    for (let d = 0; d < length; d++) {
      const block = this.#abs(d);
      if (this.#enc) this.#replayLog(this.#s.bitmap, block, this.#epochAt(d));
      else this.#flash.read(this.#s.bitmap, block * L.blockLength + L.bitmapOffset);
      const used = d === length - 1 ? w : L.slotsPerBlock;
      const unacked = used - this.#ackedCount(this.#s.bitmap, used);
      pending += unacked;
      dead += this.#deadCount(this.#s.bitmap);
      if (unacked > 0 && cursor < 0) cursor = d;
    }
    this.pending = pending;
    this.#corruptLive = dead;
    this.#cursor = cursor < 0 ? length - 1 : cursor;
    this.usable = true;
  }

  /**
   * The block after the head, when it has no valid header but records newer than the head's
   * seqFirst, was the real head with both header copies damaged: those records are lost. Count
   * the unacknowledged ones and name the block in a close note (a "lost" note), so that the count
   * is durable and never taken twice; its sequence numbers are above everything the mount
   * reports (maxSeqSeen), and what cannot be read is covered by the reserved gap (`uncertain`).
   * A block being recycled only holds records older than the head's: nothing is counted twice.
   */
  #countLostHead(headSeqFirst: number): void {
    const L = this.#layout;
    const next = this.#nextGood(this.#headIndex);
    if (next < 0 || next === this.#tailIndex) return;
    const block = this.first + next;
    if (this.#parseHeader(block) || this.#s.hBad || this.#s.hBlank) return;
    // Encrypted mode: its records and log entries were bound to the epoch after the head's.
    const epoch = this.#enc ? (this.#headEpoch + 1) >>> 0 : 0;
    if (this.#enc) this.#replayLog(this.#s.bitmap, block, epoch);
    else this.#flash.read(this.#s.bitmap, block * L.blockLength + L.bitmapOffset);
    let lost = 0;
    let found = false;
    for (let s = 0; s < L.slotsPerBlock; s++) {
      this.#readSlot(block, s);
      if (this.#decode(this.#s.probe, headSeqFirst, MAX_SEQ, epoch) !== Slot.valid) continue;
      found = true;
      if (this.#s.probe.seq > this.maxSeqSeen) this.maxSeqSeen = this.#s.probe.seq;
      if (!this.#isAcked(this.#s.bitmap, s)) lost++;
    }
    // Encrypted mode: what of it cannot be read may hide newer numbers (plain mode counted every
    // non-blank block without a header at the header scan).
    if (this.#enc && found) this.uncertain++;
    if (lost === 0 || this.#headFreeNote < 0) return;
    this.#corruptBase = (this.#corruptBase + lost) >>> 0;
    try {
      this.#writeNote(this.first + this.#headIndex, this.dropped, this.#corruptBase, next, true);
    } catch (error) {
      this.#fault(error);
    }
  }

  /**
   * Unacknowledged readings of a format-1 block (its header just parsed into #hdr): format 1 has
   * 32-byte headers, 8-byte close notes and one acknowledge bitmap; its records are the same.
   */
  #countFormatOne(block: number): number {
    const L = this.#layout;
    const view = this.#s.hdrView;
    const slotLength = view.getUint16(Header.slotLength, true);
    const slots = view.getUint16(Header.slotsPerBlock, true);
    const bitmapOffset = 2 * roundUp(32, L.writeAlign) + CLOSE_NOTES * roundUp(8, L.writeAlign);
    const bitmapLength = roundUp(Math.ceil(slots / 8), L.writeAlign);
    const records = bitmapOffset + bitmapLength;
    if (slotLength !== L.slotLength || bitmapLength > this.#s.bitmap.length || records + slots * slotLength > L.blockLength) return 0;
    const bitmap = this.#s.bitmap.subarray(0, bitmapLength);
    this.#flash.read(bitmap, block * L.blockLength + bitmapOffset);
    let n = 0;
    for (let s = 0; s < slots; s++) {
      if ((((bitmap[s >> 3]! ^ L.eraseValue) >> (s & 7)) & 1) === 1) continue;
      this.#flash.read(this.#s.slot, block * L.blockLength + records + s * slotLength);
      if (!this.#isBlank()) n++;
    }
    return n;
  }

  /** Makes an unusable ring usable again: one erased block with a fresh header. */
  format(nextSeq: number): void {
    const n = this.count;
    const epoch = this.maxEpochSeen + 1;
    let at = -1;
    for (let i = 0; i < n && at < 0; i++) {
      if (this.#bad[i]) continue;
      if (this.#eraseVerified(i)) at = i;
      else this.#markBad(i);
    }
    if (at < 0) throw new Error('E_CACHE_NO_BLOCK: no block of the ring can be erased');
    // Blocks left by an older format or torn beyond repair: erased now, so that no later mount
    // has to reserve numbers for them again.
    for (let i = 0; i < n; i++) {
      if (i === at || this.#bad[i]) continue;
      this.#parseHeader(this.first + i);
      if (!this.#s.hBlank && !this.#s.hBad && !this.#eraseVerified(i)) this.#markBad(i);
    }
    // Readings a format-1 partition still held are lost with it: counted (FORMAT.md "Format history").
    this.#corruptBase = (this.#corruptBase + this.formatOneReadings) >>> 0;
    this.formatOneReadings = 0;
    if (!this.#writeHeader(this.first + at, epoch, nextSeq, this.dropped, this.#corruptBase, 1)) {
      this.#markBad(at);
      throw new Error(`E_CACHE_HEADER: the header of block ${this.first + at} did not read back`);
    }
    this.#chain[0] = at;
    this.#chainStart = 0;
    this.#headIndex = at;
    this.#tailIndex = at;
    this.#chainLength = 1;
    this.#writeSlot = 0;
    this.#headEpoch = epoch;
    this.#headEraseCount = 1;
    this.#headFreeNote = 0;
    this.#cursor = 0;
    this.#corruptLive = 0;
    this.pending = 0;
    this.usable = true;
    this.#rescanWear();
  }

  // ---------------------------------------------------------------- append

  /**
   * Stores one record; durable when this returns (the record's single write completed). Throws
   * when a flash operation failed and the record is not stored (the ring stays consistent).
   */
  append(reading: Reading, seq: number, nextSeq: number): void {
    if (!this.usable) this.format(nextSeq);
    if (this.#enc) {
      this.#appendEncrypted(reading, seq, nextSeq);
      return;
    }
    if (this.#writeSlot >= this.#layout.slotsPerBlock) this.#openNext(nextSeq);
    const L = this.#layout;
    this.#encode(reading, seq);
    const block = this.first + this.#headIndex;
    const at = block * L.blockLength + L.recordsOffset + this.#writeSlot * L.slotLength;
    this.#appendedBlock = -1;
    try {
      this.#flash.write(this.#s.slot, at);
    } catch (error) {
      // What did the failed write leave? Nothing: the slot is used again. The record: stored.
      // Anything else: the slot is dead (counted), and the next append takes the next one.
      this.#flash.read(this.#s.slot, at);
      if (this.#isBlank()) throw error;
      if (this.#decode(this.#s.probe, seq, seq) !== Slot.valid || !sameReading(this.#s.probe, reading)) {
        const slot = this.#writeSlot++;
        this.#ackSlots(block, slot, slot + 1, true, 0);
        throw error;
      }
      this.#fault(error);
    }
    copyReading(this.#appended, reading);
    this.#appended.seq = seq;
    this.#appendedBlock = block;
    this.#appendedSlot = this.#writeSlot;
    this.#writeSlot++;
    this.pending++;
  }

  /**
   * Encrypted mode: the record is written into the next slot and read back (the slot may hold what
   * a torn write left, which no read tells from erased flash). A slot that does not read back the
   * record is marked dead and the next one used; three in a row fail the append.
   */
  #appendEncrypted(reading: Reading, seq: number, nextSeq: number): void {
    const L = this.#layout;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.#writeSlot >= L.slotsPerBlock) this.#openNext(nextSeq);
      const epoch = this.#headEpoch;
      this.#encode(reading, seq, epoch);
      const block = this.first + this.#headIndex;
      const at = block * L.blockLength + L.recordsOffset + this.#writeSlot * L.slotLength;
      this.#appendedBlock = -1;
      let failure: unknown = undefined;
      try {
        this.#flash.write(this.#s.slot, at);
      } catch (error) {
        failure = error;
      }
      this.#flash.read(this.#s.slot, at);
      if (this.#decode(this.#s.probe, seq, seq, epoch) === Slot.valid && sameReading(this.#s.probe, reading)) {
        if (failure !== undefined) this.#fault(failure);
        copyReading(this.#appended, reading);
        this.#appended.seq = seq;
        this.#appendedBlock = block;
        this.#appendedSlot = this.#writeSlot;
        this.#writeSlot++;
        this.pending++;
        return;
      }
      // Not stored: the slot is used up (a second write of its units would garble them).
      const slot = this.#writeSlot++;
      this.#ackSlots(block, slot, slot + 1, true, epoch);
      if (failure !== undefined) throw failure;
      this.#s.note(`E_CACHE_READBACK: record at block ${block} slot ${slot} did not read back`);
    }
    throw new Error('E_CACHE_READBACK: three record slots in a row did not read back');
  }

  #openNext(nextSeq: number): void {
    const L = this.#layout;
    const n = this.count;
    const head = this.first + this.#headIndex;
    let from = this.#headIndex;
    for (let attempt = 0; attempt < n; attempt++) {
      const victimIndex = this.#nextGood(from);
      if (victimIndex < 0 || victimIndex === this.#headIndex) throw new Error('E_CACHE_NO_BLOCK: no other block of the ring can be erased');
      const victim = this.first + victimIndex;
      if (this.#chainLength > 1 && victimIndex === this.#tailIndex) {
        // The ring is full: the tail goes. Its counts are durable (close note) before its records go.
        if (this.#enc) this.#replayLog(this.#s.bitmap, victim, this.#epochAt(0));
        else this.#flash.read(this.#s.bitmap, victim * L.blockLength + L.bitmapOffset);
        const unacked = L.slotsPerBlock - this.#ackedCount(this.#s.bitmap, L.slotsPerBlock);
        const dead = this.#deadCount(this.#s.bitmap);
        const dropped = (this.dropped + unacked) >>> 0;
        const corrupt = (this.#corruptBase + dead) >>> 0;
        if (this.#headFreeNote >= 0) this.#writeNote(head, dropped, corrupt, victimIndex);
        this.dropped = dropped;
        this.#corruptBase = corrupt;
        this.#corruptLive -= dead;
        this.pending -= unacked;
        if (this.pending < 0) this.pending = 0;
        this.#chainStart = (this.#chainStart + 1) % n;
        this.#chainLength--;
        this.#tailIndex = this.#chain[this.#chainStart]!;
        if (this.#cursor > 0) this.#cursor--;
      }
      const oldCount = this.#parseHeader(victim) ? this.#s.hEraseCount : 0;
      const eraseCount = oldCount > 0 ? oldCount + 1 : Math.max(1, this.#headEraseCount);
      const skipped = (victimIndex - this.#headIndex - 1 + n) % n;
      if (
        !this.#eraseVerified(victimIndex) ||
        !this.#writeHeader(victim, this.#headEpoch + 1, nextSeq, this.dropped, this.#corruptBase, eraseCount, skipped)
      ) {
        // Skipped for this open; for good when the bad-block mark could be written. (Encrypted
        // mode: an erase is verified by the header written after it reading back.)
        this.#markBad(victimIndex);
        this.#rescanWear();
        from = victimIndex;
        continue;
      }
      this.#chain[(this.#chainStart + this.#chainLength) % n] = victimIndex;
      this.#chainLength++;
      this.#headIndex = victimIndex;
      this.#headEpoch++;
      this.#headEraseCount = eraseCount;
      this.#headFreeNote = 0;
      this.#writeSlot = 0;
      this.blocksOpened++;
      // Wear figures, kept up to date without reading every header at every open.
      this.eraseTotal += eraseCount - oldCount;
      if (eraseCount > this.eraseMax) this.eraseMax = eraseCount;
      if (oldCount === this.eraseMin && --this.#atMin <= 0) this.#rescanWear();
      return;
    }
    throw new Error('E_CACHE_NO_BLOCK: no block of the ring can be erased');
  }

  /** The next block after `index` (ring-relative) not known bad, or -1 when there is none. */
  #nextGood(index: number): number {
    const n = this.count;
    for (let step = 1; step < n; step++) {
      const i = (index + step) % n;
      if (!this.#bad[i]) return i;
    }
    return -1;
  }

  /** Erases a block and reads it back; once more if that failed. False: the block is bad. */
  #eraseVerified(index: number): boolean {
    const block = this.first + index;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        this.#erase(block);
        if (this.#readsErased(block)) return true;
        this.#s.note(`E_CACHE_ERASE: block ${block} did not read back erased`);
      } catch (error) {
        this.#fault(error);
      }
    }
    return false;
  }

  #readsErased(block: number): boolean {
    // Encrypted mode: erased flash reads as noise; the header written next is read back instead.
    if (this.#enc) return true;
    const L = this.#layout;
    const buffer = this.#s.hdr;
    const view = this.#s.hdrView;
    const erased = L.eraseValue === 0 ? 0 : 0xffffffff;
    const chunk = buffer.length < L.blockLength ? buffer.length : L.blockLength;
    const wordsPerChunk = chunk >> 2;
    const base = block * L.blockLength;
    for (let at = 0; at < L.blockLength; at += chunk) {
      const from = at + chunk <= L.blockLength ? at : L.blockLength - chunk;
      this.#flash.read(chunk === buffer.length ? buffer : buffer.subarray(0, chunk), base + from);
      for (let i = 0; i < wordsPerChunk; i++) if (view.getUint32(i << 2) !== erased) return false;
      for (let i = wordsPerChunk << 2; i < chunk; i++) if (buffer[i] !== L.eraseValue) return false;
    }
    return true;
  }

  /**
   * Marks a block bad on flash (header area programmed), and skips it from then on. When the mark
   * cannot be written either (the flash may be failing as a whole), the block is only passed over
   * this time and tried again on the next lap.
   */
  #markBad(index: number): void {
    const L = this.#layout;
    const mark = this.#s.hdr.subarray(0, L.headerLength);
    mark.fill(L.eraseValue ^ 0xff);
    this.#gen++;
    try {
      this.#flash.write(mark, (this.first + index) * L.blockLength);
      if (this.#enc) {
        // A unit written before (a header that did not read back) garbles instead of taking the mark.
        this.#parseHeader(this.first + index);
        if (!this.#s.hBad) throw new Error(`E_CACHE_MARK: the bad-block mark of block ${this.first + index} did not read back`);
      }
    } catch (error) {
      this.#fault(error);
      return;
    }
    this.#bad[index] = 1;
    this.badBlocks++;
  }

  #fault(error: unknown): void {
    this.#s.note(String((error as Error | undefined)?.message ?? error));
  }

  // ---------------------------------------------------------------- iteration (peek)

  /** Positions on the oldest unacknowledged record; false when there is none. */
  iterStart(alertsOnly: boolean): boolean {
    this.#iterD = this.#cursor;
    this.#iterLoaded = false;
    this.#iterAlertsOnly = alertsOnly;
    return this.usable && this.#iterFind();
  }

  /** Moves past `current`; false at the end. */
  iterNext(): boolean {
    this.#iterSlot++;
    return this.#iterFind();
  }

  #iterFind(): boolean {
    const L = this.#layout;
    while (this.#iterD < this.#chainLength) {
      const block = this.#abs(this.#iterD);
      if (!this.#iterLoaded) {
        const seqFirst = this.#seqFirst(block);
        if (seqFirst < 0) {
          this.#iterD++;
          continue;
        }
        const isHead = this.#iterD === this.#chainLength - 1;
        this.#iterLower = seqFirst;
        const used = isHead ? this.#writeSlot : L.slotsPerBlock;
        this.#iterUsed = used;
        const next = isHead ? -1 : this.#seqFirst(this.#abs(this.#iterD + 1));
        this.#iterUpper = next >= 0 ? next - 1 : MAX_SEQ;
        this.#iterBind = this.#enc ? this.#epochAt(this.#iterD) : 0;
        // The acknowledged prefix: known from the memo, else read off the bitmaps (and memoized).
        let first = this.#knownAcked(block, used);
        if (first < used) {
          if (this.#enc) this.#replayLog(this.#iterBitmap, block, this.#iterBind);
          else this.#flash.read(this.#iterBitmap, block * L.blockLength + L.bitmapOffset);
          first = this.#firstUnacked(this.#iterBitmap, first, used);
          this.#remember(block, first);
        }
        this.#iterSlot = first;
        this.#iterLoaded = true;
        if (!isHead && this.#iterD === this.#cursor && first >= used) this.#cursor++;
      }
      const bitmap = this.#iterBitmap;
      while (this.#iterSlot < this.#iterUsed) {
        const s = this.#iterSlot;
        if (this.#isAcked(bitmap, s)) {
          this.#iterSlot++;
          continue;
        }
        if (this.#load(this.current, block, s, this.#iterLower, this.#iterUpper, this.#iterBind) !== Slot.valid) {
          this.#markDead(block, s, this.#iterBind);
          this.#iterSlot++;
          continue;
        }
        this.#iterLower = this.current.seq + 1;
        if (this.#iterAlertsOnly && !this.current.alert) {
          this.#iterSlot++;
          continue;
        }
        return true;
      }
      this.#iterLoaded = false;
      this.#iterD++;
    }
    return false;
  }

  // ---------------------------------------------------------------- acknowledgements

  /** Marks the record with this seq delivered; false when this ring does not hold it unacknowledged. */
  acknowledge(seq: number): boolean {
    if (!this.usable) return false;
    const L = this.#layout;
    let found = -1;
    let lower = 0;
    for (let d = this.#cursor; d < this.#chainLength; d++) {
      const seqFirst = this.#seqFirst(this.#abs(d));
      if (seqFirst < 0) continue;
      if (seqFirst > seq) break;
      found = d;
      lower = seqFirst;
    }
    if (found < 0) return false;
    const block = this.#abs(found);
    const used = found === this.#chainLength - 1 ? this.#writeSlot : L.slotsPerBlock;
    // Acknowledged slots never move the lower bound: starting after the known prefix changes nothing.
    let start = this.#knownAcked(block, used);
    if (start >= used) return false;
    const bind = this.#enc ? this.#epochAt(found) : 0;
    if (this.#enc) this.#replayLog(this.#s.bitmap, block, bind);
    else this.#flash.read(this.#s.bitmap, block * L.blockLength + L.bitmapOffset);
    start = this.#firstUnacked(this.#s.bitmap, start, used);
    this.#remember(block, start);
    for (let s = start; s < used; s++) {
      if (this.#isAcked(this.#s.bitmap, s)) continue;
      if (this.#load(this.#s.probe, block, s, lower, MAX_SEQ, bind) !== Slot.valid) continue;
      if (this.#s.probe.seq === seq) {
        this.pending -= this.#ackSlots(block, s, s + 1, false, bind, true);
        return true;
      }
      if (this.#s.probe.seq > seq) return false;
      lower = this.#s.probe.seq + 1;
    }
    return false;
  }

  /** Marks every record with seq <= `seq` delivered. */
  acknowledgeThrough(seq: number): void {
    if (!this.usable) return;
    const L = this.#layout;
    for (let d = this.#cursor; d < this.#chainLength; d++) {
      const block = this.#abs(d);
      const seqFirst = this.#seqFirst(block);
      if (seqFirst < 0) continue;
      if (seqFirst > seq) return;
      let lower = seqFirst;
      const isHead = d === this.#chainLength - 1;
      const used = isHead ? this.#writeSlot : L.slotsPerBlock;
      const next = isHead ? -1 : this.#seqFirst(this.#abs(d + 1));
      const bind = this.#enc ? this.#epochAt(d) : 0;
      if (next >= 0 && next - 1 <= seq) {
        this.pending -= this.#ackSlots(block, 0, used, false, bind);
        continue;
      }
      // The block holding the boundary: skip the acknowledged prefix, then find the first seq > target.
      let start = this.#knownAcked(block, used);
      if (start >= used) return;
      if (this.#enc) this.#replayLog(this.#s.bitmap, block, bind);
      else this.#flash.read(this.#s.bitmap, block * L.blockLength + L.bitmapOffset);
      start = this.#firstUnacked(this.#s.bitmap, start, used);
      this.#remember(block, start);
      let end = start;
      for (let s = start; s < used; s++) {
        if (this.#load(this.#s.probe, block, s, lower, MAX_SEQ, bind) === Slot.valid) {
          if (this.#s.probe.seq > seq) break;
          lower = this.#s.probe.seq + 1;
        }
        end = s + 1;
      }
      if (end > start) this.pending -= this.#ackSlots(block, start, end, false, bind, true);
      return;
    }
  }

  // ---------------------------------------------------------------- flash helpers

  #abs(distance: number): number {
    return this.first + this.#chain[(this.#chainStart + distance) % this.count]!;
  }

  /** Epoch of the chain block at `distance` from the tail (the chain's epochs are consecutive). */
  #epochAt(distance: number): number {
    return (this.#headEpoch - (this.#chainLength - 1 - distance)) >>> 0;
  }

  #readSlot(block: number, slot: number): void {
    const L = this.#layout;
    this.#flash.read(this.#s.slot, block * L.blockLength + L.recordsOffset + slot * L.slotLength);
  }

  /**
   * Reads a slot and validates it into `into` (see #decode). The slot this instance appended last
   * is taken as written when its seq is within the bounds: reading it back would give the same.
   */
  #load(into: Reading, block: number, slot: number, lower: number, upper: number, bind = 0): Slot {
    const appended = this.#appended;
    if (block === this.#appendedBlock && slot === this.#appendedSlot && appended.seq >= lower && appended.seq <= upper) {
      copyReading(into, appended);
      return Slot.valid;
    }
    this.#readSlot(block, slot);
    return this.#decode(into, lower, upper, bind);
  }

  #isBlank(): boolean {
    const erase = this.#layout.eraseValue;
    const slot = this.#s.slot;
    for (let i = 0; i < slot.length; i++) if (slot[i] !== erase) return false;
    return true;
  }

  /** Acknowledged: programmed in both acknowledge bitmaps (a flip in one copy cannot drop a reading). */
  #isAcked(bitmaps: Uint8Array, slot: number): boolean {
    const erase = this.#layout.eraseValue;
    const i = slot >> 3;
    return ((((bitmaps[i]! ^ erase) & (bitmaps[this.#layout.bitmapLength + i]! ^ erase)) >> (slot & 7)) & 1) === 1;
  }

  /** First slot in [from, used) not acknowledged, or `used`; whole bytes at a time. */
  #firstUnacked(bitmaps: Uint8Array, from: number, used: number): number {
    const full = this.#layout.eraseValue ^ 0xff;
    const b = this.#layout.bitmapLength;
    let s = from;
    while (s < used) {
      if ((s & 7) === 0 && s + 8 <= used && bitmaps[s >> 3] === full && bitmaps[b + (s >> 3)] === full) {
        s += 8;
        continue;
      }
      if (!this.#isAcked(bitmaps, s)) return s;
      s++;
    }
    return used;
  }

  /** How many leading slots of `block` are known acknowledged (at most `used`). */
  #knownAcked(block: number, used: number): number {
    if (block !== this.#ackedBlock) return 0;
    return this.#ackedBelow < used ? this.#ackedBelow : used;
  }

  /** Slots [0, below) of `block` were seen acknowledged in a bitmap just read or written. */
  #remember(block: number, below: number): void {
    if (block !== this.#ackedBlock || below > this.#ackedBelow) {
      this.#ackedBlock = block;
      this.#ackedBelow = below;
    }
  }

  /** Erases a block, first forgetting every memo about it. */
  #erase(block: number): void {
    this.#gen++;
    if (block === this.#ackedBlock) this.#ackedBlock = -1;
    if (block === this.#appendedBlock) this.#appendedBlock = -1;
    if (block === this.#logMemoBlock) this.#logMemoBlock = -1;
    this.#flash.eraseBlock(block);
  }

  /** The header's seqFirst (-1 when invalid), parsed on a memo miss only. */
  #seqFirst(block: number): number {
    const memo = this.#memo;
    const gen = this.#gen;
    if (memo[0] === block && memo[1] === gen) return memo[2]!;
    if (memo[3] === block && memo[4] === gen) return memo[5]!;
    return this.#memoize(block, this.#parseHeader(block) ? this.#s.hSeqFirst : -1);
  }

  #memoize(block: number, seqFirst: number): number {
    const at = this.#memoNext;
    this.#memoNext = at === 0 ? 3 : 0;
    this.#memo[at] = block;
    this.#memo[at + 1] = this.#gen;
    this.#memo[at + 2] = seqFirst;
    return seqFirst;
  }

  #ackedCount(bitmaps: Uint8Array, used: number): number {
    const full = this.#layout.eraseValue ^ 0xff;
    const b = this.#layout.bitmapLength;
    let n = 0;
    let s = 0;
    while (s < used) {
      if ((s & 7) === 0 && s + 8 <= used && bitmaps[s >> 3] === full && bitmaps[b + (s >> 3)] === full) {
        n += 8;
        s += 8;
        continue;
      }
      if (this.#isAcked(bitmaps, s)) n++;
      s++;
    }
    return n;
  }

  /** Programmed bits of the dead bitmap (slots skipped as corrupt). */
  #deadCount(bitmaps: Uint8Array): number {
    const L = this.#layout;
    const at = 2 * L.bitmapLength;
    let n = 0;
    for (let s = 0; s < L.slotsPerBlock; s++) {
      const byte = bitmaps[at + (s >> 3)]! ^ L.eraseValue;
      if (byte === 0 && (s & 7) === 0) {
        s += 7;
        continue;
      }
      if (((byte >> (s & 7)) & 1) === 1) n++;
    }
    return n;
  }

  /**
   * Programs the acknowledge bits of slots [from, to) in bitmap A, then B (and with `dead`, the
   * dead bits): read-modify-write of the changed words only. Returns the slots newly acknowledged.
   */
  #ackSlots(block: number, from: number, to: number, dead: boolean, bind: number, fresh = false): number {
    if (this.#enc) return this.#ackSlotsEncrypted(block, from, to, dead, bind, fresh);
    const L = this.#layout;
    const bitmaps = this.#s.bitmap;
    const length = L.bitmapLength;
    const at = block * L.blockLength + L.bitmapOffset;
    // `fresh`: the caller has just read this block's bitmaps into #bitmap (nothing wrote since).
    if (!fresh) this.#flash.read(bitmaps, at);
    let firstByte = -1;
    let lastByte = -1;
    let newly = 0;
    let newlyDead = 0;
    const erase = L.eraseValue;
    for (let s = from; s < to; s++) {
      if (this.#isAcked(bitmaps, s)) continue;
      const i = s >> 3;
      const bit = 1 << (s & 7);
      // Programming moves a bit away from the erase value (a bit programmed already stays so).
      bitmaps[i] = erase === 0 ? bitmaps[i]! | bit : bitmaps[i]! & ~bit;
      bitmaps[length + i] = erase === 0 ? bitmaps[length + i]! | bit : bitmaps[length + i]! & ~bit;
      if (dead) {
        const d = 2 * length + i;
        if ((((bitmaps[d]! ^ erase) >> (s & 7)) & 1) === 0) newlyDead++;
        bitmaps[d] = erase === 0 ? bitmaps[d]! | bit : bitmaps[d]! & ~bit;
      }
      newly++;
      if (firstByte < 0) firstByte = i;
      lastByte = i;
    }
    if (newly > 0) {
      const align = L.writeAlign;
      const start = Math.floor(firstByte / align) * align;
      const end = roundUp(lastByte + 1, align);
      // Dead bits first: a slot is never acknowledged as dead without being counted.
      if (dead) {
        this.#flash.write(bitmaps.subarray(2 * length + start, 2 * length + end), at + 2 * length + start);
        this.#corruptLive += newlyDead;
      }
      this.#flash.write(bitmaps.subarray(start, end), at + start);
      this.#flash.write(bitmaps.subarray(length + start, length + end), at + length + start);
    }
    if (block === this.#ackedBlock && this.#ackedBelow >= from && this.#ackedBelow < to) {
      this.#ackedBelow = this.#firstUnacked(bitmaps, this.#ackedBelow, L.slotsPerBlock);
    }
    return newly;
  }

  /**
   * Encrypted mode: acknowledges (with `dead`: marks dead) slots [from, to) by appending one
   * entry to the block's log, covering the slots newly acknowledged. Returns how many.
   */
  #ackSlotsEncrypted(block: number, from: number, to: number, dead: boolean, epoch: number, fresh: boolean): number {
    const L = this.#layout;
    const bitmaps = this.#s.bitmap;
    const length = L.bitmapLength;
    if (!fresh || this.#s.logBlock !== block) this.#replayLog(bitmaps, block, epoch);
    let first = -1;
    let last = -1;
    let newlyDead = 0;
    let newly = 0;
    for (let s = from; s < to; s++) {
      if (this.#isAcked(bitmaps, s)) continue;
      if (first < 0) first = s;
      last = s;
      newly++;
    }
    if (newly > 0) {
      // One entry [first, last]: slots in between that were acknowledged already stay so. A dead
      // entry is only ever written for one slot, so it never marks an acknowledged slot dead.
      if (dead) {
        for (let s = first; s <= last; s++) if ((((bitmaps[2 * length + (s >> 3)]! ^ L.eraseValue) >> (s & 7)) & 1) === 0) newlyDead++;
      }
      this.#appendEntry(block, epoch, dead ? DEAD_ENTRY : ACK_ENTRY, first, last + 1);
      this.#corruptLive += newlyDead;
      this.#programBits(bitmaps, first, last + 1, dead);
    }
    if (block === this.#ackedBlock && this.#ackedBelow >= from && this.#ackedBelow < to) {
      this.#ackedBelow = this.#firstUnacked(bitmaps, this.#ackedBelow, L.slotsPerBlock);
    }
    return newly;
  }

  /** Programs (in RAM) the acknowledge bits of slots [from, to), and with `dead` their dead bits. */
  #programBits(bitmaps: Uint8Array, from: number, to: number, dead: boolean): void {
    const L = this.#layout;
    const length = L.bitmapLength;
    const erase = L.eraseValue;
    for (let s = from; s < to; s++) {
      const i = s >> 3;
      const bit = 1 << (s & 7);
      bitmaps[i] = erase === 0 ? bitmaps[i]! | bit : bitmaps[i]! & ~bit;
      bitmaps[length + i] = erase === 0 ? bitmaps[length + i]! | bit : bitmaps[length + i]! & ~bit;
      if (dead) bitmaps[2 * length + i] = erase === 0 ? bitmaps[2 * length + i]! | bit : bitmaps[2 * length + i]! & ~bit;
    }
  }

  /**
   * Encrypted mode: replays the block's acknowledge log into `bitmaps` (acknowledge A = B, dead),
   * in the plain layout's bit convention so that the bitmap helpers serve both modes. Entries are
   * valid when kind, range and CRC (bound to the block's epoch) check; the others (erased noise,
   * torn units, entries of an earlier life of the block) are ignored. Every entry is read: one that
   * did not read back leaves an unknown unit between valid ones. The next free entry is one past
   * the last valid one (Scratch.logFree, for this block).
   */
  #replayLog(bitmaps: Uint8Array, block: number, epoch: number): void {
    if (block === this.#logMemoBlock) {
      bitmaps.set(this.#logMemo);
      this.#s.logBlock = bitmaps === this.#s.bitmap ? block : -1;
      this.#s.logFree = this.#logMemoFree;
      return;
    }
    const L = this.#layout;
    const buffer = this.#s.log;
    const view = this.#s.logView;
    const base = block * L.blockLength + L.logOffset;
    bitmaps.fill(L.eraseValue);
    let free = 0;
    for (let e = 0; e < L.logEntries; e += LOG_CHUNK) {
      const count = L.logEntries - e < LOG_CHUNK ? L.logEntries - e : LOG_CHUNK;
      this.#flash.read(buffer.subarray(0, count * Entry.bytes), base + e * Entry.bytes);
      for (let k = 0; k < count; k++) {
        const at = k * Entry.bytes;
        const kind = view.getUint16(at + Entry.kind, true);
        if (kind !== ACK_ENTRY && kind !== DEAD_ENTRY) continue;
        const from = view.getUint16(at + Entry.from, true);
        const to = view.getUint16(at + Entry.to, true);
        if (!(from < to && to <= L.slotsPerBlock)) continue;
        if (((view.getUint32(at + Entry.crc, true) ^ epoch) >>> 0) !== this.#crc.of(buffer, at, Entry.crc)) continue;
        this.#programBits(bitmaps, from, to, kind === DEAD_ENTRY);
        free = e + k + 1;
      }
    }
    this.#s.logBlock = bitmaps === this.#s.bitmap ? block : -1;
    this.#s.logFree = free;
    this.#logMemo.set(bitmaps);
    this.#logMemoBlock = block;
    this.#logMemoFree = free;
  }

  /**
   * Encrypted mode: writes one log entry at the block's next free entry (Scratch.logFree, from the
   * replay just done) and reads it back; an entry that does not read back (its unit held a torn
   * write) uses the next one. Throws when the log is full (the acknowledgement is not done: the
   * readings stay pending and are sent again).
   */
  #appendEntry(block: number, epoch: number, kind: number, from: number, to: number): void {
    const L = this.#layout;
    const buffer = this.#s.log;
    const view = this.#s.logView;
    const entry = buffer.subarray(0, Entry.bytes);
    const back = buffer.subarray(Entry.bytes, 2 * Entry.bytes);
    let p = this.#s.logFree;
    // Until the entry is on flash, Scratch.bitmap and the log memo no longer match it.
    this.#s.logBlock = -1;
    const memo = block === this.#logMemoBlock;
    this.#logMemoBlock = -1;
    while (p < L.logEntries) {
      entry.fill(0);
      view.setUint16(Entry.kind, kind, true);
      view.setUint16(Entry.from, from, true);
      view.setUint16(Entry.to, to, true);
      view.setUint32(Entry.crc, (this.#crc.of(entry, 0, Entry.crc) ^ epoch) >>> 0, true);
      const at = block * L.blockLength + L.logOffset + p * Entry.bytes;
      this.#flash.write(entry, at);
      this.#flash.read(back, at);
      p++;
      let same = true;
      for (let i = 0; i < Entry.bytes && same; i++) if (back[i] !== entry[i]) same = false;
      if (same) {
        this.#s.logBlock = block;
        this.#s.logFree = p;
        if (memo) {
          this.#programBits(this.#logMemo, from, to, kind === DEAD_ENTRY);
          this.#logMemoBlock = block;
          this.#logMemoFree = p;
        }
        return;
      }
      this.#s.note(`E_CACHE_READBACK: log entry ${p - 1} of block ${block} did not read back`);
    }
    throw new Error(`E_CACHE_LOG_FULL: the acknowledge log of block ${block} is full`);
  }

  #markDead(block: number, slot: number, bind = 0): void {
    const newly = this.#ackSlots(block, slot, slot + 1, true, bind);
    this.pending -= newly;
    if (this.pending < 0) this.pending = 0;
  }

  /**
   * Reads and validates a block's header (the first intact copy of two) and its close notes;
   * false (nothing trusted) when neither copy is valid for this ring. `#hIntactSeq` keeps the
   * seqFirst of any intact header, also of another layout or of format 1 (a re-format keeps the
   * high-water mark); `#hBad` and `#hBlank` say whether the block is marked bad or never opened.
   */
  #parseHeader(block: number): boolean {
    const L = this.#layout;
    const hdr = this.#s.hdr;
    const view = this.#s.hdrView;
    this.#flash.read(hdr, block * L.blockLength);
    this.#s.hIntactSeq = -1;
    this.#s.hV1 = false;
    const programmed = L.eraseValue ^ 0xff;
    this.#s.hBad = hdr[0] === programmed && hdr[1] === programmed && hdr[2] === programmed && hdr[3] === programmed;
    // Encrypted mode: erased flash reads as noise, so no block is known blank.
    let blank = !this.#enc;
    for (let i = 0; i < L.closeOffset && blank; i++) if (hdr[i] !== L.eraseValue) blank = false;
    this.#s.hBlank = blank;
    if (this.#s.hBad || blank) return false;
    let at = -1;
    for (let copy = 0; copy < 2 && at < 0; copy++) {
      const c = copy * L.headerLength;
      if (view.getUint32(c + Header.magic, true) !== FORMAT_MAGIC) continue;
      if (hdr[c + Header.version] === V1.version && !this.#enc && c + V1.crc + 4 <= L.closeOffset) {
        // Format 1: only its high-water mark is used (FORMAT.md "Format history").
        if (view.getUint32(c + V1.crc, true) === this.#crc.of(hdr, c, V1.crc)) {
          this.#s.hIntactSeq = view.getUint32(c + Header.seqFirst, true);
          this.#s.hV1 = true;
        }
        continue;
      }
      if (view.getUint32(c + Header.crc, true) !== this.#crc.of(hdr, c, Header.crc)) continue;
      this.#s.hIntactSeq = view.getUint32(c + Header.seqFirst, true);
      if (
        hdr[c + Header.version] === (this.#enc ? ENCRYPTED_VERSION : FORMAT_VERSION) &&
        hdr[c + Header.ringId] === this.id &&
        view.getUint16(c + Header.ringBlocks, true) === this.count &&
        view.getUint16(c + Header.slotLength, true) === L.slotLength &&
        view.getUint16(c + Header.slotsPerBlock, true) === L.slotsPerBlock
      ) {
        at = c;
      }
    }
    if (at < 0) return false;
    this.#s.hEpoch = view.getUint32(at + Header.epoch, true);
    this.#s.hSeqFirst = view.getUint32(at + Header.seqFirst, true);
    this.#s.hDropped = view.getUint32(at + Header.droppedAtOpen, true);
    this.#s.hCorrupt = view.getUint32(at + Header.corruptAtOpen, true);
    this.#s.hSkipped = view.getUint16(at + Header.skipped, true);
    this.#s.hEraseCount = view.getUint32(at + Header.eraseCount, true);
    // Close notes: the newest valid one counts; a torn one is skipped and the next erased one used.
    this.#s.hClose = Close.erased;
    this.#s.hFreeNote = -1;
    if (this.#enc) {
      this.#parseNotesEncrypted();
      return true;
    }
    for (let n = CLOSE_NOTES - 1; n >= 0; n--) {
      const at = L.closeOffset + n * L.noteLength;
      let erased = true;
      for (let i = at; i < at + L.noteLength; i++) if (hdr[i] !== L.eraseValue) erased = false;
      if (erased) {
        this.#s.hFreeNote = n;
        continue;
      }
      const victim = view.getUint16(at + Note.victim, true);
      if (view.getUint32(at + Note.crc, true) === this.#crc.of(hdr, at, Note.crc) && victim < this.count) {
        if (this.#s.hClose !== Close.valid) {
          this.#s.hClose = Close.valid;
          this.#s.hCloseDropped = view.getUint32(at + Note.dropped, true);
          this.#s.hCloseCorrupt = view.getUint32(at + Note.corrupt, true);
          this.#s.hCloseVictim = victim;
          this.#s.hCloseLost = view.getUint16(at + Note.kind, true) === LOST_NOTE;
        }
      } else if (this.#s.hClose !== Close.valid) {
        this.#s.hClose = Close.invalid;
      }
    }
    return true;
  }

  /**
   * Encrypted mode: the notes of the header just parsed. Valid ones are bound to its epoch; the
   * newest valid one counts; the next note is written after it (an unwritten note reads as noise,
   * as does a torn one, which the write after it skips: the erase it announced never started).
   */
  #parseNotesEncrypted(): void {
    const L = this.#layout;
    const hdr = this.#s.hdr;
    const view = this.#s.hdrView;
    const epoch = this.#s.hEpoch;
    let newest = -1;
    for (let n = 0; n < L.notes; n++) {
      const at = L.closeOffset + n * L.noteLength;
      const victim = view.getUint16(at + Note.victim, true);
      if (victim >= this.count || ((view.getUint32(at + Note.crc, true) ^ epoch) >>> 0) !== this.#crc.of(hdr, at, Note.crc)) continue;
      newest = n;
      this.#s.hClose = Close.valid;
      this.#s.hCloseDropped = view.getUint32(at + Note.dropped, true);
      this.#s.hCloseCorrupt = view.getUint32(at + Note.corrupt, true);
      this.#s.hCloseVictim = victim;
      this.#s.hCloseLost = view.getUint16(at + Note.kind, true) === LOST_NOTE;
    }
    this.#s.hFreeNote = newest + 1 < L.notes ? newest + 1 : -1;
  }

  /** Writes the next free close note of the head (its drop and corrupt counts, and the victim). */
  #writeNote(head: number, dropped: number, corrupt: number, victim: number, lost = false): void {
    const L = this.#layout;
    if (this.#enc) {
      this.#writeNoteEncrypted(head, dropped, corrupt, victim, lost);
      return;
    }
    const index = this.#headFreeNote;
    // The note slot is used whatever the write does (a torn note is skipped at mount).
    this.#headFreeNote = index + 1 < CLOSE_NOTES ? index + 1 : -1;
    const at = L.closeOffset + index * L.noteLength;
    const note = this.#s.hdr.subarray(at, at + L.noteLength);
    note.fill(L.eraseValue);
    const view = this.#s.hdrView;
    view.setUint32(at + Note.dropped, dropped >>> 0, true);
    view.setUint32(at + Note.corrupt, corrupt >>> 0, true);
    view.setUint16(at + Note.victim, victim, true);
    if (lost) view.setUint16(at + Note.kind, LOST_NOTE, true);
    view.setUint32(at + Note.crc, this.#crc.of(this.#s.hdr, at, Note.crc), true);
    this.#gen++;
    this.#flash.write(note, head * L.blockLength + at);
  }

  /**
   * Encrypted mode: writes the note into the next free note and reads it back, using the next one
   * when it did not read back. When none is left the recycling goes on without a note, as in plain
   * mode (FORMAT.md "Encrypted partitions", limits).
   */
  #writeNoteEncrypted(head: number, dropped: number, corrupt: number, victim: number, lost: boolean): void {
    const L = this.#layout;
    const view = this.#s.hdrView;
    const back = this.#s.log.subarray(0, L.noteLength);
    const epoch = this.#headEpoch;
    while (this.#headFreeNote >= 0) {
      const index = this.#headFreeNote;
      this.#headFreeNote = index + 1 < L.notes ? index + 1 : -1;
      const at = L.closeOffset + index * L.noteLength;
      const note = this.#s.hdr.subarray(at, at + L.noteLength);
      note.fill(0);
      view.setUint32(at + Note.dropped, dropped >>> 0, true);
      view.setUint32(at + Note.corrupt, corrupt >>> 0, true);
      view.setUint16(at + Note.victim, victim, true);
      view.setUint16(at + Note.kind, lost ? LOST_NOTE : 0, true);
      view.setUint32(at + Note.crc, (this.#crc.of(this.#s.hdr, at, Note.crc) ^ epoch) >>> 0, true);
      this.#gen++;
      this.#flash.write(note, head * L.blockLength + at);
      this.#flash.read(back, head * L.blockLength + at);
      let same = true;
      for (let i = 0; i < L.noteLength && same; i++) if (back[i] !== note[i]) same = false;
      if (same) return;
      this.#s.note(`E_CACHE_READBACK: close note ${index} of block ${head} did not read back`);
    }
  }

  /**
   * Writes both header copies in one write (a torn write leaves at least copy A or nothing valid).
   * Encrypted mode: reads it back; false when no copy is valid (the block is then passed over).
   */
  #writeHeader(block: number, epoch: number, seqFirst: number, dropped: number, corrupt: number, eraseCount: number, skipped = 0): boolean {
    const L = this.#layout;
    const hdr = this.#s.hdr.subarray(0, L.closeOffset);
    const view = this.#s.hdrView;
    hdr.fill(L.eraseValue);
    view.setUint32(Header.magic, FORMAT_MAGIC, true);
    hdr[Header.version] = this.#enc ? ENCRYPTED_VERSION : FORMAT_VERSION;
    hdr[Header.ringId] = this.id;
    view.setUint16(Header.ringBlocks, this.count, true);
    view.setUint32(Header.epoch, epoch >>> 0, true);
    view.setUint32(Header.seqFirst, seqFirst >>> 0, true);
    view.setUint32(Header.droppedAtOpen, dropped >>> 0, true);
    view.setUint32(Header.eraseCount, eraseCount >>> 0, true);
    view.setUint16(Header.slotLength, L.slotLength, true);
    view.setUint16(Header.slotsPerBlock, L.slotsPerBlock, true);
    view.setUint32(Header.corruptAtOpen, corrupt >>> 0, true);
    view.setUint16(Header.skipped, skipped, true);
    view.setUint32(Header.crc, this.#crc.of(hdr, 0, Header.crc), true);
    hdr.copyWithin(L.headerLength, 0, L.headerLength);
    this.#gen++;
    this.#flash.write(hdr, block * L.blockLength);
    if (this.#enc && !(this.#parseHeader(block) && this.#s.hEpoch === epoch >>> 0 && this.#s.hSeqFirst === seqFirst >>> 0)) {
      this.#s.note(`E_CACHE_READBACK: the header of block ${block} did not read back`);
      return false;
    }
    // Written and returned: the header is on flash as written.
    this.#memoize(block, seqFirst >>> 0);
    return true;
  }

  /** Erase counts from the headers (blocks without a valid header count as 0: unknown). */
  #rescanWear(): void {
    let min = Infinity;
    let max = 0;
    let total = 0;
    let atMin = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.#bad[i]) continue;
      const count = this.#parseHeader(this.first + i) ? this.#s.hEraseCount : 0;
      if (count < min) {
        min = count;
        atMin = 0;
      }
      if (count === min) atMin++;
      if (count > max) max = count;
      total += count;
    }
    this.#atMin = atMin;
    this.eraseMin = min === Infinity ? 0 : min;
    this.eraseMax = max;
    this.eraseTotal = total;
  }

  /** `bind`: encrypted mode, the block's epoch, XORed into the CRC (0 in plain mode). */
  #encode(reading: Reading, seq: number, bind = 0): void {
    const slot = this.#s.slot;
    const view = this.#s.slotView;
    slot.fill(this.#layout.eraseValue);
    slot[Record.flags] =
      (reading.synced ? RecordFlags.synced : 0) |
      (reading.alert ? RecordFlags.alert : 0) |
      RecordFlags.marker |
      (reading.kind << RecordFlags.kindShift);
    slot[Record.channel] = reading.channel;
    const high = Math.floor(reading.timeMs / TWO_POW_32);
    view.setUint16(Record.timeHigh, high, true);
    view.setUint32(Record.timeLow, reading.timeMs - high * TWO_POW_32, true);
    view.setUint32(Record.seq, seq, true);
    view.setInt32(Record.value, reading.value, true);
    view.setUint32(Record.crc, (this.#crc.of(slot, 0, Record.crc) ^ bind) >>> 0, true);
  }

  /** Validates the slot buffer and decodes it into `into` (only when valid). */
  #decode(into: Reading, lower: number, upper: number, bind = 0): Slot {
    // Encrypted mode: erased slots read as noise, which the marker and the CRC reject.
    if (!this.#enc && this.#isBlank()) return Slot.blank;
    const slot = this.#s.slot;
    const view = this.#s.slotView;
    const flags = slot[Record.flags]!;
    if ((flags & RecordFlags.markerMask) !== RecordFlags.marker) return Slot.corrupt;
    const kind = flags >> RecordFlags.kindShift;
    if (kind > MAX_KIND) return Slot.corrupt;
    if (((view.getUint32(Record.crc, true) ^ bind) >>> 0) !== this.#crc.of(slot, 0, Record.crc)) return Slot.corrupt;
    const seq = view.getUint32(Record.seq, true);
    if (seq < lower || seq > upper) return Slot.corrupt;
    into.seq = seq;
    into.timeMs = view.getUint16(Record.timeHigh, true) * TWO_POW_32 + view.getUint32(Record.timeLow, true);
    into.synced = (flags & RecordFlags.synced) !== 0;
    into.alert = (flags & RecordFlags.alert) !== 0;
    into.channel = slot[Record.channel]!;
    into.kind = kind as ReadingKindValue;
    into.value = view.getInt32(Record.value, true);
    return Slot.valid;
  }
}

function sameReading(a: Reading, b: Reading): boolean {
  return (
    a.timeMs === b.timeMs &&
    a.synced === b.synced &&
    a.alert === b.alert &&
    a.channel === b.channel &&
    a.kind === b.kind &&
    a.value === b.value
  );
}
