/*
 * 1-Wire, SPI and analog sensor driver figures, measured in the real XS engine (@agoric/xsnap):
 * computrons per `read()` and per `sample()`, and heap growth per call in steady state.
 *
 * As in sensors-i2c.ts: each driver first runs against its simulated part through recording IO
 * classes; a second instance then replays that tape through trivial IO classes, so the figures
 * are the driver's own work (CRC, decoding, Callendar–Van Dusen, Steinhart–Hart), not the
 * simulator's. Heap growth is XS slots in use after a crank of calls minus before it, less the
 * same for an empty crank, × 32 bytes, per call. These drivers reuse one result object in
 * `sample()`, so the target for both is 0. The harness is lib/sensor-harness.ts.
 */
import { measureDriver, replaySource } from './lib/sensor-harness';

const common = `
const tape = [];
let at = 0;
const next = () => { const v = tape[at]; at = at + 1 === tape.length ? 0 : at + 1; return v; };
const copy = (b) => Uint8Array.from(new Uint8Array(b.buffer || b, b.byteOffset || 0, b.byteLength));
`;

/** Per part: imports, the rig built on the simulated bus, the driver options, ms between samples. */
const PARTS: Record<string, { setup: string; options: string; intervalMs: number; vary: string }> = {
  ds18b20: {
    intervalMs: 750,
    vary: 'env.temperatureC = 60 + (i % 7) * 0.37;',
    setup: `
import { SimOneWireBus } from './simulator/devices/onewire-bus';
import { SimDs18b20 } from './simulator/devices/ds18b20';
import { romToString } from './firmware/sensors/ds18b20';
const bus = new SimOneWireBus();
const part = new SimDs18b20(env, 0x1234);
bus.attach(part);
bus.attach(new SimDs18b20(env, 0x5678));
const { OneWire } = bus.classes();
class Recording extends OneWire {
  reset() { const r = super.reset(); tape.push(r); return r; }
  read(b) { super.read(b); tape.push(copy(b)); }
}
class Replay { constructor() {} reset() { return next(); } write() {} read(b) { b.set(next()); } search() { return []; } close() {} }
const extra = { rom: romToString(part.rom), pin: 4 };`,
    options: '',
  },
  max31855: {
    intervalMs: 100,
    vary: 'env.temperatureC = 400 + (i % 7) * 0.37;',
    setup: `
import { SimSPIBus } from './simulator/devices/spi-bus';
import { SimMax31855 } from './simulator/devices/max31855';
const bus = new SimSPIBus();
bus.attach(0, new SimMax31855(env));
const { SPI } = bus.classes();
class Recording extends SPI { read(b) { super.read(b); tape.push(copy(b)); } }
class Replay { constructor() {} read(b) { b.set(next()); } write() {} transfer(b) { b.set(next()); } close() {} }
const extra = { select: 0 };`,
    options: '',
  },
  max31856: {
    intervalMs: 160,
    vary: 'env.temperatureC = 400 + (i % 7) * 0.37;',
    setup: `
import { SimSPIBus } from './simulator/devices/spi-bus';
import { SimMax31856 } from './simulator/devices/max31856';
const bus = new SimSPIBus();
bus.attach(0, new SimMax31856(env));
const { SPI } = bus.classes();
class Recording extends SPI {
  read(b) { super.read(b); tape.push(copy(b)); }
  transfer(b) { super.transfer(b); tape.push(copy(b)); }
}
class Replay { constructor() {} read(b) { b.set(next()); } write() {} transfer(b) { b.set(next()); } close() {} }
const extra = { select: 0 };`,
    options: '',
  },
  max31865: {
    intervalMs: 60,
    vary: 'env.temperatureC = 180 + (i % 7) * 0.37;',
    setup: `
import { SimSPIBus } from './simulator/devices/spi-bus';
import { SimMax31865 } from './simulator/devices/max31865';
const bus = new SimSPIBus();
bus.attach(0, new SimMax31865(env));
const { SPI } = bus.classes();
class Recording extends SPI {
  read(b) { super.read(b); tape.push(copy(b)); }
  transfer(b) { super.transfer(b); tape.push(copy(b)); }
}
class Replay { constructor() {} read(b) { b.set(next()); } write() {} transfer(b) { b.set(next()); } close() {} }
const extra = { select: 0 };`,
    options: '',
  },
  ntc: {
    intervalMs: 100,
    vary: 'env.temperatureC = 20 + (i % 7) * 0.37;',
    setup: `
import { SimAdc, SimNtcDivider } from './simulator/devices/analog';
import { SimNtc } from './simulator/devices/ntc';
const adc = new SimAdc(3.3, 12);
adc.attach(0, new SimNtcDivider(new SimNtc(env), 10000, 3.3));
const { Analog } = adc.classes();
class Recording extends Analog { read() { const c = super.read(); tape.push(c); return c; } }
class Replay { constructor() { this.resolution = 12; } read() { return next(); } close() {} }
const extra = { pin: 0 };`,
    options: `thermistor: { steinhartHart: [0.000873628389803812, 0.00025388409535530233, 1.8178177112892895e-7] }, seriesOhms: 10000,`,
  },
};

function source(part: string): string {
  const p = PARTS[part]!;
  return `
import Driver from './firmware/sensors/${part}';
import { FixedEnv } from './simulator/devices/env';
${common}
const env = new FixedEnv();
env.time = 1000;
${p.setup}
const recorder = new Driver({ sensor: { io: Recording, ...extra }, now: () => env.now(), ${p.options} });
const out = new Int32Array(4);
${replaySource(part, p.intervalMs, p.vary, `const driver = new Driver({ sensor: { io: Replay, ...extra }, now: () => clock, ${p.options} });`)}`;
}

export async function bench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const part of Object.keys(PARTS)) await measureDriver(part, source(part), figures);
  return figures;
}
