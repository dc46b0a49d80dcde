/*
 * A pipewatch node: sensors -> sampler -> store (outbox) -> uplink.
 *
 * Everything the node touches comes from the `Host` it is given; a process may run many
 * nodes. All buffers are allocated in the constructor; sampling allocates nothing per reading.
 */
import type { Host, TLSOptions } from './host';
import { FlashCache } from './cache/index';
import { DetectEvent, LeakDetector, RULE_NAMES, type LeakOptions } from './detect';
import { RamStore } from './outbox';
import { ReadingKind, type NewReading, type ReadingKindValue, type ReadingStore } from './store';
import { AsciiWriter, asciiBytes, isValidId } from './uplink/ascii';
import { Uplink, type UplinkStats, type UplinkTuning } from './uplink/uplink';
import { channelsOf, createSensor, type ChannelInfo, type SensorConfig, type SensorDriver } from './sensors/registry';
import { SensorError, SensorErrorCode } from './sensors/errors';
import { OtaAgent, type OtaConfig } from './ota/agent';
import { Health } from './health';
import { checkHomeAssistantConfig, HomeAssistant, type HomeAssistantChannel, type HomeAssistantConfig } from './homeassistant';
import { EnergyCounter, type EnergyCounts } from './energy';
import { PowerManager, type PowerConfig } from './power';
import { ReportFilter, type ReportOptions } from './report';
import { BrokerSearch } from './provision/mdns';

export interface NodeConfig {
  deviceId: string;
  broker: {
    address: string;
    port: number;
    secure?: TLSOptions['secure'];
    username?: string;
    /** Binary data: bytes as given, or a string as UTF-8 (firmware/uplink/utf8.ts). */
    password?: string | Uint8Array;
    keepaliveSec?: number;
    /**
     * Look for the broker by mDNS (`_mqtt._tcp`, firmware/provision/mdns.ts) before connecting,
     * over the host's UDP socket; `address` and `port` are then the default when none answers
     * ('' for none: the node searches again after its backoff).
     */
    discover?: boolean;
  };
  /** Sampling period, ms (default 10 s). */
  intervalMs?: number;
  sensors: SensorConfig[];
  /**
   * Where readings wait for the broker. Default: the durable flash cache on the host's "cache"
   * partition; a host without one gets the volatile RAM ring (and the node says so in its log).
   */
  store?: ReadingStore;
  /** RAM ring capacity when there is no cache partition. */
  ramCapacity?: number;
  /**
   * Leak alerts (see detect.ts and docs/leaks.md): options for every channel, and `channels[c]`
   * overriding them for channel c; false turns alerts off.
   */
  alert?: (LeakOptions & { channels?: Array<LeakOptions | undefined> }) | false;
  /** Uplink tuning: message format (json | binary), window, batch size, backoff... */
  uplink?: UplinkTuning;
  /** Signed OTA updates (firmware/ota/agent.ts); needs the host's `update` and an "ota" partition. */
  ota?: OtaConfig;
  /** Health heartbeat on pipewatch/<dev>/health (firmware/health.ts): period, ms (default 15 min, at least 1 s). */
  healthIntervalMs?: number;
  /** Opt-in integrations: Home Assistant MQTT discovery (firmware/homeassistant.ts, docs/payload.md). */
  integrations?: { homeassistant?: HomeAssistantConfig | true | false };
  /** Duty cycle (firmware/power.ts, docs/energy.md): always-connected (default), light-sleep or wake-cycle. */
  power?: PowerConfig;
  /** Report by exception (firmware/report.ts, docs/payload.md): per-channel deadband and longest interval; default every sample. */
  report?: ReportOptions;
}

export interface NodeStats {
  deviceId: string;
  readingsGenerated: number;
  alerts: number;
  /** Alert and cleared events whose evidence message could not go out (side channel busy). */
  leakEventsDropped: number;
  samples: number;
  sensorFaults: number;
  /** Configuration entries the node could not use and skipped (unknown sensor part, unusable bus...). */
  configErrors: number;
  stored: number;
  dropped: number;
  /** Readings the store could not keep (flash fault), and the faults it absorbed. */
  storeFailed: number;
  storeFaults: number;
  pending: number;
  uplink: UplinkStats;
  bytesOut: number;
  connected: boolean;
  /** Version of the running image, where the host knows it. */
  firmware?: string;
  /** What cost energy (firmware/energy.ts): radio time, joins, connections, bytes, sleeps, conversions. */
  energy?: EnergyCounts;
  /** Samples report by exception held back (within the deadband): not readings, never stored. */
  suppressed?: number;
  /** Wakes from deep sleep whose retained state did not check out (the node started clean; firmware/power.ts). */
  retainedFailures?: number;
}

interface SensorSlot {
  config: SensorConfig;
  channels: readonly ChannelInfo[];
  firstChannel: number;
  driver: SensorDriver | undefined;
  /** The part cannot be opened with this configuration (not a fault of the part): never retried. */
  unusable: boolean;
}

const kindOf: Record<string, ReadingKindValue> = Object.freeze({
  milliCelsius: ReadingKind.milliCelsius,
  milliPercentRH: ReadingKind.milliPercentRH,
  pascal: ReadingKind.pascal,
});

export class PipewatchNode {
  readonly host: Host;
  readonly config: NodeConfig;
  readonly store: ReadingStore;
  readonly uplink: Uplink;
  readonly ota: OtaAgent | undefined;
  readonly health: Health;
  readonly homeassistant: HomeAssistant | undefined;
  readonly #sensors: SensorSlot[] = [];
  readonly #values = new Int32Array(8);
  readonly #detector: LeakDetector | undefined;
  readonly #filter: ReportFilter;
  readonly #power: PowerManager;
  #nextSampleAt = 0;
  readonly #scratch: NewReading = { timeMs: 0, synced: false, channel: 0, kind: 0, value: 0, alert: false };
  readonly #leakTopic: Uint8Array;
  readonly #leakMessage = new AsciiWriter(256);
  #leakEventsDropped = 0;
  #timer: number | undefined;
  #sampling = false;
  #samples = 0;
  #generated = 0;
  #faults = 0;
  #configErrors = 0;
  /** Appends failed in a row (the log reports the first and the recovery, not every one). */
  #storeFailing = 0;

  constructor(host: Host, config: NodeConfig) {
    if (!isValidId(config.deviceId)) throw new Error(`invalid device id "${config.deviceId}": 1-64 of [A-Za-z0-9_.-]`);
    this.host = host;
    this.config = config;
    this.#leakTopic = asciiBytes(`pipewatch/${config.deviceId}/leak`);
    this.store = config.store ?? this.#openStore();
    let channel = 0;
    for (const sensorConfig of config.sensors) {
      let channels: readonly ChannelInfo[];
      try {
        channels = channelsOf(sensorConfig.part);
      } catch (error) {
        // A node that stops at boot over one bad entry has no uplink left to be fixed through.
        this.noteConfigError(`sensor skipped: ${(error as Error).message}`);
        continue;
      }
      this.#sensors.push({ config: sensorConfig, channels, firstChannel: channel, driver: undefined, unusable: false });
      channel += channels.length;
    }
    let detector: LeakDetector | undefined;
    if (config.alert !== false) {
      try {
        detector = new LeakDetector(channel, config.alert, config.alert?.channels);
      } catch (error) {
        // Bad tuning must not leave a node without alerts: the documented defaults serve instead.
        this.noteConfigError(`alert options refused, defaults used: ${(error as Error).message}`);
        detector = new LeakDetector(channel);
      }
    }
    this.#detector = detector;
    let filter: ReportFilter;
    try {
      filter = new ReportFilter(channel, config.report);
    } catch (error) {
      this.noteConfigError(`report options refused, every sample is published: ${(error as Error).message}`);
      filter = new ReportFilter(channel);
    }
    this.#filter = filter;
    let power: PowerManager;
    try {
      power = new PowerManager(host, config.power);
    } catch (error) {
      this.noteConfigError(`power options refused, always-connected: ${(error as Error).message}`);
      power = new PowerManager(host);
    }
    this.#power = power;
    this.uplink = new Uplink(host, this.store, {
      deviceId: config.deviceId,
      address: config.broker.address,
      port: config.broker.port,
      secure: config.broker.secure,
      username: config.broker.username,
      password: config.broker.password,
      keepaliveSec: config.broker.keepaliveSec,
      locate: config.broker.discover ? new BrokerSearch(host) : undefined,
      ...config.uplink,
    });
    let ota: OtaAgent | undefined;
    if (config.ota) {
      const created = OtaAgent.create(host, config.deviceId, this.uplink, config.ota);
      if (typeof created === 'string') host.log('warn', `OTA updates off: ${created}`);
      else ota = created;
    }
    this.ota = ota;
    if (ota) this.uplink.onCommand = (topic, payload) => ota.onMessage(topic, payload);
    const store = this.store;
    this.health = new Health(host, config.deviceId, channel, {
      store,
      uplink: this.uplink,
      dropped: () => store.stats.dropped,
      storeFailed: () => store.stats.failed,
      storeFaults: () => store.stats.faults ?? 0,
      configErrors: () => this.#configErrors,
      retainedFailures: () => this.#power.restoreFailures,
      readingsGenerated: () => this.#generated,
      ota: () => (ota ? { trial: ota.stats.trial, last: ota.stats.lastEvent } : undefined),
    }, config.healthIntervalMs);
    this.homeassistant = this.#homeAssistant(channel);
  }

  #homeAssistant(channels: number): HomeAssistant | undefined {
    const ha = this.config.integrations?.homeassistant;
    if (ha === undefined || ha === false) return undefined;
    const problem = checkHomeAssistantConfig(ha);
    if (problem !== '') this.noteConfigError(`${problem}; the defaults are used`);
    const list: HomeAssistantChannel[] = [];
    for (const slot of this.#sensors) for (const info of slot.channels) list.push({ info, label: `ch${list.length} ${slot.config.part} ${info.name}` });
    return list.length === channels ? new HomeAssistant(this.host, this.config.deviceId, list, this.uplink, problem === '' ? ha : true) : undefined;
  }

  start(): void {
    // Parts need a moment after power-up before they answer on their bus (TMP117: 1.5 ms);
    // opening them shortly after boot gives their first conversion time before the first sample.
    this.host.timers.set(() => {
      for (const slot of this.#sensors) if (!slot.driver) this.#open(slot);
    }, 250);
    this.startSampling();
    this.#power.start(this.#powerHooks());
    this.ota?.boot();
    this.health.start();
    this.homeassistant?.start();
  }

  startSampling(): void {
    if (this.#sampling) return;
    this.#sampling = true;
    const interval = this.config.intervalMs ?? 10_000;
    // First sample soon after boot (sensors need their power-up and first conversion), then every interval.
    this.#nextSampleAt = this.host.clock.monotonic.now() + Math.min(interval, 2000);
    this.#timer = this.host.timers.set(() => this.sampleNow(), Math.min(interval, 2000), interval);
  }

  /** Stops taking readings; the uplink keeps draining what is stored. */
  stopSampling(): void {
    this.#sampling = false;
    this.host.timers.clear(this.#timer);
    this.#timer = undefined;
    // A duty-cycled node delivers what it holds now instead of at its next report window.
    this.#power.drain();
  }

  stop(): void {
    this.stopSampling();
    this.health.stop();
    this.#power.stop();
    this.ota?.close();
    this.uplink.stop();
    this.#closeSensors();
  }

  /** Reads every sensor once and stores each valid channel. */
  sampleNow(): void {
    this.#power.beforeSample();
    this.#samples++;
    const wall = this.host.clock.wall.now();
    const monotonic = this.host.clock.monotonic.now();
    const interval = this.config.intervalMs ?? 10_000;
    this.#nextSampleAt = monotonic + interval;
    const energy = this.#power.energy;
    const batching = this.#power.batching;
    let alerted = false;
    const timeMs = wall ?? monotonic;
    for (const sensor of this.#sensors) {
      const driver = sensor.driver ?? this.#open(sensor);
      if (!driver) continue;
      let valid = 0;
      energy.add(EnergyCounter.sensorConversions);
      try {
        valid = driver.read(this.#values);
      } catch (error) {
        // A driver must report through its error callback; one that throws is a fault of the part.
        this.#faults++;
        this.health.noteFault(sensor.firstChannel, sensor.channels.length, 'E_DRIVER');
        this.host.log('error', `sensor ${sensor.config.part}: read threw: ${(error as Error)?.message ?? String(error)}`);
        continue;
      }
      for (let c = 0; c < sensor.channels.length; c++) {
        const channel = sensor.firstChannel + c;
        const kind = kindOf[sensor.channels[c]!.kind] ?? ReadingKind.milliCelsius;
        if ((valid & (1 << c)) === 0) {
          // No alert from a sample next to a fault, a power-on or a stuck value (detect.ts).
          if (kind === ReadingKind.milliCelsius) this.#detector?.fault(channel);
          this.homeassistant?.note(channel, false, 0);
          this.#filter.forget(channel);
          continue;
        }
        const value = this.#values[c]!;
        const event = kind === ReadingKind.milliCelsius && this.#detector ? this.#detector.update(channel, monotonic, value) : DetectEvent.none;
        const alert = event === DetectEvent.alert;
        // Report by exception: within the deadband, the sample is not a reading (never stored).
        if (!this.#filter.decide(channel, monotonic, value, event !== DetectEvent.none)) continue;
        if (alert) alerted = true;
        const r = this.#scratch;
        r.timeMs = timeMs;
        r.synced = wall !== undefined;
        r.channel = channel;
        r.kind = kind;
        r.value = value;
        r.alert = alert;
        const seq = this.store.append(r);
        this.homeassistant?.note(channel, true, value);
        // The newest reading goes out ahead of a backlog (alerts have their own path); this
        // also publishes it when the window has room, so the sample needs no kick of its own.
        // Batching modes (light-sleep, wake-cycle) keep readings for the report window.
        if (!batching) this.uplink.noteStored(seq, r);
        else if (alert) this.uplink.kick();
        if (event !== DetectEvent.none) this.#reportDetection(event, r, seq);
        if (seq >= 0) {
          this.#generated++;
          this.ota?.noteReading();
          if (this.#storeFailing > 0) {
            this.host.log('info', `store: storing again after ${this.#storeFailing} reading(s) could not be stored`);
            this.#storeFailing = 0;
          }
        } else if (this.#storeFailing++ === 0) {
          const why = this.store.stats.lastFault;
          this.host.log('error', `store: a reading could not be stored${why ? ` (${why})` : ''}; sampling goes on`);
        }
      }
    }
    this.homeassistant?.publishState();
    this.#power.afterSample(alerted, interval);
  }

  stats(): NodeStats {
    const client = this.uplink.client.stats;
    return {
      deviceId: this.config.deviceId,
      readingsGenerated: this.#generated,
      alerts: this.#detector?.alerts ?? 0,
      leakEventsDropped: this.#leakEventsDropped,
      samples: this.#samples,
      sensorFaults: this.#faults,
      configErrors: this.#configErrors,
      stored: this.store.stats.appended,
      dropped: this.store.stats.dropped,
      storeFailed: this.store.stats.failed,
      storeFaults: this.store.stats.faults ?? 0,
      pending: this.store.pending,
      uplink: { ...this.uplink.stats },
      bytesOut: client.bytesOut,
      connected: this.uplink.connected,
      firmware: this.ota?.stats.running,
      energy: this.#power.energy.snapshot({ ...this.#linkCounts() }, this.host.clock.monotonic.now()),
      suppressed: this.#filter.suppressed,
      retainedFailures: this.#power.restoreFailures,
    };
  }

  /** The duty-cycle mode in force (firmware/power.ts). */
  get power(): PowerManager {
    return this.#power;
  }

  /** The client's counters for the energy meter, in one object reused (a deep sleep saves them after every sample). */
  readonly #link = { connects: 0, secure: false, bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0 };

  #linkCounts() {
    const c = this.uplink.client.stats;
    const l = this.#link;
    l.connects = c.connects;
    l.secure = this.config.broker.secure !== undefined;
    l.bytesOut = c.bytesOut;
    l.bytesIn = c.bytesIn;
    l.packetsOut = c.packetsOut;
    l.packetsIn = c.packetsIn;
    return l;
  }

  #powerHooks() {
    const detector = this.#detector;
    const filter = this.#filter;
    const detectorBytes = detector ? detector.stateBytes : 0;
    return {
      connect: () => this.uplink.start(),
      disconnect: () => this.uplink.stop(),
      flush: () => this.uplink.kick(),
      connected: () => this.uplink.connected,
      idle: () => this.store.pending === 0 && this.uplink.inflight === 0 && !this.uplink.sideBusy && !this.uplink.healthBusy
        && (!this.ota || (this.ota.updater.state === 'idle' && !this.ota.stats.trial)),
      link: () => this.#linkCounts(),
      untilNextSampleMs: () => Math.max(0, this.#nextSampleAt - this.host.clock.monotonic.now()),
      resetState: () => {
        detector?.resetState();
        filter.reset();
      },
      stateBytes: filter.byteLength + detectorBytes,
      saveState: (view: DataView, offset: number) => {
        filter.save(view, offset);
        detector?.saveState(view, offset + filter.byteLength);
      },
      restoreState: (view: DataView, offset: number) => {
        // What RAM held is gone after a deep sleep: only what was retained comes back.
        detector?.resetState();
        filter.restore(view, offset);
        return detector ? detector.restoreState(view, offset + filter.byteLength) : true;
      },
    };
  }

  /**
   * An alert or a clear: logged, and its evidence published on pipewatch/<dev>/leak (QoS 1,
   * docs/payload.md) through the uplink's side channel. The alert itself is the stored reading
   * (alerts topic, durable); the evidence message is best effort: while the side channel is
   * busy (an OTA status, the previous event unacknowledged) it is dropped and counted.
   */
  #reportDetection(event: number, r: NewReading, seq: number): void {
    const d = this.#detector!;
    const alert = event === DetectEvent.alert;
    if (alert) {
      this.host.log('warn', `leak alert: channel ${r.channel} rose to ${r.value / 1000} °C, +${d.riseMilliCelsius / 1000} °C over baseline ${d.baselineMilliCelsius / 1000} °C, ${d.slopeMilliCelsiusPerMinute / 1000} °C/min (${RULE_NAMES[d.rule]} rule, #${seq})`);
    } else {
      this.host.log('info', `leak alert cleared: channel ${r.channel} back to ${r.value / 1000} °C (baseline ${d.baselineMilliCelsius / 1000} °C)`);
    }
    if (this.uplink.sideBusy) {
      this.#leakEventsDropped++;
      return;
    }
    const w = this.#leakMessage.reset();
    w.text('{"dev":"').text(this.config.deviceId).text('","seq":').int(seq).text(',"ts":').int(r.timeMs)
      .text(r.synced ? ',"sync":true,"ch":' : ',"sync":false,"ch":').int(r.channel)
      .text(alert ? ',"event":"alert","rule":"' : ',"event":"cleared","rule":"').text(RULE_NAMES[d.rule]!)
      .text('","mC":').int(r.value).text(',"rise_mC":').int(d.riseMilliCelsius)
      .text(',"slope_mC_per_min":').int(d.slopeMilliCelsiusPerMinute).text(',"baseline_mC":').int(d.baselineMilliCelsius).text('}');
    if (w.overflow || !this.uplink.sendSide(this.#leakTopic, w.bytes, w.length)) this.#leakEventsDropped++;
  }

  /** Reports a configuration entry the node skips: logged as an error, counted in `stats().configErrors`. */
  noteConfigError(message: string): void {
    this.#configErrors++;
    this.host.log('error', message);
  }

  #onSensorError(slot: SensorSlot, error: SensorError): void {
    // A conversion still under way is not a fault of the part (errors.ts): not counted.
    if (error.code === SensorErrorCode.NOT_READY) {
      this.host.log('debug', error.message);
      return;
    }
    this.#faults++;
    const one = error.channel !== undefined && error.channel >= 0 && error.channel < slot.channels.length;
    this.health.noteFault(one ? slot.firstChannel + error.channel! : slot.firstChannel, one ? 1 : slot.channels.length, error.code);
    this.host.log('warn', error.message);
  }

  #openStore(): ReadingStore {
    const provider = this.host.flash;
    if (provider) {
      let flash;
      try {
        flash = provider.open({ path: 'cache' });
      } catch (error) {
        this.host.log('warn', `no cache partition (${(error as Error).message}): readings are kept in RAM only`);
      }
      if (flash) {
        try {
          const cache = new FlashCache(flash);
          if (cache.stats.migratedReadings > 0) {
            this.host.log('warn', `cache partition of format 1 re-formatted: ${cache.stats.migratedReadings} unsent reading(s) could not be kept`);
          } else if (cache.stats.formatted) this.host.log('info', 'cache partition was unusable and has been formatted');
          if (cache.stats.badBlocks > 0) this.host.log('warn', `cache partition: ${cache.stats.badBlocks} bad block(s) skipped`);
          if (cache.stats.faults > 0) this.host.log('warn', `cache partition: ${cache.stats.faults} flash fault(s) at mount (${cache.stats.lastFault})`);
          return cache;
        } catch (error) {
          this.host.log('error', `cache partition cannot be mounted (${(error as Error).message}): readings are kept in RAM only`);
        }
      }
    } else {
      this.host.log('warn', 'this host has no flash: readings are kept in RAM only');
    }
    return new RamStore(this.config.ramCapacity ?? 128);
  }

  /**
   * Opens a sensor's driver. A part that is absent, not powered up yet or the wrong chip makes
   * the constructor throw: that is counted and reported, and the node tries again at the next
   * sample instead of failing as a whole. Any other error (no such bus on this host, an option
   * the IO class refuses) is a configuration error: reported once, and the sensor is skipped.
   */
  #open(slot: SensorSlot): SensorDriver | undefined {
    if (slot.unusable) return undefined;
    try {
      slot.driver = createSensor(this.host, slot.config, (error) => this.#onSensorError(slot, error));
    } catch (error) {
      if (error instanceof SensorError) this.#onSensorError(slot, error);
      else {
        slot.unusable = true;
        this.noteConfigError(`sensor ${slot.config.part} skipped: ${(error as Error).message}`);
      }
    }
    return slot.driver;
  }

  #closeSensors(): void {
    for (const sensor of this.#sensors) {
      sensor.driver?.close();
      sensor.driver = undefined;
    }
  }
}
