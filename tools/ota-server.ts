/*
 * An HTTP/1.1 image server with strict range support, for `pipewatch ota publish` and
 * tests: 206 + Content-Range for a satisfiable single range, 416 + `Content-Range: bytes * /N`
 * otherwise, 200 without a Range header (same logic as the simulated server:
 * simulator/ota/image-server.ts `answerRange`). Binds 127.0.0.1 unless told another address
 * (`ota publish --host`, which warns about anything but loopback); the URLs carry that address.
 * `onProgress(client, sentEnd, total, path)` reports, per client address and port and path,
 * how far each response got, for the per-node progress bars of `publish`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerRange, responseHead } from '../simulator/ota/image-server';

export interface ImageServerOptions {
  images: Map<string, Uint8Array>;
  /** A concrete address (it goes into the URLs): default 127.0.0.1. */
  host?: string;
  port?: number;
  /** Test switch: answer 200 with the whole image even to range requests. */
  ignoreRange?: boolean;
  /** Test switch: the first response for each path breaks off (connection reset) after this many body bytes. */
  interruptAfterBytes?: number;
  onProgress?(client: string, sentEnd: number, total: number, path: string): void;
}

export interface ImageServer {
  port: number;
  url(path: string): string;
  requests: Array<{ path: string; range: string | undefined; status: number }>;
  close(): Promise<void>;
}

export async function startImageServer(options: ImageServerOptions): Promise<ImageServer> {
  const host = options.host ?? '127.0.0.1';
  if (host === '0.0.0.0' || host === '::') throw new Error('ota-server: give the address the nodes reach, not a wildcard');
  const requests: ImageServer['requests'] = [];
  const interrupted = new Set<string>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const image = req.method === 'GET' ? options.images.get(path) : undefined;
    const range = options.ignoreRange ? undefined : req.headers.range;
    const head = `GET ${path} HTTP/1.1\r\n` + (range !== undefined ? `Range: ${range}\r\n` : '');
    const answer = req.method === 'GET' ? answerRange(head, image?.length) : { status: 400 as const, headers: [['Content-Length', '0']] as Array<[string, string]>, first: 0, end: 0 };
    requests.push({ path, range: req.headers.range, status: answer.status });
    const socket = req.socket;
    socket.write(responseHead(answer));
    if (image && answer.end > answer.first) {
      let body = image.subarray(answer.first, answer.end);
      const cut = options.interruptAfterBytes;
      const breakOff = cut !== undefined && !interrupted.has(path) && cut < body.length;
      if (breakOff) {
        interrupted.add(path);
        body = body.subarray(0, cut);
      }
      const client = `${socket.remoteAddress}:${socket.remotePort}`;
      const chunk = 16_384;
      let at = 0;
      const pump = () => {
        while (at < body.length) {
          const n = Math.min(chunk, body.length - at);
          const more = socket.write(body.subarray(at, at + n));
          at += n;
          options.onProgress?.(client, answer.first + at, image.length, path);
          if (!more) {
            socket.once('drain', pump);
            return;
          }
        }
        if (breakOff) socket.resetAndDestroy();
        else socket.end();
      };
      pump();
    } else socket.end();
    res.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
