/*
 * The XS host, guest side: runs inside the XS engine (xsnap-worker), builds a `Host` for each
 * node from the bridge to the Node parent (timers, sockets, flash, log, restart) and from the
 * simulated board inside the engine (sensors), and starts the firmware.
 *
 * XS globals used: issueCommand (synchronous call to the parent), handleCommand (entry for the
 * parent's events), TextEncoder/TextDecoder, gc.
 */
import type { Bytes, Flash, FlashStatus, Host, LogLevel, TCP, TCPOptions, TLSOptions, UDP, UDPDatagram, UDPOptions, Update, UpdateProvider } from '../../firmware/host';
import { PipewatchNode, type NodeConfig } from '../../firmware/node';
import { encodeSecure } from '../../firmware/uplink/secure-wire';
import { Xoshiro128 } from '../../firmware/util/prng';
import { createBoard, type SimBoard } from '../../simulator/board';
import { PipeEnv, type WorldOptions } from '../../simulator/world';
import { PlantEnv, type NodePlant } from '../../simulator/plant/env';
import { createSimPower, guardSockets } from '../../simulator/power-host';
import { startFirstRun, type FirstRun, type FirstRunConfig } from '../../simulator/first-run';
import { EVENT_HEADER, Event, FLASH_HEADER, FLASH_OK, FlashOp, OP_HEADER, Op, writeHeader } from './protocol';


export interface GuestNodeConfig extends NodeConfig {
  nodeIndex: number;
  seed: number;
  world: WorldOptions;
  /** The node senses this share of a plant (simulator/plant/env.ts) instead of the world. */
  plant?: NodePlant;
  /** Flash partitions the parent serves for this node. */
  flashPartitions?: string[];
  /** The parent serves an UpdateProvider (simulated bootloader) for this node. */
  update?: boolean;
  /** Boot count and reset reason the simulated chip reports (Host.system). */
  system?: { bootCount?: number; resetReason?: string };
  /** Simulator test marker of the booted image (simulator/ota/sim-node.ts): 'sensor' = parts do not answer. */
  simFault?: 'broker' | 'sensor';
  /** A simulated radio and sleep control (Host.power, simulator/power-host.ts) for the duty-cycle modes. */
  radio?: { joinMs: number };
  /** Powers on unprovisioned: Improv on a simulated UART first, the node once provisioned. */
  firstRun?: FirstRunConfig;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];

interface GuestNode {
  node: PipewatchNode | undefined;
  firstRun?: FirstRun;
  timers: Map<number, { callback: () => void; repeat: boolean }>;
  sockets: Map<number, GuestSocket>;
  udp: Map<number, GuestUdp>;
}

let now = 0;
let wall = -1;
let nextId = 1;
const nodes = new Map<number, GuestNode>();

function call(op: number, node: number, id: number, payload?: Uint8Array, extra = 0): Uint8Array {
  const frame = new Uint8Array(OP_HEADER + extra + (payload ? payload.length : 0));
  writeHeader(frame, op, node, id);
  if (payload) frame.set(payload, OP_HEADER + extra);
  return new Uint8Array(issueCommand(frame.buffer));
}

function bytesOf(b: Bytes): Uint8Array {
  return b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

class GuestSocket implements TCP {
  readonly #node: number;
  readonly #id: number;
  readonly #options: TCPOptions;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #open = true;

  constructor(node: number, options: TCPOptions & { secure?: TLSOptions['secure'] }) {
    this.#node = node;
    this.#id = nextId++;
    this.#options = options;
    const address = encoder.encode(options.address);
    // TLS options (CA, client certificate) follow the address after a 0 byte.
    const secure = options.secure ? encodeSecure(options.secure) : undefined;
    const payload = new Uint8Array(3 + address.length + (secure ? 1 + secure.length : 0));
    payload[0] = options.port >> 8;
    payload[1] = options.port & 0xff;
    payload[2] = secure ? 1 : 0;
    payload.set(address, 3);
    if (secure) payload.set(secure, 4 + address.length);
    const reply = call(Op.tcpOpen, node, this.#id, payload);
    if (reply.length) throw new Error(decoder.decode(reply));
    nodes.get(node)!.sockets.set(this.#id, this);
  }

  onWritable(count: number): void {
    if (this.#open) this.#options.onWritable?.call(this, count);
  }

  onData(bytes: Uint8Array): void {
    if (!this.#open) return;
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
    this.#options.onReadable?.call(this, this.#buffered);
  }

  onError(message: string): void {
    if (this.#open) this.#options.onError?.call(this, message);
  }

  read(count?: number): ArrayBuffer | undefined {
    if (this.#buffered === 0) return undefined;
    const want = count === undefined ? this.#buffered : Math.min(count, this.#buffered);
    const out = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const head = this.#chunks[0]!;
      const n = Math.min(head.length, want - filled);
      out.set(n === head.length ? head : head.subarray(0, n), filled);
      filled += n;
      if (n === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(n);
    }
    this.#buffered -= want;
    return out.buffer;
  }

  write(buffer: Bytes): void {
    if (!this.#open) throw new Error('socket closed');
    const reply = call(Op.tcpWrite, this.#node, this.#id, bytesOf(buffer));
    if (reply.length) throw new Error(decoder.decode(reply));
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    nodes.get(this.#node)?.sockets.delete(this.#id);
    call(Op.tcpClose, this.#node, this.#id);
  }
}

/** A UDP socket served by the parent (hosts/node/udp.ts there, with lwIP's rules): the mDNS broker search. */
class GuestUdp implements UDP {
  readonly #node: number;
  readonly #id: number;
  readonly #options: UDPOptions;
  readonly #waiting: UDPDatagram[] = [];
  #open = true;

  constructor(node: number, options: UDPOptions) {
    this.#node = node;
    this.#id = nextId++;
    this.#options = options ?? {};
    const port = this.#options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('invalid port');
    const reply = call(Op.udpOpen, node, this.#id, Uint8Array.of(port >> 8, port & 0xff));
    if (reply.length) throw new Error(decoder.decode(reply));
    nodes.get(node)!.udp.set(this.#id, this);
  }

  onData(payload: Uint8Array): void {
    if (!this.#open) return;
    const length = payload[2]!;
    const datagram = payload.slice(3 + length).buffer as UDPDatagram;
    datagram.port = (payload[0]! << 8) | payload[1]!;
    datagram.address = decoder.decode(payload.subarray(3, 3 + length));
    this.#waiting.push(datagram);
    this.#options.onReadable?.call(this, this.#waiting.length);
  }

  read(): UDPDatagram | undefined {
    return this.#waiting.shift();
  }

  write(buffer: Bytes, address: string, port: number): void {
    if (!this.#open) throw new Error('closed');
    const to = encoder.encode(String(address));
    const bytes = bytesOf(buffer);
    const payload = new Uint8Array(3 + to.length + bytes.length);
    payload[0] = port >> 8;
    payload[1] = port & 0xff;
    payload[2] = to.length;
    payload.set(to, 3);
    payload.set(bytes, 3 + to.length);
    const reply = call(Op.udpWrite, this.#node, this.#id, payload);
    if (reply.length) throw new Error(decoder.decode(reply));
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    nodes.get(this.#node)?.udp.delete(this.#id);
    call(Op.udpClose, this.#node, this.#id);
  }
}

/** A flash partition served by the parent (so it outlives the node and can be file-backed). */
class GuestFlash implements Flash {
  readonly #node: number;
  readonly #path: Uint8Array;
  readonly #status: FlashStatus;

  constructor(node: number, path: string) {
    this.#node = node;
    this.#path = encoder.encode(path);
    const reply = this.#request(FlashOp.status, 0, 0);
    const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    this.#status = {
      blockLength: view.getUint32(0),
      blocks: view.getUint32(4),
      writeAlign: view.getUint32(8),
      eraseValue: view.getUint8(12),
    };
  }

  #request(op: number, a: number, b: number, data?: Uint8Array): Uint8Array {
    const path = this.#path;
    const payload = new Uint8Array(FLASH_HEADER + path.length + (data ? data.length : 0));
    const view = new DataView(payload.buffer);
    view.setUint8(0, op);
    view.setUint32(1, a);
    view.setUint32(5, b);
    view.setUint8(9, path.length);
    payload.set(path, FLASH_HEADER);
    if (data) payload.set(data, FLASH_HEADER + path.length);
    const reply = call(Op.flash, this.#node, 0, payload);
    if (reply[0] !== FLASH_OK) {
      const [code, message] = decoder.decode(reply.subarray(1)).split('\u0000');
      const error = new Error(message) as Error & { code?: string };
      if (code) error.code = code;
      throw error;
    }
    return reply.subarray(1);
  }

  read(target: any, byteOffset: number): any {
    const length = typeof target === 'number' ? target : target.byteLength;
    const bytes = this.#request(FlashOp.read, byteOffset, length);
    if (typeof target === 'number') return bytes.slice().buffer;
    bytesOf(target).set(bytes);
  }

  write(buffer: Bytes, byteOffset: number): void {
    this.#request(FlashOp.write, byteOffset, 0, bytesOf(buffer));
  }

  eraseBlock(block: number): void {
    this.#request(FlashOp.erase, block, 0);
  }

  status(): FlashStatus {
    return this.#status;
  }

  close(): void {}
}

/** The parent's UpdateProvider over the bridge; errors come back as thrown Errors. */
function updateCall(node: number, op: number, payload?: Uint8Array): Uint8Array {
  const reply = call(op, node, 0, payload);
  if (reply[0] !== 0) throw new Error(decoder.decode(reply.subarray(1)));
  return reply.subarray(1);
}

function guestUpdate(node: number): UpdateProvider {
  const number = new Float64Array(1);
  return {
    running() {
      return JSON.parse(decoder.decode(updateCall(node, Op.updateRunning)));
    },
    confirm() {
      updateCall(node, Op.updateConfirm);
    },
    open(options?: { byteLength?: number }): Update {
      number[0] = options?.byteLength ?? -1;
      updateCall(node, Op.updateOpen, new Uint8Array(number.buffer).slice());
      return {
        write(buffer: Bytes, byteOffset?: number) {
          const bytes = bytesOf(buffer);
          const payload = new Uint8Array(8 + bytes.length);
          new DataView(payload.buffer).setFloat64(0, byteOffset ?? -1);
          payload.set(bytes, 8);
          updateCall(node, Op.updateWrite, payload);
        },
        complete() {
          updateCall(node, Op.updateComplete);
        },
        cancel() {
          updateCall(node, Op.updateCancel);
        },
      };
    },
  };
}

function createHost(index: number, config: GuestNodeConfig, board: SimBoard): Host {
  const state = nodes.get(index)!;
  const random = new Xoshiro128(config.seed);
  class TCPSocket extends GuestSocket {
    constructor(options: TCPOptions) {
      super(index, options);
    }
  }
  class UDPSocket extends GuestUdp {
    constructor(options: UDPOptions) {
      super(index, options);
    }
  }
  const partitions = config.flashPartitions ?? [];
  const timing = new Float64Array(2);
  const host: Host = {
    io: { ...board.io, TCP: TCPSocket, TLSSocket: TCPSocket as any, UDP: UDPSocket },
    flash: partitions.length
      ? {
          open: ({ path }) => {
            if (!partitions.includes(path)) throw new Error(`no flash partition "${path}"`);
            return new GuestFlash(index, path);
          },
        }
      : undefined,
    update: config.update ? guestUpdate(index) : undefined,
    system: config.system,
    clock: {
      monotonic: { now: () => now },
      wall: { now: () => (wall < 0 ? undefined : wall) },
    },
    timers: {
      set(callback, ms, repeat) {
        const id = nextId++;
        state.timers.set(id, { callback, repeat: (repeat ?? 0) > 0 });
        timing[0] = ms;
        timing[1] = repeat ?? 0;
        call(Op.timerSet, index, id, new Uint8Array(timing.buffer));
        return id;
      },
      clear(id) {
        if (id === undefined || !state.timers.delete(id)) return;
        call(Op.timerClear, index, id);
      },
    },
    random: { next: () => random.next() },
    log(level, message) {
      logFor(index, level, message);
    },
    restart() {
      call(Op.restart, index, 0);
    },
  };
  if (config.radio) {
    const simPower = createSimPower(host.timers, config.radio.joinMs);
    host.power = simPower;
    host.io = { ...host.io, ...guardSockets(host.io, simPower) };
  }
  return host;
}

function logFor(index: number, level: LogLevel, message: string): void {
  const text = encoder.encode(message);
  const payload = new Uint8Array(1 + text.length);
  payload[0] = levels.indexOf(level);
  payload.set(text, 1);
  call(Op.log, index, 0, payload);
}

const empty = new ArrayBuffer(0);

/** Starts node `index`'s firmware (power-on, or once its first run is provisioned). */
function bootNode(index: number, config: GuestNodeConfig): void {
  const plantEnv = config.plant ? PlantEnv.of(() => now, config.plant) : undefined;
  const board = createBoard(
    config.sensors,
    (position) => plantEnv ?? new PipeEnv(() => now, config.world.seed, config.nodeIndex, position, config.world),
    config.seed,
  );
  // Simulator test marker: the image's sensor "driver" fails, i.e. no part answers.
  const io = config.simFault === 'sensor' ? createBoard([], () => undefined as never, config.seed) : board;
  const node = new PipewatchNode(createHost(index, config, io), { ...config, sensors: board.sensors });
  nodes.get(index)!.node = node;
  node.start();
}

(globalThis as any).handleCommand = (buffer: ArrayBuffer): ArrayBuffer => {
  const frame = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const event = view.getUint8(0);
  const index = view.getUint16(1);
  const id = view.getUint32(3);
  now = view.getFloat64(7);
  wall = view.getFloat64(15);
  const payload = frame.subarray(EVENT_HEADER);
  const state = nodes.get(index);
  switch (event) {
    case Event.timer: {
      const timer = state?.timers.get(id);
      if (!timer) break;
      if (!timer.repeat) state!.timers.delete(id);
      // A callback that throws is reported in the node's log; the parent keeps the timer armed.
      try {
        timer.callback();
      } catch (error) {
        logFor(index, 'error', `timer callback threw: ${(error as Error)?.stack ?? String(error)}`);
      }
      break;
    }
    case Event.tcpWritable:
    case Event.tcpData:
    case Event.tcpError: {
      const socket = state?.sockets.get(id);
      if (!socket) break;
      // Same as timers: a socket callback that throws is logged, never thrown into the parent.
      try {
        if (event === Event.tcpWritable) socket.onWritable(new DataView(payload.buffer, payload.byteOffset).getUint32(0));
        else if (event === Event.tcpData) socket.onData(payload.slice());
        else socket.onError(decoder.decode(payload));
      } catch (error) {
        logFor(index, 'error', `socket callback threw: ${(error as Error)?.stack ?? String(error)}`);
      }
      break;
    }
    case Event.udpData:
      try {
        state?.udp.get(id)?.onData(payload);
      } catch (error) {
        logFor(index, 'error', `UDP callback threw: ${(error as Error)?.stack ?? String(error)}`);
      }
      break;
    case Event.serialIn:
      try {
        state?.firstRun?.receive(payload.slice());
      } catch (error) {
        logFor(index, 'error', `serial delivery threw: ${(error as Error)?.message ?? String(error)}`);
      }
      break;
    case Event.createNode: {
      const config = JSON.parse(decoder.decode(payload)) as GuestNodeConfig;
      nodes.set(index, { node: undefined, timers: new Map(), sockets: new Map(), udp: new Map() });
      if (config.firstRun) {
        const { firstRun, ...rest } = config;
        const host = createHost(index, rest, createBoard([], () => undefined as never, config.seed));
        nodes.get(index)!.firstRun = startFirstRun(host, firstRun, {
          onSerialOut: (bytes) => void call(Op.serialOut, index, 0, bytes),
          onJoin: () => void call(Op.firstRunJoin, index, 0),
          onProvisioned: (ssid) => {
            call(Op.firstRunProvisioned, index, 0, encoder.encode(ssid));
            bootNode(index, rest);
          },
        });
        break;
      }
      bootNode(index, config);
      break;
    }

    case Event.stats: {
      const all = [...nodes.values()].map((n) => n.node?.stats());
      return encoder.encode(JSON.stringify(all)).buffer as ArrayBuffer;
    }
    case Event.stopSampling:
      state?.node?.stopSampling();
      break;
    case Event.stopNode:
      state?.node?.stop();
      nodes.delete(index);
      break;
    case Event.dropNode: {
      const last = state?.node?.stats();
      nodes.delete(index);
      return encoder.encode(JSON.stringify(last ?? null)).buffer as ArrayBuffer;
    }
    case Event.measure:
      gc();
      break;
    case Event.reserve: {
      // XS grows its heap by a fixed step (xsnap: 128 Ki slots, 4 MiB of chunks) only when a
      // collection leaves less than that free, so with a large fleet it collects every step's
      // worth of allocation, each time marking and sweeping the whole fleet's heap: a cost that
      // grows with the square of the node count. Allocating the room once and dropping it keeps
      // it (XS never returns heap), so collections come in proportion to the live set. Not
      // observable by the firmware: it does the same with more free room.
      const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const slots = v.getUint32(0);
      const bytes = v.getUint32(4);
      let chain: unknown = null;
      for (let i = 0; i < slots; i += 3) chain = { next: chain, a: 0 };
      let blocks: unknown = null;
      for (let i = 0; i < bytes; i += 4096) blocks = { next: blocks, b: new ArrayBuffer(4096) };
      chain = blocks = null;
      gc();
      break;
    }
  }
  return empty;
};
