/*
 * A virtual-time event loop for OTA tests and the simulator: implements the host's `Timers`
 * and monotonic clock; `run(ms)` advances time, firing due callbacks in order (ties in the
 * order they were set). Callbacks never run inside `set`. Portable (runs inside XS).
 */
import type { MonotonicClock, TimerId, Timers } from '../../firmware/host';

interface Entry {
  id: number;
  at: number;
  order: number;
  repeat: number;
  callback: () => void;
}

export class VirtualLoop implements Timers, MonotonicClock {
  private nowMs = 0;
  private nextId = 1;
  private order = 0;
  private readonly entries = new Map<number, Entry>();

  now(): number {
    return this.nowMs;
  }

  set(callback: () => void, ms: number, repeat = 0): TimerId {
    const id = this.nextId++;
    this.entries.set(id, { id, at: this.nowMs + Math.max(0, ms), order: this.order++, repeat, callback });
    return id;
  }

  clear(id: TimerId | undefined): void {
    if (id !== undefined) this.entries.delete(id);
  }

  get pending(): number {
    return this.entries.size;
  }

  /** Drops every timer (the node lost power). */
  reset(): void {
    this.entries.clear();
  }

  private next(): Entry | undefined {
    let best: Entry | undefined;
    for (const e of this.entries.values()) {
      if (!best || e.at < best.at || (e.at === best.at && e.order < best.order)) best = e;
    }
    return best;
  }

  /** Runs callbacks due within the next `ms`; stops early when `until()` turns true. */
  run(ms: number, until?: () => boolean): void {
    const end = this.nowMs + ms;
    for (;;) {
      if (until && until()) return;
      const e = this.next();
      if (!e || e.at > end) break;
      this.nowMs = Math.max(this.nowMs, e.at);
      if (e.repeat > 0) {
        e.at = this.nowMs + e.repeat;
        e.order = this.order++;
      } else this.entries.delete(e.id);
      e.callback();
    }
    this.nowMs = end;
  }
}
