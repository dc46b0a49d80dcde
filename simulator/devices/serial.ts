/*
 * A simulated UART link: the node's ECMA-419 `Serial` class on one end, the computer's side (a
 * USB serial adapter, as an Improv client sees it) on the other, with bytes taking their wire
 * time (8N1: 10 bits a byte) on a clock the caller gives (virtual time in tests).
 *
 * Strict as Moddable's `modules/io/serial/esp32/serial.c`, rule by rule:
 * - `xs_serial_constructor`: needs a `receive` or `transmit` pin ("invalid"); `port` in 0..2
 *   (RangeError "invalid port"); `baud` in 1..20 000 000 (RangeError "invalid baud"); a port
 *   already open (`uart_is_driver_installed`) is RangeError "port in use".
 * - `xs_serial_write`: a buffer longer than the free transmit FIFO (128 bytes) throws
 *   "output full" and writes nothing.
 * - `xs_serial_read`: undefined when nothing waits; `read(count)` reads exactly `count`
 *   (the C code reads past the FIFO's content when asked for more: refused here);
 *   `read(buffer)` fills up to its length and returns the count; count <= 0 is "invalid".
 * - `serial_isr` / `serialDeliver`: `onWritable(free)` once the port opens (TX interrupt armed
 *   in the constructor) and after a write, once the FIFO drains below `kTransmitTreshold` (10);
 *   `onReadable(waiting)` when bytes arrive, again after the RX idle time-out (4 symbol times)
 *   while bytes are left; callbacks are posted to the event loop, never run inside a call.
 * - the receive FIFO holds 128 bytes: what arrives while it is full is lost (counted).
 * - after `close()` (safe twice) every other method throws; the port can be opened again.
 * A baud rate other than the link's garbles every byte (each arrives as 0x00, a framing error),
 * as a real mismatched UART does.
 */
import type { Bytes, Serial, SerialConstructor, SerialOptions } from '../../firmware/host';

/** The clock and timers the link runs on (the shape of `VirtualClock` and of host timers). */
export interface SimSerialClock {
  now(): number;
  set(callback: () => void, ms: number): number;
  clear(id: number | undefined): void;
}

export const UART_FIFO_BYTES = 128;
const TX_THRESHOLD_BYTES = 10;
const SLICE_BYTES = 16;

function bytesOf(buffer: Bytes): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export interface SimSerialStats {
  /** Bytes lost because the node's receive FIFO was full. */
  rxLost: number;
  /** Writes refused with "output full". */
  outputFull: number;
  bytesToNode: number;
  bytesFromNode: number;
}

export class SimSerialLink {
  readonly stats: SimSerialStats = { rxLost: 0, outputFull: 0, bytesToNode: 0, bytesFromNode: 0 };
  /** Everything the node transmitted, in order (the computer's receive side). */
  readonly received: number[] = [];
  /** Called with each slice of bytes the computer receives. */
  onData: ((bytes: Uint8Array) => void) | undefined;

  readonly #clock: SimSerialClock;
  readonly #baud: number;
  readonly #byteMs: number;
  readonly #rx: number[] = [];
  readonly #tx: number[] = [];
  #port: SimSerialPort | undefined;
  /** Slices on their way to the node, in order; one timer at a time carries the first. */
  readonly #toNode: number[][] = [];
  #draining = false;

  constructor(clock: SimSerialClock, options: { baud?: number } = {}) {
    this.#clock = clock;
    this.#baud = options.baud ?? 115200;
    this.#byteMs = 10_000 / this.#baud;
  }

  get baud(): number {
    return this.#baud;
  }

  get open(): boolean {
    return this.#port !== undefined;
  }

  /** The node's `Serial` class, bound to this link. */
  classes(): { Serial: SerialConstructor } {
    const link = this;
    class Port extends SimSerialPort {
      constructor(options: SerialOptions) {
        super(link, options);
      }
    }
    return { Serial: Port };
  }

  /**
   * The computer sends bytes: they reach the node's FIFO after their wire time, in order. Each
   * slice is timed from the arrival of the one before (on virtual time the same instants as timing
   * them all from the send). On real timers a late event loop then delays the rest of the transfer
   * instead of landing every overdue slice at once, ahead of the node's read callback: that
   * overflowed the 128-byte FIFO of a node that was never slow on its own clock (a loaded test
   * machine turned an Improv packet into error 0x01). On real timers the firmware runs at the
   * host's speed, not the chip's, so a real-time run never judged the node's read latency.
   */
  send(bytes: ArrayLike<number>): void {
    const idle = this.#toNode.length === 0;
    for (let start = 0; start < bytes.length; start += SLICE_BYTES) {
      const slice: number[] = [];
      for (let i = start; i < Math.min(bytes.length, start + SLICE_BYTES); i++) slice.push(bytes[i]! & 0xff);
      this.#toNode.push(slice);
    }
    if (idle) this.#carry();
  }

  /** One timer carries the first slice waiting; while slices wait, one is always under way. */
  #carry(): void {
    const slice = this.#toNode[0];
    if (!slice) return;
    this.#clock.set(() => {
      this.#toNode.shift();
      this.#arrive(slice);
      this.#carry();
    }, slice.length * this.#byteMs);
  }

  /** Takes and clears what the computer received so far. */
  take(): Uint8Array {
    const out = Uint8Array.from(this.received);
    this.received.length = 0;
    return out;
  }

  #arrive(slice: number[]): void {
    const port = this.#port;
    if (!port || port.options.receive === undefined) return;
    const garbled = port.options.baud !== this.#baud;
    for (const byte of slice) {
      if (this.#rx.length >= UART_FIFO_BYTES) this.stats.rxLost++;
      else {
        this.#rx.push(garbled ? 0 : byte);
        this.stats.bytesToNode++;
      }
    }
    port.notifyReadable(0);
  }

  // The node's side, used by SimSerialPort.
  /** @internal */ attach(port: SimSerialPort): void {
    if (this.#port) throw new RangeError('port in use');
    this.#port = port;
    this.#rx.length = 0;
    this.#tx.length = 0;
  }
  /** @internal */ detach(port: SimSerialPort): void {
    if (this.#port === port) this.#port = undefined;
    this.#rx.length = 0;
    this.#tx.length = 0;
  }
  /** @internal */ get waiting(): number {
    return this.#rx.length;
  }
  /** @internal */ get txFree(): number {
    return UART_FIFO_BYTES - this.#tx.length;
  }
  /** @internal */ takeRx(n: number, into: Uint8Array): void {
    for (let i = 0; i < n; i++) into[i] = this.#rx.shift()!;
  }
  /** @internal */ pushTx(bytes: Uint8Array): void {
    const port = this.#port!;
    if (bytes.length > this.txFree) {
      this.stats.outputFull++;
      throw new Error('output full');
    }
    const garbled = port.options.baud !== this.#baud;
    for (const byte of bytes) this.#tx.push(garbled ? 0 : byte);
    if (!this.#draining) this.#drain();
  }
  /** @internal */ get clock(): SimSerialClock {
    return this.#clock;
  }
  /** @internal */ get byteMs(): number {
    return this.#byteMs;
  }

  #drain(): void {
    this.#draining = true;
    const n = Math.min(SLICE_BYTES, this.#tx.length);
    this.#clock.set(() => {
      const port = this.#port;
      const slice = Uint8Array.from(this.#tx.splice(0, n));
      if (port && port.options.transmit !== undefined) {
        for (const byte of slice) this.received.push(byte);
        this.stats.bytesFromNode += slice.length;
        this.onData?.(slice);
      }
      if (this.#tx.length > 0) this.#drain();
      else this.#draining = false;
      if (port && this.#tx.length < TX_THRESHOLD_BYTES) port.notifyWritable();
    }, n * this.#byteMs);
  }
}

/** The node's end: an ECMA-419 `Serial` (see the rules in the header). */
export class SimSerialPort implements Serial {
  readonly options: SerialOptions;
  readonly #link: SimSerialLink;
  #open = true;
  #readablePending = false;
  #writableArmed = false;

  constructor(link: SimSerialLink, options: SerialOptions) {
    if (options.receive === undefined && options.transmit === undefined) throw new Error('invalid');
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 2) throw new RangeError('invalid port');
    const baud = Math.trunc(Number(options.baud));
    if (!(baud > 0 && baud <= 20_000_000)) throw new RangeError('invalid baud');
    link.attach(this);
    this.#link = link;
    this.options = { ...options, baud };
    if (options.onWritable) {
      this.#writableArmed = true;
      this.notifyWritable();
    }
  }

  #check(): void {
    if (!this.#open) throw new Error('closed');
  }

  read(): ArrayBuffer | undefined;
  read(count: number): ArrayBuffer | undefined;
  read(buffer: Bytes): number | undefined;
  read(arg?: number | Bytes): ArrayBuffer | number | undefined {
    this.#check();
    const waiting = this.#link.waiting;
    if (waiting === 0) return undefined;
    let result: ArrayBuffer | number;
    if (arg === undefined) {
      const out = new Uint8Array(waiting);
      this.#link.takeRx(waiting, out);
      result = out.buffer;
    } else if (typeof arg === 'number') {
      const count = Math.trunc(arg);
      if (!(count > 0)) throw new Error('invalid');
      if (count > waiting) throw new RangeError(`read(${count}) with ${waiting} byte(s) waiting`);
      const out = new Uint8Array(count);
      this.#link.takeRx(count, out);
      result = out.buffer;
    } else {
      const view = bytesOf(arg);
      const count = Math.min(view.length, waiting);
      if (count <= 0) throw new Error('invalid');
      this.#link.takeRx(count, view);
      result = count;
    }
    return result;
  }

  write(buffer: Bytes): void {
    this.#check();
    this.#link.pushTx(bytesOf(buffer));
    if (this.options.onWritable) this.#writableArmed = true;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#link.detach(this);
  }

  /** @internal Posts `onReadable(waiting)` after `delayMs`, once. */
  notifyReadable(delayMs: number): void {
    if (this.#readablePending || !this.options.onReadable) return;
    this.#readablePending = true;
    this.#clock().set(() => {
      this.#readablePending = false;
      if (!this.#open) return;
      const waiting = this.#link.waiting;
      if (waiting === 0) return;
      this.options.onReadable!.call(this, waiting);
      if (this.#open && this.#link.waiting > 0) this.notifyReadable(4 * this.#link.byteMs);
    }, delayMs);
  }

  /** @internal Posts `onWritable(free)` when armed (after the constructor or a write). */
  notifyWritable(): void {
    if (!this.#writableArmed || !this.options.onWritable) return;
    this.#writableArmed = false;
    this.#clock().set(() => {
      if (!this.#open) return;
      const free = this.#link.txFree;
      if (free > 0) this.options.onWritable!.call(this, free);
    }, 0);
  }

  #clock(): SimSerialClock {
    return this.#link.clock;
  }
}

