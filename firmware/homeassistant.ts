/*
 * Home Assistant MQTT discovery (opt-in: `integrations.homeassistant` in the node config), in
 * docs/payload.md ("Home Assistant"). After each CONNACK, and whenever Home Assistant's birth
 * message (`homeassistant/status` = `online`) arrives, the node publishes one retained discovery
 * message per channel on `<prefix>/sensor/<object>_<ch>/config` (QoS 0; <object> is the device id
 * with anything outside [A-Za-z0-9_-] as '_'):
 *
 *   {"name":"ch0 tmp117 temperature","unique_id":"pipewatch_node-001_0",
 *    "device_class":"temperature","unit_of_measurement":"°C","state_class":"measurement",
 *    "state_topic":"pipewatch/node-001/ha","value_template":"{{ value_json.ch0 }}",
 *    "availability_topic":"pipewatch/node-001/status","payload_available":"online",
 *    "payload_not_available":"offline","device":{"identifiers":["pipewatch_node-001"],
 *    "name":"node-001","manufacturer":"pipewatch","model":"...","sw_version":"1.0.0"}}
 *
 * The state: after each sample, one retained QoS 0 message on `pipewatch/<dev>/ha` with every
 * channel's value in its Home Assistant unit (°C and % with three decimals, Pa whole), or null
 * for a channel that gave no valid reading this sample (Home Assistant shows it unknown: never
 * a plausible-looking number). The readings themselves still go out on the durable path.
 * Availability is the node's status topic (retained `online` / `offline`, and the will).
 *
 * Fixed memory: the discovery topics (one per channel) and two message buffers are made in the
 * constructor; a sample writes its values into an Int32Array and builds the state in place.
 */
import type { Host } from './host';
import type { ChannelInfo } from './sensors/registry';
import type { Uplink } from './uplink/uplink';
import { AsciiWriter, asciiBytes } from './uplink/ascii';

export interface HomeAssistantConfig {
  /** Discovery prefix (Home Assistant's default "homeassistant"): 1 to 64 of [A-Za-z0-9_-]. */
  prefix?: string;
  /** The device block's model (default "pipewatch node"): up to 64 of [A-Za-z0-9 ._+-]. */
  model?: string;
}

/** Per channel kind: device_class, unit_of_measurement (JSON text), decimals of the fixed-point value. */
const KINDS = Object.freeze({
  milliCelsius: Object.freeze({ deviceClass: 'temperature', unit: '\\u00b0C', decimals: 3 }),
  milliPercentRH: Object.freeze({ deviceClass: 'humidity', unit: '%', decimals: 3 }),
  pascal: Object.freeze({ deviceClass: 'pressure', unit: 'Pa', decimals: 0 }),
});

export const DISCOVERY_BYTES = 768;
export const STATE_BYTES_PER_CHANNEL = 24;

export interface HomeAssistantStats {
  /** Discovery messages published, announcements (rounds), birth messages seen, messages that did not fit or go out. */
  published: number;
  announcements: number;
  births: number;
  states: number;
  unsent: number;
}

export interface HomeAssistantChannel {
  info: ChannelInfo;
  /** "ch0 tmp117 temperature". */
  label: string;
}

/** `s` (at most 64 characters) with anything outside [A-Za-z0-9_-] and `extra` as '_'. */
function sanitized(s: string, extra: string): string {
  let out = '';
  for (let i = 0; i < s.length && i < 64; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d || extra.indexOf(s[i]!) >= 0;
    out += ok ? s[i] : '_';
  }
  return out;
}

/** A config value as given, or the reason it is refused (the node falls back to the default and counts a config error). */
export function checkHomeAssistantConfig(c: unknown): string {
  if (c === true || c === undefined) return '';
  if (typeof c !== 'object' || c === null) return 'integrations.homeassistant takes true or { prefix, model }';
  const o = c as HomeAssistantConfig;
  const fits = (v: unknown, extra: string) => typeof v === 'string' && v.length >= 1 && v.length <= 64 && sanitized(v, extra) === v;
  if (o.prefix !== undefined && !fits(o.prefix, '')) return 'integrations.homeassistant.prefix takes 1 to 64 of A-Z a-z 0-9 _ -';
  if (o.model !== undefined && !fits(o.model, ' .+')) return 'integrations.homeassistant.model takes 1 to 64 of A-Z a-z 0-9 space . _ + -';
  return '';
}

export class HomeAssistant {
  readonly #uplink: Uplink;
  readonly #deviceId: string;
  readonly #object: string;
  readonly #model: string;
  readonly #channels: readonly HomeAssistantChannel[];
  readonly #labels: string[] = [];
  readonly #version: string;
  readonly #topics: Uint8Array[] = [];
  readonly #stateTopic: Uint8Array;
  readonly #stateName: string;
  readonly #statusName: string;
  readonly #birthTopic: string;
  readonly #discovery = new AsciiWriter(DISCOVERY_BYTES);
  readonly #state: AsciiWriter;
  readonly #values: Int32Array;
  readonly #valid: Uint8Array;
  readonly stats: HomeAssistantStats = { published: 0, announcements: 0, births: 0, states: 0, unsent: 0 };

  /** `config` must have passed checkHomeAssistantConfig (or be true). */
  constructor(host: Host, deviceId: string, channels: readonly HomeAssistantChannel[], uplink: Uplink, config: HomeAssistantConfig | true) {
    this.#uplink = uplink;
    this.#deviceId = deviceId;
    this.#channels = channels;
    const o = config === true ? {} : config;
    const prefix = o.prefix ?? 'homeassistant';
    this.#model = o.model ?? 'pipewatch node';
    this.#object = sanitized(deviceId, '');
    for (let c = 0; c < channels.length; c++) {
      this.#topics.push(asciiBytes(`${prefix}/sensor/${this.#object}_${c}/config`));
      this.#labels.push(sanitized(channels[c]!.label, ' .'));
    }
    this.#version = runningVersion(host);
    this.#stateName = `pipewatch/${deviceId}/ha`;
    this.#stateTopic = asciiBytes(this.#stateName);
    this.#statusName = `pipewatch/${deviceId}/status`;
    this.#birthTopic = `${prefix}/status`;
    this.#state = new AsciiWriter(8 + channels.length * STATE_BYTES_PER_CHANNEL);
    this.#values = new Int32Array(Math.max(1, channels.length));
    this.#valid = new Uint8Array(Math.max(1, channels.length));
  }

  /** Subscribes to Home Assistant's birth topic and announces after each CONNACK. */
  start(): void {
    this.#uplink.watch(this.#birthTopic, (payload) => this.onBirth(payload), () => this.announce());
  }

  /** `homeassistant/status`: `online` (Home Assistant started) re-announces; anything else is ignored. */
  onBirth(payload: Uint8Array): void {
    if (payload.length !== 6 || payload[0] !== 0x6f || payload[1] !== 0x6e || payload[2] !== 0x6c || payload[3] !== 0x69 || payload[4] !== 0x6e || payload[5] !== 0x65) return;
    this.stats.births++;
    this.announce();
  }

  /** Publishes every channel's discovery message (retained). Returns how many went out. */
  announce(): number {
    this.stats.announcements++;
    let sent = 0;
    for (let c = 0; c < this.#channels.length; c++) {
      const length = this.buildDiscovery(c);
      if (length > 0 && this.#uplink.publishNow(this.#topics[c]!, this.#discovery.bytes, length, true)) {
        sent++;
        this.stats.published++;
      } else this.stats.unsent++;
    }
    return sent;
  }

  /** The discovery topic of channel `c`. */
  topic(c: number): Uint8Array | undefined {
    return this.#topics[c];
  }

  /** Builds channel `c`'s discovery message in the discovery buffer; its length, or 0 when it did not fit. */
  buildDiscovery(c: number): number {
    const ch = this.#channels[c]!;
    const kind = KINDS[ch.info.kind] ?? KINDS.milliCelsius;
    const w = this.#discovery.reset();
    w.text('{"name":"').text(this.#labels[c]!).text('","unique_id":"pipewatch_').text(this.#object).text('_').int(c);
    w.text('","device_class":"').text(kind.deviceClass).text('","unit_of_measurement":"').text(kind.unit);
    w.text('","state_class":"measurement","state_topic":"').text(this.#stateName);
    w.text('","value_template":"{{ value_json.ch').int(c).text(' }}","availability_topic":"').text(this.#statusName);
    w.text('","payload_available":"online","payload_not_available":"offline","device":{"identifiers":["pipewatch_').text(this.#object);
    w.text('"],"name":"').text(this.#deviceId).text('","manufacturer":"pipewatch","model":"').text(this.#model).text('"');
    if (this.#version !== '') w.text(',"sw_version":"').text(this.#version).text('"');
    w.text('}}');
    return w.overflow ? 0 : w.length;
  }

  /** The discovery buffer (valid after buildDiscovery). */
  get discoveryBytes(): Uint8Array {
    return this.#discovery.bytes;
  }

  /** Channel `c`'s value this sample (fixed point as read), or no valid reading. */
  note(c: number, valid: boolean, value: number): void {
    if (c < 0 || c >= this.#channels.length) return;
    this.#valid[c] = valid ? 1 : 0;
    this.#values[c] = value;
  }

  /** Publishes the sample's state (retained) and clears it for the next sample. */
  publishState(): boolean {
    const length = this.buildState();
    for (let c = 0; c < this.#valid.length; c++) this.#valid[c] = 0;
    if (length > 0 && this.#uplink.publishNow(this.#stateTopic, this.#state.bytes, length, true)) {
      this.stats.states++;
      return true;
    }
    if (this.#uplink.connected) this.stats.unsent++;
    return false;
  }

  /** Builds the state message in the state buffer; its length (0: did not fit). */
  buildState(): number {
    const w = this.#state.reset();
    w.text('{');
    for (let c = 0; c < this.#channels.length; c++) {
      w.text(c === 0 ? '"ch' : ',"ch').int(c).text('":');
      if (this.#valid[c] === 0) {
        w.text('null');
        continue;
      }
      const kind = KINDS[this.#channels[c]!.info.kind] ?? KINDS.milliCelsius;
      writeFixed(w, this.#values[c]!, kind.decimals);
    }
    w.text('}');
    return w.overflow ? 0 : w.length;
  }

  get stateBytes(): Uint8Array {
    return this.#state.bytes;
  }

}

/** The running image's version (Host.update), sanitised; '' when the host does not say. */
function runningVersion(host: Host): string {
  const update = host.update;
  if (!update) return '';
  try {
    const running = update.running();
    return running ? sanitized(running.version, '.+') : '';
  } catch {
    return '';
  }
}

/** `value` / 10^decimals in decimal, e.g. 61234 with 3 decimals as 61.234, -5 as -0.005. */
function writeFixed(w: AsciiWriter, value: number, decimals: number): void {
  if (decimals === 0) {
    w.int(value);
    return;
  }
  let scale = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const negative = value < 0;
  const abs = negative ? -value : value;
  const whole = Math.floor(abs / scale);
  let frac = abs - whole * scale;
  if (negative) w.text('-');
  w.int(whole).text('.');
  for (let d = scale / 10; d >= 1; d /= 10) {
    const digit = Math.floor(frac / d);
    w.int(digit);
    frac -= digit * d;
  }
}
