/*
 * The ECMA-419 UDP socket (firmware/host.ts `UDP`) on Node's `dgram`, for the Node host, with the
 * lwIP version's rules (modules/io/socket/lwip/udp.c): an integer port 0..65535, writes to a
 * dotted IPv4 literal only, datagrams read one at a time with the sender's address and port.
 * `redirect` maps a destination ("224.0.0.251:5353") to another (a loopback advertiser in the
 * simulator and tests, where Linux's `lo` carries no multicast); the answers then come from
 * there; with a redirect the socket listens on loopback only. Virtual time: a write holds the scheduler until the first datagram back, or the
 * scheduler's answer grace.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Bytes, UDP, UDPConstructor, UDPDatagram, UDPOptions } from '../../firmware/host';
import type { Scheduler } from './scheduler';

export interface UdpRoute {
  address: string;
  port: number;
}

/** Datagrams waiting per socket before later ones are dropped (lwIP holds what pbufs it has; a bound here). */
const MAX_WAITING = 16;

function dotted(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** `onOpen` receives each new socket's power cut (a simulated reboot closes it at once). */
export function udpClass(
  scheduler: Scheduler,
  redirect: ReadonlyMap<string, UdpRoute> = new Map(),
  onOpen?: (socket: { abort(): void }) => void,
): UDPConstructor {
  return class NodeUdp implements UDP {
    readonly #socket: Socket;
    readonly #waiting: UDPDatagram[] = [];
    #open = true;

    constructor(options: UDPOptions) {
      const port = options?.port ?? 0;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('invalid port');
      const onReadable = options?.onReadable;
      this.#socket = createSocket('udp4');
      this.#socket.on('error', () => {});
      this.#socket.on('message', (message, from) => {
        scheduler.done(this);
        if (!this.#open || this.#waiting.length >= MAX_WAITING) return;
        const datagram = message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength) as UDPDatagram;
        datagram.address = from.address;
        datagram.port = from.port;
        this.#waiting.push(datagram);
        onReadable?.call(this, this.#waiting.length);
      });
      // With a redirect every datagram goes to loopback (the simulator, tests): listen there only.
      this.#socket.bind(port, redirect.size > 0 ? '127.0.0.1' : undefined);
      onOpen?.({ abort: () => this.close() });
    }

    read(): UDPDatagram | undefined {
      return this.#waiting.shift();
    }

    write(buffer: Bytes, address: string, port: number): void {
      if (!this.#open) throw new Error('closed');
      if (typeof address !== 'string' || !dotted(address)) throw new RangeError('invalid IP address');
      const route = redirect.get(`${address}:${port}`) ?? { address, port };
      const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      scheduler.awaitAnswer(this);
      this.#socket.send(Buffer.from(bytes), route.port, route.address);
    }

    close(): void {
      if (!this.#open) return;
      this.#open = false;
      scheduler.done(this);
      this.#waiting.length = 0;
      this.#socket.close();
    }
  };
}
