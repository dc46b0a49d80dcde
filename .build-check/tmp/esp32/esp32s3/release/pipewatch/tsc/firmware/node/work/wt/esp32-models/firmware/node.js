import { FlashCache } from './cache/index';
import { SpikeDetector } from './detect';
import { RamStore } from './outbox';
import { ReadingKind } from './store';
import { isValidId } from './uplink/ascii';
import { Uplink } from './uplink/uplink';
import { channelsOf, createSensor } from './sensors/registry';
import { SensorError, SensorErrorCode } from './sensors/errors';
import { OtaAgent } from './ota/agent';
const kindOf = {
    milliCelsius: ReadingKind.milliCelsius,
    milliPercentRH: ReadingKind.milliPercentRH,
    pascal: ReadingKind.pascal,
};
export class PipewatchNode {
    host;
    config;
    store;
    uplink;
    ota;
    #sensors = [];
    #values = new Int32Array(8);
    #detector;
    #scratch = { timeMs: 0, synced: false, channel: 0, kind: 0, value: 0, alert: false };
    #timer;
    #sampling = false;
    #samples = 0;
    #generated = 0;
    #faults = 0;
    #configErrors = 0;
    constructor(host, config) {
        if (!isValidId(config.deviceId))
            throw new Error(`invalid device id "${config.deviceId}": 1-64 of [A-Za-z0-9_.-]`);
        this.host = host;
        this.config = config;
        this.store = config.store ?? this.#openStore();
        let channel = 0;
        for (const sensorConfig of config.sensors) {
            let channels;
            try {
                channels = channelsOf(sensorConfig.part);
            }
            catch (error) {
                // A node that stops at boot over one bad entry has no uplink left to be fixed through.
                this.noteConfigError(`sensor skipped: ${error.message}`);
                continue;
            }
            this.#sensors.push({ config: sensorConfig, channels, firstChannel: channel, driver: undefined, unusable: false });
            channel += channels.length;
        }
        this.#detector = config.alert === false ? undefined : new SpikeDetector(channel, config.alert);
        this.uplink = new Uplink(host, this.store, {
            deviceId: config.deviceId,
            address: config.broker.address,
            port: config.broker.port,
            secure: config.broker.secure,
            username: config.broker.username,
            password: config.broker.password,
            keepaliveSec: config.broker.keepaliveSec,
            ...config.uplink,
        });
        let ota;
        if (config.ota) {
            const created = OtaAgent.create(host, config.deviceId, this.uplink, config.ota);
            if (typeof created === 'string')
                host.log('warn', `OTA updates off: ${created}`);
            else
                ota = created;
        }
        this.ota = ota;
        if (ota)
            this.uplink.onCommand = (topic, payload) => ota.onMessage(topic, payload);
    }
    start() {
        // Parts need a moment after power-up before they answer on their bus (TMP117: 1.5 ms);
        // opening them shortly after boot gives their first conversion time before the first sample.
        this.host.timers.set(() => {
            for (const slot of this.#sensors)
                if (!slot.driver)
                    this.#open(slot);
        }, 250);
        this.startSampling();
        this.uplink.start();
        this.ota?.boot();
    }
    startSampling() {
        if (this.#sampling)
            return;
        this.#sampling = true;
        const interval = this.config.intervalMs ?? 10_000;
        // First sample soon after boot (sensors need their power-up and first conversion), then every interval.
        this.#timer = this.host.timers.set(() => this.sampleNow(), Math.min(interval, 2000), interval);
    }
    /** Stops taking readings; the uplink keeps draining what is stored. */
    stopSampling() {
        this.#sampling = false;
        this.host.timers.clear(this.#timer);
        this.#timer = undefined;
    }
    stop() {
        this.stopSampling();
        this.ota?.close();
        this.uplink.stop();
        this.#closeSensors();
    }
    /** Reads every sensor once and stores each valid channel. */
    sampleNow() {
        this.#samples++;
        const wall = this.host.clock.wall.now();
        const monotonic = this.host.clock.monotonic.now();
        const timeMs = wall ?? monotonic;
        for (const sensor of this.#sensors) {
            const driver = sensor.driver ?? this.#open(sensor);
            if (!driver)
                continue;
            const valid = driver.read(this.#values);
            for (let c = 0; c < sensor.channels.length; c++) {
                if ((valid & (1 << c)) === 0)
                    continue;
                const channel = sensor.firstChannel + c;
                const kind = kindOf[sensor.channels[c].kind] ?? ReadingKind.milliCelsius;
                const value = this.#values[c];
                const alert = kind === ReadingKind.milliCelsius && !!this.#detector?.update(channel, monotonic, value);
                const r = this.#scratch;
                r.timeMs = timeMs;
                r.synced = wall !== undefined;
                r.channel = channel;
                r.kind = kind;
                r.value = value;
                r.alert = alert;
                const seq = this.store.append(r);
                // The newest reading goes out ahead of a backlog (alerts have their own path); this
                // also publishes it when the window has room, so the sample needs no kick of its own.
                this.uplink.noteStored(seq, r);
                if (alert)
                    this.host.log('warn', `leak alert: channel ${channel} rose to ${value / 1000} °C (#${seq})`);
                if (seq >= 0) {
                    this.#generated++;
                    this.ota?.noteReading();
                }
            }
        }
    }
    stats() {
        const client = this.uplink.client.stats;
        return {
            deviceId: this.config.deviceId,
            readingsGenerated: this.#generated,
            alerts: this.#detector?.alerts ?? 0,
            samples: this.#samples,
            sensorFaults: this.#faults,
            configErrors: this.#configErrors,
            stored: this.store.stats.appended,
            dropped: this.store.stats.dropped,
            pending: this.store.pending,
            uplink: { ...this.uplink.stats },
            bytesOut: client.bytesOut,
            connected: this.uplink.connected,
            firmware: this.ota?.stats.running,
        };
    }
    /** Reports a configuration entry the node skips: logged as an error, counted in `stats().configErrors`. */
    noteConfigError(message) {
        this.#configErrors++;
        this.host.log('error', message);
    }
    #onSensorError(error) {
        // A conversion still under way is not a fault of the part (errors.ts): not counted.
        if (error.code === SensorErrorCode.NOT_READY) {
            this.host.log('debug', error.message);
            return;
        }
        this.#faults++;
        this.host.log('warn', error.message);
    }
    #openStore() {
        const provider = this.host.flash;
        if (provider) {
            let flash;
            try {
                flash = provider.open({ path: 'cache' });
            }
            catch (error) {
                this.host.log('warn', `no cache partition (${error.message}): readings are kept in RAM only`);
            }
            if (flash) {
                const cache = new FlashCache(flash);
                if (cache.stats.formatted)
                    this.host.log('info', 'cache partition was unusable and has been formatted');
                return cache;
            }
        }
        else {
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
    #open(slot) {
        if (slot.unusable)
            return undefined;
        try {
            slot.driver = createSensor(this.host, slot.config, (error) => this.#onSensorError(error));
        }
        catch (error) {
            if (error instanceof SensorError)
                this.#onSensorError(error);
            else {
                slot.unusable = true;
                this.noteConfigError(`sensor ${slot.config.part} skipped: ${error.message}`);
            }
        }
        return slot.driver;
    }
    #closeSensors() {
        for (const sensor of this.#sensors) {
            sensor.driver?.close();
            sensor.driver = undefined;
        }
    }
}
//# sourceMappingURL=node.js.map