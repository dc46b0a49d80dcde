/*
 * Energy accounting: what costs energy on an ESP32, counted by the node on every host
 * (docs/energy.md). The node counts events and times; turning them into charge is the power
 * model's job (simulator/energy.ts, a table of published ESP32 currents), so these counters stay
 * the same whatever the board.
 *
 * Fixed memory: one Float64Array, allocated once; nothing allocates per event. The counters
 * survive deep sleep in the retained memory (firmware/power.ts saves and restores them).
 *
 * Connection set-ups, bytes and packets come from the MQTT client's own counters (the TCP/TLS
 * socket it opens, every packet it writes or reads) and are added in `snapshot()`.
 */

/** Counter indices in `EnergyMeter.counters`. */
export const EnergyCounter = Object.freeze({
  /** Time with the radio on (joining or associated), ms. */
  radioOnMs: 0,
  /** Wi-Fi joins (scan, authenticate, associate, DHCP): one per radio power-up. */
  wifiJoins: 1,
  /** Time in automatic light sleep while associated (DTIM power save), ms. */
  lightSleepMs: 2,
  /** Time in deep sleep (RTC only), ms. */
  deepSleepMs: 3,
  /** Wakes from deep sleep (each one a boot of the chip). */
  deepWakes: 4,
  /** Sensor conversions started (one per driver read). */
  sensorConversions: 5,
  /** Report windows opened (light-sleep and wake-cycle modes), and those opened early by an alert. */
  windows: 6,
  alertWindows: 7,
  /** Time in report windows (from opening to closing: connecting, exchanging, listening), ms. */
  exchangeMs: 8,
  /** Connection set-ups carried over from earlier boots (the client's counters restart at each boot). */
  tcpConnectsBefore: 9,
  tlsHandshakesBefore: 10,
  bytesTxBefore: 11,
  bytesRxBefore: 12,
  packetsTxBefore: 13,
  packetsRxBefore: 14,
  /** Time since the node started, summed over boots, ms. */
  uptimeBeforeMs: 15,
  /** Wake-cycle report windows that closed without reaching the broker (an outage; they back off). */
  failedWindows: 16,
  COUNT: 17,
} as const);

/** What a node's stats report (plain numbers; NodeStats.energy). */
export interface EnergyCounts {
  mode: string;
  uptimeMs: number;
  radioOnMs: number;
  wifiJoins: number;
  tcpConnects: number;
  tlsHandshakes: number;
  bytesTx: number;
  bytesRx: number;
  packetsTx: number;
  packetsRx: number;
  lightSleepMs: number;
  deepSleepMs: number;
  deepWakes: number;
  sensorConversions: number;
  windows: number;
  alertWindows: number;
  exchangeMs: number;
  failedWindows: number;
}

/** What the MQTT client counted on this boot. */
export interface LinkCounts {
  connects: number;
  secure: boolean;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
}

export class EnergyMeter {
  readonly counters = new Float64Array(EnergyCounter.COUNT);
  readonly mode: string;
  /** Monotonic ms when this boot's accounting started. */
  #bootAt: number;
  /** Monotonic ms since the radio is on, or -1. */
  #radioSince = -1;

  constructor(mode: string, nowMs: number) {
    this.mode = mode;
    this.#bootAt = nowMs;
  }

  add(counter: number, amount = 1): void {
    this.counters[counter] = this.counters[counter]! + amount;
  }

  radioOn(nowMs: number): void {
    if (this.#radioSince >= 0) return;
    this.#radioSince = nowMs;
    this.add(EnergyCounter.wifiJoins);
  }

  radioOff(nowMs: number): void {
    if (this.#radioSince < 0) return;
    this.add(EnergyCounter.radioOnMs, nowMs - this.#radioSince);
    this.#radioSince = -1;
  }

  get radioIsOn(): boolean {
    return this.#radioSince >= 0;
  }

  /** Bytes `save` writes. */
  static readonly BYTES = EnergyCounter.COUNT * 8;

  /**
   * Writes the counters into `view` at `offset` before a deep sleep, with this boot's link
   * counts folded in (the next boot's client starts from zero). The radio is off by then.
   */
  save(view: DataView, offset: number, link: LinkCounts, nowMs: number): void {
    const c = this.counters;
    for (let i = 0; i < EnergyCounter.COUNT; i++) {
      let v = c[i]!;
      if (i === EnergyCounter.tcpConnectsBefore) v += link.connects;
      else if (i === EnergyCounter.tlsHandshakesBefore) v += link.secure ? link.connects : 0;
      else if (i === EnergyCounter.bytesTxBefore) v += link.bytesOut;
      else if (i === EnergyCounter.bytesRxBefore) v += link.bytesIn;
      else if (i === EnergyCounter.packetsTxBefore) v += link.packetsOut;
      else if (i === EnergyCounter.packetsRxBefore) v += link.packetsIn;
      else if (i === EnergyCounter.uptimeBeforeMs) v += nowMs - this.#bootAt;
      view.setFloat64(offset + i * 8, v, true);
    }
  }

  /**
   * Restores counters saved by `save` (after a wake from deep sleep). `link` is what the client
   * counted so far on this boot, subtracted so that `snapshot` does not count it twice; `sleptMs`
   * (the time since the save) counts in the uptime.
   */
  restore(view: DataView, offset: number, link: LinkCounts, nowMs: number, sleptMs: number): void {
    const c = this.counters;
    for (let i = 0; i < EnergyCounter.COUNT; i++) c[i] = view.getFloat64(offset + i * 8, true);
    c[EnergyCounter.tcpConnectsBefore] = c[EnergyCounter.tcpConnectsBefore]! - link.connects;
    c[EnergyCounter.tlsHandshakesBefore] = c[EnergyCounter.tlsHandshakesBefore]! - (link.secure ? link.connects : 0);
    c[EnergyCounter.bytesTxBefore] = c[EnergyCounter.bytesTxBefore]! - link.bytesOut;
    c[EnergyCounter.bytesRxBefore] = c[EnergyCounter.bytesRxBefore]! - link.bytesIn;
    c[EnergyCounter.packetsTxBefore] = c[EnergyCounter.packetsTxBefore]! - link.packetsOut;
    c[EnergyCounter.packetsRxBefore] = c[EnergyCounter.packetsRxBefore]! - link.packetsIn;
    c[EnergyCounter.uptimeBeforeMs] = c[EnergyCounter.uptimeBeforeMs]! + Math.max(0, sleptMs);
    this.#bootAt = nowMs;
  }

  snapshot(link: LinkCounts, nowMs: number): EnergyCounts {
    const c = this.counters;
    const radioNow = this.#radioSince >= 0 ? nowMs - this.#radioSince : 0;
    return {
      mode: this.mode,
      uptimeMs: c[EnergyCounter.uptimeBeforeMs]! + nowMs - this.#bootAt,
      radioOnMs: c[EnergyCounter.radioOnMs]! + radioNow,
      wifiJoins: c[EnergyCounter.wifiJoins]!,
      tcpConnects: c[EnergyCounter.tcpConnectsBefore]! + link.connects,
      tlsHandshakes: c[EnergyCounter.tlsHandshakesBefore]! + (link.secure ? link.connects : 0),
      bytesTx: c[EnergyCounter.bytesTxBefore]! + link.bytesOut,
      bytesRx: c[EnergyCounter.bytesRxBefore]! + link.bytesIn,
      packetsTx: c[EnergyCounter.packetsTxBefore]! + link.packetsOut,
      packetsRx: c[EnergyCounter.packetsRxBefore]! + link.packetsIn,
      lightSleepMs: c[EnergyCounter.lightSleepMs]!,
      deepSleepMs: c[EnergyCounter.deepSleepMs]!,
      deepWakes: c[EnergyCounter.deepWakes]!,
      sensorConversions: c[EnergyCounter.sensorConversions]!,
      windows: c[EnergyCounter.windows]!,
      alertWindows: c[EnergyCounter.alertWindows]!,
      exchangeMs: c[EnergyCounter.exchangeMs]!,
      failedWindows: c[EnergyCounter.failedWindows]!,
    };
  }
}
