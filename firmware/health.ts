/*
 * The node's health heartbeat on pipewatch/<dev>/health (QoS 1), byte for byte in
 * docs/payload.md ("Health heartbeat"): at boot and every `intervalMs` (default 15 min).
 *
 * Delivery: the heartbeat does not go through the reading cache. A cache record is 20 bytes
 * (firmware/cache/FORMAT.md) and a heartbeat is a few hundred, so it lives in RAM: one message
 * in the uplink's health slot (QoS 1, sent again after a reconnect until its PUBACK). While a
 * heartbeat waits there unsent (offline), a newer one replaces it, counted in `replaced`: the
 * newer one covers the older one's period too (its "since" is the older one's), so the sums of
 * connected and expected time lose nothing. While one was sent but not yet acknowledged, the
 * next is only marked due (`deferred`) and built when the PUBACK comes, covering the whole
 * period. What a reboot loses: the heartbeat in RAM, i.e. the connected and expected time of
 * the period since the last delivered one (the next boot's heartbeat says so: its `boot` and
 * `reset`). Cumulative counters (faults, drops, store faults) are totals since boot.
 *
 * Fixed memory: the message buffer, the fault table (channels x codes) and one reading for the
 * cache's oldest entry are allocated here; building a heartbeat allocates nothing.
 */
import type { Host } from './host';
import type { Reading, ReadingStore } from './store';
import { newReading } from './store';
import { AsciiWriter, asciiBytes } from './uplink/ascii';
import type { Uplink } from './uplink/uplink';
import { SensorErrorCode } from './sensors/errors';

/** Reset reasons a host may report (SystemInfo.resetReason); anything else is sent as "unknown". */
export const RESET_REASONS = Object.freeze(['power-on', 'software', 'watchdog', 'panic', 'brownout', 'deep-sleep', 'external', 'unknown'] as const);

/** Fault codes counted per channel: every SensorErrorCode but E_NOT_READY, and E_DRIVER (a driver's read threw). */
export const FAULT_CODES: readonly string[] = Object.freeze([
  ...Object.values(SensorErrorCode).filter((c) => c !== SensorErrorCode.NOT_READY),
  'E_DRIVER',
]);

export const DEFAULT_HEALTH_INTERVAL_MS = 15 * 60_000;
/** RSSI is sampled this often (where the host has a radio), min and mean over each period. */
export const RSSI_SAMPLE_MS = 60_000;
/** The heartbeat buffer: the largest message with every field, 64-character id and a few dozen fault entries fits. */
export const HEALTH_BYTES = 1024;

/** What the node adds to a heartbeat (its counters, read when one is built). */
export interface HealthSource {
  store: ReadingStore;
  uplink: Uplink;
  dropped(): number;
  storeFailed(): number;
  storeFaults(): number;
  configErrors(): number;
  /** Wakes whose retained state did not check out (firmware/power.ts); absent: not reported. */
  retainedFailures?(): number;
  readingsGenerated(): number;
  /** OTA state: trial image, and the agent's last event ('' none). */
  ota(): { trial: boolean; last: string } | undefined;
}

export interface HealthStats {
  /** Heartbeats handed to the uplink, replaced while unsent, deferred while one was unacknowledged, acknowledged. */
  built: number;
  replaced: number;
  deferred: number;
  acked: number;
  /** Heartbeats that did not fit the buffer (never sent truncated). */
  overflows: number;
}

export class Health {
  readonly #host: Host;
  readonly #src: HealthSource;
  readonly #deviceId: string;
  readonly #topic: Uint8Array;
  readonly #w = new AsciiWriter(HEALTH_BYTES);
  readonly #channels: number;
  readonly #faults: Uint32Array;
  readonly #oldest: Reading[] = [newReading()];
  readonly #intervalMs: number;
  readonly stats: HealthStats = { built: 0, replaced: 0, deferred: 0, acked: 0, overflows: 0 };
  #timer: number | undefined;
  #rssiTimer: number | undefined;
  #due = false;
  #number = 0;
  /** Start of the current period (uptime) and the uplink's totals then. */
  #since = 0;
  #baseConnected = 0;
  #baseExpected = 0;
  #baseDisconnects = 0;
  #baseAttempts = 0;
  /** The same for the heartbeat in the slot (restored when it is replaced unsent). */
  #slotSince = 0;
  #slotConnected = 0;
  #slotExpected = 0;
  #slotDisconnects = 0;
  #slotAttempts = 0;
  #rssiMin = 0;
  #rssiSum = 0;
  #rssiCount = 0;
  #slotRssiMin = 0;
  #slotRssiSum = 0;
  #slotRssiCount = 0;

  constructor(host: Host, deviceId: string, channels: number, src: HealthSource, intervalMs?: number) {
    this.#host = host;
    this.#src = src;
    this.#deviceId = deviceId;
    this.#topic = asciiBytes(`pipewatch/${deviceId}/health`);
    this.#channels = channels;
    this.#faults = new Uint32Array(Math.max(1, channels) * FAULT_CODES.length);
    const ms = intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    this.#intervalMs = Number.isFinite(ms) && ms >= 1000 ? Math.floor(ms) : DEFAULT_HEALTH_INTERVAL_MS;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  /** The boot heartbeat now, then one every interval; RSSI samples where the host has a radio. */
  start(): void {
    const uplink = this.#src.uplink;
    uplink.onHealthAcked = () => {
      this.stats.acked++;
      if (this.#due) {
        this.#due = false;
        this.beat();
      }
    };
    this.#since = this.#host.clock.monotonic.now();
    this.beat();
    this.#timer = this.#host.timers.set(() => this.beat(), this.#intervalMs, this.#intervalMs);
    if (this.#host.wifi) this.#rssiTimer = this.#host.timers.set(() => this.sampleRssi(), RSSI_SAMPLE_MS, RSSI_SAMPLE_MS);
  }

  stop(): void {
    this.#host.timers.clear(this.#timer);
    this.#host.timers.clear(this.#rssiTimer);
    this.#timer = undefined;
    this.#rssiTimer = undefined;
  }

  /** Counts a sensor fault of `code` on channels [first, first + count). Unknown codes count as E_DRIVER. */
  noteFault(first: number, count: number, code: string): void {
    let k = FAULT_CODES.indexOf(code);
    if (k < 0) k = FAULT_CODES.length - 1;
    for (let c = first; c < first + count && c < this.#channels; c++) this.#faults[c * FAULT_CODES.length + k]!++;
  }

  /** Faults of `code` counted on `channel` since boot. */
  faults(channel: number, code: string): number {
    const k = FAULT_CODES.indexOf(code);
    if (k < 0 || channel < 0 || channel >= this.#channels) return 0;
    return this.#faults[channel * FAULT_CODES.length + k]!;
  }

  sampleRssi(): void {
    let rssi: number | undefined;
    try {
      rssi = this.#host.wifi?.rssi();
    } catch {
      rssi = undefined;
    }
    if (typeof rssi !== 'number' || !Number.isFinite(rssi) || rssi < -127 || rssi > 20) return;
    if (this.#rssiCount === 0 || rssi < this.#rssiMin) this.#rssiMin = rssi;
    this.#rssiSum += rssi;
    this.#rssiCount++;
  }

  /** Builds a heartbeat and hands it to the uplink's health slot (see the header for the rules). */
  beat(): void {
    const uplink = this.#src.uplink;
    if (uplink.healthBusy) {
      if (!uplink.withdrawHealth()) {
        this.#due = true;
        this.stats.deferred++;
        return;
      }
      // The unsent one is replaced: the new one covers its period too.
      this.stats.replaced++;
      this.#number--;
      this.#since = this.#slotSince;
      this.#baseConnected = this.#slotConnected;
      this.#baseExpected = this.#slotExpected;
      this.#baseDisconnects = this.#slotDisconnects;
      this.#baseAttempts = this.#slotAttempts;
      if (this.#slotRssiCount > 0) {
        if (this.#rssiCount === 0 || this.#slotRssiMin < this.#rssiMin) this.#rssiMin = this.#slotRssiMin;
        this.#rssiSum += this.#slotRssiSum;
        this.#rssiCount += this.#slotRssiCount;
      }
    }
    const length = this.#build();
    if (length === 0) {
      this.stats.overflows++;
      return;
    }
    if (!uplink.sendHealth(this.#topic, this.#w.bytes, length)) return;
    this.stats.built++;
    this.#number++;
    this.#slotSince = this.#since;
    this.#slotConnected = this.#baseConnected;
    this.#slotExpected = this.#baseExpected;
    this.#slotDisconnects = this.#baseDisconnects;
    this.#slotAttempts = this.#baseAttempts;
    this.#slotRssiMin = this.#rssiMin;
    this.#slotRssiSum = this.#rssiSum;
    this.#slotRssiCount = this.#rssiCount;
    this.#since = this.#host.clock.monotonic.now();
    this.#baseConnected = uplink.connectedMs();
    this.#baseExpected = uplink.expectedMs();
    this.#baseDisconnects = uplink.stats.disconnects;
    this.#baseAttempts = uplink.stats.attempts;
    this.#rssiCount = 0;
    this.#rssiSum = 0;
  }

  #build(): number {
    const host = this.#host;
    const src = this.#src;
    const uplink = src.uplink;
    const w = this.#w.reset();
    const now = host.clock.monotonic.now();
    const wall = host.clock.wall.now();
    w.text('{"dev":"').text(this.#deviceId).text('","n":').int(this.#number).text(',"ts":').int(wall ?? now);
    w.text(wall !== undefined ? ',"sync":true' : ',"sync":false').text(',"up_ms":').int(now).text(',"since_ms":').int(this.#since);
    const system = host.system;
    if (system?.bootCount !== undefined && Number.isInteger(system.bootCount) && system.bootCount >= 0) w.text(',"boot":').int(system.bootCount);
    if (system?.resetReason !== undefined) {
      const reason = system.resetReason;
      let known = false;
      for (let i = 0; i < RESET_REASONS.length; i++) if (RESET_REASONS[i] === reason) known = true;
      w.text(',"reset":"').text(known ? reason : 'unknown').text('"');
    }
    w.text(',"conn_ms":').int(uplink.connectedMs() - this.#baseConnected);
    w.text(',"exp_ms":').int(uplink.expectedMs() - this.#baseExpected);
    w.text(',"disc":').int(uplink.stats.disconnects - this.#baseDisconnects);
    w.text(',"att":').int(uplink.stats.attempts - this.#baseAttempts);
    if (this.#rssiCount > 0) w.text(',"rssi_min":').int(this.#rssiMin).text(',"rssi_mean":').int(Math.round(this.#rssiSum / this.#rssiCount));
    const store = src.store;
    w.text(',"pending":').int(store.pending);
    if (store.pending > 0 && store.peek(this.#oldest, 1) === 1) {
      const r = this.#oldest[0]!;
      // An unsynchronised time stamp may be from an earlier boot's monotonic clock: no age then.
      if (r.synced && wall !== undefined) w.text(',"oldest_age_ms":').int(Math.max(0, wall - r.timeMs));
      w.text(',"oldest_seq":').int(r.seq);
    }
    w.text(',"generated":').int(src.readingsGenerated()).text(',"dropped":').int(src.dropped());
    w.text(',"store_failed":').int(src.storeFailed()).text(',"store_faults":').int(src.storeFaults());
    w.text(',"config_errors":').int(src.configErrors());
    if (src.retainedFailures) w.text(',"retained_failed":').int(src.retainedFailures());
    w.text(',"faults":[');
    let first = true;
    const codes = FAULT_CODES.length;
    for (let c = 0; c < this.#channels; c++) {
      for (let k = 0; k < codes; k++) {
        const n = this.#faults[c * codes + k]!;
        if (n === 0) continue;
        w.text(first ? '[' : ',[').int(c).text(',"').text(FAULT_CODES[k]!).text('",').int(n).text(']');
        first = false;
      }
    }
    w.text(']');
    if (system?.freeHeap) {
      let heap: number | undefined;
      try {
        heap = system.freeHeap();
      } catch {
        heap = undefined;
      }
      if (typeof heap === 'number' && Number.isInteger(heap) && heap >= 0) w.text(',"heap":').int(heap);
    }
    if (host.update) {
      let running: { slot: number; version: string } | undefined;
      try {
        running = host.update.running();
      } catch {
        running = undefined;
      }
      if (running) {
        w.text(',"fw":"');
        safeText(w, running.version);
        w.text('","slot":').int(running.slot);
      }
    }
    const ota = src.ota();
    if (ota) {
      w.text(ota.trial ? ',"ota":{"trial":true,"last":"' : ',"ota":{"trial":false,"last":"');
      safeText(w, ota.last);
      w.text('"}');
    }
    w.text('}');
    return w.overflow ? 0 : w.length;
  }
}

/** Writes `s` keeping [A-Za-z0-9._+-] and replacing anything else by '_' (a version string is the host's, not trusted JSON). */
function safeText(w: AsciiWriter, s: string): void {
  const n = s.length < 64 ? s.length : 64;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2e || c === 0x5f || c === 0x2b || c === 0x2d;
    if (w.length >= w.bytes.length) {
      w.overflow = true;
      return;
    }
    w.bytes[w.length++] = ok ? c : 0x5f;
  }
}
