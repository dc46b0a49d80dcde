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
 *
 * Fixed memory: the retained image is written into the host's buffer (or one allocated here
 * once); nothing allocates per sample.
 */
import type { Host } from './host';
import { Crc32 } from './cache/crc32';
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
  /** Writes / restores the node's volatile state (detector, report filter) at `offset`; `stateBytes` long. */
  stateBytes: number;
  saveState(view: DataView, offset: number): void;
  restoreState(view: DataView, offset: number): boolean;
}

const MAGIC = 0x31525750; // "PWR1"
/** Header: magic, length, CRC-32 of the rest, then the manager's own fields. */
const HEADER = 12;
const OWN = 16;

export class PowerManager {
  readonly mode: PowerMode;
  readonly reportIntervalMs: number;
  readonly listenMs: number;
  readonly maxWindowMs: number;
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
  /** Wakes whose retained state could not be used (another layout, corrupt). */
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
    this.#host = host;
    this.#retained = host.power?.retained ?? new Uint8Array(mode === 'wake-cycle' ? 4096 : 0);
    this.energy = new EnergyMeter(mode, host.clock.monotonic.now());
  }

  get windowOpen(): boolean {
    return this.#windowOpen;
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
    if (this.#host.power?.wakeCause() === 'timer' && this.#restore()) {
      this.resumed = true;
      this.energy.add(EnergyCounter.deepWakes);
    } else {
      this.#openWindow(false);
    }
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
    if (!this.#restore()) this.restoreFailures++;
    this.energy.add(EnergyCounter.deepWakes);
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
    if (alert || now >= this.#nextWindowAt) {
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
    if (alert) this.energy.add(EnergyCounter.alertWindows);
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
    this.#hooks!.disconnect();
    this.#host.power?.radioOff();
    this.energy.radioOff(now);
    // The node sleeps until its next sample (the sampling timer wakes it); after sampling
    // stopped, until whatever wakes it (the next power-on).
    this.#sleepDeep(this.#draining ? 0 : this.#hooks!.untilNextSampleMs());
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
      this.restoreFailures++;
      return;
    }
    const view = (this.#view ??= new DataView(r.buffer, r.byteOffset, r.byteLength));
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, need, true);
    view.setFloat64(HEADER, this.#nextWindowAt, true);
    view.setFloat64(HEADER + 8, this.#host.clock.monotonic.now(), true);
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
