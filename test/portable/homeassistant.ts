/*
 * Home Assistant MQTT discovery (firmware/homeassistant.ts), on Node and XS: each channel's
 * discovery message uses only the keys Home Assistant documents for an MQTT sensor and carries
 * the ones it needs; a consumer that reads the messages as Home Assistant does (subscribe to
 * state_topic, render value_template) finds each channel's value; a channel without a valid
 * reading is unknown, never a number; Home Assistant's birth message re-announces.
 */
import type { Host } from '../../firmware/host';
import type { Uplink } from '../../firmware/uplink/uplink';
import { checkHomeAssistantConfig, HomeAssistant, type HomeAssistantChannel } from '../../firmware/homeassistant';
import { equal, ok } from '../harness/assert';

/**
 * The keys of an MQTT sensor's discovery payload that Home Assistant documents
 * (https://www.home-assistant.io/integrations/sensor.mqtt, "Configuration Variables"; the
 * device block's keys from the same page), for those this module may use.
 */
const SENSOR_KEYS = Object.freeze([
  'availability_topic', 'payload_available', 'payload_not_available', 'device', 'device_class', 'name',
  'state_class', 'state_topic', 'unique_id', 'unit_of_measurement', 'value_template', 'expire_after', 'force_update', 'icon', 'qos',
]);
const DEVICE_KEYS = Object.freeze(['identifiers', 'name', 'manufacturer', 'model', 'sw_version', 'hw_version', 'connections', 'configuration_url', 'suggested_area', 'via_device']);
/** Device classes and the units Home Assistant accepts for each (sensor device classes table). */
const UNITS: Record<string, readonly string[]> = Object.freeze({
  temperature: ['°C', '°F', 'K'],
  humidity: ['%'],
  pressure: ['cbar', 'bar', 'hPa', 'mmHg', 'inHg', 'kPa', 'mbar', 'Pa', 'psi'],
});

const channels: HomeAssistantChannel[] = [
  { info: { kind: 'milliCelsius', name: 'temperature' }, label: 'ch0 bme280 temperature' },
  { info: { kind: 'milliPercentRH', name: 'humidity' }, label: 'ch1 bme280 humidity' },
  { info: { kind: 'pascal', name: 'pressure' }, label: 'ch2 bme280 pressure' },
];

interface Sent {
  topic: string;
  payload: string;
  retain: boolean;
}

function text(bytes: Uint8Array, length = bytes.length): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function rig(version = '1.4.0', config: Parameters<typeof checkHomeAssistantConfig>[0] = true) {
  const sent: Sent[] = [];
  let watched: { topic: string; onMessage: (p: Uint8Array) => void; onConnected: () => void } | undefined;
  const uplink = {
    connected: true,
    watch(topic: string, onMessage: (p: Uint8Array) => void, onConnected: () => void) {
      watched = { topic, onMessage, onConnected };
    },
    publishNow(topic: Uint8Array, payload: Uint8Array, length: number, retain: boolean) {
      if (!this.connected) return false;
      sent.push({ topic: text(topic), payload: text(payload, length), retain });
      return true;
    },
  };
  const host = { update: { running: () => ({ slot: 1, version }) } } as unknown as Host;
  const ha = new HomeAssistant(host, 'pipe.7', channels, uplink as unknown as Uplink, config as never);
  ha.start();
  return { ha, sent, uplink, watched: () => watched! };
}

function bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** Renders the templates this module emits the way Home Assistant's Jinja does: `{{ value_json.<key> }}`. */
function render(template: string, payload: string): string {
  const m = /^\{\{ value_json\.([A-Za-z0-9_]+) \}\}$/.exec(template);
  ok(m, `a simple template: ${template}`);
  const v = (JSON.parse(payload) as Record<string, unknown>)[m[1]!];
  return v === null || v === undefined ? 'None' : String(v);
}

export const tests = {
  'one retained discovery message per channel, with the documented keys only and the required ones'() {
    const { ha, sent, watched } = rig();
    equal(watched().topic, 'homeassistant/status');
    watched().onConnected();
    equal(sent.length, 3);
    equal(ha.stats.published, 3);
    const ids = new Set<string>();
    sent.forEach((m, c) => {
      equal(m.topic, `homeassistant/sensor/pipe_7_${c}/config`);
      ok(m.retain, 'retained');
      const p = JSON.parse(m.payload) as Record<string, any>;
      for (const key of Object.keys(p)) ok(SENSOR_KEYS.includes(key), `undocumented key ${key}`);
      for (const key of Object.keys(p.device)) ok(DEVICE_KEYS.includes(key), `undocumented device key ${key}`);
      for (const key of ['name', 'unique_id', 'device_class', 'unit_of_measurement', 'state_topic', 'value_template', 'availability_topic', 'payload_available', 'payload_not_available', 'device']) {
        ok(p[key] !== undefined, `${key} present`);
      }
      ok(UNITS[p.device_class]!.includes(p.unit_of_measurement), `${p.device_class} in ${p.unit_of_measurement}`);
      equal(p.state_class, 'measurement');
      equal(p.state_topic, 'pipewatch/pipe.7/ha');
      equal(p.availability_topic, 'pipewatch/pipe.7/status');
      equal(p.payload_available, 'online');
      equal(p.payload_not_available, 'offline');
      ok(Array.isArray(p.device.identifiers) && p.device.identifiers[0] === 'pipewatch_pipe_7', 'device identifiers');
      equal(p.device.name, 'pipe.7');
      equal(p.device.model, 'pipewatch node');
      equal(p.device.sw_version, '1.4.0');
      equal(p.name, channels[c]!.label);
      ids.add(p.unique_id);
    });
    equal(JSON.stringify(sent.map((m) => JSON.parse(m.payload).device_class)), '["temperature","humidity","pressure"]');
    equal(JSON.parse(sent[0]!.payload).unit_of_measurement, '°C');
    equal(ids.size, 3, 'unique ids');
  },
  'a consumer that renders value_template on state_topic finds each channel value; a fault is unknown'() {
    const { ha, sent, watched } = rig();
    watched().onConnected();
    const configs = sent.map((m) => JSON.parse(m.payload) as { state_topic: string; value_template: string });
    ha.note(0, true, 61234);
    ha.note(1, true, 45500);
    ha.note(2, true, 101325);
    ok(ha.publishState());
    const state = sent[sent.length - 1]!;
    equal(state.topic, configs[0]!.state_topic);
    ok(state.retain, 'the state is retained');
    equal(render(configs[0]!.value_template, state.payload), '61.234');
    equal(render(configs[1]!.value_template, state.payload), '45.5');
    equal(render(configs[2]!.value_template, state.payload), '101325');
    // next sample: channel 1 faulted, channel 0 below zero
    ha.note(0, true, -5);
    ha.note(1, false, 0);
    ha.note(2, true, 99000);
    ha.publishState();
    const next = sent[sent.length - 1]!.payload;
    equal(render(configs[0]!.value_template, next), '-0.005');
    equal(render(configs[1]!.value_template, next), 'None', 'no number for a faulted channel');
    // a channel not read at all this sample (its sensor could not be opened) is unknown too
    ha.publishState();
    equal(render(configs[2]!.value_template, sent[sent.length - 1]!.payload), 'None');
  },
  'birth message online re-announces; anything else does not'() {
    const { ha, sent, watched } = rig();
    watched().onConnected();
    watched().onMessage(bytes('offline'));
    equal(sent.length, 3);
    watched().onMessage(bytes('onlinex'));
    equal(sent.length, 3);
    watched().onMessage(bytes('online'));
    equal(sent.length, 6);
    equal(ha.stats.births, 1);
    equal(ha.stats.announcements, 2);
  },
  'offline: nothing is sent and nothing is queued'() {
    const { ha, sent, uplink, watched } = rig();
    uplink.connected = false;
    watched().onConnected();
    ha.note(0, true, 1);
    ok(!ha.publishState());
    equal(sent.length, 0);
    equal(ha.stats.unsent, 3, 'the discovery messages that could not go out');
  },
  'configuration: prefix and model checked, a bad one refused with its reason'() {
    equal(checkHomeAssistantConfig(true), '');
    equal(checkHomeAssistantConfig({ prefix: 'ha', model: 'ESP32 pipe node 2.1' }), '');
    ok(checkHomeAssistantConfig({ prefix: 'home/assistant' }).includes('prefix'));
    ok(checkHomeAssistantConfig({ model: 'x"y' }).includes('model'));
    ok(checkHomeAssistantConfig(7).includes('true or'));
    const { sent, watched } = rig('1.0.0', { prefix: 'ha', model: 'ESP32 pipe node' });
    watched().onConnected();
    equal(sent[0]!.topic, 'ha/sensor/pipe_7_0/config');
    equal(JSON.parse(sent[0]!.payload).device.model, 'ESP32 pipe node');
  },
  'fixed memory: the same buffers for every state and announcement'() {
    const { ha, watched } = rig();
    watched().onConnected();
    const stateBuffer = ha.stateBytes;
    const discovery = ha.discoveryBytes;
    for (let i = 0; i < 50; i++) {
      ha.note(0, true, i * 1000);
      ha.publishState();
      ha.announce();
    }
    ok(ha.stateBytes === stateBuffer && ha.discoveryBytes === discovery, 'buffers reused');
  },
};

/** For the XS heap probe in test/homeassistant.test.ts: states and announcements without growth. */
let probe: ReturnType<typeof rig> | undefined;
export const heapProbe = {
  setup(): void {
    probe = rig();
    probe.watched().onConnected();
  },
  run(n: number): number {
    const p = probe!;
    for (let i = 0; i < n; i++) {
      p.ha.note(0, true, 60000 + i);
      p.ha.note(1, true, 40000 + i);
      p.ha.note(2, true, 100000 + i);
      p.ha.publishState();
      p.sent.length = 0;
    }
    return p.ha.stats.states;
  },
};
