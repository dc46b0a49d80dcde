/*
 * Strict models of the SDK's servers the setup access point uses, on real loopback sockets (the
 * port the firmware asks for is served on a free loopback port, `portOf(80)`):
 *
 * - `http` Server (modules/network/http/http.js, `server()`): the status line must split in at
 *   least 3 parts and end in HTTP/1.1 or HTTP/1.0, else the connection gets Server.error and is
 *   closed; `transfer-encoding: chunked` request bodies are an error ("not implemented");
 *   callbacks in order — connection, status(path, method), header(name lower-cased, value) per
 *   line, headersComplete (its result String or ArrayBuffer picks the body's type), requestComplete
 *   (body) when a content-length body came, prepareResponse → {status, reason, headers (flat
 *   array), body}; the response is "HTTP/1.1 <status> <reason>", always "connection: close", the
 *   headers, and "content-length" counted as http.js counts it: a string body's `.length` (UTF-16
 *   units), an ArrayBuffer's byteLength; then responseComplete and the socket closes.
 * - `dns/server` (modules/network/dns/dnsserver.js): UDP; parses the first question's name,
 *   answers only type A (1), only when the callback returns an address: the question copied, QR
 *   set, ANCOUNT = QDCOUNT, one answer (pointer 0xC00C, type A, class IN, ttl 60, 4 bytes).
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Esp32Device } from './device';

const REASONS: Record<number, string> = { 200: 'OK', 302: 'Found', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 503: 'Service Unavailable' };

export function serverModels(device: Esp32Device, networkUp: () => boolean) {
  const ports = new Map<number, number>();
  const listening: Array<{ close(): void }> = [];
  const stats = { httpRequests: 0, httpErrors: 0, dnsQuestions: 0, dnsAnswers: 0 };
  let ready: Promise<void> = Promise.resolve();
  device.onHalt(() => {
    for (const l of [...listening]) l.close();
  });

  type Callback = (this: Record<string, unknown>, message: number, value?: unknown, etc?: unknown) => unknown;

  class Server {
    static readonly connection = 1;
    static readonly status = 2;
    static readonly header = 3;
    static readonly headersComplete = 4;
    static readonly requestFragment = 5;
    static readonly requestComplete = 6;
    static readonly prepareResponse = 8;
    static readonly responseFragment = 9;
    static readonly responseComplete = 10;
    static readonly error = -1;
    callback: Callback | undefined;
    #net: NetServer | undefined;
    readonly #port: number;

    constructor(dictionary: Record<string, unknown> = {}) {
      if (!networkUp()) throw new Error('model: listener before the network stack is up (lwIP not initialised)');
      this.#port = dictionary.port === undefined ? 80 : Number(dictionary.port);
      if (ports.has(this.#port)) throw new Error('model: port already listening');
      const net = createServer((socket) => this.#accept(socket));
      this.#net = net;
      ready = new Promise((resolve) => net.listen(0, '127.0.0.1', () => {
        ports.set(this.#port, (net.address() as { port: number }).port);
        resolve();
      }));
      listening.push(this);
    }

    #accept(socket: Socket): void {
      if (device.halted) return void socket.destroy();
      const request: Record<string, unknown> = { server: this };
      const call = (message: number, value?: unknown, etc?: unknown): unknown => {
        let result: unknown;
        device.callback(() => {
          result = this.callback?.call(request, message, value, etc);
        });
        return result;
      };
      call(Server.connection);
      let buffer = Buffer.alloc(0);
      let headersDone = false;
      let statusSeen = false;
      let total: number | undefined;
      let bodyType: unknown;
      let failed = false;
      const fail = () => {
        failed = true;
        stats.httpErrors++;
        call(Server.error);
        socket.destroy();
      };
      const respond = () => {
        const response = call(Server.prepareResponse) as { status?: number; reason?: string; headers?: unknown[]; body?: unknown } | undefined;
        const status = response?.status ?? 200;
        const parts = [`HTTP/1.1 ${status} ${response?.reason ?? REASONS[status] ?? ''}\r\n`, 'connection: close\r\n'];
        let body: Buffer | undefined;
        if (response) {
          const headers = response.headers ?? [];
          for (let i = 0; i < headers.length; i += 2) parts.push(`${String(headers[i])}: ${String(headers[i + 1])}\r\n`);
          if (response.body === true) throw new Error('model: streamed response bodies are not modelled');
          let count = 0;
          if (typeof response.body === 'string') {
            count = response.body.length; // http.js: "utf-8 hell"
            body = Buffer.from(response.body, 'utf8');
          } else if (response.body instanceof ArrayBuffer) {
            count = response.body.byteLength;
            body = Buffer.from(response.body);
          }
          parts.push(`content-length: ${count}\r\n`);
        } else parts.push('content-length: 0\r\n');
        parts.push('\r\n');
        socket.write(parts.join(''));
        if (body) socket.write(body);
        socket.end(() => call(Server.responseComplete));
      };
      socket.on('error', () => {});
      socket.on('data', (data: Buffer) => {
        if (failed || device.halted) return;
        buffer = Buffer.concat([buffer, data]);
        while (!headersDone) {
          const nl = buffer.indexOf(0x0a);
          if (nl < 0) return;
          const line = buffer.subarray(0, nl + 1).toString('latin1');
          buffer = buffer.subarray(nl + 1);
          if (line === '\r\n') {
            headersDone = true;
            bodyType = call(Server.headersComplete);
            if (total === undefined) return respond();
            break;
          }
          if (!statusSeen) {
            const words = line.split(' ');
            if (words.length < 3) return fail();
            const protocol = words[words.length - 1]!.trim();
            if (protocol !== 'HTTP/1.1' && protocol !== 'HTTP/1.0') return fail();
            words.length -= 1;
            const method = words.shift();
            stats.httpRequests++;
            call(Server.status, words.join(' '), method);
            statusSeen = true;
          } else {
            const at = line.indexOf(':');
            const name = line.substring(0, at).trim().toLowerCase();
            const value = line.substring(at + 1).trim();
            if (name === 'content-length') {
              const length = parseInt(value, 10);
              if (length) total = length;
            }
            if (name === 'transfer-encoding' && value.toLowerCase() === 'chunked') return fail();
            call(Server.header, name, value);
          }
        }
        if (total !== undefined && buffer.length >= total) {
          const bytes = buffer.subarray(0, total);
          total = undefined;
          const body = bodyType === String ? bytes.toString('utf8') : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
          call(Server.requestComplete, body);
          respond();
        }
      });
    }

    close(): void {
      this.#net?.close();
      this.#net = undefined;
      ports.delete(this.#port);
      const i = listening.indexOf(this);
      if (i >= 0) listening.splice(i, 1);
    }
  }

  class DNSServer {
    static readonly resolve = 1;
    #udp: UdpSocket | undefined;
    readonly #port: number;
    readonly #ttl: number;

    constructor(callback: (message: number, value: string) => string | undefined, dictionary: Record<string, unknown> = {}) {
      if (!networkUp()) throw new Error('model: UDP socket before the network stack is up');
      this.#port = dictionary.port ? Number(dictionary.port) : 53;
      this.#ttl = dictionary.ttl ? Number(dictionary.ttl) : 60;
      const udp = createSocket('udp4');
      this.#udp = udp;
      ready = Promise.all([ready, new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => {
        ports.set(this.#port, udp.address().port);
        resolve();
      }))]).then(() => {});
      listening.push(this);
      udp.on('message', (request, from) => {
        if (device.halted) return;
        stats.dnsQuestions++;
        const name: string[] = [];
        let index = 12;
        for (;;) {
          let length = request[index++] ?? 0;
          if (!length) break;
          let part = '';
          while (length--) part += String.fromCharCode(request[index++] ?? 0);
          name.push(part);
        }
        const type = ((request[index] ?? 0) << 8) | (request[index + 1] ?? 0);
        if (type !== 1) return;
        let result: string | undefined;
        device.callback(() => {
          result = callback(DNSServer.resolve, name.join('.'));
        });
        if (!result) return;
        const response = Buffer.alloc(request.length + 16);
        request.copy(response);
        response[2]! |= 0x80;
        response[6] = request[4]!;
        response[7] = request[5]!;
        let i = request.length;
        for (const b of [192, 12, 0, 1, 0, 1, (this.#ttl >> 24) & 0xff, (this.#ttl >> 16) & 0xff, (this.#ttl >> 8) & 0xff, this.#ttl & 0xff, 0, 4]) response[i++] = b;
        for (const part of String(result).split('.').slice(0, 4)) response[i++] = parseInt(part, 10);
        stats.dnsAnswers++;
        udp.send(response, from.port, from.address);
      });
    }

    close(): void {
      this.#udp?.close();
      this.#udp = undefined;
      ports.delete(this.#port);
      const i = listening.indexOf(this);
      if (i >= 0) listening.splice(i, 1);
    }
  }

  return {
    Server,
    DNSServer,
    stats,
    /** The loopback port serving the device's `port`, once listening. */
    portOf: (port: number) => ports.get(port),
    listening: () => ready,
  };
}
