/*
 * A test rig for the uplink, portable (Node and XS): a fake host with a manual clock and timers,
 * a fake TCP class whose every socket is driven by a scripted broker, and a strict parser of
 * what the client sends (so the tests check the bytes, not just the calls).
 */
import type { Bytes, DNS, Host, TCP, TCPOptions } from '../../firmware/host';
import { Xoshiro128 } from '../../firmware/util/prng';

export interface SentPacket {
  type: number;
  flags: number;
  body: Uint8Array;
  /** PUBLISH/SUBSCRIBE: packet id (0 for QoS 0). */
  id: number;
  topic: string;
  payload: Uint8Array;
  bytes: Uint8Array;
}

function text(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}
export { text as bytesToText };

/** Parses complete packets out of `bytes` (strictly: throws on anything malformed). */
export function parsePackets(bytes: Uint8Array): SentPacket[] {
  const out: SentPacket[] = [];
  let p = 0;
  while (p < bytes.length) {
    const first = bytes[p]!;
    let remaining = 0;
    let mul = 1;
    let q = p + 1;
    for (;;) {
      const byte = bytes[q++]!;
      remaining += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) break;
      if (q - p > 4) throw new Error('bad remaining length');
    }
    if (q + remaining > bytes.length) throw new Error('truncated packet');
    const body = bytes.subarray(q, q + remaining);
    const type = first >> 4;
    const flags = first & 15;
    const packet: SentPacket = { type, flags, body, id: 0, topic: '', payload: new Uint8Array(0), bytes: bytes.subarray(p, q + remaining) };
    if (type === 3) {
      const tl = (body[0]! << 8) | body[1]!;
      packet.topic = text(body.subarray(2, 2 + tl));
      let r = 2 + tl;
      if ((flags >> 1) & 3) {
        packet.id = (body[r]! << 8) | body[r + 1]!;
        r += 2;
      }
      packet.payload = body.subarray(r);
    } else if (type === 8) {
      packet.id = (body[0]! << 8) | body[1]!;
      const tl = (body[2]! << 8) | body[3]!;
      packet.topic = text(body.subarray(4, 4 + tl));
    }
    out.push(packet);
    p = q + remaining;
  }
  return out;
}

export interface FakeSocket {
  options: TCPOptions;
  secure: unknown;
  sent: number[];
  inbox: number[];
  open: boolean;
  /** Bytes the firmware sent, as parsed packets, since the socket opened. */
  packets(): SentPacket[];
  /** Delivers bytes from the "broker" (onReadable). */
  deliver(bytes: ArrayLike<number>): void;
  /** The peer fails the socket (onError). */
  fail(): void;
}

export class Rig {
  now = 0;
  readonly timers = new Map<number, { due: number; repeat: number; callback: () => void; order: number }>();
  #nextTimer = 1;
  #order = 0;
  readonly sockets: FakeSocket[] = [];
  /** Called for each new socket once the "connection" is up (after `connectDelayMs`). */
  onSocket: ((socket: FakeSocket) => void) | undefined;
  /** Called after every write, with the new packets. */
  onPackets: ((socket: FakeSocket, packets: SentPacket[]) => void) | undefined;
  refuse = false;
  connectDelayMs = 5;
  readonly dnsAnswers = new Map<string, string | Error>();
  dnsQueries: string[] = [];
  readonly host: Host;

  constructor(seed = 1, options: { dns?: boolean } = {}) {
    const rig = this;
    const random = new Xoshiro128(seed);
    class FakeTCP implements TCP {
      readonly #s: FakeSocket;
      #pending: number[] = [];
      constructor(o: TCPOptions & { secure?: unknown }) {
        const socket: FakeSocket = {
          options: o,
          secure: o.secure,
          sent: [],
          inbox: [],
          open: true,
          packets: () => parsePackets(new Uint8Array(socket.sent)),
          deliver: (bytes) => {
            if (!socket.open) return;
            for (let i = 0; i < bytes.length; i++) socket.inbox.push(bytes[i]!);
            o.onReadable?.(socket.inbox.length);
          },
          fail: () => {
            if (socket.open) o.onError?.('reset by peer');
          },
        };
        this.#s = socket;
        rig.sockets.push(socket);
        rig.setTimer(() => {
          if (!socket.open) return;
          if (rig.refuse) o.onError?.('connection refused');
          else {
            o.onWritable?.(65536);
            rig.onSocket?.(socket);
          }
        }, rig.connectDelayMs);
      }
      read(count?: number): ArrayBuffer | undefined {
        const s = this.#s;
        if (s.inbox.length === 0) return undefined;
        const n = count === undefined ? s.inbox.length : Math.min(count, s.inbox.length);
        const out = new Uint8Array(s.inbox.splice(0, n));
        return out.buffer;
      }
      write(buffer: Bytes): void {
        const s = this.#s;
        if (!s.open) throw new Error('socket closed');
        const b = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        const before = s.sent.length;
        for (let i = 0; i < b.length; i++) s.sent.push(b[i]!);
        this.#pending = s.sent.slice(before);
        if (rig.onPackets) {
          const packets = parsePackets(new Uint8Array(this.#pending));
          // Answers arrive later, never inside the write.
          rig.setTimer(() => rig.onPackets?.(s, packets), 1);
        }
      }
      close(): void {
        this.#s.open = false;
      }
    }
    const dns: DNS = {
      resolve(name, onResolved, onError) {
        rig.dnsQueries.push(name);
        rig.setTimer(() => {
          const answer = rig.dnsAnswers.get(name);
          if (answer === undefined) onError('NXDOMAIN');
          else if (answer instanceof Error) onError(answer.message);
          else onResolved(answer);
        }, 3);
      },
    };
    this.host = {
      io: { TCP: FakeTCP, TLSSocket: FakeTCP as never },
      dns: options.dns ? dns : undefined,
      clock: { monotonic: { now: () => rig.now }, wall: { now: () => 1767225600000 + rig.now } },
      timers: {
        set: (callback, ms, repeat) => rig.setTimer(callback, ms, repeat),
        clear: (id) => {
          if (id !== undefined) rig.timers.delete(id);
        },
      },
      random: { next: () => random.next() },
      log: () => {},
      restart: () => {},
    };
  }

  setTimer(callback: () => void, ms: number, repeat = 0): number {
    const id = this.#nextTimer++;
    this.timers.set(id, { due: this.now + Math.max(0, ms), repeat, callback, order: this.#order++ });
    return id;
  }

  /** Runs timers in time order up to `now + ms`. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let nextId = -1;
      let next: { due: number; repeat: number; callback: () => void; order: number } | undefined;
      for (const [id, t] of this.timers) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.order < next.order))) {
          next = t;
          nextId = id;
        }
      }
      if (!next) break;
      this.now = Math.max(this.now, next.due);
      if (next.repeat > 0) {
        next.due += next.repeat;
        next.order = this.#order++;
      } else this.timers.delete(nextId);
      next.callback();
    }
    this.now = end;
  }

  get socket(): FakeSocket {
    return this.sockets[this.sockets.length - 1]!;
  }
}

/** Packet builders for the broker side. */
export const Broker = {
  connack: (rc = 0, sessionPresent = false) => [0x20, 2, sessionPresent ? 1 : 0, rc],
  puback: (id: number) => [0x40, 2, id >> 8, id & 0xff],
  suback: (id: number, granted = 1) => [0x90, 3, id >> 8, id & 0xff, granted],
  pingresp: () => [0xd0, 0],
  publish(topic: string, payload: string, qos: 0 | 1 | 2, id = 0): number[] {
    const t = Array.from(topic, (c) => c.charCodeAt(0));
    const p = Array.from(payload, (c) => c.charCodeAt(0));
    const body = [t.length >> 8, t.length & 0xff, ...t, ...(qos ? [id >> 8, id & 0xff] : []), ...p];
    return [0x30 | (qos << 1), body.length, ...body];
  },
  /**
   * A PUBLISH from raw topic bytes and a payload of `payloadLength` bytes of `fill`, any size
   * (remaining length encoded in 1-4 bytes); `flags` is the whole low nibble (DUP, QoS, RETAIN).
   */
  publishRaw(topic: ArrayLike<number>, payloadLength: number, flags: number, id = 0, fill = 0xa5): Uint8Array {
    const qos = (flags >> 1) & 3;
    const remaining = 2 + topic.length + (qos ? 2 : 0) + payloadLength;
    const length: number[] = [];
    let r = remaining;
    do {
      let byte = r % 128;
      r = Math.floor(r / 128);
      if (r > 0) byte |= 0x80;
      length.push(byte);
    } while (r > 0);
    const out = new Uint8Array(1 + length.length + remaining);
    out[0] = 0x30 | flags;
    out.set(length, 1);
    let p = 1 + length.length;
    out[p++] = topic.length >> 8;
    out[p++] = topic.length & 0xff;
    out.set(Array.from(topic), p);
    p += topic.length;
    if (qos) {
      out[p++] = id >> 8;
      out[p++] = id & 0xff;
    }
    out.fill(fill, p);
    return out;
  },
};

/** ASCII text as bytes (test topics). */
export function textBytes(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * A well-behaved broker for the rig: CONNACK, PUBACK for QoS 1 PUBLISH (unless `holdAcks`),
 * SUBACK, PINGRESP. Records every PUBLISH it got.
 */
export function politeBroker(rig: Rig, options: { holdAcks?: boolean; sessionPresent?: boolean } = {}) {
  const received: SentPacket[] = [];
  const held: Array<{ socket: FakeSocket; id: number }> = [];
  const state = { holdAcks: options.holdAcks ?? false, received, held };
  rig.onPackets = (socket, packets) => {
    for (const p of packets) {
      if (p.type === 1) socket.deliver(Broker.connack(0, options.sessionPresent ?? false));
      else if (p.type === 3) {
        received.push(p);
        if ((p.flags >> 1) & 3) {
          if (state.holdAcks) held.push({ socket, id: p.id });
          else socket.deliver(Broker.puback(p.id));
        }
      } else if (p.type === 8) socket.deliver(Broker.suback(p.id, 1));
      else if (p.type === 12) socket.deliver(Broker.pingresp());
    }
  };
  return {
    state,
    releaseAcks() {
      for (const h of held.splice(0)) h.socket.deliver(Broker.puback(h.id));
    },
  };
}
