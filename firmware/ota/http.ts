/*
 * A small, strict HTTP/1.1 client for one thing: GET one byte range of an image.
 *
 * Contract
 * - `new RangeGet(options)` opens a TCP (or TLS for https) socket from the constructors it is
 *   given, sends `GET path` with `Range: bytes=first-last` and `Connection: close`, and reports
 *   exactly once through `onEnd`, always asynchronously (from a socket callback or a timer).
 * - The answer must be `206` with `Content-Range: bytes first-last/total` matching the request
 *   and the expected total, and `Content-Length` equal to the range length. A `200` (the server
 *   ignored the range and would send the whole image) is refused: `rangeIgnored`. `416` is
 *   `rangeNotSatisfiable`, other codes `httpStatus`. Chunked transfer coding is refused.
 * - Body bytes go to `onBody(view)` as they arrive; the view is only valid during the call.
 *   More body than announced is `bodyTooLong`; a socket that ends early is `truncated`
 *   (`connectFailed` if not even the status line came); no byte for `timeoutMs` is `timeout`.
 * - With `minBytesPerSecond` > 0: fewer than minBytesPerSecond * rateWindowMs / 1000 bytes
 *   (head and body) in any `rateWindowMs` window since the request was sent is `tooSlow`, so a
 *   server that drips a byte now and then cannot hold the request open.
 * - The response head must fit `headBuffer` (caller-owned, allocated once): `headerTooLong`.
 * - `close()` stops everything without calling `onEnd`; safe to call more than once.
 */
import type { TCP, TCPConstructor, Timers, TimerId, TLSSocketConstructor } from '../host';

export type HttpReason =
  | 'badUrl'
  | 'noTls'
  | 'connectFailed'
  | 'timeout'
  | 'truncated'
  | 'rangeIgnored'
  | 'rangeNotSatisfiable'
  | 'httpStatus'
  | 'badResponse'
  | 'badContentRange'
  | 'badContentLength'
  | 'chunkedRefused'
  | 'headerTooLong'
  | 'bodyTooLong'
  | 'tooSlow';

/** Reasons that a retry may fix; the others mean the server is not fit to serve an image. */
export function isTransient(reason: HttpReason): boolean {
  return reason === 'connectFailed' || reason === 'timeout' || reason === 'truncated' || reason === 'tooSlow';
}

export interface HttpTarget {
  secure: boolean;
  host: string;
  port: number;
  /** Path and query, starting with "/". */
  path: string;
}

export type RangeResult = { ok: true } | { ok: false; reason: HttpReason; status?: number };

/** Parses "http[s]://host[:port][/path]"; undefined when malformed (no userinfo, no fragment). */
export function parseUrl(url: string): HttpTarget | undefined {
  let secure: boolean;
  let rest: string;
  if (url.startsWith('http://')) {
    secure = false;
    rest = url.slice(7);
  } else if (url.startsWith('https://')) {
    secure = true;
    rest = url.slice(8);
  } else return undefined;
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '/' : rest.slice(slash);
  if (authority.length === 0 || authority.indexOf('@') >= 0 || path.indexOf('#') >= 0) return undefined;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return undefined;
  }
  let host = authority;
  let port = secure ? 443 : 80;
  const colon = authority.lastIndexOf(':');
  if (colon >= 0 && authority.indexOf(']') < colon) {
    host = authority.slice(0, colon);
    const digits = authority.slice(colon + 1);
    if (digits.length < 1 || digits.length > 5) return undefined;
    port = 0;
    for (let i = 0; i < digits.length; i++) {
      const d = digits.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return undefined;
      port = port * 10 + d;
    }
    if (port < 1 || port > 65535) return undefined;
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.length === 0) return undefined;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const okChar = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2e || c === 0x2d || c === 0x3a;
    if (!okChar) return undefined;
  }
  return { secure, host, port, path };
}

export interface RangeGetOptions {
  TCP: TCPConstructor;
  TLSSocket?: TLSSocketConstructor;
  timers: Timers;
  target: HttpTarget;
  /** First and last byte (inclusive) wanted. */
  first: number;
  last: number;
  /** The full size the server must report in Content-Range. */
  total: number;
  timeoutMs: number;
  /** Minimum rate over each `rateWindowMs` window; 0 or absent: no minimum. */
  minBytesPerSecond?: number;
  rateWindowMs?: number;
  headBuffer: Uint8Array;
  onBody(bytes: Uint8Array): void;
  onEnd(result: RangeResult): void;
}

const CR = 13;
const LF = 10;

function toBytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Strict non-negative decimal (no sign, no spaces, at most 15 digits); -1 otherwise. */
function decimal(text: string): number {
  if (text.length < 1 || text.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

export class RangeGet {
  private socket: TCP | undefined;
  private timer: TimerId | undefined;
  private rateTimer: TimerId | undefined;
  private windowBytes = 0;
  private done = false;
  private headLength = 0;
  private inBody = false;
  private expected = 0;
  private received = 0;
  private sawAnything = false;

  constructor(private readonly o: RangeGetOptions) {
    const t = o.target;
    if (!(o.first >= 0 && o.last >= o.first && o.last < o.total)) {
      this.later({ ok: false, reason: 'badUrl' });
      return;
    }
    const Socket = t.secure ? o.TLSSocket : o.TCP;
    if (!Socket) {
      this.later({ ok: false, reason: 'noTls' });
      return;
    }
    const request =
      `GET ${t.path} HTTP/1.1\r\nHost: ${t.host}${t.port === (t.secure ? 443 : 80) ? '' : ':' + t.port}\r\n` +
      `Range: bytes=${o.first}-${o.last}\r\nAccept-Encoding: identity\r\nConnection: close\r\n` +
      `User-Agent: pipewatch-ota\r\n\r\n`;
    let sent = false;
    try {
      const options = {
        address: t.host,
        port: t.port,
        onWritable: () => {
          if (sent || this.done) return;
          sent = true;
          try {
            this.socket!.write(toBytes(request));
          } catch {
            this.finish({ ok: false, reason: 'connectFailed' });
          }
        },
        onReadable: (count: number) => this.readable(count),
        onError: () => this.ended(),
      };
      this.socket = t.secure
        ? new (Socket as TLSSocketConstructor)({ ...options, secure: { serverName: t.host } })
        : new (Socket as TCPConstructor)(options);
      this.arm();
      this.armRate();
    } catch {
      this.later({ ok: false, reason: 'connectFailed' });
    }
  }

  close(): void {
    this.done = true;
    this.stop();
  }

  private stop(): void {
    this.o.timers.clear(this.timer);
    this.timer = undefined;
    this.o.timers.clear(this.rateTimer);
    this.rateTimer = undefined;
    const s = this.socket;
    this.socket = undefined;
    if (s) {
      try {
        s.close();
      } catch {
        // closing a socket the host already tore down
      }
    }
  }

  private later(result: RangeResult): void {
    this.timer = this.o.timers.set(() => this.finish(result), 0);
  }

  private arm(): void {
    this.o.timers.clear(this.timer);
    this.timer = this.o.timers.set(() => this.finish({ ok: false, reason: 'timeout' }), this.o.timeoutMs);
  }

  /** One rate window: at least minBytesPerSecond * rateWindowMs / 1000 bytes, or `tooSlow`. */
  private armRate(): void {
    const rate = this.o.minBytesPerSecond ?? 0;
    const windowMs = this.o.rateWindowMs ?? 30_000;
    if (!(rate > 0) || !(windowMs > 0)) return;
    this.windowBytes = 0;
    this.rateTimer = this.o.timers.set(() => {
      this.rateTimer = undefined;
      if (this.done) return;
      if (this.windowBytes < (rate * windowMs) / 1000) this.finish({ ok: false, reason: 'tooSlow' });
      else this.armRate();
    }, windowMs);
  }

  private finish(result: RangeResult): void {
    if (this.done) return;
    this.done = true;
    this.stop();
    this.o.onEnd(result);
  }

  private ended(): void {
    if (this.done) return;
    if (this.inBody && this.received === this.expected) this.finish({ ok: true });
    else this.finish({ ok: false, reason: this.sawAnything ? 'truncated' : 'connectFailed' });
  }

  private readable(count: number): void {
    if (this.done || !this.socket) return;
    const buffer = this.socket.read(count);
    if (!buffer || buffer.byteLength === 0) return;
    this.sawAnything = true;
    this.windowBytes += buffer.byteLength;
    this.arm();
    const bytes = new Uint8Array(buffer);
    let i = 0;
    if (!this.inBody) {
      const head = this.o.headBuffer;
      for (; i < bytes.length && !this.inBody; i++) {
        if (this.headLength >= head.length) {
          this.finish({ ok: false, reason: 'headerTooLong' });
          return;
        }
        head[this.headLength++] = bytes[i]!;
        const n = this.headLength;
        if (n >= 4 && head[n - 4] === CR && head[n - 3] === LF && head[n - 2] === CR && head[n - 1] === LF) {
          const verdict = this.parseHead();
          if (!verdict.ok) {
            this.finish(verdict);
            return;
          }
          this.inBody = true;
        }
      }
    }
    if (this.inBody && i < bytes.length) this.body(bytes.subarray(i));
  }

  private body(bytes: Uint8Array): void {
    const room = this.expected - this.received;
    if (bytes.length > room) {
      this.finish({ ok: false, reason: 'bodyTooLong' });
      return;
    }
    this.received += bytes.length;
    this.o.onBody(bytes);
    if (!this.done && this.received === this.expected) this.finish({ ok: true });
  }

  private parseHead(): RangeResult {
    let text = '';
    const head = this.o.headBuffer;
    for (let i = 0; i < this.headLength - 4; i++) text += String.fromCharCode(head[i]!);
    const lines = text.split('\r\n');
    const status = lines[0]!;
    if (!(status.startsWith('HTTP/1.1 ') || status.startsWith('HTTP/1.0 ')) || status.length < 12 || (status.length > 12 && status[12] !== ' ')) {
      return { ok: false, reason: 'badResponse' };
    }
    const code = decimal(status.slice(9, 12));
    if (code === 200) return { ok: false, reason: 'rangeIgnored', status: code };
    if (code === 416) return { ok: false, reason: 'rangeNotSatisfiable', status: code };
    if (code !== 206) return { ok: false, reason: 'httpStatus', status: code };
    let contentRange: string | undefined;
    let contentLength: string | undefined;
    for (let l = 1; l < lines.length; l++) {
      const line = lines[l]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return { ok: false, reason: 'badResponse' };
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-range') {
        if (contentRange !== undefined) return { ok: false, reason: 'badContentRange' };
        contentRange = value;
      } else if (name === 'content-length') {
        if (contentLength !== undefined) return { ok: false, reason: 'badContentLength' };
        contentLength = value;
      } else if (name === 'transfer-encoding') return { ok: false, reason: 'chunkedRefused' };
    }
    const o = this.o;
    const wanted = `bytes ${o.first}-${o.last}/${o.total}`;
    if (contentRange !== wanted) return { ok: false, reason: 'badContentRange' };
    if (contentLength === undefined || decimal(contentLength) !== o.last - o.first + 1) {
      return { ok: false, reason: 'badContentLength' };
    }
    this.expected = o.last - o.first + 1;
    return { ok: true };
  }
}
