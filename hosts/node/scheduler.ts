/*
 * The clock and timers that Node-side hosts serve to firmware, in real or virtual time.
 *
 * Virtual time is a discrete-event clock: it jumps to the next timer only when the firmware is
 * idle and no I/O is in flight (a connect under way, a write not yet answered, a delivery into
 * the XS worker under way). While anything is in flight the virtual clock stands still, so the
 * firmware sees the same event order, and sends the same packets, for the same seed.
 *
 * One scheduler serves every node of a run: they share the clock, each has its own timers.
 */
import { performance } from 'node:perf_hooks';

interface Timer {
  id: number;
  due: number;
  order: number;
  repeat: number;
  callback: () => void;
}

/**
 * Default time a write without an answer holds virtual time: real time this process spent
 * idle, waiting for I/O (the event loop's idle time), not wall time. Long enough for a loaded
 * machine to answer (determinism), short enough for writes nobody answers (a QoS 0 publish, a
 * write into a stalled link) not to slow a run much. Fault-heavy runs may choose less.
 * Idle time, because the answer may be waiting on this very process: the embedded broker runs
 * in it, and 10,000 nodes connecting at once kept it busy for seconds, in which wall-time graces
 * ran out, the clock jumped to the nodes' CONNACK timeouts and thousands of them reconnected.
 */
const ANSWER_GRACE_MS = 1000;
/** Virtual mode, busy but nothing in flight: the longest sleep before idleCheck is asked again (a poke ends it sooner). */
const BUSY_RECHECK_MS = 50;

export class Scheduler {
  readonly virtual: boolean;
  #now = 0;
  readonly #t0 = performance.now();
  readonly #timers = new Map<number, Timer>();
  #heap: Timer[] = [];
  #nextId = 1;
  #order = 0;
  #inflight = new Map<object, number>();
  /** Writes awaiting an answer: the event loop's idle time (ms) at which each one's grace ends. */
  #answers = new Map<object, number>();
  #wake: (() => void) | undefined;
  #realTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #interrupted = false;
  /** Virtual mode: writes whose answer never came, so their grace ran out (each held virtual time that long). */
  graceExpired = 0;
  /** Virtual ms advanced by jumps (virtual mode). */
  jumps = 0;
  /**
   * Real time: the worst lateness of a timer, ms from when it was due to when it fired (the
   * event loop busy, a worker's reply awaited). Virtual time: 0 (timers fire at their instant).
   */
  timerLagMaxMs = 0;
  /** Virtual mode: times the settle slept waiting for I/O or a busy engine (each ended by an event or a recheck). */
  settleWaits = 0;

  readonly #answerGraceMs: number;
  readonly #onError: (error: unknown) => void;
  /** Timer callbacks that threw (each reported through `onError`; the timers went on). */
  callbackErrors = 0;

  /**
   * `onError`: where a timer callback that threw is reported (default: stderr). A throwing
   * callback never stops the scheduler: a repeating timer stays armed, the others still fire.
   */
  constructor(options: { virtual: boolean; answerGraceMs?: number; onError?: (error: unknown) => void }) {
    this.virtual = options.virtual;
    this.#answerGraceMs = options.answerGraceMs ?? ANSWER_GRACE_MS;
    this.#onError =
      options.onError ??
      ((error) => process.stderr.write(`pipewatch: timer callback threw: ${(error as Error)?.stack ?? String(error)}\n`));
  }

  /** Monotonic ms since the scheduler started. */
  now(): number {
    return this.virtual ? this.#now : Math.floor(performance.now() - this.#t0);
  }

  set(callback: () => void, ms: number, repeat = 0): number {
    const id = this.#nextId++;
    const timer: Timer = {
      id,
      due: this.now() + Math.max(0, ms),
      order: this.#order++,
      repeat: Math.max(0, repeat),
      callback,
    };
    this.#timers.set(id, timer);
    this.#push(timer);
    this.#armReal();
    return id;
  }

  clear(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  /** Marks `token` as having I/O in flight (virtual time holds) until `done(token)`. */
  begin(token: object, graceMs = 0): void {
    this.#inflight.set(token, graceMs > 0 ? performance.now() + graceMs : Infinity);
  }

  done(token: object): void {
    const answered = this.#answers.delete(token);
    if (this.#inflight.delete(token) || answered) this.#wake?.();
  }

  /**
   * A write that expects an answer: holds virtual time until `done(token)` or the grace ends,
   * counted in time the event loop spent idle (ANSWER_GRACE_MS).
   */
  awaitAnswer(token: object): void {
    this.#inflight.delete(token);
    this.#answers.set(token, idleMs() + this.#answerGraceMs);
  }

  /** Wakes the loop after something happened (data arrived, a delivery finished). */
  poke(): void {
    this.#wake?.();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#realTimer) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
    this.#wake?.();
  }

  /** Ends the runUntil() under way (Ctrl-C); later calls run normally. */
  interrupt(): void {
    this.#interrupted = true;
    this.#wake?.();
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Runs until the clock reaches `untilMs` (or `stop()`), or in real time until that moment.
   * `idleCheck` is consulted too: anything it reports busy holds virtual time.
   */
  async runUntil(untilMs: number, idleCheck: () => boolean = () => true): Promise<void> {
    this.#interrupted = false;
    const ended = () => this.#stopped || this.#interrupted;
    if (!this.virtual) {
      while (!ended() && this.now() < untilMs) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, Math.min(250, Math.max(1, untilMs - this.now())));
        });
        this.#wake = undefined;
      }
      return;
    }
    while (!ended()) {
      await this.#settle(idleCheck);
      if (ended()) return;
      const next = this.#peek();
      if (!next || next.due > untilMs) {
        this.#now = Math.max(this.#now, untilMs);
        return;
      }
      // Every timer due at this same instant fires before the loop settles again: one settle
      // per instant instead of one per timer, and with the XS engine a delivery per node queued
      // into each worker at once, so several workers run in parallel. Still deterministic: the
      // batch fires in (due, order) order before any I/O of it can be handled. (A node with two
      // timers at one instant now runs both before the answers to the first one's writes.)
      const batch = [this.#pop()!];
      for (let t = this.#peek(); t && t.due === next.due; t = this.#peek()) batch.push(this.#pop()!);
      for (const timer of batch) this.#fire(timer);
    }
  }

  /** Virtual mode: waits until no I/O is in flight and the event loop has nothing queued. */
  async #settle(idleCheck: () => boolean): Promise<void> {
    let quiet = 0;
    while (!this.#stopped && quiet < 2) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const t = performance.now();
      let waitMs = 0;
      for (const [token, until] of this.#inflight) {
        if (until <= t) {
          this.#inflight.delete(token);
          this.graceExpired++;
        }
        else waitMs = Math.max(waitMs, until === Infinity ? 50 : until - t);
      }
      if (this.#answers.size > 0) {
        const idle = idleMs();
        for (const [token, until] of this.#answers) {
          if (until <= idle) {
            this.#answers.delete(token);
            this.graceExpired++;
          } else waitMs = Math.max(waitMs, until - idle);
        }
      }
      if (this.#inflight.size > 0 || this.#answers.size > 0 || !idleCheck()) {
        quiet = 0;
        // Sleep until something happens: an answer (done), a delivery into an XS worker ending
        // (poke), or a grace running out. Spinning on setImmediate here instead burnt a core
        // while the workers cranked, and on a busy machine took CPU from the workers themselves.
        this.settleWaits++;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, this.#inflight.size > 0 || this.#answers.size > 0 ? Math.min(waitMs || 1, 50) : BUSY_RECHECK_MS);
        });
        this.#wake = undefined;
        continue;
      }
      quiet++;
    }
  }

  #fire(timer: Timer): void {
    if (this.#timers.get(timer.id) !== timer) return;
    if (this.virtual) this.#now = Math.max(this.#now, timer.due);
    if (timer.repeat > 0) {
      timer.due += timer.repeat;
      timer.order = this.#order++;
      this.#push(timer);
    } else {
      this.#timers.delete(timer.id);
    }
    try {
      timer.callback();
    } catch (error) {
      this.callbackErrors++;
      this.#onError(error);
    }
  }

  #armReal(): void {
    if (this.virtual || this.#stopped) return;
    if (this.#realTimer) clearTimeout(this.#realTimer);
    this.#realTimer = undefined;
    const next = this.#peek();
    if (!next) return;
    this.#realTimer = setTimeout(() => {
      this.#realTimer = undefined;
      const now = this.now();
      for (;;) {
        const t = this.#peek();
        if (!t || t.due > now) break;
        const lag = this.now() - t.due;
        if (lag > this.timerLagMaxMs) this.timerLagMaxMs = lag;
        this.#fire(this.#pop()!);
      }
      this.#armReal();
    }, Math.max(0, next.due - this.now()));
  }

  #peek(): Timer | undefined {
    // Cleared timers stay in the heap until they reach the top; drop them there.
    while (this.#heap.length > 0) {
      const top = this.#heap[0]!;
      if (this.#timers.get(top.id) === top) return top;
      this.#popRaw();
    }
    return undefined;
  }

  #pop(): Timer | undefined {
    const top = this.#peek();
    if (top) this.#popRaw();
    return top;
  }

  #push(timer: Timer): void {
    const h = this.#heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #popRaw(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l]!, h[m]!)) m = l;
        if (r < h.length && less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Ms the event loop has spent waiting for I/O since the process started. */
function idleMs(): number {
  return performance.eventLoopUtilization().idle;
}

function less(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}
