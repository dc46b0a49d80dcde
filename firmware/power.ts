/*
 * Duty-cycle modes (NodeConfig.power; docs/energy.md):
 *
 * - `always-connected` (default; mains): Wi-Fi and MQTT stay up, every stored reading goes out at
 *   once. Today's behaviour; this module then only keeps the energy counters.
 * - `light-sleep`: stays associated and connected, the chip in automatic light sleep (DTIM power
 *   save) between exchanges; readings are stored and go out in batches once per report window;
 *   an alert goes out at once.
 * - `wake-cycle`: the radio is off and the chip in deep sleep between samples; every
 *   `reportIntervalMs` a report window opens: radio on, join, connect, drain the cache in batches,
 *   stay `listenMs` for commands and OTA offers, disconnect, radio off. A sample that raises an
 *   alert opens a window at once. Before each deep sleep the detector's state, the report filter,
 *   the window schedule and the energy counters go to the host's retained memory (RTC memory);
 *   on the wake after it they are restored (the sequence lives in the flash cache). A window
 *   that cannot reach the broker within `maxWindowMs` closes: the readings stay in flash.
 *   Failed windows in a row back off (full jitter, `firmware/uplink/backoff.ts`): the next window
 *   is due one interval later plus a random delay under min(`maxBackoffMs`, interval × 2^n), so a
 *   long outage does not hold the radio on for `maxWindowMs` at every interval. The first window
 *   that reaches the broker resets it. An alert still opens a window at once, except that during
 *   an outage (after a failed window) alert windows open at most once per `alertRetryMs`; while an
 *   alert is not delivered, the next window is due within `alertRetryMs`.
 *   A retained block that does not check out (CRC, layout) is counted (`restoreFailures`, in the
 *   stats and the heartbeat) and the node starts clean, as after a power-on; the readings are in
 *   the flash cache, not in the retained block, so none is lost.
 *
 * Fixed memory: the retained image is written into the host's buffer (or one allocated here
 * once); nothing allocates per sample.
 */
import type { Host } from './host';
import { Crc32 } from './cache/crc32';
import { createBackoff, nextBackoff, type BackoffState } from './uplink/backoff';
import { EnergyCounter, EnergyMeter, type LinkCounts } from './energy';

export type PowerMode = 'always-connected' | 'light-sleep' | 'wake-cycle';
export const POWER_MODES: readonly PowerMode[] = Object.freeze(['always-connected', 'light-sleep', 'wake-cycle'] as PowerMode[]);

export interface PowerConfig {
  mode?: PowerMode;
  /** Time between report windows, ms (default 5 min; 1 s .. 24 h). */
  reportIntervalMs?: number;
  /** Wake-cycle: time connected after the drain, for commands and OTA offers, ms (default 1.5 s). */
  listenMs?: number;
  /** Wake-cycle: longest window, ms (default 60 s); then the radio goes off, readings stay stored. */
  maxWindowMs?: number;
  /** Wake-cycle: cap of the extra delay after failed windows, ms (default 1 h; 0: no backoff, a window every interval). */
  maxBackoffMs?: number;
  /** Wake-cycle, during an outage: an alert opens at most one window per this time, ms (default 5 min). */
  alertRetryMs?: number;
}

/** What the power manager drives in the node. */
export interface PowerHooks {
  /** Connects (the uplink starts) / disconnects cleanly (the uplink stops). */
  connect(): void;
  disconnect(): void;
  /** Publishes what is stored (the uplink pumps). */
  flush(): void;
  /** Nothing is waiting: the store is empty, nothing in flight, no OTA under way. */
  idle(): boolean;
  connected(): boolean;
  link(): LinkCounts;
  /** Time until the sampling timer fires next, ms. */
  untilNextSampleMs(): number;
  /** Forgets the node's volatile state (detector, report filter): a clean start after an unusable retained block. */
  resetState(): void;
  /** Writes / restores the node's volatile state (detector, report filter) at `offset`; `stateBytes` long. */
  stateBytes: number;
  saveState(view: DataView, offset: number): void;
  restoreState(view: DataView, offset: number): boolean;
}

const MAGIC = 0x32525750; // "PWR2"
/** Header: magic, length, CRC-32 of the rest, then the manager's own fields. */
const HEADER = 12;
/** Next window, save time, backoff attempts, failed windows in a row, last alert window, alert undelivered, restore failures. */
const OWN = 56;

export class PowerManager {
  readonly mode: PowerMode;
  readonly reportIntervalMs: number;
  readonly listenMs: number;
  readonly maxWindowMs: number;
  readonly maxBackoffMs: number;
  readonly alertRetryMs: number;
  readonly energy: EnergyMeter;
  readonly #host: Host;
  #hooks: PowerHooks | undefined;
  readonly #retained: Uint8Array;
  readonly #crc = new Crc32();
  #view: DataView | undefined;
  #nextWindowAt = 0;
  #windowOpen = false;
  #windowAt = 0;
  #connectedAt = -1;
  #poll: number | undefined;
  #windowTimer: number | undefined;
  /** Deep sleep under way (simulated hosts return from it): the next sample wakes. */
  #asleep = false;
  #draining = false;
  /** Full-jitter backoff of the windows after failed ones (undefined: maxBackoffMs 0). */
  readonly #backoff: BackoffState | undefined;
  /** Windows in a row that did not reach the broker. */
  #failedInRow = 0;
  /** When an alert last opened a window (-Infinity: never), and whether an alert is not delivered yet. */
  #alertWindowAt = -Infinity;
  #alertPending = false;
  /** Wakes whose retained state could not be used (another layout, corrupt, too small): counted, the node started clean. */
  restoreFailures = 0;
  /** True when this boot resumed from a deep sleep (retained state restored). */
  resumed = false;

  /** Throws RangeError on a bad option (the node falls back to always-connected). */
  constructor(host: Host, config: PowerConfig = {}) {
    const mode = config.mode ?? 'always-connected';
    if (!POWER_MODES.includes(mode)) throw new RangeError(`power.mode must be one of ${POWER_MODES.join(', ')}, got "${String(mode)}"`);
    this.mode = mode;
    this.reportIntervalMs = range(config.reportIntervalMs, 'power.reportIntervalMs', 1000, 86_400_000, 300_000);
    this.listenMs = range(config.listenMs, 'power.listenMs', 0, 600_000, 1500);
    this.maxWindowMs = range(config.maxWindowMs, 'power.maxWindowMs', 5000, 3_600_000, 60_000);
    this.maxBackoffMs = range(config.maxBackoffMs, 'power.maxBackoffMs', 0, 86_400_000, 3_600_000);
    this.alertRetryMs = range(config.alertRetryMs, 'power.alertRetryMs', 10_000, 86_400_000, 300_000);
    this.#backoff = this.maxBackoffMs > 0
      ? createBackoff({ baseMs: Math.min(Math.round(this.reportIntervalMs), this.maxBackoffMs), capMs: this.maxBackoffMs })
      : undefined;
    this.#host = host;
    this.#retained = host.power?.retained ?? new Uint8Array(mode === 'wake-cycle' ? 4096 : 0);
    this.energy = new EnergyMeter(mode, host.clock.monotonic.now());
  }

  get windowOpen(): boolean {
    return this.#windowOpen;
  }

  /** Wake-cycle: report windows in a row that did not reach the broker (0 once one did). */
  get failedWindowsInRow(): number {
    return this.#failedInRow;
  }

  /** Wake-cycle: when the next report window is due (monotonic ms). */
  get nextWindowAt(): number {
    return this.#nextWindowAt;
  }

  /** True when readings go out only in report windows (not at once). */
  get batching(): boolean {
    return this.mode !== 'always-connected';
  }

  /**
   * At node start. Always-connected and light-sleep: the radio is on from boot (the host joins),
   * and the uplink starts. Wake-cycle: after a timer wake, restores the retained state; the first
   * window opens at once after a power-on, else when it is due.
   */
  start(hooks: PowerHooks): void {
    this.#hooks = hooks;
    const now = this.#host.clock.monotonic.now();
    if (this.mode !== 'wake-cycle') {
      this.energy.radioOn(now);
      const power = this.#host.power;
      if (power && this.mode === 'light-sleep') power.radioOn(() => hooks.connect());
      else hooks.connect();
      if (this.mode === 'light-sleep') {
        this.#host.power?.autoLightSleep?.(true);
        this.#windowTimer = this.#host.timers.set(() => this.#lightWindow(), this.reportIntervalMs, this.reportIntervalMs);
      }
      return;
    }
    if (this.#host.power?.wakeCause() === 'timer') {
      // Counted after the restore (it brings the counters back).
      const restored = this.#restore();
      this.energy.add(EnergyCounter.deepWakes);
      if (restored) {
        this.resumed = true;
        return;
      }
      this.#restoreFailed();
    }
    this.#openWindow(false);
  }

  stop(): void {
    this.#host.timers.clear(this.#poll);
    this.#host.timers.clear(this.#windowTimer);
    this.#poll = undefined;
    this.#windowTimer = undefined;
    this.#windowOpen = false;
    if (this.mode === 'wake-cycle') this.#host.power?.radioOff();
    this.energy.radioOff(this.#host.clock.monotonic.now());
  }

  /**
   * Before a sample: a node that slept (deep) wakes now. Its RAM is treated as lost: the
   * volatile state comes back from the retained memory.
   */
  beforeSample(): void {
    if (!this.#asleep) return;
    this.#asleep = false;
    // Counted after the restore (it brings the counters back).
    const restored = this.#restore();
    this.energy.add(EnergyCounter.deepWakes);
    if (restored) return;
    this.#restoreFailed();
    // As after a power-on: a window at this sample (it also reports the error).
    this.#nextWindowAt = this.#host.clock.monotonic.now();
  }

  /** The retained block is unusable: counted and logged; the node goes on from a clean state (the readings are in flash). */
  #restoreFailed(): void {
    this.restoreFailures++;
    this.#hooks!.resetState();
    this.#failedInRow = 0;
    this.#alertWindowAt = -Infinity;
    this.#alertPending = false;
    if (this.#backoff) this.#backoff.attempts = 0;
    this.#host.log('error', `power: the state retained over deep sleep does not check out (${this.restoreFailures} so far); starting clean, the stored readings are kept`);
  }

  /**
   * Sampling stopped (the end of a simulated run, a shutdown): a batching node opens a window
   * now and keeps it open until everything stored is delivered (no `maxWindowMs` limit).
   */
  drain(): void {
    if (!this.#hooks || !this.batching) return;
    this.#draining = true;
    if (this.#asleep) this.beforeSample();
    if (this.mode === 'light-sleep') this.#lightExchange(false);
    else if (!this.#windowOpen) this.#openWindow(false);
  }

  /**
   * After a sample's readings were stored. `alert`: one of them raised an alert. Light-sleep
   * pushes an alert out at once; wake-cycle opens a window for it, or when one is due, and
   * otherwise goes back to deep sleep until the next sample (`untilNextMs`).
   */
  afterSample(alert: boolean, untilNextMs: number): void {
    const hooks = this.#hooks;
    if (!hooks || this.mode === 'always-connected') return;
    if (this.mode === 'light-sleep') {
      if (alert) this.#lightExchange(true);
      return;
    }
    const now = this.#host.clock.monotonic.now();
    if (this.#windowOpen) {
      hooks.flush();
      return;
    }
    if (alert) {
      this.#alertPending = true;
      // During an outage an alert forces the radio on at most once per alertRetryMs; else the window is due by then.
      if (this.#failedInRow === 0 || now - this.#alertWindowAt >= this.alertRetryMs) {
        this.#openWindow(true);
        return;
      }
      this.#nextWindowAt = Math.min(this.#nextWindowAt, this.#alertWindowAt + this.alertRetryMs);
    }
    if (now >= this.#nextWindowAt) {
      this.#openWindow(alert);
      return;
    }
    this.#sleepDeep(untilNextMs);
  }

  // Light-sleep: a window is an exchange on the open connection.
  #lightWindow(): void {
    this.#lightExchange(false);
  }

  #lightExchange(alert: boolean): void {
    this.energy.add(EnergyCounter.windows);
    if (alert) this.energy.add(EnergyCounter.alertWindows);
    if (!this.#windowOpen) {
      this.#windowOpen = true;
      this.#windowAt = this.#host.clock.monotonic.now();
    }
    this.#hooks!.flush();
    this.#armPoll();
  }

  #openWindow(alert: boolean): void {
    const hooks = this.#hooks!;
    const now = this.#host.clock.monotonic.now();
    this.energy.add(EnergyCounter.windows);
    if (alert) {
      this.energy.add(EnergyCounter.alertWindows);
      this.#alertWindowAt = now;
    }
    this.#windowOpen = true;
    this.#windowAt = now;
    this.#connectedAt = -1;
    if (!alert || this.#nextWindowAt <= now) {
      // The schedule keeps its phase: the next window is due one interval after this one was.
      this.#nextWindowAt = Math.max(this.#nextWindowAt + this.reportIntervalMs, now + 1);
      if (this.#nextWindowAt <= now) this.#nextWindowAt = now + this.reportIntervalMs;
    }
    this.energy.radioOn(now);
    const power = this.#host.power;
    const joined = () => {
      if (this.#windowOpen) hooks.connect();
    };
    if (power) power.radioOn(joined);
    else this.#host.timers.set(joined, 0);
    this.#armPoll();
  }

  #armPoll(): void {
    if (this.#poll !== undefined) return;
    this.#poll = this.#host.timers.set(() => this.#check(), 250, 250);
  }

  /** During a window: closes it once everything is delivered and the listen time passed, or when it ran too long. */
  #check(): void {
    const hooks = this.#hooks!;
    const now = this.#host.clock.monotonic.now();
    if (!this.#windowOpen) return;
    if (this.mode === 'light-sleep') {
      if (hooks.idle() || now - this.#windowAt >= this.maxWindowMs) this.#closeWindow(now);
      return;
    }
    if (hooks.connected() && this.#connectedAt < 0) this.#connectedAt = now;
    const done = this.#connectedAt >= 0 && hooks.idle() && now - this.#connectedAt >= this.listenMs;
    if (done || (!this.#draining && now - this.#windowAt >= this.maxWindowMs)) this.#closeWindow(now);
  }

  #closeWindow(now: number): void {
    this.#host.timers.clear(this.#poll);
    this.#poll = undefined;
    this.#windowOpen = false;
    this.energy.add(EnergyCounter.exchangeMs, now - this.#windowAt);
    if (this.mode === 'light-sleep') return;
    this.#afterWindow(now);
    this.#hooks!.disconnect();
    this.#host.power?.radioOff();
    this.energy.radioOff(now);
    // The node sleeps until its next sample (the sampling timer wakes it); after sampling
    // stopped, until whatever wakes it (the next power-on).
    this.#sleepDeep(this.#draining ? 0 : this.#hooks!.untilNextSampleMs());
  }

  /** Wake-cycle: a window that reached the broker resets the backoff; one that did not pushes the next window out. */
  #afterWindow(now: number): void {
    const hooks = this.#hooks!;
    if (this.#connectedAt >= 0) {
      this.#failedInRow = 0;
      if (this.#backoff) this.#backoff.attempts = 0;
      if (hooks.idle()) this.#alertPending = false;
      return;
    }
    this.#failedInRow++;
    this.energy.add(EnergyCounter.failedWindows);
    if (!this.#backoff) return;
    // Full jitter: uniform under min(cap, interval × 2^n), on top of the regular schedule.
    this.#nextWindowAt += nextBackoff(this.#backoff, this.#host.random.next());
    if (this.#alertPending) this.#nextWindowAt = Math.min(this.#nextWindowAt, this.#windowAt + this.alertRetryMs);
    if (this.#nextWindowAt <= now) this.#nextWindowAt = now + 1;
  }

  #sleepDeep(ms: number): void {
    this.#asleep = true;
    this.energy.add(EnergyCounter.deepSleepMs, ms);
    this.#save();
    this.#host.power?.sleep('deep', ms);
  }

  #save(): void {
    const hooks = this.#hooks!;
    const need = HEADER + OWN + EnergyMeter.BYTES + hooks.stateBytes;
    const r = this.#retained;
    if (need > r.length) {
      // Cannot be kept: no stale block may be restored in its place (the wake counts the failure).
      if (r.length >= 4) r[0] = r[1] = r[2] = r[3] = 0;
      return;
    }
    const view = (this.#view ??= new DataView(r.buffer, r.byteOffset, r.byteLength));
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, need, true);
    view.setFloat64(HEADER, this.#nextWindowAt, true);
    view.setFloat64(HEADER + 8, this.#host.clock.monotonic.now(), true);
    view.setFloat64(HEADER + 16, this.#backoff?.attempts ?? 0, true);
    view.setFloat64(HEADER + 24, this.#failedInRow, true);
    view.setFloat64(HEADER + 32, this.#alertWindowAt, true);
    view.setFloat64(HEADER + 40, this.#alertPending ? 1 : 0, true);
    // Kept over deep sleep: on an ESP32 each wake is a boot, the count must outlive it.
    view.setFloat64(HEADER + 48, this.restoreFailures, true);
    this.energy.save(view, HEADER + OWN, hooks.link(), this.#host.clock.monotonic.now());
    hooks.saveState(view, HEADER + OWN + EnergyMeter.BYTES);
    view.setUint32(8, this.#crc.of(r, HEADER, need - HEADER), true);
  }

  #restore(): boolean {
    const hooks = this.#hooks!;
    const r = this.#retained;
    if (r.length < HEADER) return false;
    const view = (this.#view ??= new DataView(r.buffer, r.byteOffset, r.byteLength));
    const need = HEADER + OWN + EnergyMeter.BYTES + hooks.stateBytes;
    if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== need || need > r.length) return false;
    if (view.getUint32(8, true) !== this.#crc.of(r, HEADER, need - HEADER)) return false;
    if (!hooks.restoreState(view, HEADER + OWN + EnergyMeter.BYTES)) return false;
    this.#nextWindowAt = view.getFloat64(HEADER, true);
    const attempts = view.getFloat64(HEADER + 16, true);
    const failed = view.getFloat64(HEADER + 24, true);
    if (this.#backoff) this.#backoff.attempts = Number.isInteger(attempts) && attempts >= 0 && attempts < 64 ? attempts : 0;
    this.#failedInRow = Number.isInteger(failed) && failed >= 0 ? failed : 0;
    this.#alertWindowAt = view.getFloat64(HEADER + 32, true);
    this.#alertPending = view.getFloat64(HEADER + 40, true) === 1;
    const failures = view.getFloat64(HEADER + 48, true);
    if (Number.isInteger(failures) && failures > this.restoreFailures) this.restoreFailures = failures;
    const now = this.#host.clock.monotonic.now();
    this.energy.restore(view, HEADER + OWN, hooks.link(), now, now - view.getFloat64(HEADER + 8, true));
    return true;
  }
}

function range(value: number | undefined, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${name} must be a number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
