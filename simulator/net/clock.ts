/*
 * Clocks for the network simulator: one small interface, a real one and a virtual one.
 *
 * `Clock` has the shape of the firmware host's monotonic clock plus timers (`firmware/host.ts`:
 * `MonotonicClock.now()`, `Timers.set/clear`), so a `VirtualClock` can serve as a simulated
 * host's clock and timers, and the fault proxy and storm model run on either clock.
 *
 * Contract (as the host's): `now()` is in ms and never goes back; `set(callback, ms, repeat)` runs
 * `callback` once after `ms` (then every `repeat` ms when given and > 0), never inside the call
 * that set it; `clear(id)` stops a timer and ignores unknown, finished or undefined ids.
 */

export type ClockTimerId = number;

export interface Clock {
  now(): number;
  set(callback: () => void, ms: number, repeat?: number): ClockTimerId;
  clear(id: ClockTimerId | undefined): void;
}

/** Wall-time clock on Node's event loop (`performance.now()` and `setTimeout`). */
export function realClock(): Clock {
  const handles = new Map<ClockTimerId, ReturnType<typeof setTimeout>>();
  let nextId = 1;
  return {
    now: () => performance.now(),
    set(callback, ms, repeat) {
      const id = nextId++;
      const delay = Math.max(0, ms);
      if (repeat !== undefined && repeat > 0) {
        handles.set(
          id,
          setTimeout(() => {
            handles.set(id, setInterval(callback, repeat));
            callback();
          }, delay),
        );
      } else {
        handles.set(
          id,
          setTimeout(() => {
            handles.delete(id);
            callback();
          }, delay),
        );
      }
      return id;
    },
    clear(id) {
      if (id === undefined) return;
      const handle = handles.get(id);
      if (handle === undefined) return;
      clearTimeout(handle);
      clearInterval(handle);
      handles.delete(id);
    },
  };
}

interface VirtualTimer {
  id: ClockTimerId;
  atMs: number;
  seq: number;
  repeatMs: number;
  callback: () => void;
}

/**
 * Virtual time: nothing happens until `advance`/`runUntil`/`runAll` is called; timers then run
 * in time order (ties in the order they were set), each seeing `now()` equal to its due time.
 * A binary heap keeps `set` and each run O(log n).
 */
export class VirtualClock implements Clock {
  #nowMs: number;
  #seq = 0;
  #nextId = 1;
  readonly #heap: VirtualTimer[] = [];
  readonly #live = new Map<ClockTimerId, VirtualTimer>();
  /** Timers run so far. */
  fired = 0;

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#live.size;
  }

  set(callback: () => void, ms: number, repeat?: number): ClockTimerId {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: VirtualTimer = {
      id: this.#nextId++,
      atMs: this.#nowMs + delay,
      seq: this.#seq++,
      repeatMs: repeat !== undefined && repeat > 0 ? repeat : 0,
      callback,
    };
    this.#live.set(timer.id, timer);
    this.#push(timer);
    return timer.id;
  }

  clear(id: ClockTimerId | undefined): void {
    if (id !== undefined) this.#live.delete(id);
  }

  /** Due time of the next live timer, or undefined. */
  nextDueMs(): number | undefined {
    this.#dropDead();
    return this.#heap[0]?.atMs;
  }

  /** Runs every timer due up to `targetMs` (inclusive), then sets the time to `targetMs`. */
  runUntil(targetMs: number): void {
    for (;;) {
      this.#dropDead();
      const head = this.#heap[0];
      if (head === undefined || head.atMs > targetMs) break;
      this.#pop();
      if (head.atMs > this.#nowMs) this.#nowMs = head.atMs;
      if (head.repeatMs > 0) {
        head.atMs += head.repeatMs;
        head.seq = this.#seq++;
        this.#push(head);
      } else {
        this.#live.delete(head.id);
      }
      this.fired++;
      head.callback();
    }
    if (targetMs > this.#nowMs) this.#nowMs = targetMs;
  }

  advance(ms: number): void {
    this.runUntil(this.#nowMs + ms);
  }

  /** Runs timers until none is left or `limitMs` is reached; returns the time it stopped at. */
  runAll(limitMs = Number.MAX_SAFE_INTEGER): number {
    for (;;) {
      const due = this.nextDueMs();
      if (due === undefined || due > limitMs) return this.#nowMs;
      this.runUntil(due);
    }
  }

  #dropDead(): void {
    while (this.#heap.length > 0) {
      const head = this.#heap[0]!;
      if (this.#live.get(head.id) === head) return;
      this.#pop();
    }
  }

  #less(a: VirtualTimer, b: VirtualTimer): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  #push(timer: VirtualTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
