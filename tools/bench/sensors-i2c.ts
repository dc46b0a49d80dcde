/*
 * I2C sensor driver figures, measured in the real XS engine (@agoric/xsnap):
 * computrons per `read()` and per `sample()`, and heap growth per call in steady state.
 *
 * Each driver first runs against its simulated part through a recording I2C class; then a
 * second instance of the driver replays that tape through a trivial I2C class (a copy per read),
 * so the figures are the driver's own work, not the simulator's. Heap growth is XS slots in use
 * after a crank of calls minus before it, less the same for an empty crank, x 32 bytes, per call
 * (a driver that allocates shows here; `sample()` allocates its ECMA-419 result object).
 */
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker, XS_SLOT_BYTES } from '../../hosts/xs/worker';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Part, driver module, device module and class, address, ms between samples. */
const PARTS = [
  ['tmp117', 'TMP117', 'SimTMP117', 0x48, 1000],
  ['mcp9808', 'MCP9808', 'SimMCP9808', 0x18, 250],
  ['sht3x', 'SHT3x', 'SimSHT3x', 0x44, 1000],
  ['sht4x', 'SHT4x', 'SimSHT4x', 0x44, 100],
  ['mlx90614', 'MLX90614', 'SimMLX90614', 0x5a, 100],
  ['bme280', 'BME280', 'SimBME280', 0x76, 1000],
] as const;

const CALLS = 100;
const TAPE_SAMPLES = 2 + CALLS * 8;

function source(part: string, driver: string, device: string, address: number, intervalMs: number): string {
  return `
import Driver from './firmware/sensors/${part}';
import { ${device} as Device } from './simulator/devices/${part}';
import { SimI2CBus } from './simulator/devices/i2c-bus';
import { FixedEnv } from './simulator/devices/env';

const tape = [];
const env = new FixedEnv();
const bus = new SimI2CBus();
bus.attach(${address}, new Device(env));
const { I2C } = bus.classes();
class Recording extends I2C {
  read(buffer, stop) { super.read(buffer, stop); tape.push(Uint8Array.from(buffer)); }
}
let at = 0;
class Replay {
  constructor() {}
  read(buffer) { buffer.set(tape[at]); at = at + 1 === tape.length ? 0 : at + 1; }
  write() {}
  close() {}
}
let clock = 1000;
const now = () => clock;
env.time = 1000;
const recorder = new Driver({ sensor: { io: Recording, address: ${address} }, now: () => env.now() });
const out = new Int32Array(4);
let valid = 0;
for (let i = 0; i < ${TAPE_SAMPLES}; i++) {
  env.time += ${intervalMs};
  env.temperatureC = 20 + (i % 7) * 0.37;
  env.humidityRH = 40 + (i % 5);
  if (recorder.read(out)) valid++;
}
if (valid < ${TAPE_SAMPLES} - 2) throw new Error('${driver}: only ' + valid + ' valid samples while recording');
const driver = new Driver({ sensor: { io: Replay, address: ${address} }, now });
let failures = 0;
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes)[0];
  if (c === 1) for (let i = 0; i < ${CALLS}; i++) { clock += ${intervalMs}; if (!driver.read(out)) failures++; }
  if (c === 2) for (let i = 0; i < ${CALLS}; i++) { clock += ${intervalMs}; if (!driver.sample()) failures++; }
  if (c === 3) return new Uint8Array([failures]).buffer;
  if (c === 4) failures = 0;
  return new ArrayBuffer(0);
};
`;
}

export async function bench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [part, driver, device, address, intervalMs] of PARTS) {
    const code = await bundleForXs({ contents: source(part, driver, device, address, intervalMs), resolveDir: root });
    const worker = new XsWorker();
    try {
      await worker.evaluate(code);
      await worker.deliver(new Uint8Array([0]));
      const heapBefore = worker.lastMeter.currentHeapCount;
      const baseline = (await worker.deliver(new Uint8Array([0]))).meter.compute;
      const baselineSlots = worker.lastMeter.currentHeapCount - heapBefore;
      const measure = async (command: number) => {
        await worker.deliver(new Uint8Array([command]));
        await worker.deliver(new Uint8Array([4]));
        const before = worker.lastMeter.currentHeapCount;
        const run = await worker.deliver(new Uint8Array([command]));
        return {
          computrons: (run.meter.compute - baseline) / CALLS,
          bytes: ((run.meter.currentHeapCount - before - baselineSlots) * XS_SLOT_BYTES) / CALLS,
        };
      };
      const read = await measure(1);
      let failures = new Uint8Array((await worker.deliver(new Uint8Array([3]))).result)[0]!;
      const sample = await measure(2);
      failures += new Uint8Array((await worker.deliver(new Uint8Array([3]))).result)[0]!;
      if (failures) throw new Error(`${driver}: ${failures} calls failed while replaying`);
      figures[`sensors.${part}.readComputrons`] = Math.round(read.computrons);
      figures[`sensors.${part}.readHeapBytes`] = Math.round(read.bytes * 10) / 10;
      figures[`sensors.${part}.sampleComputrons`] = Math.round(sample.computrons);
      figures[`sensors.${part}.sampleHeapBytes`] = Math.round(sample.bytes * 10) / 10;
    } finally {
      worker.close();
    }
  }
  return figures;
}
