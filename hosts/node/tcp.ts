/*
 * ECMA-419 TCP and TLS sockets on Node's `net` and `tls`, for the Node host and for the XS
 * host's parent process. Callbacks run from Node's event loop, never inside a firmware call.
 * Virtual time: a connect, and a write until its first answer, hold the scheduler.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Bytes, TCPConstructor, TCPOptions, TLSOptions, TLSSocketConstructor, TCP } from '../../firmware/host';
import type { Scheduler } from './scheduler';

export interface SocketEvents {
  onWritable(count: number): void;
  onReadable(count: number): void;
  onError(message: string): void;
}

function toBuffer(bytes: Bytes): Buffer {
  if (bytes instanceof ArrayBuffer) return Buffer.from(new Uint8Array(bytes));
  return Buffer.from(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function pem(value: Bytes | string | undefined): string | Buffer | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return toBuffer(value);
}

/** One socket; the transport under both the Node host's TCP class and the XS bridge. */
export class NodeSocket {
  readonly #socket: net.Socket;
  readonly #scheduler: Scheduler;
  readonly #events: SocketEvents;
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  #open = true;
  #errored = false;

  constructor(
    scheduler: Scheduler,
    options: { address: string; port: number; nodelay?: boolean; secure?: TLSOptions['secure'] },
    events: SocketEvents,
  ) {
    this.#scheduler = scheduler;
    this.#events = events;
    scheduler.begin(this);
    if (options.secure) {
      const s = options.secure;
      this.#socket = tls.connect({
        host: options.address,
        port: options.port,
        ca: pem(s.ca),
        cert: pem(s.certificate),
        key: pem(s.key),
        servername: s.serverName ?? (net.isIP(options.address) ? undefined : options.address),
      });
      this.#socket.once('secureConnect', () => this.#connected());
    } else {
      this.#socket = net.connect({ host: options.address, port: options.port });
      this.#socket.once('connect', () => this.#connected());
    }
    if (options.nodelay) this.#socket.setNoDelay(true);
    this.#socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      scheduler.done(this);
      if (this.#open) this.#events.onReadable(this.#buffered);
    });
    this.#socket.on('error', (error) => this.#fail(error.message));
    this.#socket.on('close', () => this.#fail('closed by peer'));
  }

  #connected(): void {
    this.#scheduler.done(this);
    if (this.#open) this.#events.onWritable(64 * 1024);
  }

  #fail(message: string): void {
    this.#scheduler.done(this);
    if (!this.#open || this.#errored) return;
    this.#errored = true;
    this.#events.onError(message);
  }

  get buffered(): number {
    return this.#buffered;
  }

  read(count?: number): Buffer | undefined {
    if (this.#buffered === 0) return undefined;
    const want = count === undefined ? this.#buffered : Math.min(count, this.#buffered);
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, want);
    const rest = all.subarray(want);
    this.#chunks.length = 0;
    if (rest.length) this.#chunks.push(rest);
    this.#buffered = rest.length;
    return out;
  }

  write(bytes: Bytes | Buffer): void {
    if (!this.#open || this.#errored || this.#socket.destroyed) throw new Error('socket closed');
    this.#socket.write(bytes instanceof Buffer ? bytes : toBuffer(bytes));
    this.#scheduler.awaitAnswer(this);
  }

  /** Power cut: the connection ends at once (RST, nothing more goes out, no DISCONNECT). */
  abort(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#scheduler.done(this);
    this.#socket.resetAndDestroy();
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#scheduler.done(this);
    // Graceful close: what was written (a DISCONNECT) still goes out, then FIN; a peer that
    // does not close its side in time is cut.
    const socket = this.#socket;
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}

/** ECMA-419 TCP and TLSSocket classes bound to a scheduler. */
export function socketClasses(
  scheduler: Scheduler,
  onOpen?: (socket: NodeSocket) => void,
): { TCP: TCPConstructor; TLSSocket: TLSSocketConstructor } {
  class TCPSocket implements TCP {
    readonly #socket: NodeSocket;
    constructor(options: TCPOptions & { secure?: TLSOptions['secure'] }) {
      this.#socket = new NodeSocket(scheduler, options, {
        onWritable: (count) => options.onWritable?.call(this, count),
        onReadable: (count) => options.onReadable?.call(this, count),
        onError: (message) => options.onError?.call(this, message),
      });
      onOpen?.(this.#socket);
    }
    read(count?: number): ArrayBuffer | undefined {
      const chunk = this.#socket.read(count);
      if (!chunk) return undefined;
      return chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer;
    }
    write(buffer: Bytes): void {
      this.#socket.write(buffer);
    }
    close(): void {
      this.#socket.close();
    }
  }
  return { TCP: TCPSocket, TLSSocket: TCPSocket as unknown as TLSSocketConstructor };
}
