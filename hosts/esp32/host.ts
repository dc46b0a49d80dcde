/*
 * The host provider on an ESP32, from the Moddable SDK's ECMA-419 builtins:
 * embedded:io/* for the buses (with the board's pins from the manifest's `config.board`),
 * embedded:storage/flash for the `cache` and `settings` partitions, embedded:update for the
 * inactive OTA slot, lwIP TCP and the SDK's TLS socket for the uplink, `Time.ticks` and the
 * SNTP-set system clock, the hardware RNG behind Math.random, and esp_restart.
 */
import I2C from 'embedded:io/i2c';
import SMBus from 'embedded:io/smbus';
import SPI from 'embedded:io/spi';
import Digital from 'embedded:io/digital';
import Analog from 'embedded:io/analog';
import TCP from 'embedded:io/socket/tcp';
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

/** A constructor that fills in the board's pins, then builds the SDK class (the ECMA-419 "host provider" pattern). */
function withDefaults<T>(Native: AnyConstructor, defaults: Record<string, unknown>): T {
  return class {
    constructor(options: Record<string, unknown>) {
      return new Native({ ...defaults, ...options });
    }
  } as unknown as T;
}

/** The firmware's 1-Wire contract over Moddable's `onewire` driver (RMT based on ESP32): ./onewire.ts. */
const BoardOneWire = boardOneWire(NativeOneWire as unknown as Parameters<typeof boardOneWire>[0]);

const resolve: Resolver = (name, callback) => {
  try {
    Net.resolve(name, (_name: string, address?: string) => callback(address || undefined));
  } catch {
    callback(undefined);
  }
};

/**
 * An ECMA-419 flash partition of the SDK, with the NOR geometry its `status()` does not report
 * (ESP32 SPI flash: bytes can be written at any alignment, erased bytes read 0xFF). A wrapper,
 * not a patched instance: the SDK's prototypes are frozen.
 */
class Partition implements HostFlash {
  readonly #native: NativeFlash;
  #closed = false;

  constructor(native: NativeFlash) {
    this.#native = native;
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

const flash: FlashProvider = {
  open(options: { path: string }) {
    return new Partition(Flash.open({ path: options.path, mode: 'r+' } as never) as unknown as NativeFlash);
  },
};

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
  return {
    io: {
      I2C: withDefaults(I2C, i2c),
      SMBus: withDefaults(SMBus, i2c),
      SPI: withDefaults(SPI, spi),
      Digital: withDefaults(Digital, {}),
      Analog: withDefaults(Analog, {}),
      OneWire: BoardOneWire,
      TCP: socketClass(TCP as never, resolve),
      TLSSocket: socketClass(TLSSocket as never, resolve, (options) => {
        const secure = (options as TLSOptions).secure ?? {};
        return { host: secure.serverName ?? options.address, secure, TCP: { io: TCP } };
      }) as NonNullable<Host['io']['TLSSocket']>,
    },
    flash,
    update: o.update,
    clock: { monotonic: new TicksClock(), wall: new EpochClock() },
    timers: new ModdableTimers(),
    random: { next: () => Math.random() },
    log:
      o.log ??
      ((level: LogLevel, message: string) => {
        trace(`[${level}] ${message}\n`);
      }),
    restart: o.restart,
  };
}
