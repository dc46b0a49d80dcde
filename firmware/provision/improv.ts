/*
 * Improv Wi-Fi over serial (https://www.improv-wifi.com/serial/, version 1): the node side, as
 * ESP Web Tools and other Improv clients expect it, over the host's ECMA-419 `Serial` class.
 * In `firmware/provision/` because it is one of the node's first-run paths (the setup access
 * point of issue 16 belongs next to it); it knows nothing of settings records or Wi-Fi APIs:
 * joining, saving, scanning and the URL are callbacks the boot code injects.
 *
 * Wire format: "IMPROV" (6 bytes), version 1, type, length, data (length bytes), checksum (the
 * low byte of the sum of every previous byte of the packet). The node sends a newline after each
 * packet (as ESPHome does), so its packets stand on their own line between log lines.
 * - types: 0x01 current state, 0x02 error state (node → client), 0x03 RPC (client → node),
 *   0x04 RPC result (node → client).
 * - RPC data: command, data length (must be the packet length − 2), then the command's data;
 *   a result is: command, data length, then each string as a length byte and its UTF-8 bytes.
 * - commands: 0x01 Wi-Fi settings (SSID, password as two length-prefixed strings), 0x02 current
 *   state (plus, once provisioned, the URL result), 0x03 device information (firmware name,
 *   version, chip, device name), 0x04 scan (one result per network: SSID, RSSI, "YES"/"NO" for
 *   authentication required; then an empty result ends the list).
 *
 * What it does with bad input (the reference implementations: improv-wifi/sdk-cpp
 * `parse_improv_serial_byte`, ESPHome `improv_serial_component.cpp`):
 * - bytes that cannot start or continue the header (garbage, newlines) are skipped and counted;
 *   a byte that breaks a header is looked at again as the start of a new one, so the parser
 *   resynchronises on the next "IMPROV"; a version other than 1 drops the packet silently.
 * - a packet whose bytes stop for more than `byteTimeoutMs` (100 ms, ESPHome's
 *   IMPROV_SERIAL_TIMEOUT) is dropped silently (truncated), and the next one parsed cleanly.
 * - a bad checksum: error state 0x01 (invalid RPC packet), the packet dropped.
 * - an RPC whose inner data length disagrees with the packet, or Wi-Fi settings that are not
 *   exactly two strings (SSID of 1..32 bytes, password of 0..64 bytes, well-formed UTF-8):
 *   error 0x01. (sdk-cpp turns a length mismatch into an "unknown" command, which ESPHome
 *   answers with 0x02; the spec's 0x01 "malformed/invalid" is the closer description.)
 * - an unknown command: error 0x02. Packets of the node's own types (an echo) are ignored.
 * - every well-formed RPC first clears the error state (error 0x00), as the spec asks.
 * Joining: state 0x03 provisioning, `connect(ssid, password, done)`; `done(true)` within
 * `connectTimeoutMs` (30 s, as ESPHome) saves the settings, then state 0x04 provisioned and
 * the RPC result with the URL (none when `url()` has none). `done(false)`, the time-out or a
 * throwing `connect`: error 0x03 (unable to connect), back to state 0x02 ready. A failed
 * `save`: error 0xFF (unknown), back to ready. New settings while joining replace the attempt
 * (`cancel()` is called, the old `done` is ignored), as ESPHome does.
 *
 * Memory: one receive buffer of 265 bytes (the largest packet), one frame buffer and one
 * transmit ring (`txBufferBytes`), all allocated in the constructor. A packet that does not fit
 * the ring is dropped whole and counted. No callback of the serial port or a timer throws.
 */
import type { Host, Serial, SerialConstructor, TimerId } from '../host';
import { utf8Decode, utf8Length, writeUtf8 } from '../uplink/utf8';

export const ImprovType = Object.freeze({ currentState: 0x01, errorState: 0x02, rpc: 0x03, rpcResult: 0x04 });
export const ImprovState = Object.freeze({ ready: 0x02, provisioning: 0x03, provisioned: 0x04 });
export const ImprovError = Object.freeze({ none: 0x00, invalidRpc: 0x01, unknownRpc: 0x02, unableToConnect: 0x03, unknown: 0xff });
export const ImprovCommand = Object.freeze({ wifiSettings: 0x01, currentState: 0x02, deviceInfo: 0x03, scan: 0x04 });

export const IMPROV_VERSION = 1;
const HEADER = Object.freeze([0x49, 0x4d, 0x50, 0x52, 0x4f, 0x56]); // "IMPROV"
const HEADER_BYTES = 9; // header, version, type, length
const MAX_PACKET_BYTES = HEADER_BYTES + 255 + 1;
const NEWLINE = 0x0a;
const MAX_SSID_BYTES = 32;
const MAX_PASSWORD_BYTES = 64;

export interface ImprovDeviceInfo {
  firmware: string;
  version: string;
  /** Chip family or board/variant, e.g. "ESP32" or "nodemcu/esp32". */
  chip: string;
  /** The node's name (its device id). */
  name: string;
}

export interface ImprovOptions {
  serial: { io: SerialConstructor; baud: number; port?: number; receive?: number; transmit?: number };
  host: Pick<Host, 'timers' | 'clock'>;
  info: ImprovDeviceInfo;
  /** The node already has working Wi-Fi settings: starts in state provisioned. */
  provisioned?: boolean;
  /** Tries to join; calls `done(connected)` once, later. */
  connect(ssid: string, password: string, done: (connected: boolean) => void): void;
  /** Stops a join attempt that timed out or was replaced. */
  cancel?(): void;
  /** Stores the settings that joined; false (or a throw) when they could not be stored. */
  save(ssid: string, password: string): boolean;
  /** Scans: `onNetwork` per network, then `onDone` once. */
  scan(onNetwork: (ssid: string, rssi: number, secure: boolean) => void, onDone: () => void): void;
  /** The page to send the user to once provisioned (the node's or the station's), if any. */
  url(): string | undefined;
  /** After a join succeeded and was saved. */
  onProvisioned?(ssid: string): void;
  connectTimeoutMs?: number;
  scanTimeoutMs?: number;
  byteTimeoutMs?: number;
  txBufferBytes?: number;
}

export interface ImprovStats {
  packets: number;
  rpcs: number;
  badChecksum: number;
  invalidRpc: number;
  unknownRpc: number;
  /** Bytes outside any packet (garbage, newlines, broken headers). */
  skippedBytes: number;
  /** Packets dropped for a version other than 1. */
  badVersion: number;
  /** Packets dropped because their bytes stopped coming (truncated). */
  truncated: number;
  /** Well-formed packets of a type the node does not take (0x01, 0x02, 0x04, others). */
  ignored: number;
  /** Outgoing packets dropped: no room in the transmit ring, or strings too long for a packet. */
  txDropped: number;
  /** `write()` calls that threw. */
  txErrors: number;
  connectFailures: number;
  saveFailures: number;
  /** Callbacks (injected or serial) that threw, caught here. */
  callbackErrors: number;
}

export class Improv {
  readonly stats: ImprovStats = {
    packets: 0, rpcs: 0, badChecksum: 0, invalidRpc: 0, unknownRpc: 0, skippedBytes: 0, badVersion: 0,
    truncated: 0, ignored: 0, txDropped: 0, txErrors: 0, connectFailures: 0, saveFailures: 0, callbackErrors: 0,
  };
  readonly #o: ImprovOptions;
  readonly #serial: Serial;
  readonly #rx = new Uint8Array(MAX_PACKET_BYTES);
  readonly #chunk = new Uint8Array(64);
  readonly #frame = new Uint8Array(MAX_PACKET_BYTES + 1);
  readonly #ring: Uint8Array;
  #ringStart = 0;
  #ringLength = 0;
  #writable = 0;
  #pos = 0;
  #lastByteMs = 0;
  #state: number;
  #attempt = 0;
  #connectTimer: TimerId | undefined;
  #scanning = false;
  #scanTimer: TimerId | undefined;
  #closed = false;
  readonly #connectTimeoutMs: number;
  readonly #scanTimeoutMs: number;
  readonly #byteTimeoutMs: number;

  constructor(options: ImprovOptions) {
    this.#o = options;
    this.#state = options.provisioned ? ImprovState.provisioned : ImprovState.ready;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.#scanTimeoutMs = options.scanTimeoutMs ?? 15_000;
    this.#byteTimeoutMs = options.byteTimeoutMs ?? 100;
    const ringBytes = options.txBufferBytes ?? 1024;
    if (!(ringBytes >= MAX_PACKET_BYTES + 1)) throw new RangeError(`txBufferBytes must be at least ${MAX_PACKET_BYTES + 1}`);
    this.#ring = new Uint8Array(ringBytes);
    const { io, ...serialOptions } = options.serial;
    const self = this;
    this.#serial = new io({
      ...serialOptions,
      onReadable(count: number) {
        self.#onReadable(count);
      },
      onWritable(count: number) {
        self.#writable = count;
        self.#pump();
      },
    });
  }

  get state(): number {
    return this.#state;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.host.timers.clear(this.#connectTimer);
    this.#o.host.timers.clear(this.#scanTimer);
    this.#connectTimer = this.#scanTimer = undefined;
    this.#attempt++;
    this.#serial.close();
  }

  /** Announces the current state (a client that opens the port late asks with RPC 0x02). */
  announce(): void {
    this.#sendByte(ImprovType.currentState, this.#state);
  }

  // Receiving

  #onReadable(count: number): void {
    try {
      let left = count;
      while (!this.#closed && left > 0) {
        const n = this.#serial.read(this.#chunk);
        if (n === undefined || n <= 0) break;
        left -= n;
        for (let i = 0; i < n; i++) this.#byte(this.#chunk[i]!);
      }
    } catch {
      this.stats.callbackErrors++;
    }
  }

  #byte(b: number): void {
    const now = this.#o.host.clock.monotonic.now();
    if (this.#pos > 0 && now - this.#lastByteMs > this.#byteTimeoutMs) {
      this.stats.truncated++;
      this.#pos = 0;
    }
    this.#lastByteMs = now;
    const pos = this.#pos;
    if (pos < HEADER.length) {
      if (b === HEADER[pos]) {
        this.#rx[this.#pos++] = b;
        return;
      }
      this.stats.skippedBytes += pos;
      this.#pos = 0;
      if (b === HEADER[0]) this.#rx[this.#pos++] = b;
      else this.stats.skippedBytes++;
      return;
    }
    if (pos === HEADER.length && b !== IMPROV_VERSION) {
      this.stats.badVersion++;
      this.#pos = 0;
      if (b === HEADER[0]) this.#rx[this.#pos++] = b;
      return;
    }
    this.#rx[this.#pos++] = b;
    if (this.#pos < HEADER_BYTES) return;
    const length = this.#rx[8]!;
    const total = HEADER_BYTES + length + 1;
    if (this.#pos < total) return;
    this.#pos = 0;
    this.stats.packets++;
    let sum = 0;
    for (let i = 0; i < total - 1; i++) sum += this.#rx[i]!;
    if ((sum & 0xff) !== this.#rx[total - 1]) {
      this.stats.badChecksum++;
      this.#sendByte(ImprovType.errorState, ImprovError.invalidRpc);
      return;
    }
    if (this.#rx[7] !== ImprovType.rpc) {
      this.stats.ignored++;
      return;
    }
    this.#rpc(length);
  }

  #invalid(): void {
    this.stats.invalidRpc++;
    this.#sendByte(ImprovType.errorState, ImprovError.invalidRpc);
  }

  #rpc(length: number): void {
    const rx = this.#rx;
    if (length < 2 || rx[HEADER_BYTES + 1] !== length - 2) {
      this.#invalid();
      return;
    }
    this.stats.rpcs++;
    const command = rx[HEADER_BYTES]!;
    const start = HEADER_BYTES + 2;
    const end = start + length - 2;
    if (command === ImprovCommand.wifiSettings) {
      const ssidLength = rx[start]!;
      const ssidEnd = start + 1 + ssidLength;
      if (length - 2 < 2 || ssidEnd + 1 > end) {
        this.#invalid();
        return;
      }
      const passwordLength = rx[ssidEnd]!;
      if (ssidEnd + 1 + passwordLength !== end || ssidLength < 1 || ssidLength > MAX_SSID_BYTES || passwordLength > MAX_PASSWORD_BYTES) {
        this.#invalid();
        return;
      }
      const ssid = utf8Decode(rx, start + 1, ssidEnd);
      const password = utf8Decode(rx, ssidEnd + 1, end);
      if (ssid === undefined || password === undefined) {
        this.#invalid();
        return;
      }
      this.#sendByte(ImprovType.errorState, ImprovError.none);
      this.#join(ssid, password);
      return;
    }
    if (command === ImprovCommand.currentState) {
      this.#sendByte(ImprovType.errorState, ImprovError.none);
      this.#sendByte(ImprovType.currentState, this.#state);
      if (this.#state === ImprovState.provisioned) this.#sendUrl(ImprovCommand.currentState);
      return;
    }
    if (command === ImprovCommand.deviceInfo) {
      const info = this.#o.info;
      this.#sendByte(ImprovType.errorState, ImprovError.none);
      this.#sendResult(ImprovCommand.deviceInfo, info.firmware, info.version, info.chip, info.name);
      return;
    }
    if (command === ImprovCommand.scan) {
      this.#sendByte(ImprovType.errorState, ImprovError.none);
      this.#scan();
      return;
    }
    this.stats.unknownRpc++;
    this.#sendByte(ImprovType.errorState, ImprovError.unknownRpc);
  }

  // Joining, scanning

  #join(ssid: string, password: string): void {
    const timers = this.#o.host.timers;
    if (this.#connectTimer !== undefined) {
      timers.clear(this.#connectTimer);
      this.#connectTimer = undefined;
      this.#call(() => this.#o.cancel?.());
    }
    const attempt = ++this.#attempt;
    this.#setState(ImprovState.provisioning);
    this.#connectTimer = timers.set(() => {
      this.#connectTimer = undefined;
      if (attempt !== this.#attempt || this.#closed) return;
      this.#attempt++;
      this.#call(() => this.#o.cancel?.());
      this.#failed(ImprovError.unableToConnect);
    }, this.#connectTimeoutMs);
    const done = (connected: boolean) => {
      if (attempt !== this.#attempt || this.#closed) return;
      this.#attempt++;
      timers.clear(this.#connectTimer);
      this.#connectTimer = undefined;
      if (connected !== true) {
        this.#failed(ImprovError.unableToConnect);
        return;
      }
      let saved = false;
      this.#call(() => {
        saved = this.#o.save(ssid, password) === true;
      });
      if (!saved) {
        this.stats.saveFailures++;
        this.#sendByte(ImprovType.errorState, ImprovError.unknown);
        this.#setState(ImprovState.ready);
        return;
      }
      this.#setState(ImprovState.provisioned);
      this.#sendUrl(ImprovCommand.wifiSettings);
      this.#call(() => this.#o.onProvisioned?.(ssid));
    };
    if (!this.#call(() => this.#o.connect(ssid, password, done)) && attempt === this.#attempt) {
      this.#attempt++;
      timers.clear(this.#connectTimer);
      this.#connectTimer = undefined;
      this.#failed(ImprovError.unableToConnect);
    }
  }

  #failed(error: number): void {
    this.stats.connectFailures++;
    this.#sendByte(ImprovType.errorState, error);
    this.#setState(ImprovState.ready);
  }

  #scan(): void {
    if (this.#scanning) return; // the scan under way answers this request too
    this.#scanning = true;
    const finish = () => {
      if (!this.#scanning || this.#closed) return;
      this.#scanning = false;
      this.#o.host.timers.clear(this.#scanTimer);
      this.#scanTimer = undefined;
      this.#sendResult(ImprovCommand.scan);
    };
    this.#scanTimer = this.#o.host.timers.set(() => {
      this.#scanTimer = undefined;
      finish();
    }, this.#scanTimeoutMs);
    const onNetwork = (ssid: string, rssi: number, secure: boolean) => {
      if (!this.#scanning || this.#closed || typeof ssid !== 'string' || ssid === '') return;
      const dbm = Number.isFinite(rssi) ? Math.round(rssi) : 0;
      this.#sendResult(ImprovCommand.scan, ssid, String(dbm), secure ? 'YES' : 'NO');
    };
    if (!this.#call(() => this.#o.scan(onNetwork, finish))) finish();
  }

  #setState(state: number): void {
    this.#state = state;
    this.#sendByte(ImprovType.currentState, state);
  }

  #sendUrl(command: number): void {
    let url: string | undefined;
    this.#call(() => {
      url = this.#o.url();
    });
    if (typeof url === 'string' && url !== '') this.#sendResult(command, url);
    else this.#sendResult(command);
  }

  /** Runs an injected callback; false if it threw (counted). */
  #call(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch {
      this.stats.callbackErrors++;
      return false;
    }
  }

  // Sending: each packet is built in `#frame`, then queued whole in the ring, or dropped.

  #sendByte(type: number, value: number): void {
    const f = this.#frame;
    f[HEADER_BYTES] = value;
    this.#finish(type, 1);
  }

  #sendResult(command: number, ...strings: string[]): void {
    let dataLength = 0;
    for (const s of strings) {
      const n = utf8Length(s, false);
      if (n < 0 || n > 255) {
        this.stats.txDropped++;
        return;
      }
      dataLength += 1 + n;
    }
    if (dataLength > 253) {
      this.stats.txDropped++;
      return;
    }
    const f = this.#frame;
    f[HEADER_BYTES] = command;
    f[HEADER_BYTES + 1] = dataLength;
    let p = HEADER_BYTES + 2;
    for (const s of strings) {
      const lengthAt = p++;
      p = writeUtf8(s, f, p);
      f[lengthAt] = p - lengthAt - 1;
    }
    this.#finish(ImprovType.rpcResult, dataLength + 2);
  }

  #finish(type: number, length: number): void {
    const f = this.#frame;
    for (let i = 0; i < HEADER.length; i++) f[i] = HEADER[i]!;
    f[6] = IMPROV_VERSION;
    f[7] = type;
    f[8] = length;
    let sum = 0;
    const end = HEADER_BYTES + length;
    for (let i = 0; i < end; i++) sum += f[i]!;
    f[end] = sum & 0xff;
    f[end + 1] = NEWLINE;
    this.#queue(end + 2);
  }

  #queue(n: number): void {
    if (this.#closed) return;
    const ring = this.#ring;
    if (ring.length - this.#ringLength < n) {
      this.stats.txDropped++;
      return;
    }
    let at = (this.#ringStart + this.#ringLength) % ring.length;
    for (let i = 0; i < n; i++) {
      ring[at] = this.#frame[i]!;
      at = at + 1 === ring.length ? 0 : at + 1;
    }
    this.#ringLength += n;
    this.#pump();
  }

  #pump(): void {
    const ring = this.#ring;
    while (!this.#closed && this.#ringLength > 0 && this.#writable > 0) {
      const n = Math.min(this.#writable, this.#ringLength, ring.length - this.#ringStart);
      try {
        this.#serial.write(ring.subarray(this.#ringStart, this.#ringStart + n));
      } catch {
        this.stats.txErrors++;
        this.#writable = 0;
        return;
      }
      this.#writable -= n;
      this.#ringStart = (this.#ringStart + n) % ring.length;
      this.#ringLength -= n;
    }
  }
}
