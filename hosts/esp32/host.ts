/*
 * The host provider on an ESP32, from the Moddable SDK's ECMA-419 builtins:
 * embedded:io/* for the buses (with the board's pins from the manifest's `config.board`),
 * embedded:storage/flash for the `cache` and `settings` partitions, embedded:update for the
 * inactive OTA slot, lwIP TCP and the SDK's TLS socket for the uplink, lwIP UDP for the mDNS search, `Time.ticks` and the
 * SNTP-set system clock, the hardware RNG behind Math.random, and esp_restart.
 */
import I2C from 'embedded:io/i2c';
import SMBus from 'embedded:io/smbus';
import SPI from 'embedded:io/spi';
import Digital from 'embedded:io/digital';
import Analog from 'embedded:io/analog';
import TCP from 'embedded:io/socket/tcp';
import UDP from 'embedded:io/socket/udp';
import TLSSocket from 'embedded:io/socket/tcp/tls';
import Flash from 'embedded:storage/flash';
import NativeOneWire from 'onewire';
import Net from 'net';
import type {
  Bytes,
  Flash as HostFlash,
  FlashProvider,
  FlashStatus,
  Host,
  LogLevel,
  OneWireOptions,
  TLSOptions,
  UpdateProvider,
} from '../../firmware/host';
import { boardOneWire } from './onewire';
import { EpochClock, ModdableTimers, TicksClock, socketClass, type Resolver } from './runtime';

/** The board section of the manifest (`config.board`), validated by `checkBoard`. */
export interface BoardConfig {
  /** Board id, as OTA manifests name it (e.g. "esp32/nodemcu"). */
  id: string;
  name: string;
  i2c: { port: number; data: number; clock: number; hz: number };
  spi: { port: number; clock: number; out: number; in: number; select: number };
  onewire: { pin: number };
  led: { kind: 'digital' | 'neopixel'; pin: number; on: 0 | 1 };
}

function pin(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 48) {
    throw new RangeError(`board config: ${what} must be a GPIO number 0..48`);
  }
  return value;
}

/** Throws a RangeError naming the first missing or out-of-range pin in the manifest's board config. */
export function checkBoard(board: BoardConfig): BoardConfig {
  if (!board || typeof board !== 'object') throw new RangeError('board config missing (manifest config.board)');
  pin(board.i2c?.data, 'i2c.data');
  pin(board.i2c?.clock, 'i2c.clock');
  pin(board.spi?.clock, 'spi.clock');
  pin(board.spi?.out, 'spi.out');
  pin(board.spi?.in, 'spi.in');
  pin(board.spi?.select, 'spi.select');
  pin(board.onewire?.pin, 'onewire.pin');
  pin(board.led?.pin, 'led.pin');
  return board;
}

type AnyConstructor = new (options: any) => any;

/**
 * A constructor that fills in the board's pins, then builds the SDK class (the ECMA-419 "host
 * provider" pattern). A key the caller passes as undefined keeps the board's value: the SDK's ESP32
 * buses read a present key as a pin and reject undefined (modules/io/common/builtinCommon.c:
 * builtinGetUnsignedInteger), so `{...defaults, ...options}` alone would hand them undefined pins.
 */
function withDefaults<T>(Native: AnyConstructor, defaults: Record<string, unknown>): T {
  return class {
    constructor(options: Record<string, unknown>) {
      const merged: Record<string, unknown> = { ...defaults };
      for (const key in options) if (options[key] !== undefined) merged[key] = options[key];
      return new Native(merged);
    }
  } as unknown as T;
}

/** The firmware's 1-Wire contract over Moddable's `onewire` driver (RMT based on ESP32): ./onewire.ts. */
const BoardOneWire = boardOneWire(NativeOneWire as unknown as Parameters<typeof boardOneWire>[0]);

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

const resolve: Resolver = (name, callback) => {
  try {
    Net.resolve(name, (_name: string, address?: string) => callback(address || undefined));
  } catch {
    callback(undefined);
  }
};

/**
 * An ECMA-419 flash partition of the SDK, with the NOR geometry its `status()` does not report
 * (ESP32 SPI flash: bytes can be written at any alignment, erased bytes read 0xFF). A partition
 * flagged `encrypted` on a chip with flash encryption enabled (esp_partition_t.encrypted, from
 * ota-state.c) reports `encrypted` and writeAlign 16: esp_partition_write encrypts in 16-byte
 * AES-XTS units and refuses other alignments, a unit written twice garbles, erased flash reads
 * as noise (firmware/host.ts FlashStatus). A wrapper, not a patched instance: the SDK's
 * prototypes are frozen.
 */
class Partition implements HostFlash {
  readonly #native: NativeFlash;
  readonly #encrypted: boolean;
  #closed = false;

  constructor(native: NativeFlash, encrypted: boolean) {
    this.#native = native;
    this.#encrypted = encrypted;
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer;
  read(buffer: Bytes, byteOffset: number): void;
  read(target: number | Bytes, byteOffset: number): ArrayBuffer | void {
    if (typeof target === 'number') return this.#native.read(target, byteOffset) as ArrayBuffer;
    this.#native.read(target, byteOffset);
  }

  write(buffer: Bytes, byteOffset: number): void {
    this.#native.write(buffer, byteOffset);
  }

  eraseBlock(block: number): void {
    this.#native.eraseBlock(block);
  }

  status(): FlashStatus {
    const s = this.#native.status();
    if (this.#encrypted) return { blockLength: s.blockLength, blocks: s.blocks, writeAlign: 16, eraseValue: 0xff, encrypted: true };
    return { blockLength: s.blockLength, blocks: s.blocks, writeAlign: 1, eraseValue: 0xff };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}

interface NativeFlash {
  read(target: number | Bytes, byteOffset: number): ArrayBuffer | number;
  write(buffer: Bytes, byteOffset: number): void;
  eraseBlock(block: number): void;
  status(): { blockLength: number; blocks: number };
  close(): void;
}

/** esp_partition_t.encrypted of a data partition (ota-state.c). */
function partitionEncrypted(name: string): boolean {
  return native('xs_pipewatch_partition_encrypted').call(undefined, name) === true;
}

const flash: FlashProvider = Object.freeze({
  open(options: { path: string }) {
    const native = Flash.open({ path: options.path, mode: 'r+' } as never) as unknown as NativeFlash;
    return new Partition(native, partitionEncrypted(options.path));
  },
});

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** DER bytes of a certificate or key given as DER, or as PEM text (the base64 between the BEGIN and END lines). */
export function derOf(value: Bytes | string, what: string): ArrayBuffer {
  if (typeof value !== 'string') {
    const bytes = bytesOf(value);
    return bytes.slice().buffer as ArrayBuffer;
  }
  const begin = value.indexOf('-----BEGIN ');
  const bodyStart = begin < 0 ? -1 : value.indexOf('-----', begin + 11);
  const end = value.indexOf('-----END ');
  if (begin < 0 || bodyStart < 0 || end < bodyStart) throw new TypeError(`TLS ${what}: expected DER bytes or PEM text`);
  const out = new Uint8Array(Math.floor(((end - bodyStart) * 3) / 4));
  let bits = 0;
  let value24 = 0;
  let n = 0;
  for (let i = bodyStart + 5; i < end; i++) {
    const c = value[i]!;
    if (c === '=' ) break;
    const d = BASE64.indexOf(c);
    if (d < 0) {
      if (c === '\n' || c === '\r' || c === ' ' || c === '\t') continue;
      throw new TypeError(`TLS ${what}: invalid PEM character`);
    }
    value24 = (value24 << 6) | d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value24 >> bits) & 0xff;
    }
  }
  if (n === 0) throw new TypeError(`TLS ${what}: empty PEM`);
  return out.slice(0, n).buffer as ArrayBuffer;
}

/**
 * The SDK TLS socket's options from the firmware's `secure` options. The SDK's session
 * (modules/crypt/ssl/session_419.js, ssl_cert.js: CertificateManager) reads `serverName` (SNI and
 * the name the server certificate must carry), `certificate` (one DER root it trusts, besides the
 * build's `ca.ski` + `caN.der` resources), `clientCertificates` (an array of DER) and `clientKey`
 * (PKCS#8 DER); any other key (`ca`, `key`) is silently ignored, hence this mapping.
 */
export function tlsSecureOptions(secure: TLSOptions['secure'], address: string): Record<string, unknown> {
  const out: Record<string, unknown> = { serverName: secure.serverName ?? address };
  if (secure.ca !== undefined) out.certificate = derOf(secure.ca, 'ca');
  if (secure.certificate !== undefined) {
    if (secure.key === undefined) throw new TypeError('TLS: a client certificate needs its key');
    out.clientCertificates = [derOf(secure.certificate, 'certificate')];
    out.clientKey = derOf(secure.key, 'key');
  } else if (secure.key !== undefined) throw new TypeError('TLS: a client key needs its certificate');
  return out;
}

/** Checks for a set wall clock, every second; TLS waits for it (see createEsp32Host). */
const CLOCK_POLL_MS = 1_000;

export interface Esp32HostOptions {
  board: BoardConfig;
  update?: UpdateProvider;
  log?: (level: LogLevel, message: string) => void;
  restart(): void;
}

export function createEsp32Host(o: Esp32HostOptions): Host {
  const board = checkBoard(o.board);
  const i2c = { port: board.i2c.port, data: board.i2c.data, clock: board.i2c.clock, hz: board.i2c.hz };
  const spi = { port: board.spi.port, clock: board.spi.clock, out: board.spi.out, in: board.spi.in, select: board.spi.select };
  const log =
    o.log ??
    ((level: LogLevel, message: string) => {
      trace(`[${level}] ${message}\n`);
    });
  const timers = new ModdableTimers((error) => log('error', `timer callback threw: ${messageOf(error)}`));
  const wall = new EpochClock();
  /*
   * The SDK checks certificate dates against Date.now() (ssl_cert.js: CertificateManager.verify),
   * which is 1970 until SNTP sets the clock: a TLS socket opened before then would fail every
   * handshake. So a TLS socket waits for the clock before it connects (closing it stops the wait).
   */
  let warned = false;
  const whenClockSet = (proceed: () => void, cancelled: () => boolean): void => {
    if (wall.now() !== undefined) return proceed();
    if (!warned) log('info', 'TLS waits for the wall clock (SNTP) to check certificate dates');
    warned = true;
    const id = timers.set(
      () => {
        if (cancelled()) timers.clear(id);
        else if (wall.now() !== undefined) {
          timers.clear(id);
          proceed();
        }
      },
      CLOCK_POLL_MS,
      CLOCK_POLL_MS,
    );
  };
  /* A `pin` left undefined is the board's 1-Wire pin: xs_onewire (modonewire.c) reads undefined as GPIO 0. */
  const OneWireClass = class extends BoardOneWire {
    constructor(options: OneWireOptions) {
      super({ ...options, pin: options?.pin ?? board.onewire.pin });
    }
  };
  return {
    io: {
      I2C: withDefaults(I2C, i2c),
      SMBus: withDefaults(SMBus, i2c),
      SPI: withDefaults(SPI, spi),
      Digital: withDefaults(Digital, {}),
      Analog: withDefaults(Analog, {}),
      OneWire: OneWireClass,
      TCP: socketClass(TCP as never, resolve),
      // lwIP UDP (modules/io/socket/lwip/udp.c) as it is: the mDNS broker search (firmware/provision/mdns.ts).
      UDP: UDP as unknown as NonNullable<Host['io']['UDP']>,
      TLSSocket: socketClass(
        TLSSocket as never,
        resolve,
        (options) => {
          const secure = tlsSecureOptions((options as TLSOptions).secure ?? {}, options.address);
          return { host: secure.serverName, secure, TCP: { io: TCP } };
        },
        whenClockSet,
      ) as NonNullable<Host['io']['TLSSocket']>,
    },
    flash,
    update: o.update,
    clock: { monotonic: new TicksClock(), wall },
    timers,
    random: { next: () => Math.random() },
    log,
    restart: o.restart,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
