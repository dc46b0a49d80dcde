/*
 * Adapters from the Moddable SDK runtime to the pipewatch `Host` contract (firmware/host.ts),
 * shared by the ESP32 host and the Moddable simulator host (mcsim): the same code runs on the
 * device and on the desktop, only the manifest decides which IO classes are behind it.
 *
 * - `ModdableTimers`: numeric timer ids over Moddable `Timer` objects. A callback that throws is
 *   caught and reported: on XS an exception out of a timer callback reaches fxAbort
 *   (modules/base/timer/modTimer.c: xs_timer_callback, xsEndHost), which resets the device.
 * - `TicksClock`: a monotonic ms clock over `Time.ticks`, which is a 32-bit millisecond counter
 *   that XS hands out as a signed int32 (negative after 24.8 days, wrapping after 49.7 days).
 * - `EpochClock`: the wall clock, undefined until SNTP (or the desktop) has set a plausible time.
 * - `socketClass`: ECMA-419 TCP/TLS sockets with the contract the firmware relies on: a host
 *   name is resolved first (asynchronously), `read(count)` returns at most what is buffered,
 *   `write` on a closed or failed socket throws, `close()` is idempotent.
 */
import Timer from 'timer';
import Time from 'time';
import type {
  Bytes,
  MonotonicClock,
  TCP,
  TCPConstructor,
  TCPOptions,
  TimerId,
  Timers,
  WallClock,
} from '../../firmware/host';

/** 2^32: the period of `Time.ticks`. */
const TICKS_PERIOD = 4294967296;
/** Wall-clock times before 2024-01-01T00:00:00Z mean "not synchronised yet". */
export const EARLIEST_PLAUSIBLE_EPOCH_MS = 1_704_067_200_000;

export class ModdableTimers implements Timers {
  readonly #live = new Map<TimerId, Timer>();
  readonly #onError: ((error: unknown) => void) | undefined;
  #next = 1;
  /** Callbacks that threw (caught; a repeating timer keeps running). */
  errors = 0;

  constructor(onError?: (error: unknown) => void) {
    this.#onError = onError;
  }

  set(callback: () => void, ms: number, repeat?: number): TimerId {
    if (!(ms >= 0)) throw new RangeError(`invalid timer delay ${ms}`);
    const id = this.#next;
    this.#next = this.#next >= 0x3fffffff ? 1 : this.#next + 1;
    const once = !(repeat !== undefined && repeat > 0);
    const timer = Timer.set(
      () => {
        if (once) this.#live.delete(id);
        try {
          callback();
        } catch (error) {
          this.errors++;
          try {
            this.#onError?.(error);
          } catch {
            // the report itself failed: the count above still records the error
          }
        }
      },
      ms,
      once ? 0 : repeat,
    );
    this.#live.set(id, timer);
    return id;
  }

  clear(id: TimerId | undefined): void {
    if (id === undefined) return;
    const timer = this.#live.get(id);
    if (timer === undefined) return;
    this.#live.delete(id);
    Timer.clear(timer);
  }

  /** Timers set and not yet fired or cleared. */
  get active(): number {
    return this.#live.size;
  }
}

export class TicksClock implements MonotonicClock {
  #last: number;
  #wraps = 0;

  constructor() {
    this.#last = Time.ticks >>> 0;
  }

  now(): number {
    const ticks = Time.ticks >>> 0;
    if (ticks < this.#last) this.#wraps++;
    this.#last = ticks;
    return this.#wraps * TICKS_PERIOD + ticks;
  }
}

export class EpochClock implements WallClock {
  now(): number | undefined {
    const ms = Date.now();
    return ms >= EARLIEST_PLAUSIBLE_EPOCH_MS ? ms : undefined;
  }
}

/** The ECMA-419 socket constructor of the Moddable SDK (TCP, or TLS over a TCP). */
interface NativeSocket {
  read(count?: number): ArrayBuffer | undefined;
  write(buffer: Bytes): unknown;
  close(): void;
}
type NativeSocketConstructor = new (options: Record<string, unknown>) => NativeSocket;

/** Resolves a host name; calls back once with the address, or undefined when it failed. */
export type Resolver = (name: string, callback: (address: string | undefined) => void) => void;

/** Holds a socket back until `proceed()` (e.g. until the clock is set); `cancelled()` is true once it was closed. */
export type Gate = (proceed: () => void, cancelled: () => boolean) => void;

const digits = '0123456789';

/** A dotted-quad IPv4 address (the form Moddable's sockets accept without resolving). */
export function isIPv4(address: string): boolean {
  let parts = 0;
  let length = 0;
  let value = 0;
  for (let i = 0; i <= address.length; i++) {
    const c = i < address.length ? address[i]! : '.';
    if (c === '.') {
      if (length === 0 || value > 255) return false;
      parts++;
      length = 0;
      value = 0;
    } else {
      const d = digits.indexOf(c);
      if (d < 0 || length === 3) return false;
      value = value * 10 + d;
      length++;
    }
  }
  return parts === 4;
}

/**
 * Wraps an SDK socket class into the firmware's `TCPConstructor`. `extra(options)` adds the
 * options a native class needs beyond the ECMA-419 ones (the TLS class's `secure`, `host`, `TCP`).
 * `gate`, when given, holds every connection back until it lets it proceed.
 */
export function socketClass(
  Native: NativeSocketConstructor,
  resolve: Resolver | undefined,
  extra?: (options: TCPOptions) => Record<string, unknown>,
  gate?: Gate,
): TCPConstructor {
  class HostSocket implements TCP {
    readonly #options: TCPOptions;
    #socket: NativeSocket | undefined;
    #readable = 0;
    #closed = false;
    #failed = false;

    constructor(options: TCPOptions) {
      if (!options || typeof options.address !== 'string' || options.address.length === 0) {
        throw new TypeError('socket: address required');
      }
      if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
        throw new RangeError(`socket: invalid port ${String(options.port)}`);
      }
      this.#options = options;
      const ip = isIPv4(options.address);
      if (!ip && !resolve) throw new Error(`socket: cannot resolve "${options.address}" on this host`);
      if (!gate) {
        this.#connect(ip, false);
        return;
      }
      gate(
        () => {
          if (!this.#closed) this.#connect(ip, true);
        },
        () => this.#closed,
      );
    }

    #connect(ip: boolean, deferred: boolean): void {
      const name = this.#options.address;
      if (ip) {
        this.#open(name, deferred);
        return;
      }
      resolve!(name, (address) => {
        if (this.#closed) return;
        if (address === undefined) this.#fail();
        else this.#open(address, true);
      });
    }

    read(count?: number): ArrayBuffer | undefined {
      const socket = this.#socket;
      if (!socket || this.#closed || this.#readable <= 0) return undefined;
      const n = count === undefined || count > this.#readable ? this.#readable : count;
      if (!(n > 0)) return undefined;
      const chunk = socket.read(n);
      this.#readable -= n;
      return chunk;
    }

    write(buffer: Bytes): void {
      const socket = this.#socket;
      if (this.#closed) throw new Error('socket closed');
      if (this.#failed || !socket) throw new Error('socket not connected');
      socket.write(buffer);
    }

    close(): void {
      if (this.#closed) return;
      this.#closed = true;
      const socket = this.#socket;
      this.#socket = undefined;
      socket?.close();
    }

    #open(address: string, deferred: boolean): void {
      const o = this.#options;
      const options: Record<string, unknown> = {
        ...(extra ? extra(o) : undefined),
        address,
        port: o.port,
        nodelay: o.nodelay ?? true,
        onReadable: (count: number) => {
          this.#readable = count;
          if (!this.#closed) o.onReadable?.(count);
        },
        onWritable: (count: number) => {
          if (!this.#closed) o.onWritable?.(count);
        },
        onError: () => this.#fail(),
      };
      if (!deferred) {
        this.#socket = new Native(options);
        return;
      }
      try {
        this.#socket = new Native(options);
      } catch {
        this.#fail();
      }
    }

    #fail(): void {
      if (this.#failed || this.#closed) return;
      this.#failed = true;
      this.#options.onError?.('socket error');
    }
  }
  return HostSocket;
}
