/*
 * The node side of an OTA update: offer -> download -> verify -> complete -> trial -> confirm.
 *
 * Seams (all injected; nothing imported from a host):
 * - `io.TCP` / `io.TLSSocket` for the HTTP range client (http.ts), `timers` for every delay,
 * - `update` (the host's UpdateProvider) for the inactive slot, written as slot.ts lays out,
 * - `flash`: the "ota" partition (>= 3 erase blocks): block 0 holds the accepted manifest and
 *   its URL, blocks 1-2 a RecordLog (journal.ts) of progress records:
 *     [0] phase (0 idle, 1 downloading, 2 awaiting trial)
 *     [1..4) seconds spent on this download so far (big-endian, for the deadline across reboots)
 *     [4..8) bytes of the image written and hashed  [8..12) version offered (packed)
 *     [12..52) SHA-256 state at that offset  [52..84) SHA-256 of the manifest
 * - `onEvent` for reports (the uplink publishes them), `restart` to reboot.
 *
 * Behaviour
 * - `offer(manifest, url?)`: signature, board, version, security counter and size are checked
 *   before any download; a refusal is reported (`refused`, reason) and changes nothing.
 * - The first APP_HEAD_BYTES (288) of the image are checked as an ESP-IDF app image head
 *   (esp-image.ts: magic, chip id against `chip`, segment count, first segment, app
 *   descriptor and its version against the manifest's) as soon as they arrive, before any
 *   byte is written to the slot; a bad head ends the download (`failed`, the reason).
 * - Download: one range request from the current offset to the end of the image; bytes collect
 *   in one block buffer (`blockBytes`, a multiple of the flash block); each full block is
 *   hashed, written to the Update target, then journaled (offset + hash state). An interruption
 *   loses at most the partial block; transient errors retry after `retryMs` (at most
 *   `maxRetries` in a row without progress); after a reboot `boot()` resumes from the journal.
 * - Slow servers: each request must bring `minBytesPerSecond` (default 512) over every
 *   `rateWindowMs` (default 30 s) window, else it ends `tooSlow` (transient: retried, counted
 *   with the other retries); a whole download (retries and reboots included: the time spent
 *   is journaled) ends `deadlineExceeded` after `deadlineMs` (default 60 min).
 * - Offers during a download: the same manifest with the same URL is a duplicate (ignored); the
 *   same manifest with another URL replaces the URL (keeping the bytes done) when the download
 *   is stalled (waiting to retry, or no block written for `rateWindowMs`), else it is `busy`;
 *   a valid offer of a newer version replaces the download (the old one is reported `failed`,
 *   `superseded`); any other offer is `busy`.
 * - After the last byte: SHA-256 and the manifest signature are checked *before* the slot
 *   header is written and `complete()` is called; any failure cancels and is reported.
 * - Trial: `boot()` on the new image starts the health window (`healthWindowMs`, default
 *   120 s); `noteHealthy({ sensorOk, publishAcked })` confirms once both have been seen. If the
 *   window ends first, the node restarts unconfirmed and the bootloader rolls back; the next
 *   `boot()` reports `rolledBack`.
 * Buffers (block, header, head of HTTP answers, journal records) are allocated once.
 */
import type { Flash, MonotonicClock, TCPConstructor, Timers, TimerId, TLSSocketConstructor, UpdateProvider, Update } from '../host';
import { Sha256, SHA256_STATE_BYTES, sha256 } from '../crypto/sha256';
import { toHex } from '../crypto/hex';
import { RecordLog, crc32 } from './journal';
import { checkOffer, MAX_MANIFEST_BYTES, packVersion, verifySignedManifest, versionText, type Manifest, type ManifestReason, type OfferReason } from './manifest';
import { isTransient, parseUrl, RangeGet, type HttpReason, type HttpTarget } from './http';
import { encodeSlotHeader, SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from './slot';
import { APP_HEAD_BYTES, checkAppHead, chipOfBoard, type EspImageReason } from './esp-image';

export type OtaRefusal = ManifestReason | OfferReason | 'busy' | 'onTrial' | 'noUrl' | 'badUrl' | 'slotUnavailable' | 'imageTooShort';
export type OtaFailure =
  | HttpReason
  | EspImageReason
  | 'networkGaveUp'
  | 'writeFailed'
  | 'digestMismatch'
  | 'badSignature'
  | 'completeFailed'
  | 'resumeInvalid'
  | 'deadlineExceeded'
  | 'superseded'
  | 'healthCheckTimeout'
  | 'confirmFailed';

export type OtaEvent =
  | { type: 'progress'; bytes: number; total: number }
  | { type: 'interrupted'; reason: HttpReason; bytes: number; total: number }
  | { type: 'refused'; reason: OtaRefusal; version?: string }
  | { type: 'failed'; reason: OtaFailure; version?: string }
  | { type: 'verified'; version: string; sha256: string }
  | { type: 'rebooting'; version: string }
  | { type: 'confirmed'; version: string }
  | { type: 'rolledBack'; version: string };

export type OtaState = 'idle' | 'downloading' | 'waitingRetry' | 'rebooting' | 'trial';

export interface UpdaterOptions {
  io: { TCP: TCPConstructor; TLSSocket?: TLSSocketConstructor };
  timers: Timers;
  /** The host's monotonic clock (deadline and stall detection). */
  clock: MonotonicClock;
  update: UpdateProvider;
  /** The "ota" partition, at least 3 erase blocks. */
  flash: Flash;
  /** The Ed25519 key built into the firmware. */
  publicKey: Uint8Array;
  board: string;
  /** esp_chip_id_t of this node's chip (esp-image.ts); default: the chip the board id names. */
  chip?: number;
  /** Security counter of the running image. */
  securityCounter: number;
  /** Largest image the inactive slot takes (slot size minus the 4 KiB header). */
  maxImageBytes: number;
  restart(): void;
  onEvent(event: OtaEvent): void;
  /** Download block, a multiple of the flash block and of 64; default 4096. */
  blockBytes?: number;
  healthWindowMs?: number;
  /** No byte for this long ends a request; default 15 s. */
  timeoutMs?: number;
  /** A request bringing fewer bytes per second than this over a rate window ends `tooSlow`; default 512. */
  minBytesPerSecond?: number;
  /** The rate window, and the time without a written block that makes a download stalled; default 30 s. */
  rateWindowMs?: number;
  /** A download not done after this long (retries and reboots included) fails; default 60 min. */
  deadlineMs?: number;
  retryMs?: number;
  maxRetries?: number;
  rebootDelayMs?: number;
  /** Progress events every this many bytes (and at the end); default 64 KiB. */
  progressEveryBytes?: number;
}

const PHASE_IDLE = 0;
const PHASE_DOWNLOADING = 1;
const PHASE_AWAITING_TRIAL = 2;
const RECORD_PAYLOAD = 84;
const MAX_URL = 400;
/**
 * Image writes are padded with 0xff to a multiple of this: the flash write alignment, and the
 * 16 bytes that ESP-IDF's esp_ota_write_with_offset demands when flash encryption is on
 * (components/app_update/esp_ota_ops.c). The update target is opened for the padded length.
 */
const IMAGE_WRITE_ALIGN = 16;

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

export interface UpdaterStats {
  bytesDownloaded: number;
  /** Bytes received but thrown away by an interruption (re-fetched later). */
  bytesRefetched: number;
  retries: number;
  resumes: number;
  /** Stalled downloads moved to another URL by a new offer of the same manifest. */
  urlReplaced: number;
  /** Downloads replaced by an offer of a newer version. */
  superseded: number;
}

export class Updater {
  private readonly o: Required<Omit<UpdaterOptions, 'io' | 'chip' | 'clock'>> & Pick<UpdaterOptions, 'io' | 'clock'>;
  private readonly chip: number;
  private readonly block: Uint8Array;
  private readonly header = new Uint8Array(SLOT_HEADER_BYTES);
  private readonly headBuffer = new Uint8Array(2048);
  private readonly record = new Uint8Array(RECORD_PAYLOAD);
  private readonly hashState = new Uint8Array(SHA256_STATE_BYTES);
  private readonly hash = new Sha256();
  private readonly journal: RecordLog;
  private readonly writeAlign: number;
  private readonly imageAlign: number;
  private readonly flashBlock: number;
  private stateValue: OtaState = 'idle';
  private manifest: Manifest | undefined;
  private manifestBytes: Uint8Array | undefined;
  private manifestDigest = new Uint8Array(32);
  private target: HttpTarget | undefined;
  private target_: Update | undefined;
  private url = '';
  private deadlineTimer: TimerId | undefined;
  /** Milliseconds spent on this download before the current start (from the journal). */
  private elapsedBefore = 0;
  private startedAt = 0;
  private lastBlockAt = 0;
  private request: RangeGet | undefined;
  private timer: TimerId | undefined;
  private offset = 0;
  private fill = 0;
  /** The ESP-IDF image head (first APP_HEAD_BYTES) of the current download was checked. */
  private headChecked = false;
  private failuresInARow = 0;
  private lastProgress = 0;
  private trialVersion = 0;
  private sensorOk = false;
  private publishAcked = false;
  readonly stats: UpdaterStats = { bytesDownloaded: 0, bytesRefetched: 0, retries: 0, resumes: 0, urlReplaced: 0, superseded: 0 };

  constructor(options: UpdaterOptions) {
    this.o = {
      blockBytes: 4096,
      healthWindowMs: 120_000,
      timeoutMs: 15_000,
      minBytesPerSecond: 512,
      rateWindowMs: 30_000,
      deadlineMs: 3_600_000,
      retryMs: 5_000,
      maxRetries: 20,
      rebootDelayMs: 500,
      progressEveryBytes: 65_536,
      ...options,
    };
    const chip = options.chip ?? chipOfBoard(options.board);
    if (chip === undefined) throw new RangeError(`Updater: board "${options.board}" names no ESP32 chip; set ota.chip`);
    this.chip = chip;
    const status = options.flash.status();
    if (status.blocks < 3) throw new RangeError('Updater: the ota partition needs 3 erase blocks');
    const blockBytes = this.o.blockBytes;
    if (blockBytes < APP_HEAD_BYTES) throw new RangeError(`Updater: blockBytes must hold the ${APP_HEAD_BYTES}-byte image head`);
    if (blockBytes % 64 !== 0 || blockBytes % status.blockLength !== 0 && status.blockLength % blockBytes !== 0) {
      throw new RangeError('Updater: blockBytes must be a multiple of 64 and align with the flash block');
    }
    this.flashBlock = status.blockLength;
    this.writeAlign = Math.max(4, status.writeAlign);
    this.imageAlign = Math.max(IMAGE_WRITE_ALIGN, this.writeAlign);
    if (blockBytes % this.imageAlign !== 0) throw new RangeError('Updater: blockBytes must be a multiple of the write alignment');
    this.block = new Uint8Array(blockBytes);
    this.journal = new RecordLog(options.flash, 1, RECORD_PAYLOAD);
  }

  get state(): OtaState {
    return this.stateValue;
  }

  /** Bytes of the current image written so far. */
  get bytesDone(): number {
    return this.offset;
  }

  private emit(event: OtaEvent): void {
    this.o.onEvent(event);
  }

  private saveRecord(phase: number, version: number): void {
    const r = this.record;
    r.fill(0);
    r[0] = phase;
    if (phase === PHASE_DOWNLOADING) {
      const seconds = Math.min(0xffffff, Math.floor(this.elapsed() / 1000));
      r[1] = seconds >>> 16;
      r[2] = seconds >>> 8;
      r[3] = seconds;
    }
    put32(r, 4, this.offset);
    put32(r, 8, version);
    if (phase === PHASE_DOWNLOADING) {
      r.set(this.hashState, 12);
      r.set(this.manifestDigest, 52);
    }
    this.journal.append(r);
  }

  /** Milliseconds spent on the current download, across reboots. */
  private elapsed(): number {
    return this.elapsedBefore + (this.o.clock.now() - this.startedAt);
  }

  /** Starts the clock of a download that has already taken `beforeMs`; arms its deadline. */
  private startClock(beforeMs: number): void {
    this.elapsedBefore = beforeMs;
    this.startedAt = this.o.clock.now();
    this.lastBlockAt = this.startedAt;
    this.o.timers.clear(this.deadlineTimer);
    this.deadlineTimer = this.o.timers.set(() => {
      this.deadlineTimer = undefined;
      if (this.stateValue === 'downloading' || this.stateValue === 'waitingRetry') this.abort('deadlineExceeded');
    }, Math.max(0, this.o.deadlineMs - beforeMs));
  }

  /** Waiting to retry, or no block written for a rate window. */
  private stalled(): boolean {
    return this.stateValue === 'waitingRetry' || this.o.clock.now() - this.lastBlockAt >= this.o.rateWindowMs;
  }

  /** Stops the request and timers of the current download and cancels its target (no report). */
  private stopDownload(): void {
    this.request?.close();
    this.request = undefined;
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    this.o.timers.clear(this.deadlineTimer);
    this.deadlineTimer = undefined;
    try {
      this.target_?.cancel();
    } catch {
      this.target_ = undefined;
    }
    this.target_ = undefined;
    this.stateValue = 'idle';
    this.offset = 0;
    this.fill = 0;
  }

  /** Accepted manifest and URL in block 0: [len u16][manifest][urlLen u16][url][crc32 u32]. */
  private saveManifest(bytes: Uint8Array, url: string): void {
    const h = this.header;
    const length = 2 + bytes.length + 2 + url.length;
    const padded = Math.ceil((length + 4) / this.writeAlign) * this.writeAlign;
    h.fill(0xff, 0, padded);
    h[0] = bytes.length >> 8;
    h[1] = bytes.length & 0xff;
    h.set(bytes, 2);
    h[2 + bytes.length] = url.length >> 8;
    h[3 + bytes.length] = url.length & 0xff;
    for (let i = 0; i < url.length; i++) h[4 + bytes.length + i] = url.charCodeAt(i);
    put32(h, length, crc32(h, 0, length));
    this.o.flash.eraseBlock(0);
    this.o.flash.write(h.subarray(0, padded), 0);
  }

  private loadManifest(): { bytes: Uint8Array; url: string } | undefined {
    const h = this.header;
    this.o.flash.read(h.subarray(0, 4 + MAX_MANIFEST_BYTES + 2 + MAX_URL + 4), 0);
    const m = u16(h, 0);
    if (m < 1 || m > MAX_MANIFEST_BYTES) return undefined;
    const urlLength = u16(h, 2 + m);
    if (urlLength > MAX_URL) return undefined;
    const length = 4 + m + urlLength;
    if (u32(h, length) !== crc32(h, 0, length)) return undefined;
    let url = '';
    for (let i = 0; i < urlLength; i++) url += String.fromCharCode(h[4 + m + i]!);
    return { bytes: h.slice(2, 2 + m), url };
  }

  /**
   * The update target for an image of `imageBytes`: opened for the bytes that will be written,
   * the image rounded up to `imageAlign` (the last write is padded with 0xff), so that a target
   * that holds writes to `byteLength` accepts the last one whatever the image length.
   */
  private openTarget(imageBytes: number): Update {
    const padded = Math.ceil(imageBytes / this.imageAlign) * this.imageAlign;
    return this.o.update.open({ byteLength: SLOT_IMAGE_OFFSET + padded });
  }

  private runningInfo() {
    const running = this.o.update.running();
    return { ...running, packed: packVersion(running.version) };
  }

  /**
   * An update offer (from the OTA topic). Returns the refusal reason, or undefined when the
   * download started. A refusal is also reported as a `refused` event.
   */
  offer(manifestBytes: Uint8Array, url?: string): OtaRefusal | undefined {
    let refusal: OtaRefusal | undefined;
    let version: string | undefined;
    const checked = verifySignedManifest(manifestBytes, this.o.publicKey);
    if (!checked.ok) refusal = checked.reason;
    else {
      const m = checked.manifest;
      version = versionText(m.version);
      const digest = sha256(manifestBytes);
      const running = this.runningInfo();
      const offerCheck = checkOffer(m, {
        board: this.o.board,
        version: running.packed,
        securityCounter: this.o.securityCounter,
        maxImageBytes: this.o.maxImageBytes,
      });
      const chosenUrl = url !== undefined && url.length > 0 ? url : m.url;
      const target = parseUrl(chosenUrl);
      const active = this.stateValue === 'downloading' || this.stateValue === 'waitingRetry';
      const supersede = active && m.version > this.manifest!.version;
      if (active && toHex(digest) === toHex(this.manifestDigest)) {
        if (chosenUrl === this.url) return undefined;
        if (!this.stalled()) refusal = 'busy';
        else if (!target || chosenUrl.length > MAX_URL) refusal = 'badUrl';
        else {
          this.replaceUrl(target, chosenUrl);
          return undefined;
        }
      } else if (active && !supersede) refusal = 'busy';
      else if (!active && (this.stateValue !== 'idle' || running.trial)) refusal = running.trial ? 'onTrial' : 'busy';
      else if (!offerCheck.ok) refusal = offerCheck.reason;
      else if (m.imageBytes < APP_HEAD_BYTES) refusal = 'imageTooShort';
      else if (chosenUrl.length === 0) refusal = 'noUrl';
      else if (!target || chosenUrl.length > MAX_URL) refusal = 'badUrl';
      else {
        if (supersede) {
          const old = versionText(this.manifest!.version);
          this.stopDownload();
          this.stats.superseded++;
          this.emit({ type: 'failed', reason: 'superseded', version: old });
        }
        try {
          this.target_ = this.openTarget(m.imageBytes);
        } catch {
          refusal = 'slotUnavailable';
          if (supersede) this.saveRecord(PHASE_IDLE, 0);
        }
        if (refusal === undefined) {
          this.manifest = m;
          this.manifestBytes = manifestBytes.slice();
          this.manifestDigest.set(digest);
          this.target = target;
          this.url = chosenUrl;
          this.offset = 0;
          this.fill = 0;
          this.headChecked = false;
          this.startClock(0);
          this.failuresInARow = 0;
          this.lastProgress = 0;
          this.hash.reset();
          this.hash.exportState(this.hashState);
          this.saveManifest(this.manifestBytes, chosenUrl);
          this.saveRecord(PHASE_DOWNLOADING, m.version);
          this.stateValue = 'downloading';
          this.fetch();
        }
      }
    }
    if (refusal !== undefined) this.emit({ type: 'refused', reason: refusal, version });
    return refusal;
  }

  /**
   * Call once at start-up, after the network stack exists (it may not be connected yet).
   * Resumes an interrupted download, or starts / settles the health check of a trial image.
   */
  boot(): void {
    const r = this.record;
    const running = this.runningInfo();
    const hasRecord = this.journal.read(r);
    if (running.trial) {
      this.startHealthWindow(running.packed);
      if (!hasRecord || r[0] !== PHASE_AWAITING_TRIAL || u32(r, 8) !== running.packed) {
        this.offset = 0;
        this.saveRecord(PHASE_AWAITING_TRIAL, running.packed);
      }
      return;
    }
    if (!hasRecord || r[0] === PHASE_IDLE) return;
    const offset = u32(r, 4);
    const version = u32(r, 8);
    if (r[0] === PHASE_AWAITING_TRIAL) {
      this.offset = 0;
      if (running.packed === version) {
        this.saveRecord(PHASE_IDLE, 0);
        this.emit({ type: 'confirmed', version: versionText(version) });
      } else {
        this.saveRecord(PHASE_IDLE, 0);
        this.emit({ type: 'rolledBack', version: versionText(version) });
      }
      return;
    }
    if (r[0] !== PHASE_DOWNLOADING) {
      this.saveRecord(PHASE_IDLE, 0);
      return;
    }
    const stored = this.loadManifest();
    const checked = stored ? verifySignedManifest(stored.bytes, this.o.publicKey) : undefined;
    const target = stored ? parseUrl(stored.url) : undefined;
    let valid = false;
    if (stored && checked && checked.ok && target) {
      const m = checked.manifest;
      const digest = sha256(stored.bytes);
      let same = m.version === version;
      for (let i = 0; i < 32; i++) if (digest[i] !== r[52 + i]) same = false;
      const offer = checkOffer(m, { board: this.o.board, version: running.packed, securityCounter: this.o.securityCounter, maxImageBytes: this.o.maxImageBytes });
      const spentMs = ((r[1]! << 16) | (r[2]! << 8) | r[3]!) * 1000;
      if (same && offer.ok && spentMs >= this.o.deadlineMs) {
        this.offset = 0;
        this.saveRecord(PHASE_IDLE, 0);
        this.emit({ type: 'failed', reason: 'deadlineExceeded', version: versionText(m.version) });
        return;
      }
      if (same && offer.ok && offset % this.o.blockBytes === 0 && offset < m.imageBytes && this.hash.importState(r.subarray(12, 52)) && this.hash.length === offset) {
        try {
          this.target_ = this.openTarget(m.imageBytes);
          valid = true;
        } catch {
          valid = false;
        }
        if (valid) {
          this.manifest = m;
          this.manifestBytes = stored.bytes;
          this.manifestDigest.set(digest);
          this.target = target;
          this.url = stored.url;
          this.offset = offset;
          this.lastProgress = offset;
          this.startClock(spentMs);
          this.fill = 0;
          this.headChecked = offset > 0;
          this.failuresInARow = 0;
          this.hashState.set(r.subarray(12, 52));
          this.stats.resumes++;
          this.stateValue = 'downloading';
          this.fetch();
        }
      }
    }
    if (!valid) {
      this.offset = 0;
      this.saveRecord(PHASE_IDLE, 0);
      this.emit({ type: 'failed', reason: 'resumeInvalid' });
    }
  }

  /** The network is back: retry a waiting download now instead of at the next retry tick. */
  resume(): void {
    if (this.stateValue !== 'waitingRetry') return;
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    this.stateValue = 'downloading';
    this.fetch();
  }

  /** Health evidence on a trial image; confirms once both a valid reading and an acked publish were seen. */
  noteHealthy(evidence: { sensorOk?: boolean; publishAcked?: boolean }): void {
    if (this.stateValue !== 'trial') return;
    if (evidence.sensorOk) this.sensorOk = true;
    if (evidence.publishAcked) this.publishAcked = true;
    if (!(this.sensorOk && this.publishAcked)) return;
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    const version = versionText(this.trialVersion);
    try {
      this.o.update.confirm();
    } catch {
      this.emit({ type: 'failed', reason: 'confirmFailed', version });
      this.stateValue = 'rebooting';
      this.o.restart();
      return;
    }
    this.stateValue = 'idle';
    this.saveRecord(PHASE_IDLE, 0);
    this.emit({ type: 'confirmed', version });
  }

  /** Stops timers and sockets (node shutdown); the journal keeps what a reboot needs. */
  close(): void {
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    this.o.timers.clear(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.request?.close();
    this.request = undefined;
  }

  private startHealthWindow(version: number): void {
    this.trialVersion = version;
    this.stateValue = 'trial';
    this.sensorOk = false;
    this.publishAcked = false;
    this.timer = this.o.timers.set(() => this.healthTimeout(), this.o.healthWindowMs);
  }

  private healthTimeout(): void {
    this.timer = undefined;
    if (this.stateValue !== 'trial') return;
    this.stateValue = 'rebooting';
    this.emit({ type: 'failed', reason: 'healthCheckTimeout', version: versionText(this.trialVersion) });
    this.o.restart();
  }

  /** The same manifest from another URL: the bytes done stay, the rest comes from `url`. */
  private replaceUrl(target: HttpTarget, url: string): void {
    this.request?.close();
    this.request = undefined;
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    this.stats.bytesRefetched += this.fill;
    this.fill = 0;
    this.target = target;
    this.url = url;
    this.saveManifest(this.manifestBytes!, url);
    this.failuresInARow = 0;
    this.lastBlockAt = this.o.clock.now();
    this.stats.urlReplaced++;
    this.stateValue = 'downloading';
    this.fetch();
  }

  private fetch(): void {
    const m = this.manifest!;
    this.fill = 0;
    this.request = new RangeGet({
      TCP: this.o.io.TCP,
      TLSSocket: this.o.io.TLSSocket,
      timers: this.o.timers,
      target: this.target!,
      first: this.offset,
      last: m.imageBytes - 1,
      total: m.imageBytes,
      timeoutMs: this.o.timeoutMs,
      minBytesPerSecond: this.o.minBytesPerSecond,
      rateWindowMs: this.o.rateWindowMs,
      headBuffer: this.headBuffer,
      onBody: (bytes) => this.body(bytes),
      onEnd: (result) => {
        this.request = undefined;
        if (this.stateValue !== 'downloading') return;
        if (result.ok) this.finish();
        else this.interrupted(result.reason);
      },
    });
  }

  private body(bytes: Uint8Array): void {
    if (this.stateValue !== 'downloading') return;
    const total = this.manifest!.imageBytes;
    let i = 0;
    while (i < bytes.length) {
      const take = Math.min(bytes.length - i, this.block.length - this.fill);
      this.block.set(bytes.subarray(i, i + take), this.fill);
      this.fill += take;
      i += take;
      this.stats.bytesDownloaded += take;
      if (!this.headChecked && (this.fill >= APP_HEAD_BYTES || this.offset + this.fill === total)) {
        this.headChecked = true;
        const reason = checkAppHead(this.block, this.fill, { chip: this.chip, version: versionText(this.manifest!.version) });
        if (reason !== undefined) {
          this.abort(reason);
          return;
        }
      }
      if (this.fill === this.block.length || this.offset + this.fill === total) {
        if (!this.commitBlock()) return;
      }
    }
  }

  /** Hashes and writes the block buffer, then journals; false when the download was aborted. */
  private commitBlock(): boolean {
    const n = this.fill;
    const m = this.manifest!;
    const data = this.block.subarray(0, n);
    const padded = Math.ceil(n / this.imageAlign) * this.imageAlign;
    this.block.fill(0xff, n, padded);
    try {
      this.target_!.write(this.block.subarray(0, padded), SLOT_IMAGE_OFFSET + this.offset);
    } catch {
      this.abort('writeFailed');
      return false;
    }
    this.hash.update(data);
    this.offset += n;
    this.fill = 0;
    this.failuresInARow = 0;
    this.lastBlockAt = this.o.clock.now();
    if (this.offset < m.imageBytes) {
      this.hash.exportState(this.hashState);
      this.saveRecord(PHASE_DOWNLOADING, m.version);
    }
    if (this.offset - this.lastProgress >= this.o.progressEveryBytes || this.offset === m.imageBytes) {
      this.lastProgress = this.offset;
      this.emit({ type: 'progress', bytes: this.offset, total: m.imageBytes });
    }
    return true;
  }

  private interrupted(reason: HttpReason): void {
    const m = this.manifest!;
    this.stats.bytesRefetched += this.fill;
    this.fill = 0;
    if (!isTransient(reason)) {
      this.abort(reason);
      return;
    }
    this.failuresInARow++;
    if (this.failuresInARow > this.o.maxRetries) {
      this.abort('networkGaveUp');
      return;
    }
    this.stats.retries++;
    this.stateValue = 'waitingRetry';
    this.saveRecord(PHASE_DOWNLOADING, m.version);
    this.emit({ type: 'interrupted', reason, bytes: this.offset, total: m.imageBytes });
    this.timer = this.o.timers.set(() => {
      this.timer = undefined;
      if (this.stateValue !== 'waitingRetry') return;
      this.stateValue = 'downloading';
      this.fetch();
    }, this.o.retryMs);
  }

  private abort(reason: OtaFailure): void {
    const version = this.manifest ? versionText(this.manifest.version) : undefined;
    this.stopDownload();
    this.saveRecord(PHASE_IDLE, 0);
    this.emit({ type: 'failed', reason, version });
  }

  /** All bytes are in: digest and signature first, then the header, then complete(). */
  private finish(): void {
    const m = this.manifest!;
    const version = versionText(m.version);
    if (this.offset !== m.imageBytes) {
      this.abort('truncated');
      return;
    }
    const digest = this.hash.digest();
    let diff = 0;
    for (let i = 0; i < 32; i++) diff |= digest[i]! ^ m.imageSha256[i]!;
    let failure: OtaFailure | undefined = diff === 0 ? undefined : 'digestMismatch';
    if (failure === undefined && !verifySignedManifest(this.manifestBytes!, this.o.publicKey).ok) failure = 'badSignature';
    if (failure !== undefined) {
      this.abort(failure);
      return;
    }
    try {
      encodeSlotHeader(this.manifestBytes!, this.header);
      this.target_!.write(this.header, 0);
      this.target_!.complete();
    } catch {
      this.abort('completeFailed');
      return;
    }
    this.target_ = undefined;
    this.o.timers.clear(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.offset = 0;
    this.saveRecord(PHASE_AWAITING_TRIAL, m.version);
    this.stateValue = 'rebooting';
    this.emit({ type: 'verified', version, sha256: toHex(digest) });
    this.emit({ type: 'rebooting', version });
    this.timer = this.o.timers.set(() => {
      this.timer = undefined;
      this.o.restart();
    }, this.o.rebootDelayMs);
  }
}
