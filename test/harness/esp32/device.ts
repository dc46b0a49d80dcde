/*
 * One modelled ESP32 running the Moddable runtime: its chip, pins, clock, timers, log, and what
 * the bus and network models attach to. The module models (io.ts, net.ts, storage.ts) take a
 * device; harness.ts loads hosts/esp32/main.ts against them.
 *
 * Runtime rules modelled here:
 * - `Timer` (modules/base/timer/timer.js, modTimer.c): set/repeat/schedule/clear; the callback
 *   gets the timer; an exception out of it reaches fxAbort (modTimer.c: xs_timer_callback runs it
 *   between xsBeginHost and xsEndHost), which calls the `abort` hook (xs/platforms/esp/
 *   xsPlatform.c: fxAbort, MODDEF_XS_ABORTHOOK) and resets the chip unless the hook returns false.
 * - `Time.ticks` is milliseconds since boot as a signed 32-bit value; `Date.now()` counts from
 *   0 (1970) at power-on until `Time.set(seconds)` (modules/base/time).
 * - `trace` goes to the serial log.
 */
import { CHIPS, PinTable, RmtChannels, type Chip, type ChipName } from './chip';

export interface TimerHandle {
  callback: ((timer: TimerHandle) => void) | undefined;
  node: ReturnType<typeof setTimeout> | undefined;
  repeat: number;
}

/** The device stopped (abort without an ignoring hook, or restart). */
export class DeviceHalted extends Error {}

export class Esp32Device {
  readonly chip: Chip;
  readonly pins: PinTable;
  readonly rmt: RmtChannels;
  readonly log: string[] = [];
  /** fxAbort calls that reset the chip: `${reason}: ${message}`. */
  readonly aborts: string[] = [];
  restarts = 0;
  halted = false;
  readonly #bootAt = performance.now();
  /** Wall clock offset: Date.now() = wallBaseMs + ms since boot; 0 at power-on (RTC not set). */
  #wallBaseMs = 0;
  readonly #timers = new Set<TimerHandle>();
  readonly #onHalt: Array<() => void> = [];
  /** The build's resources and data (name → bytes), e.g. `ca.ski`, `ca109.der`. */
  readonly resources = new Map<string, Uint8Array>();
  /** The application's global object (its `abort` hook lives there). */
  global: Record<string, unknown> = {};

  constructor(chip: ChipName) {
    this.chip = CHIPS[chip];
    this.pins = new PinTable(this.chip);
    this.rmt = new RmtChannels(this.chip);
  }

  /** ms since boot (the monotonic base of every model). */
  uptime(): number {
    return performance.now() - this.#bootAt;
  }

  ticks(): number {
    return Math.floor(this.uptime()) | 0;
  }

  wallNow(): number {
    return Math.floor(this.#wallBaseMs + this.uptime());
  }

  /** Time.set(seconds since 1970). */
  setTime(seconds: number): void {
    this.#wallBaseMs = seconds * 1000 - this.uptime();
  }

  trace(text: string): void {
    this.log.push(text.endsWith('\n') ? text.slice(0, -1) : text);
  }

  onHalt(callback: () => void): void {
    this.#onHalt.push(callback);
  }

  /** fxAbort: the hook may return false to carry on; otherwise the chip resets (the model halts). */
  abort(reason: string, exception: unknown): void {
    const hook = this.global.abort;
    if (typeof hook === 'function') {
      let result: unknown;
      try {
        result = hook.call(this.global, reason, exception);
      } catch {
        result = undefined;
      }
      if (result === false) return;
    }
    const message = exception instanceof Error ? exception.message : String(exception);
    this.aborts.push(`${reason}: ${message}`);
    this.halt();
  }

  restart(): void {
    this.restarts++;
    this.halt();
  }

  halt(): void {
    if (this.halted) return;
    this.halted = true;
    for (const timer of this.#timers) this.#cancel(timer);
    this.#timers.clear();
    for (const callback of this.#onHalt) callback();
  }

  /** Runs `fn` as the runtime runs a host callback: an exception aborts (see `abort`). */
  callback(fn: () => void): void {
    if (this.halted) return;
    try {
      fn();
    } catch (error) {
      this.abort('unhandled exception', error);
    }
  }

  /** Runs `fn` later on the event loop as a host callback. */
  later(fn: () => void, ms = 0): void {
    if (this.halted) return;
    setTimeout(() => this.callback(fn), ms);
  }

  /** The `timer` module's classes (modules/base/timer/timer.js). */
  timerModule(): unknown {
    const device = this;
    const arm = (timer: TimerHandle, ms: number): void => {
      timer.node = setTimeout(() => {
        timer.node = undefined;
        if (device.halted || !timer.callback) return;
        const callback = timer.callback;
        if (timer.repeat > 0) arm(timer, timer.repeat);
        else {
          timer.callback = undefined;
          device.#timers.delete(timer);
        }
        device.callback(() => callback(timer));
      }, Math.max(0, ms));
    };
    const check = (callback: unknown, ms: unknown): void => {
      if (typeof callback !== 'function') throw new TypeError('timer: callback is not a function');
      if (ms !== undefined && typeof ms !== 'number') throw new TypeError('timer: delay is not a number');
    };
    return class Timer {
      static set(callback: (timer: TimerHandle) => void, ms = 0, repeat = 0): TimerHandle {
        check(callback, ms);
        const timer: TimerHandle = { callback, node: undefined, repeat: repeat > 0 ? repeat : 0 };
        device.#timers.add(timer);
        arm(timer, ms);
        return timer;
      }
      static repeat(callback: (timer: TimerHandle) => void, ms: number): TimerHandle {
        return Timer.set(callback, ms, ms);
      }
      static schedule(timer: TimerHandle, ms: number, repeat = 0): void {
        if (!timer || !device.#timers.has(timer)) throw new Error('timer: schedule of a cleared timer');
        if (timer.node) clearTimeout(timer.node);
        timer.repeat = repeat > 0 ? repeat : 0;
        arm(timer, ms);
      }
      static clear(timer: TimerHandle | undefined): void {
        if (!timer) return;
        device.#cancel(timer);
        device.#timers.delete(timer);
      }
    };
  }

  #cancel(timer: TimerHandle): void {
    if (timer.node) clearTimeout(timer.node);
    timer.node = undefined;
    timer.callback = undefined;
  }

  /** Timers armed and not yet cleared or fired. */
  get liveTimers(): number {
    return this.#timers.size;
  }

  /** The `time` module (modules/base/time). */
  timeModule(): unknown {
    const device = this;
    return class Time {
      static get ticks(): number {
        return device.ticks();
      }
      static set(seconds: number): void {
        if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError('Time.set: seconds');
        device.setTime(seconds);
      }
    };
  }

  /** A `Date` whose now() is the device's RTC (0 at power-on). */
  dateClass(): DateConstructor {
    const device = this;
    class DeviceDate extends Date {
      static override now(): number {
        return device.wallNow();
      }
    }
    return DeviceDate as unknown as DateConstructor;
  }
}
