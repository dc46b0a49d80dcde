/*
 * FlashCache: the durable `ReadingStore` (firmware/store.ts) over one flash partition, given by
 * the host as an ECMA-419 Flash (`host.flash.open({ path: 'cache' })`).
 *
 * In one paragraph (the byte-by-byte format, recovery and wear levelling are in FORMAT.md):
 * the partition is split into a main ring and a small alert ring of erase blocks. Each ring is a
 * log: a block has a header (magic, epoch, first sequence number, drop count, erase count, CRC-32),
 * a close note, an acknowledge bitmap (one bit per record, programmed 1->0 on acknowledge) and
 * fixed 20-byte records (flags, channel, 48-bit time, u32 seq, i32 fixed-point value, CRC-32).
 *
 * Durability point: `append` returns after the one flash write that programs the record has
 * returned (and after the erase and header write of a new block, when it needed one). ECMA-419
 * Flash.write is synchronous and, on the ESP32 (esp_flash_write), returns once the page program
 * finished, so a reading whose `append` returned survives any later power cut. `acknowledge*`
 * are durable when they return (the bitmap word is programmed). A cut *during* an append or
 * acknowledge leaves that one operation either done or not done (a torn record fails its CRC and
 * is skipped; a torn bitmap word acknowledges a subset of what was asked).
 *
 * Dropping: when a ring is full, opening its next block erases its oldest block; its
 * unacknowledged records are counted in `stats.dropped` (persisted in the close note before the
 * erase). Alerts live in their own ring, so ordinary readings never push an alert out; alerts
 * are dropped only when more than `alertCapacity` of them are unacknowledged.
 *
 * Mount never throws on bad content: unusable rings are formatted (`stats.formatted`), corrupt
 * records are skipped and counted (`stats.corruptSkipped`), and headers cut off from the chain
 * are counted (`stats.lostBlocks`). Only a flash that cannot even be read makes the constructor
 * throw (the node then keeps readings in RAM).
 *
 * Failing soft: after the mount no operation throws. A flash operation that throws is counted
 * (`stats.faults`, `stats.lastFault`); an append it stops returns -1 (`stats.failed`) and still
 * uses up its sequence number, so a record that did reach flash can never share its number; a
 * peek returns what it had, an acknowledge is simply not done (the readings are sent again).
 * A block whose erase fails twice is marked bad and skipped (`stats.badBlocks`, FORMAT.md).
 * Under a simulated power cut every later call fails the same way: the instance is then dropped
 * and a new one mounted, as after a real one.
 *
 * Encrypted partitions (`status().encrypted`, ESP32 flash encryption): the same guarantees in a
 * mode whose every write is a 16-byte aligned multiple of 16 written once per erase, with
 * acknowledgements appended to a per-block log and every write read back (FORMAT.md).
 */
import type { Flash } from '../host';
import { copyReading, type NewReading, type Reading, type ReadingStore, type StoreStats } from '../store';
import { Crc32 } from './crc32';
import { computeLayout, MAX_KIND, MAX_SEQ, MAX_TIME_MS, type Layout } from './layout';
import { Ring, Scratch } from './ring';

export { computeLayout, type Layout } from './layout';

export interface FlashCacheOptions {
  /**
   * Blocks reserved at the end of the partition for alerts (0: alerts share the main ring).
   * Default: max(2, floor(blocks / 16)) when the partition has 16 blocks or more, else 0.
   * Changing it re-formats the partition (the ring size is part of every header).
   */
  alertBlocks?: number;
}

export interface CacheStats extends StoreStats {
  /** Appends refused because a field is outside the format (not an int32 value, bad kind...). */
  invalid: number;
  /** This mount found (part of) the partition unusable and formatted it. */
  formatted: boolean;
  /**
   * Records that failed their checks (torn, bit flips, garbage) and were skipped, or were counted
   * lost (a head whose two header copies are damaged, readings of a format-1 partition).
   * Persisted (dead bitmap, headers, close notes): it only grows, across reboots too.
   */
  corruptSkipped: number;
  /** Blocks with a valid header that were cut off from the chain (their records are lost). */
  lostBlocks: number;
  /** Blocks marked bad (an erase failed twice or did not read back erased), skipped for good. */
  badBlocks: number;
  /** Flash operations that threw (or erases that did not read back erased) since mount. */
  faults: number;
  /** The last of them, for the log and health reports ('' when none). */
  lastFault: string;
  /** Sequence numbers this mount skipped because the flash may hide numbers already given out. */
  seqReserved: number;
  /** This mount found a format-1 partition and re-formatted it; its unacknowledged readings are
   * counted in corruptSkipped (FORMAT.md "Format history"). */
  migratedReadings: number;
  /** Erase counts kept in the block headers (0 for blocks never opened since a format). */
  eraseMin: number;
  eraseMax: number;
  eraseTotal: number;
  /** Blocks erased and opened since mount. */
  blocksOpened: number;
  /** Chain found at mount: blocks in the main ring's chain and the head's write slot. */
  mountChainBlocks: number;
  mountHeadSlot: number;
}

export class FlashCache implements ReadingStore {
  readonly #main: Ring;
  readonly #alerts: Ring | undefined;
  readonly #layout: Layout;
  #nextSeq: number;
  readonly #scratch: Scratch;
  /** Acknowledgements a flash fault stopped, done again later (#queueRetry). */
  readonly #retryBuffer = new Float64Array(8);
  #retries = 0;
  #retryThrough = -1;
  readonly stats: CacheStats;

  constructor(flash: Flash, options: FlashCacheOptions = {}) {
    // An encrypted partition (ESP32 flash encryption, `status().encrypted`) gets the encrypted
    // mode: every 16-byte unit written once per erase, acknowledgements appended to a log, nothing
    // told from erased contents (FORMAT.md "Encrypted partitions").
    const status = flash.status();
    const layout = computeLayout(status);
    if (!layout) {
      throw new RangeError(
        `E_CACHE_GEOMETRY: partition of ${status.blocks} x ${status.blockLength} bytes (writeAlign ${status.writeAlign}) cannot hold the cache`,
      );
    }
    const alertBlocks = options.alertBlocks ?? (status.blocks >= 16 ? Math.max(2, Math.floor(status.blocks / 16)) : 0);
    const mainBlocks = status.blocks - alertBlocks;
    if (!Number.isInteger(alertBlocks) || alertBlocks < 0 || alertBlocks === 1 || mainBlocks < 2) {
      throw new RangeError(`E_CACHE_GEOMETRY: alertBlocks ${alertBlocks} of ${status.blocks} (each ring needs 2 blocks)`);
    }
    this.#layout = layout;
    const crc = new Crc32();
    this.#scratch = new Scratch(layout);
    this.#main = new Ring(flash, layout, crc, this.#scratch, 0, 0, mainBlocks);
    this.#alerts = alertBlocks > 0 ? new Ring(flash, layout, crc, this.#scratch, 1, mainBlocks, alertBlocks) : undefined;
    const main = this.#main;
    const alerts = this.#alerts;
    main.mount();
    alerts?.mount();
    let nextSeq = Math.max(main.maxSeqSeen, alerts ? alerts.maxSeqSeen : -1, 0) + 1;
    const known = nextSeq;
    const uncertain = main.uncertain + (alerts?.uncertain ?? 0);
    if (uncertain > 0) {
      // Numbers handed out since the newest intact header went into that block, the other ring's
      // head and the blocks whose headers are unreadable: at most one block's slots each.
      const base = Math.max(main.maxSeqFirst, alerts ? alerts.maxSeqFirst : -1, 1);
      nextSeq = Math.max(nextSeq, base + layout.slotsPerBlock * (2 + uncertain));
    }
    this.#nextSeq = nextSeq;
    const formatted = !main.usable || (alerts !== undefined && !alerts.usable);
    const migrated = main.formatOneReadings + (alerts?.formatOneReadings ?? 0);
    // A ring left unusable tries to format again at every append and fails soft meanwhile.
    for (const ring of alerts ? [main, alerts] : [main]) {
      if (ring.usable) continue;
      try {
        ring.format(nextSeq);
      } catch (error) {
        this.#fault(error);
      }
    }
    this.stats = {
      appended: 0,
      dropped: 0,
      failed: 0,
      invalid: 0,
      formatted,
      corruptSkipped: 0,
      lostBlocks: main.lostBlocks + (alerts?.lostBlocks ?? 0),
      badBlocks: 0,
      faults: 0,
      lastFault: '',
      seqReserved: nextSeq - known,
      migratedReadings: migrated,
      eraseMin: 0,
      eraseMax: 0,
      eraseTotal: 0,
      blocksOpened: 0,
      mountChainBlocks: main.chainLength,
      mountHeadSlot: main.writeSlot,
    };
    this.#refresh();
  }

  /** The sequence number the next append gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  get pending(): number {
    return this.#main.pending + (this.#alerts?.pending ?? 0);
  }

  /** Readings the main ring holds at least (its size minus the block being recycled). */
  get capacity(): number {
    return this.#main.capacity;
  }

  /** Unacknowledged alerts kept at least before the oldest alert is dropped (0: shared ring). */
  get alertCapacity(): number {
    return this.#alerts?.capacity ?? 0;
  }

  get layout(): Layout {
    return this.#layout;
  }

  /** The partition is encrypted and the cache runs in its encrypted mode (FORMAT.md). */
  get encrypted(): boolean {
    return this.#layout.encrypted;
  }

  append(reading: NewReading): number {
    const stats = this.stats;
    if (!validReading(reading)) {
      stats.invalid++;
      stats.failed++;
      return -1;
    }
    const seq = this.#nextSeq;
    if (seq > MAX_SEQ) {
      stats.failed++;
      return -1;
    }
    if (this.#retries > 0 || this.#retryThrough >= 0) this.#retryAcks();
    const ring = reading.alert && this.#alerts ? this.#alerts : this.#main;
    // The number is used up even when the append fails: a record that reached flash keeps it alone.
    this.#nextSeq = seq + 1;
    try {
      ring.append(reading as Reading, seq, seq);
    } catch (error) {
      this.#fault(error);
      stats.failed++;
      this.#refresh();
      return -1;
    }
    stats.appended++;
    this.#refresh();
    return seq;
  }

  peek(out: Reading[], max: number, alertsOnly = false): number {
    const limit = Math.min(max, out.length);
    if (!(limit > 0)) return 0;
    const main = this.#main;
    const alerts = this.#alerts;
    let n = 0;
    try {
      let a = alertsOnly && alerts ? false : main.iterStart(alertsOnly);
      let b = alerts ? alerts.iterStart(false) : false;
      while (n < limit && (a || b)) {
        if (a && (!b || main.current.seq < alerts!.current.seq)) {
          copyReading(out[n++]!, main.current);
          if (n < limit) a = main.iterNext();
        } else {
          copyReading(out[n++]!, alerts!.current);
          if (n < limit) b = alerts!.iterNext();
        }
      }
    } catch (error) {
      this.#fault(error);
    }
    this.#refresh();
    return n;
  }

  acknowledge(seq: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) return;
    if (this.#retries > 0 || this.#retryThrough >= 0) this.#retryAcks();
    if (!this.#ack(seq)) this.#queueRetry(seq);
    this.#refresh();
  }

  acknowledgeThrough(seq: number): void {
    if (!Number.isInteger(seq) || seq < 0) return;
    const through = Math.min(seq, MAX_SEQ);
    if (this.#retries > 0 || this.#retryThrough >= 0) this.#retryAcks();
    if (!this.#ackThrough(through) && through > this.#retryThrough) this.#retryThrough = through;
    this.#refresh();
  }

  /** False when a flash fault stopped it (the reading stays pending). */
  #ack(seq: number): boolean {
    try {
      if (!this.#alerts?.acknowledge(seq)) this.#main.acknowledge(seq);
      return true;
    } catch (error) {
      this.#fault(error);
      return false;
    }
  }

  #ackThrough(through: number): boolean {
    let done = true;
    try {
      this.#main.acknowledgeThrough(through);
    } catch (error) {
      this.#fault(error);
      done = false;
    }
    try {
      this.#alerts?.acknowledgeThrough(through);
    } catch (error) {
      this.#fault(error);
      done = false;
    }
    return done;
  }

  /**
   * An acknowledgement a flash fault stopped is kept (a few, in a fixed buffer) and done again
   * before the next append or acknowledgement, so that a delivered reading does not wait for a
   * reconnect to leave the store. One that does not fit is not kept: that reading is sent again.
   */
  #queueRetry(seq: number): void {
    if (this.#retries < this.#retryBuffer.length) this.#retryBuffer[this.#retries++] = seq;
  }

  #retryAcks(): void {
    let kept = 0;
    for (let i = 0; i < this.#retries; i++) {
      const seq = this.#retryBuffer[i]!;
      if (!this.#ack(seq)) this.#retryBuffer[kept++] = seq;
    }
    this.#retries = kept;
    if (this.#retryThrough >= 0 && this.#ackThrough(this.#retryThrough)) this.#retryThrough = -1;
  }

  #fault(error: unknown): void {
    this.#scratch.note(String((error as Error | undefined)?.message ?? error));
  }

  #refresh(): void {
    const stats = this.stats;
    const main = this.#main;
    const alerts = this.#alerts;
    stats.dropped = main.dropped + (alerts?.dropped ?? 0);
    stats.corruptSkipped = main.corruptSkipped + (alerts?.corruptSkipped ?? 0);
    stats.eraseMin = alerts ? Math.min(main.eraseMin, alerts.eraseMin) : main.eraseMin;
    stats.eraseMax = alerts ? Math.max(main.eraseMax, alerts.eraseMax) : main.eraseMax;
    stats.eraseTotal = main.eraseTotal + (alerts?.eraseTotal ?? 0);
    stats.blocksOpened = main.blocksOpened + (alerts?.blocksOpened ?? 0);
    stats.badBlocks = main.badBlocks + (alerts?.badBlocks ?? 0);
    stats.faults = this.#scratch.faults;
    stats.lastFault = this.#scratch.lastFault;
  }
}

function validReading(r: NewReading): boolean {
  return (
    Number.isInteger(r.value) &&
    r.value >= -0x80000000 &&
    r.value <= 0x7fffffff &&
    Number.isInteger(r.channel) &&
    r.channel >= 0 &&
    r.channel <= 255 &&
    Number.isInteger(r.kind) &&
    r.kind >= 0 &&
    r.kind <= MAX_KIND &&
    Number.isInteger(r.timeMs) &&
    r.timeMs >= 0 &&
    r.timeMs <= MAX_TIME_MS &&
    typeof r.synced === 'boolean' &&
    typeof r.alert === 'boolean'
  );
}
