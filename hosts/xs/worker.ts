/*
 * Drives Moddable's XS engine, as built by the npm package `@agoric/xsnap`, over the
 * `xsnap-worker` command pipe. No SES, no lockdown, no @endo in this process.
 *
 * Protocol (xsnap-worker.c): netstrings on the child's fd 3 (to XS) and fd 4 (from XS).
 *   to XS:   "e<source>"  evaluate a script      "?<bytes>" call globalThis.handleCommand(ArrayBuffer)
 *            "/<bytes>"   reply to an issueCommand() that XS is blocked in
 *   from XS: ".<meter JSON>\x01<result bytes>"   done     "!<message>"   uncaught exception
 *            "?<bytes>"   XS called issueCommand(bytes) and waits, synchronously, for our "/" reply
 * The meter JSON carries `compute` (computrons of that crank, deterministic), `allocate`
 * (bytes of chunk space the machine holds) and `currentHeapCount` (slots in use).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export interface Meter {
  compute: number;
  allocate: number;
  currentHeapCount: number;
}

/**
 * What the machine holds live, from a snapshot (which collects garbage and compacts first):
 * `slotBytes` = live slots x slot size, `chunkBytes` = live chunks (strings, array buffers,
 * closures' and arrays' storage) with their headers. Free slots, free chunk space and the
 * blocks XS grew to hold its peak are not counted (the meter's `allocate` counts them).
 */
export interface LiveHeap {
  slotBytes: number;
  chunkBytes: number;
}

export interface CrankResult {
  meter: Meter;
  result: Uint8Array;
}

/** Size of one XS slot on 64-bit hosts (txSlot: next, flag/kind, value: 4 x 8 bytes). */
export const XS_SLOT_BYTES = 32;

export function xsnapWorkerPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@agoric/xsnap/package.json'));
  const bin = join(pkg, 'xsnap-native', 'xsnap', 'build', 'bin', 'lin', 'release', 'xsnap-worker');
  if (!existsSync(bin)) {
    throw new Error(
      `xsnap-worker not found at ${bin}: it is built by @agoric/xsnap's install script ` +
        '(needs cc and make; check "allowScripts" in package.json and run `npm rebuild @agoric/xsnap`)',
    );
  }
  return bin;
}

type CommandHandler = (bytes: Uint8Array) => Uint8Array;

interface Pending {
  resolve(result: CrankResult): void;
  reject(error: Error): void;
}

/**
 * One XS machine in a child process. Cranks (evaluate / deliver) are queued and run one at
 * a time; while one runs, every issueCommand() from XS is answered synchronously by
 * `onCommand`, in order.
 */
export class XsWorker {
  readonly #child: ChildProcess;
  readonly #toXs: Writable;
  readonly #queue: Array<{ frame: Uint8Array; pending: Pending; queuedAt: number }> = [];
  #current: Pending | undefined;
  #rx: Buffer = Buffer.alloc(0);
  #closed = false;
  #exitError: Error | undefined;
  onCommand: CommandHandler = () => new Uint8Array(0);
  /** The longest a crank waited in the queue before it ran, ms (real time: the engine keeping up or not). */
  queueWaitMaxMs = 0;
  /** Sum of computrons over every crank so far. */
  computrons = 0;
  lastMeter: Meter = { compute: 0, allocate: 0, currentHeapCount: 0 };

  constructor(options: { meteringLimit?: number; stderr?: 'inherit' | 'ignore' } = {}) {
    const args: string[] = [];
    if (options.meteringLimit) args.push('-l', String(options.meteringLimit));
    // Own process group: Ctrl-C at the terminal reaches the parent, which drains and then closes
    // the worker; the worker also exits by itself at EOF on its command pipe if the parent dies.
    this.#child = spawn(xsnapWorkerPath(), args, {
      detached: true,
      stdio: ['ignore', 'inherit', options.stderr ?? 'inherit', 'pipe', 'pipe'],
    });
    this.#toXs = this.#child.stdio[3] as Writable;
    const fromXs = this.#child.stdio[4] as Readable;
    fromXs.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#toXs.on('error', () => {});
    this.#child.on('exit', (code, signal) => {
      this.#closed = true;
      this.#exitError = new Error(`xsnap-worker exited (code ${code}, signal ${signal})`);
      this.#current?.reject(this.#exitError);
      this.#current = undefined;
      for (const { pending } of this.#queue.splice(0)) pending.reject(this.#exitError);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Evaluates a script in the global scope. */
  evaluate(source: string): Promise<CrankResult> {
    const body = Buffer.from(source, 'utf8');
    const frame = new Uint8Array(body.length + 1);
    frame[0] = 0x65; // 'e'
    frame.set(body, 1);
    return this.#enqueue(frame);
  }

  /** Calls globalThis.handleCommand(bytes) in XS; resolves with what it returned (an ArrayBuffer). */
  deliver(bytes: Uint8Array): Promise<CrankResult> {
    const frame = new Uint8Array(bytes.length + 1);
    frame[0] = 0x3f; // '?'
    frame.set(bytes, 1);
    return this.#enqueue(frame);
  }

  /**
   * The live heap after a full collection: writes an XS snapshot ("w" command) to a temporary
   * file and reads the sizes of its chunk ("BLOC") and slot ("HEAP") sections.
   */
  async liveHeap(): Promise<LiveHeap> {
    const dir = mkdtempSync(join(tmpdir(), 'pipewatch-xs-'));
    const path = join(dir, 'heap.xss');
    try {
      const body = Buffer.from(path, 'utf8');
      const frame = new Uint8Array(body.length + 1);
      frame[0] = 0x77; // 'w'
      frame.set(body, 1);
      await this.#enqueue(frame);
      return parseSnapshotSizes(readFileSync(path));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  get busy(): boolean {
    return this.#current !== undefined || this.#queue.length > 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#toXs.end();
    const child = this.#child;
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  }

  #enqueue(frame: Uint8Array): Promise<CrankResult> {
    if (this.#closed) return Promise.reject(this.#exitError ?? new Error('xsnap-worker closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ frame, pending: { resolve, reject }, queuedAt: performance.now() });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#current || this.#queue.length === 0) return;
    const next = this.#queue.shift()!;
    const waited = performance.now() - next.queuedAt;
    if (waited > this.queueWaitMaxMs) this.queueWaitMaxMs = waited;
    this.#current = next.pending;
    this.#send(next.frame);
  }

  #send(frame: Uint8Array): void {
    this.#toXs.write(Buffer.concat([Buffer.from(`${frame.length}:`), frame, Buffer.from(',')]));
  }

  #onData(chunk: Buffer): void {
    this.#rx = this.#rx.length ? Buffer.concat([this.#rx, chunk]) : chunk;
    for (;;) {
      const colon = this.#rx.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(this.#rx.subarray(0, colon).toString('latin1'));
      if (!Number.isSafeInteger(length)) throw new Error('xsnap-worker: bad netstring length');
      const end = colon + 1 + length;
      if (this.#rx.length < end + 1) return;
      const message = this.#rx.subarray(colon + 1, end);
      this.#rx = this.#rx.subarray(end + 1);
      this.#onMessage(message);
    }
  }

  #onMessage(message: Buffer): void {
    const kind = message[0];
    if (kind === 0x3f) {
      // '?': issueCommand from XS; it is blocked until we answer.
      let reply: Uint8Array;
      try {
        reply = this.onCommand(message.subarray(1));
      } catch (error) {
        process.stderr.write(`xs host command failed: ${(error as Error).stack}\n`);
        reply = new Uint8Array(0);
      }
      const frame = new Uint8Array(reply.length + 1);
      frame[0] = 0x2f; // '/'
      frame.set(reply, 1);
      this.#send(frame);
      return;
    }
    const pending = this.#current;
    this.#current = undefined;
    if (kind === 0x2e) {
      // '.': meter JSON, 0x01, result bytes
      const sep = message.indexOf(1);
      const meter = JSON.parse(message.subarray(1, sep).toString('utf8')) as Meter;
      this.computrons += meter.compute;
      this.lastMeter = meter;
      pending?.resolve({ meter, result: new Uint8Array(message.subarray(sep + 1)) });
    } else {
      pending?.reject(new Error(`XS: ${message.subarray(1).toString('utf8') || 'unknown error'}`));
    }
    this.#pump();
  }
}

/** Section sizes of an XS snapshot (xsSnapshot.c fxWriteSnapshot: "XS_M", then atoms of size u32 BE + tag). */
export function parseSnapshotSizes(bytes: Uint8Array): LiveHeap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  if (bytes.length < 8 || tag(4) !== 'XS_M') throw new Error('not an XS snapshot');
  const sizes = new Map<string, number>();
  for (let at = 8; at + 8 <= bytes.length; ) {
    const size = view.getUint32(at);
    if (size < 8) throw new Error('XS snapshot: bad section size');
    sizes.set(tag(at + 4), size - 8);
    at += size;
  }
  const chunkBytes = sizes.get('BLOC');
  const slotBytes = sizes.get('HEAP');
  if (chunkBytes === undefined || slotBytes === undefined) throw new Error('XS snapshot: no BLOC or HEAP section');
  return { slotBytes, chunkBytes };
}
