/*
 * Several XS workers for one run: node i runs in worker i mod k, so a fleet uses as many cores
 * as it has workers. Each worker is an XsFleet (its own xsnap-worker process, its own heap); they
 * share the scheduler, the sockets' event loop and the flash, as one XsFleet does. The firmware
 * does the same per node whatever the worker count: a node's timers, sockets and flash are its
 * own, and virtual time advances only when every worker is idle.
 */
import type { NodeStats } from '../../firmware/node';
import type { FirstRunHooks } from '../../simulator/first-run';
import type { GuestNodeConfig } from './guest';
import { XsFleet, type XsFleetOptions } from './parent';

/** Heap room reserved per node: about 1.5 times a node's live slots (docs/scale.md, "XS heap per node"). */
export const XS_RESERVE_PER_NODE = { slots: 6144, chunkBytes: 64 * 1024 };

export class XsPool {
  readonly #workers: XsFleet[];

  constructor(workers: number, options: XsFleetOptions) {
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`XsPool: workers must be a whole number from 1, got ${workers}`);
    this.#workers = Array.from({ length: workers }, () => new XsFleet(options));
  }

  get workers(): number {
    return this.#workers.length;
  }

  /** The worker process ids (for a memory reading per process). */
  get pids(): Array<number | undefined> {
    return this.#workers.map((w) => w.pid);
  }

  #of(index: number): XsFleet {
    return this.#workers[index % this.#workers.length]!;
  }

  /** Computrons over every worker (deterministic for the same run and worker count). */
  get computrons(): number {
    let sum = 0;
    for (const w of this.#workers) sum += w.computrons;
    return sum;
  }

  /** Cranks, bridge calls and computrons per event kind, summed over the workers (deterministic). */
  get counts(): { cranks: number; calls: number; computrons: { timer: number; socket: number; other: number } } {
    const sum = { cranks: 0, calls: 0, computrons: { timer: 0, socket: 0, other: 0 } };
    for (const w of this.#workers) {
      sum.cranks += w.counts.cranks;
      sum.calls += w.counts.calls;
      sum.computrons.timer += w.counts.computrons.timer;
      sum.computrons.socket += w.counts.computrons.socket;
      sum.computrons.other += w.counts.computrons.other;
    }
    return sum;
  }

  /** The longest any delivery waited for its worker, ms. */
  get queueWaitMaxMs(): number {
    return Math.max(...this.#workers.map((w) => w.queueWaitMaxMs));
  }

  get busy(): boolean {
    for (const w of this.#workers) if (w.busy) return true;
    return false;
  }

  async start(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.start()));
  }

  /**
   * Over every worker, beyond its baseline (the guest loaded, no node): `live` = live slot and
   * chunk bytes after a full collection; `reserved` = slot heaps and chunk blocks the machines
   * grew to (the meter's `allocate`: includes free space and the peak's growth).
   */
  async heapBytes(): Promise<{ live: number; reserved: number }> {
    const heaps = await Promise.all(this.#workers.map((w) => w.heap()));
    let live = 0;
    let reserved = 0;
    heaps.forEach((h, i) => {
      const base = this.#workers[i]!.baseline!;
      live += XsFleet.heapBytes(h.live, base.live);
      reserved += h.meter.allocate - base.meter.allocate;
    });
    return { live, reserved };
  }

  /**
   * Before the nodes are added: gives each worker free heap for the nodes it will run (node i
   * in worker i mod k), about 1.5 times a node's live slots each (XS_RESERVE_PER_NODE), so the engine
   * collects garbage in proportion to its live set instead of every fixed growth step.
   */
  async reserveFor(indices: number[]): Promise<void> {
    const per = new Array<number>(this.#workers.length).fill(0);
    for (const i of indices) per[i % this.#workers.length]!++;
    await Promise.all(this.#workers.map((w, k) => w.reserve(per[k]! * XS_RESERVE_PER_NODE.slots, per[k]! * XS_RESERVE_PER_NODE.chunkBytes)));
  }

  addNode(index: number, config: GuestNodeConfig): Promise<void> {
    return this.#of(index).addNode(index, config);
  }

  async stats(): Promise<NodeStats[]> {
    return (await Promise.all(this.#workers.map((w) => w.stats()))).flat();
  }

  /** Where node `index`'s first-run events go (parent.ts onFirstRun). */
  onFirstRun(index: number, hooks: FirstRunHooks): void {
    this.#of(index).onFirstRun(index, hooks);
  }

  /** Bytes from the computer to node `index`'s simulated UART. */
  serialIn(index: number, bytes: Uint8Array): void {
    this.#of(index).serialIn(index, bytes);
  }

  stopSampling(index: number): Promise<void> {
    return this.#of(index).stopSampling(index);
  }

  stopNode(index: number): Promise<void> {
    return this.#of(index).stopNode(index);
  }

  dropNode(index: number): Promise<NodeStats | undefined> {
    return this.#of(index).dropNode(index);
  }

  close(): void {
    for (const w of this.#workers) w.close();
  }
}
