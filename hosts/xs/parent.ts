/*
 * The XS host, parent side: one xsnap-worker runs the firmware of every node of a run (see
 * guest.ts); this process serves their timers (real or virtual scheduler), sockets (node:net),
 * flash partitions and log, and delivers events back into the engine one crank at a time.
 */
import { fileURLToPath } from 'node:url';
import type { Flash, LogLevel, UDP, UDPConstructor, Update, UpdateProvider } from '../../firmware/host';
import type { NodeStats } from '../../firmware/node';
import { decodeSecure } from '../../firmware/uplink/secure-wire';
import type { Scheduler } from '../node/scheduler';
import { NodeSocket } from '../node/tcp';
import { udpClass, type UdpRoute } from '../node/udp';
import { bundleForXs } from './bundle';
import type { GuestNodeConfig } from './guest';
import type { FirstRunHooks } from '../../simulator/first-run';
import { EVENT_HEADER, Event, FLASH_HEADER, FLASH_OK, FlashOp, OP_HEADER, Op, writeHeader } from './protocol';
import { XsWorker, type LiveHeap, type Meter } from './worker';

const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface XsFleetOptions {
  scheduler: Scheduler;
  /** Wall clock for the firmware (ms since epoch), or undefined while unsynced. */
  wallNow: () => number | undefined;
  log?: (node: number, level: LogLevel, message: string) => void;
  /** Opens flash partition `path` of node `index` (served from this process). */
  flash?: (index: number, path: string) => Flash;
  onRestart?: (index: number) => void;
  /** The UpdateProvider of node `index` (its simulated bootloader), if it has one. */
  update?: (index: number) => UpdateProvider | undefined;
  /** Where the nodes' datagrams to a destination go instead (hosts/node/udp.ts; "224.0.0.251:5353" → a loopback mDNS advertiser). */
  udpRedirect?: ReadonlyMap<string, UdpRoute>;
}

export class XsFleet {
  readonly #o: XsFleetOptions;
  readonly #worker: XsWorker;
  readonly #timers = new Map<string, number>();
  readonly #sockets = new Map<number, NodeSocket>();
  readonly #socketNode = new Map<number, number>();
  readonly #udp = new Map<number, { node: number; socket: UDP }>();
  #UDP: UDPConstructor | undefined;
  readonly #targets = new Map<number, Update>();
  readonly #flash = new Map<string, Flash>();
  readonly #firstRuns = new Map<number, FirstRunHooks>();
  #deliveries = 0;
  /** Deterministic cost counters: cranks (deliveries into XS) and computrons per event kind, bridge calls from XS. */
  readonly counts = { cranks: 0, calls: 0, computrons: { timer: 0, socket: 0, other: 0 } };
  /** The live heap and meter once the guest is loaded and no node runs (see heapBytes). */
  baseline: { live: LiveHeap; meter: Meter } | undefined;

  constructor(options: XsFleetOptions) {
    this.#o = options;
    this.#worker = new XsWorker();
    this.#worker.onCommand = (frame) => this.#onCommand(frame);
  }

  get pid(): number | undefined {
    return this.#worker.pid;
  }

  /** Computrons spent in the engine so far (deterministic for the same run). */
  get computrons(): number {
    return this.#worker.computrons;
  }

  /** The longest a delivery waited for the engine, ms (see XsWorker.queueWaitMaxMs). */
  get queueWaitMaxMs(): number {
    return this.#worker.queueWaitMaxMs;
  }

  /** True while a delivery into the engine is queued or running. */
  get busy(): boolean {
    return this.#deliveries > 0;
  }

  async start(): Promise<void> {
    const code = await bundleForXs({ entry: fileURLToPath(new URL('./guest.ts', import.meta.url)) });
    await this.#worker.evaluate(code);
    this.baseline = await this.heap();
  }

  /**
   * What the engine holds: `live` = live slots and chunks after a full collection (from a
   * snapshot, worker.ts liveHeap), `meter.allocate` = slot heaps and chunk blocks the machine has
   * reserved (XS grows them in 4 MiB steps and never gives them back).
   */
  async heap(): Promise<{ live: LiveHeap; meter: Meter }> {
    const { meter } = await this.#deliver(Event.measure, 0, 0);
    return { live: await this.#worker.liveHeap(), meter };
  }

  /** Live heap bytes (slots + chunks, after GC) beyond the baseline. */
  static heapBytes(now: LiveHeap, baseline: LiveHeap): number {
    return now.slotBytes - baseline.slotBytes + (now.chunkBytes - baseline.chunkBytes);
  }

  /** Grows the engine's heap by free room for `slots` slots and `chunkBytes` of chunks (guest.ts Event.reserve). */
  async reserve(slots: number, chunkBytes: number): Promise<void> {
    const payload = new Uint8Array(8);
    const view = new DataView(payload.buffer);
    view.setUint32(0, Math.min(0xffffffff, Math.max(0, Math.round(slots))));
    view.setUint32(4, Math.min(0xffffffff, Math.max(0, Math.round(chunkBytes))));
    await this.#deliver(Event.reserve, 0, 0, payload);
  }

  async addNode(index: number, config: GuestNodeConfig): Promise<void> {
    await this.#deliver(Event.createNode, index, 0, encoder.encode(JSON.stringify(config)));
  }

  /** Where node `index`'s first-run events go (GuestNodeConfig.firstRun). */
  onFirstRun(index: number, hooks: FirstRunHooks): void {
    this.#firstRuns.set(index, hooks);
  }

  /** Bytes from the computer to node `index`'s simulated UART. */
  serialIn(index: number, bytes: Uint8Array): void {
    this.#post(Event.serialIn, index, 0, bytes);
  }

  async stats(): Promise<NodeStats[]> {
    const { result } = await this.#deliver(Event.stats, 0, 0);
    return (JSON.parse(decoder.decode(result)) as (NodeStats | null)[]).filter((s): s is NodeStats => !!s);
  }

  async stopSampling(index: number): Promise<void> {
    await this.#deliver(Event.stopSampling, index, 0);
  }

  async stopNode(index: number): Promise<void> {
    await this.#deliver(Event.stopNode, index, 0);
  }

  /**
   * Power cut for node `index` (a simulated reboot): its timers are cleared and its sockets
   * reset at once (no DISCONNECT), an open update target is dropped, and the engine forgets it.
   */
  async dropNode(index: number): Promise<NodeStats | undefined> {
    const prefix = `${index}:`;
    for (const [key, handle] of this.#timers) {
      if (!key.startsWith(prefix)) continue;
      this.#o.scheduler.clear(handle);
      this.#timers.delete(key);
    }
    for (const [id, node] of this.#socketNode) {
      if (node !== index) continue;
      this.#sockets.get(id)?.abort();
      this.#sockets.delete(id);
      this.#socketNode.delete(id);
    }
    for (const [id, udp] of this.#udp) {
      if (udp.node !== index) continue;
      udp.socket.close();
      this.#udp.delete(id);
    }
    this.#targets.delete(index);
    const { result } = await this.#deliver(Event.dropNode, index, 0);
    return (JSON.parse(decoder.decode(result)) as NodeStats | null) ?? undefined;
  }

  close(): void {
    for (const socket of this.#sockets.values()) socket.close();
    this.#sockets.clear();
    for (const udp of this.#udp.values()) udp.socket.close();
    this.#udp.clear();
    this.#worker.close();
  }

  #deliver(event: number, node: number, id: number, payload?: Uint8Array) {
    const frame = new Uint8Array(EVENT_HEADER + (payload ? payload.length : 0));
    const view = writeHeader(frame, event, node, id);
    view.setFloat64(7, this.#o.scheduler.now());
    view.setFloat64(15, this.#o.wallNow() ?? -1);
    if (payload) frame.set(payload, EVENT_HEADER);
    this.#deliveries++;
    this.counts.cranks++;
    const kind = event === Event.timer ? 'timer' : event <= Event.tcpError ? 'socket' : 'other';
    return this.#worker.deliver(frame).then((result) => {
      this.counts.computrons[kind] += result.meter.compute;
      return result;
    }).finally(() => {
      this.#deliveries--;
      this.#o.scheduler.poke();
    });
  }

  #post(event: number, node: number, id: number, payload?: Uint8Array): void {
    this.#deliver(event, node, id, payload).catch((error: Error) => {
      process.stderr.write(`pipewatch: firmware error in XS (node ${node}): ${error.message}\n`);
    });
  }

  #onCommand(frame: Uint8Array): Uint8Array {
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const op = view.getUint8(0);
    this.counts.calls++;
    const node = view.getUint16(1);
    const id = view.getUint32(3);
    const payload = frame.subarray(OP_HEADER);
    const none = new Uint8Array(0);
    switch (op) {
      case Op.timerSet: {
        const times = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
        const timing = [times.getFloat64(0, true), times.getFloat64(8, true)];
        const key = `${node}:${id}`;
        const handle = this.#o.scheduler.set(
          () => {
            if (!timing[1]) this.#timers.delete(key);
            this.#post(Event.timer, node, id);
          },
          timing[0]!,
          timing[1]!,
        );
        this.#timers.set(key, handle);
        return none;
      }
      case Op.timerClear: {
        const key = `${node}:${id}`;
        this.#o.scheduler.clear(this.#timers.get(key));
        this.#timers.delete(key);
        return none;
      }
      case Op.tcpOpen: {
        const port = (payload[0]! << 8) | payload[1]!;
        const rest = payload.subarray(3);
        const zero = rest.indexOf(0);
        const address = decoder.decode(zero < 0 ? rest : rest.subarray(0, zero));
        const secure = payload[2] === 1 ? decodeSecure(rest.subarray(zero + 1)) : undefined;
        try {
          const socket = new NodeSocket(
            this.#o.scheduler,
            { address, port, nodelay: true, secure },
            {
              onWritable: (count) => {
                const bytes = new Uint8Array(4);
                new DataView(bytes.buffer).setUint32(0, count);
                this.#post(Event.tcpWritable, node, id, bytes);
              },
              onReadable: () => {
                const data = socket.read();
                if (data) this.#post(Event.tcpData, node, id, data);
              },
              onError: (message) => this.#post(Event.tcpError, node, id, encoder.encode(message)),
            },
          );
          this.#sockets.set(id, socket);
          this.#socketNode.set(id, node);
          return none;
        } catch (error) {
          return encoder.encode((error as Error).message);
        }
      }
      case Op.tcpWrite: {
        const socket = this.#sockets.get(id);
        if (!socket) return encoder.encode('socket closed');
        try {
          socket.write(Buffer.from(payload));
          return none;
        } catch (error) {
          return encoder.encode((error as Error).message);
        }
      }
      case Op.udpOpen: {
        this.#UDP ??= udpClass(this.#o.scheduler, this.#o.udpRedirect);
        try {
          const socket: UDP = new this.#UDP({
            port: (payload[0]! << 8) | payload[1]!,
            onReadable: () => {
              for (let d = socket.read(); d; d = socket.read()) {
                const address = encoder.encode(d.address);
                const out = new Uint8Array(3 + address.length + d.byteLength);
                out[0] = d.port >> 8;
                out[1] = d.port & 0xff;
                out[2] = address.length;
                out.set(address, 3);
                out.set(new Uint8Array(d), 3 + address.length);
                this.#post(Event.udpData, node, id, out);
              }
            },
          });
          this.#udp.set(id, { node, socket });
          return none;
        } catch (error) {
          return encoder.encode((error as Error).message);
        }
      }
      case Op.udpWrite: {
        const udp = this.#udp.get(id);
        if (!udp) return encoder.encode('closed');
        try {
          const length = payload[2]!;
          udp.socket.write(payload.subarray(3 + length), decoder.decode(payload.subarray(3, 3 + length)), (payload[0]! << 8) | payload[1]!);
          return none;
        } catch (error) {
          return encoder.encode((error as Error).message);
        }
      }
      case Op.udpClose:
        this.#udp.get(id)?.socket.close();
        this.#udp.delete(id);
        return none;
      case Op.tcpClose:
        this.#sockets.get(id)?.close();
        this.#sockets.delete(id);
        this.#socketNode.delete(id);
        return none;
      case Op.log:
        this.#o.log?.(node, levels[payload[0]!] ?? 'info', decoder.decode(payload.subarray(1)));
        return none;
      case Op.restart:
        this.#o.onRestart?.(node);
        return none;
      case Op.serialOut:
        this.#firstRuns.get(node)?.onSerialOut(payload.slice());
        return none;
      case Op.firstRunJoin:
        this.#firstRuns.get(node)?.onJoin();
        return none;
      case Op.firstRunProvisioned:
        this.#firstRuns.get(node)?.onProvisioned(decoder.decode(payload));
        return none;
      case Op.flash:
        return this.#flashRequest(node, payload);
      case Op.updateRunning:
      case Op.updateConfirm:
      case Op.updateOpen:
      case Op.updateWrite:
      case Op.updateComplete:
      case Op.updateCancel:
        return this.#updateRequest(op, node, payload);
      default:
        return encoder.encode(`unknown op ${op}`);
    }
  }

  #updateRequest(op: number, node: number, payload: Uint8Array): Uint8Array {
    try {
      const provider = this.#o.update?.(node);
      if (!provider) throw new Error('this host has no update target');
      let result: Uint8Array = new Uint8Array(0);
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      switch (op) {
        case Op.updateRunning:
          result = encoder.encode(JSON.stringify(provider.running()));
          break;
        case Op.updateConfirm:
          provider.confirm();
          break;
        case Op.updateOpen: {
          const byteLength = view.getFloat64(0, true);
          this.#targets.set(node, provider.open(byteLength < 0 ? undefined : { byteLength }));
          break;
        }
        default: {
          const target = this.#targets.get(node);
          if (!target) throw new Error('E_OTA_CLOSED: no update target is open');
          if (op === Op.updateWrite) {
            const at = view.getFloat64(0);
            target.write(payload.slice(8), at < 0 ? undefined : at);
          } else if (op === Op.updateComplete) {
            this.#targets.delete(node);
            target.complete();
          } else {
            this.#targets.delete(node);
            target.cancel();
          }
        }
      }
      const out = new Uint8Array(1 + result.length);
      out.set(result, 1);
      return out;
    } catch (error) {
      const text = encoder.encode((error as Error).message);
      const out = new Uint8Array(1 + text.length);
      out[0] = 1;
      out.set(text, 1);
      return out;
    }
  }

  #flashRequest(node: number, payload: Uint8Array): Uint8Array {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const op = view.getUint8(0);
    const a = view.getUint32(1);
    const b = view.getUint32(5);
    const pathLength = view.getUint8(9);
    const path = decoder.decode(payload.subarray(FLASH_HEADER, FLASH_HEADER + pathLength));
    const data = payload.subarray(FLASH_HEADER + pathLength);
    try {
      const key = `${node}:${path}`;
      let flash = this.#flash.get(key);
      if (!flash) {
        if (!this.#o.flash) throw new Error('no flash on this host');
        flash = this.#o.flash(node, path);
        this.#flash.set(key, flash);
      }
      switch (op) {
        case FlashOp.status: {
          const st = flash.status();
          const out = new Uint8Array(14);
          const v = new DataView(out.buffer);
          v.setUint8(0, FLASH_OK);
          v.setUint32(1, st.blockLength);
          v.setUint32(5, st.blocks);
          v.setUint32(9, st.writeAlign);
          v.setUint8(13, st.eraseValue);
          return out;
        }
        case FlashOp.read: {
          const out = new Uint8Array(1 + b);
          flash.read(out.subarray(1), a);
          return out;
        }
        case FlashOp.write:
          flash.write(data, a);
          return new Uint8Array([FLASH_OK]);
        case FlashOp.erase:
          flash.eraseBlock(a);
          return new Uint8Array([FLASH_OK]);
        default:
          throw new Error(`unknown flash op ${op}`);
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const text = encoder.encode(`${code}\u0000${(error as Error).message}`);
      const out = new Uint8Array(1 + text.length);
      out[0] = 1;
      out.set(text, 1);
      return out;
    }
  }
}
