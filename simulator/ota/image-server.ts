/*
 * The image server side of an OTA download, for tests and the simulator.
 *
 * `answerRange(head, image)` is the strict range logic shared with tools/ota-server.ts:
 * a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range gets 206 with Content-Range and
 * Content-Length; an unsatisfiable or malformed one 416 with `Content-Range: bytes * /size`;
 * no Range header 200 with the whole image.
 *
 * `SimImageServer` serves images by path over the simulated TCP of `simTcp()` (virtual loop,
 * 1460-byte segments, one per `segmentMs`) with fault switches: ignore ranges (200),
 * drop the connection after N body bytes, stall, slow drip (a tarpit: a few bytes now and
 * then, never silent long enough for an idle timeout), lie in Content-Range.
 * Portable (no Node APIs).
 */
import type { TCP, TCPConstructor, TCPOptions } from '../../firmware/host';
import type { VirtualLoop } from './loop';

export interface RangeAnswer {
  status: 200 | 206 | 404 | 416 | 400;
  headers: Array<[string, string]>;
  first: number;
  /** Exclusive end of the body within the image. */
  end: number;
}

/** Parses a request head (up to the blank line) and answers it for `size` bytes. */
export function answerRange(head: string, size: number | undefined): RangeAnswer {
  const lines = head.split('\r\n');
  const request = lines[0]!.split(' ');
  if (request.length !== 3 || request[0] !== 'GET' || !request[2]!.startsWith('HTTP/1.')) {
    return { status: 400, headers: [['Content-Length', '0']], first: 0, end: 0 };
  }
  if (size === undefined) return { status: 404, headers: [['Content-Length', '0']], first: 0, end: 0 };
  let range: string | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'range') range = line.slice(colon + 1).trim();
  }
  const base: Array<[string, string]> = [['Accept-Ranges', 'bytes'], ['Content-Type', 'application/octet-stream']];
  if (range === undefined) return { status: 200, headers: [...base, ['Content-Length', String(size)]], first: 0, end: size };
  const m = /^bytes=(\d*)-(\d*)$/.exec(range);
  let first = -1;
  let last = -1;
  if (m && (m[1] !== '' || m[2] !== '')) {
    if (m[1] === '') {
      const suffix = Number(m[2]);
      first = Math.max(0, size - suffix);
      last = size - 1;
      if (suffix === 0) first = -1;
    } else {
      first = Number(m[1]);
      last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (m[2] !== '' && Number(m[2]) < first) first = -1;
    }
  }
  if (first < 0 || first >= size || last < first) {
    return { status: 416, headers: [...base, ['Content-Range', `bytes */${size}`], ['Content-Length', '0']], first: 0, end: 0 };
  }
  return {
    status: 206,
    headers: [...base, ['Content-Range', `bytes ${first}-${last}/${size}`], ['Content-Length', String(last - first + 1)]],
    first,
    end: last + 1,
  };
}

const REASONS: Record<number, string> = { 200: 'OK', 206: 'Partial Content', 400: 'Bad Request', 404: 'Not Found', 416: 'Range Not Satisfiable' };

export function responseHead(answer: RangeAnswer): string {
  let head = `HTTP/1.1 ${answer.status} ${REASONS[answer.status]}\r\n`;
  for (const [name, value] of answer.headers) head += `${name}: ${value}\r\n`;
  return head + 'Connection: close\r\n\r\n';
}

export interface ImageFaults {
  /** Answer 200 with the whole image even to a range request. */
  ignoreRange?: boolean;
  /** Drop the connection once after this many body bytes in total (then serve normally). */
  dropAfterBytes?: number;
  /** Stop sending (keep the socket open) after this many body bytes. */
  stallAfterBytes?: number;
  /**
   * Tarpit: body bytes go out `bytes` at a time every `everyMs` (e.g. 1 byte every 400 ms),
   * once `afterBytes` body bytes (over all requests) went out at full speed; only for `path`
   * when given.
   */
  slowDrip?: { bytes: number; everyMs: number; afterBytes?: number; path?: string };
  /** Report this total in Content-Range instead of the real size. */
  lieTotal?: number;
  /** Refuse connections. */
  down?: boolean;
}

export class SimImageServer {
  readonly images = new Map<string, Uint8Array>();
  faults: ImageFaults = {};
  /** Ranges asked for, e.g. "0-65535" (or "none"). */
  readonly requests: string[] = [];
  bodyBytesSent = 0;

  constructor(
    readonly loop: VirtualLoop,
    readonly address = '10.0.0.2',
    readonly port = 8080,
    readonly segmentMs = 1,
  ) {}

  /** A TCPConstructor that reaches this server (and nothing else). */
  tcp(): TCPConstructor {
    const server = this;
    return class SimTcp implements TCP {
      private rx: Uint8Array[] = [];
      private request = '';
      private closed = false;
      private answered = false;
      constructor(private readonly options: TCPOptions) {
        server.loop.set(() => {
          if (this.closed) return;
          if (server.faults.down || options.address !== server.address || options.port !== server.port) {
            this.fail('connection refused');
          } else options.onWritable?.(4096);
        }, 1);
      }
      read(count?: number): ArrayBuffer | undefined {
        if (this.rx.length === 0) return undefined;
        const first = this.rx[0]!;
        const n = count === undefined ? first.length : Math.min(count, first.length);
        const out = first.slice(0, n);
        if (n === first.length) this.rx.shift();
        else this.rx[0] = first.subarray(n);
        return out.buffer;
      }
      write(buffer: ArrayBuffer | ArrayBufferView): void {
        if (this.closed) throw new Error('socket closed');
        const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        for (let i = 0; i < bytes.length; i++) this.request += String.fromCharCode(bytes[i]!);
        const end = this.request.indexOf('\r\n\r\n');
        if (end >= 0 && !this.answered) {
          this.answered = true;
          server.loop.set(() => this.answer(this.request.slice(0, end)), server.segmentMs);
        }
      }
      close(): void {
        this.closed = true;
      }
      private fail(message: string): void {
        if (this.closed) return;
        this.closed = true;
        this.options.onError?.(message);
      }
      private push(bytes: Uint8Array): void {
        if (this.closed) return;
        this.rx.push(bytes);
        this.options.onReadable?.(bytes.length);
      }
      private answer(head: string): void {
        if (this.closed) return;
        const path = head.split(' ')[1] ?? '';
        const image = server.images.get(path);
        const rangeLine = head.split('\r\n').find((l) => l.toLowerCase().startsWith('range:'));
        server.requests.push(rangeLine ? rangeLine.slice(rangeLine.indexOf('=') + 1) : 'none');
        let answer = answerRange(server.faults.ignoreRange ? head.replace(/\r\nrange:[^\r]*/i, '') : head, image?.length);
        if (server.faults.lieTotal !== undefined && answer.status === 206) {
          answer = {
            ...answer,
            headers: answer.headers.map(([n, v]) => (n === 'Content-Range' ? [n, `bytes ${answer.first}-${answer.end - 1}/${server.faults.lieTotal}`] : [n, v])),
          };
        }
        const headText = responseHead(answer);
        const headBytes = new Uint8Array(headText.length);
        for (let i = 0; i < headText.length; i++) headBytes[i] = headText.charCodeAt(i);
        this.push(headBytes);
        this.path = path;
        this.stream(image ?? new Uint8Array(0), answer.first, answer.end);
      }
      private path = '';
      private stream(image: Uint8Array, at: number, end: number): void {
        if (this.closed) return;
        if (at >= end) {
          server.loop.set(() => this.fail('closed by server'), server.segmentMs);
          return;
        }
        const f = server.faults;
        let n = Math.min(1460, end - at);
        if (f.dropAfterBytes !== undefined) {
          const room = f.dropAfterBytes - server.bodyBytesSent;
          if (room <= 0) {
            f.dropAfterBytes = undefined;
            this.fail('connection reset');
            return;
          }
          n = Math.min(n, room);
        }
        if (f.stallAfterBytes !== undefined) {
          const room = f.stallAfterBytes - server.bodyBytesSent;
          if (room <= 0) return;
          n = Math.min(n, room);
        }
        let nextMs = server.segmentMs;
        const drip = f.slowDrip;
        if (drip && (drip.path === undefined || drip.path === this.path) && server.bodyBytesSent >= (drip.afterBytes ?? 0)) {
          n = Math.min(n, drip.bytes);
          nextMs = drip.everyMs;
        }
        server.bodyBytesSent += n;
        this.push(image.slice(at, at + n));
        server.loop.set(() => this.stream(image, at + n, end), nextMs);
      }
    };
  }
}
