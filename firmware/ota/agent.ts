/*
 * The node's OTA agent: glue between the uplink (MQTT) and the Updater (updater.ts).
 *
 * Created by the node when its config has `ota` and the host has both `update` and a flash
 * partition "ota" (at least 3 erase blocks); otherwise the node runs without OTA and says why.
 *
 * Offer (MQTT, topic `pipewatch/<dev>/ota`, QoS 1): the payload is the signed manifest
 * (manifest.ts; its length is 120 + B + U from its own header), optionally followed directly by
 * the image URL in ASCII (0x21..0x7e, at most 400 bytes), which is used when present (the
 * manifest's own URL otherwise). A payload that does not parse is refused and reported.
 *
 * Status (MQTT, topic `pipewatch/<dev>/ota/status`, QoS 1, not retained): one JSON object
 * per event, ASCII, at most STATUS_BYTES bytes:
 *   {"event":"<type>","running":"<version running now>"[,"version":"<offered version>"]
 *    [,"reason":"<reason>"][,"bytes":N,"total":N][,"sha256":"<hex>"][,"trial":true|false]}
 * events: "booted" (once per boot; `trial` says whether the image runs on trial), "progress",
 * "interrupted", "refused", "failed", "verified", "rebooting", "confirmed", "rolledBack".
 * Reasons are the Updater's (`OtaRefusal`, `OtaFailure`, `HttpReason`), e.g. "downgrade",
 * "wrongBoard", "badSignature", "digestMismatch", "healthCheckTimeout".
 * Messages wait in a ring of STATUS_SLOTS slots (allocated once) and go out one at a time
 * (`Uplink.sendSide`); when the ring is full a new progress message is dropped (counted), any
 * other message replaces the oldest waiting progress message, else the oldest message.
 *
 * Health check of a trial image: the first valid reading stored (`noteReading`) and the first
 * PUBACK for a reading (`Uplink.onAcked`) after boot feed `Updater.noteHealthy`; without both
 * within `healthWindowMs` (default 120 s) the node restarts and the bootloader rolls back.
 * `Updater.resume()` runs after each CONNACK (`Uplink.onConnect`).
 */
import type { Flash, Host } from '../host';
import type { Uplink } from '../uplink/uplink';
import { fromHex } from '../crypto/hex';
import { MAX_URL_BYTES, MIN_MANIFEST_BYTES } from './manifest';
import { Updater, type OtaEvent, type UpdaterOptions } from './updater';
import { SLOT_HEADER_BYTES } from './slot';
import { chipByName } from './esp-image';

export interface OtaConfig {
  /** The Ed25519 key built into the firmware: 32 bytes, or 64 hex digits. */
  publicKey: Uint8Array | string;
  /** Board id this firmware runs on (manifests for another board are refused). */
  board: string;
  /**
   * The ESP32 chip ("esp32", "esp32s3", "esp32c3", ...) whose ESP-IDF images this node takes;
   * default: the chip the board id names (esp-image.ts `chipOfBoard`).
   */
  chip?: string;
  /** Trial images must prove healthy within this (ms, default 120 s). */
  healthWindowMs?: number;
  /** Largest image the inactive slot takes; default 1.5 MiB minus the slot header. */
  maxImageBytes?: number;
  /** Name of the journal partition (default "ota"). */
  partition?: string;
  updater?: Pick<
    UpdaterOptions,
    'blockBytes' | 'timeoutMs' | 'minBytesPerSecond' | 'rateWindowMs' | 'deadlineMs' | 'retryMs' | 'maxRetries' | 'rebootDelayMs' | 'progressEveryBytes'
  >;
}

export const STATUS_SLOTS = 8;
export const STATUS_BYTES = 256;

export interface OtaAgentStats {
  running: string;
  trial: boolean;
  offers: number;
  statusSent: number;
  statusDropped: number;
  lastEvent: string;
}

export class OtaAgent {
  readonly updater: Updater;
  readonly #host: Host;
  readonly #uplink: Uplink;
  readonly #otaTopic: string;
  readonly #statusTopic: Uint8Array;
  readonly #ring: Uint8Array;
  readonly #lengths = new Uint16Array(STATUS_SLOTS);
  readonly #progress = new Uint8Array(STATUS_SLOTS);
  #head = 0;
  #count = 0;
  /** The head message is on the wire, awaiting its PUBACK (it keeps its slot until then). */
  #onWire = false;
  #sawReading = false;
  #sawAck = false;
  readonly stats: OtaAgentStats;

  /**
   * Returns the agent, or a sentence saying why this node runs without OTA (no update target,
   * no journal partition, a bad key).
   */
  static create(host: Host, deviceId: string, uplink: Uplink, config: OtaConfig): OtaAgent | string {
    if (!host.update) return 'this host has no update target';
    if (!host.flash) return 'this host has no flash';
    const key = typeof config.publicKey === 'string' ? fromHex(config.publicKey) : config.publicKey;
    if (!key || key.length !== 32) return 'ota.publicKey must be 32 bytes (64 hex digits)';
    if (config.chip !== undefined && chipByName(config.chip) === undefined) return `ota.chip: unknown chip "${config.chip}"`;
    let flash: Flash;
    try {
      flash = host.flash.open({ path: config.partition ?? 'ota' });
    } catch (error) {
      return `no ota partition (${(error as Error).message})`;
    }
    try {
      return new OtaAgent(host, deviceId, uplink, config, key, flash);
    } catch (error) {
      return (error as Error).message;
    }
  }

  private constructor(host: Host, deviceId: string, uplink: Uplink, config: OtaConfig, key: Uint8Array, flash: Flash) {
    this.#host = host;
    this.#uplink = uplink;
    this.#otaTopic = `pipewatch/${deviceId}/ota`;
    const statusTopic = `${this.#otaTopic}/status`;
    this.#statusTopic = new Uint8Array(statusTopic.length);
    for (let i = 0; i < statusTopic.length; i++) this.#statusTopic[i] = statusTopic.charCodeAt(i);
    this.#ring = new Uint8Array(STATUS_SLOTS * STATUS_BYTES);
    const update = host.update!;
    const running = update.running();
    this.stats = { running: running.version, trial: running.trial, offers: 0, statusSent: 0, statusDropped: 0, lastEvent: '' };
    this.updater = new Updater({
      io: host.io,
      timers: host.timers,
      clock: host.clock.monotonic,
      update,
      flash,
      publicKey: key,
      board: config.board,
      chip: config.chip === undefined ? undefined : chipByName(config.chip),
      securityCounter: running.securityCounter ?? 0,
      maxImageBytes: config.maxImageBytes ?? 1536 * 1024 - SLOT_HEADER_BYTES,
      healthWindowMs: config.healthWindowMs ?? 120_000,
      restart: () => host.restart(),
      onEvent: (event) => this.#onEvent(event),
      ...config.updater,
    });
    uplink.onConnect = () => this.updater.resume();
    uplink.onAcked = () => this.#noteAck();
    // The side channel is shared (leak events use it too): a PUBACK for a message that was not
    // this agent's only frees the slot for the next status; it must not retire one of ours.
    uplink.onSideAcked = () => {
      if (this.#onWire) {
        this.#onWire = false;
        this.#head = (this.#head + 1) % STATUS_SLOTS;
        this.#count--;
      }
      this.#pumpStatus();
    };
  }

  /** At node start: reports the running image, resumes a download or starts a health check. */
  boot(): void {
    this.#queue(`{"event":"booted","running":"${this.stats.running}","trial":${this.stats.trial}}`, false);
    this.updater.boot();
  }

  /** A message on one of the node's command topics; returns true when it was an OTA offer. */
  onMessage(topic: string, payload: Uint8Array): boolean {
    if (topic !== this.#otaTopic) return false;
    this.stats.offers++;
    this.#host.log('info', `ota offer: ${payload.length} bytes`);
    let manifestLength = payload.length;
    if (payload.length >= MIN_MANIFEST_BYTES) {
      const declared = 120 + payload[6]! + ((payload[8]! << 8) | payload[9]!);
      if (declared <= payload.length) manifestLength = declared;
    }
    let url: string | undefined;
    const urlLength = payload.length - manifestLength;
    if (urlLength > 0 && urlLength <= MAX_URL_BYTES) {
      url = '';
      for (let i = manifestLength; i < payload.length; i++) {
        const c = payload[i]!;
        if (c < 0x21 || c > 0x7e) {
          url = undefined;
          break;
        }
        url += String.fromCharCode(c);
      }
    }
    if (urlLength > 0 && url === undefined) {
      this.#onEvent({ type: 'refused', reason: 'badUrl' });
      return true;
    }
    this.updater.offer(payload.subarray(0, manifestLength), url);
    return true;
  }

  /** The node stored a valid reading. */
  noteReading(): void {
    if (this.#sawReading) return;
    this.#sawReading = true;
    this.updater.noteHealthy({ sensorOk: true });
  }

  close(): void {
    this.updater.close();
  }

  #noteAck(): void {
    if (this.#sawAck) return;
    this.#sawAck = true;
    this.updater.noteHealthy({ publishAcked: true });
  }

  #onEvent(event: OtaEvent): void {
    this.stats.lastEvent = event.type;
    let json = `{"event":"${event.type}","running":"${this.stats.running}"`;
    if ('version' in event && event.version !== undefined) json += `,"version":"${event.version}"`;
    if ('reason' in event) json += `,"reason":"${event.reason}"`;
    if ('bytes' in event) json += `,"bytes":${event.bytes},"total":${event.total}`;
    if ('sha256' in event) json += `,"sha256":"${event.sha256}"`;
    json += '}';
    if (event.type === 'confirmed') this.stats.trial = false;
    this.#host.log(event.type === 'progress' ? 'debug' : 'info', `ota ${json}`);
    this.#queue(json, event.type === 'progress');
  }

  #queue(json: string, progress: boolean): void {
    if (json.length > STATUS_BYTES) json = json.slice(0, STATUS_BYTES);
    if (this.#count === STATUS_SLOTS) {
      if (progress) {
        this.stats.statusDropped++;
        return;
      }
      this.#dropOne();
    }
    const slot = (this.#head + this.#count) % STATUS_SLOTS;
    const base = slot * STATUS_BYTES;
    for (let i = 0; i < json.length; i++) this.#ring[base + i] = json.charCodeAt(i) & 0x7f;
    this.#lengths[slot] = json.length;
    this.#progress[slot] = progress ? 1 : 0;
    this.#count++;
    this.#pumpStatus();
  }

  /** Ring full: drop the oldest waiting progress message, else the oldest message. */
  #dropOne(): void {
    this.stats.statusDropped++;
    // The head may be on the wire (awaiting its PUBACK): never drop it while busy.
    const first = this.#onWire ? 1 : 0;
    let victim = -1;
    for (let k = first; k < this.#count && victim < 0; k++) {
      if (this.#progress[(this.#head + k) % STATUS_SLOTS]) victim = k;
    }
    if (victim < 0) victim = first;
    for (let k = victim; k < this.#count - 1; k++) {
      const to = (this.#head + k) % STATUS_SLOTS;
      const from = (this.#head + k + 1) % STATUS_SLOTS;
      this.#ring.copyWithin(to * STATUS_BYTES, from * STATUS_BYTES, from * STATUS_BYTES + this.#lengths[from]!);
      this.#lengths[to] = this.#lengths[from]!;
      this.#progress[to] = this.#progress[from]!;
    }
    this.#count--;
  }

  #pumpStatus(): void {
    if (this.#onWire || this.#count === 0) return;
    const slot = this.#head;
    const base = slot * STATUS_BYTES;
    if (!this.#uplink.sendSide(this.#statusTopic, this.#ring.subarray(base, base + STATUS_BYTES), this.#lengths[slot]!)) return;
    this.#onWire = true;
    this.stats.statusSent++;
  }
}
