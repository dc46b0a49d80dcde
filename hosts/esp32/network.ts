/*
 * Wi-Fi station and wall clock for the ESP32 host. The firmware never waits for either: it
 * samples and caches readings from boot; the uplink retries until the broker is reachable.
 *
 * - Wi-Fi: connects with the provisioned credentials; on disconnect it retries with capped
 *   exponential backoff and jitter (1 s .. 60 s), forever. Counted in `stats`.
 * - SNTP: after every (re)connection until one answer arrives, then every 6 hours; sets the
 *   system clock, which `EpochClock` reports once it is plausible.
 */
import WiFi from 'wifi';
import SNTP from 'sntp';
import Time from 'time';
import type { LogLevel, Random, Timers } from '../../firmware/host';

export interface NetworkStats {
  connects: number;
  disconnects: number;
  gotIP: number;
  sntpSyncs: number;
  sntpFailures: number;
}

export interface NetworkOptions {
  ssid: string;
  password: string;
  sntpHost: string;
  timers: Timers;
  random: Random;
  log(level: LogLevel, message: string): void;
}

const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 60_000;
const RESYNC_MS = 6 * 3_600_000;

/** Full-jitter backoff: a delay in [base, min(cap, base * 2^attempt)). Pure. */
export function retryDelayMs(attempt: number, random01: number): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 16));
  return Math.floor(RETRY_BASE_MS + (ceiling - RETRY_BASE_MS) * random01);
}

export class Network {
  readonly stats: NetworkStats = { connects: 0, disconnects: 0, gotIP: 0, sntpSyncs: 0, sntpFailures: 0 };
  readonly #o: NetworkOptions;
  #monitor: WiFi | undefined;
  #sntp: SNTP | undefined;
  #attempt = 0;
  #retry: number | undefined;
  #resync: number | undefined;
  #online = false;

  constructor(options: NetworkOptions) {
    this.#o = options;
  }

  get online(): boolean {
    return this.#online;
  }

  /**
   * Brings up the network stack in station mode without connecting. Only the SDK's Wi-Fi module
   * initialises esp_netif and lwIP (modules/network/wifi/esp32/xs6wifi.c: initWiFi, run by the
   * `mode` setter); before that a socket throws "no network" (modules/io/common/builtinCommon.h:
   * CHECK_NETWORK_SAFE) and `Net.get('MAC')` is undefined (modules/network/net/esp/modNet.c:
   * getNIF finds no interface). Idempotent.
   */
  static initStation(): void {
    if (WiFi.mode !== WiFi.Mode.station) WiFi.mode = WiFi.Mode.station;
  }

  start(): void {
    if (this.#monitor) return;
    Network.initStation();
    this.#monitor = new WiFi(this.#credentials(), (message: string) => this.#onWiFi(message));
    this.stats.connects++;
  }

  stop(): void {
    this.#o.timers.clear(this.#retry);
    this.#o.timers.clear(this.#resync);
    this.#retry = this.#resync = undefined;
    (this.#sntp as unknown as { close?(): void } | undefined)?.close?.();
    this.#sntp = undefined;
    this.#monitor?.close();
    this.#monitor = undefined;
    this.#online = false;
  }

  #credentials(): { ssid: string; password?: string } {
    const o = this.#o;
    return o.password ? { ssid: o.ssid, password: o.password } : { ssid: o.ssid };
  }

  #onWiFi(message: string): void {
    if (message === WiFi.gotIP) {
      this.#online = true;
      this.#attempt = 0;
      this.stats.gotIP++;
      this.#o.log('info', `Wi-Fi "${this.#o.ssid}" up`);
      this.#syncClock();
    } else if (message === WiFi.disconnected || message === WiFi.lostIP) {
      if (this.#online) this.#o.log('warn', 'Wi-Fi down');
      this.#online = false;
      this.stats.disconnects++;
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#retry !== undefined || !this.#monitor) return;
    const delay = retryDelayMs(this.#attempt++, this.#o.random.next());
    this.#retry = this.#o.timers.set(() => {
      this.#retry = undefined;
      if (this.#online || !this.#monitor) return;
      this.stats.connects++;
      WiFi.connect(this.#credentials());
    }, delay);
  }

  #syncClock(): void {
    if (this.#sntp || !this.#o.sntpHost) return;
    this.#sntp = new SNTP({ host: this.#o.sntpHost }, (message: number, value?: number) => {
      if (message === SNTP.time && typeof value === 'number') {
        Time.set(value);
        this.stats.sntpSyncs++;
      } else if (message === SNTP.error) {
        this.stats.sntpFailures++;
      } else return;
      this.#sntp = undefined; // the SDK's SNTP closes itself after a time or a final error
      this.#o.timers.clear(this.#resync);
      this.#resync = this.#o.timers.set(() => {
        this.#resync = undefined;
        if (this.#online) this.#syncClock();
      }, message === SNTP.time ? RESYNC_MS : 60_000);
    });
  }
}
