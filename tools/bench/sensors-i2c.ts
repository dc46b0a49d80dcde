/*
 * I2C sensor driver figures, measured in the real XS engine (@agoric/xsnap):
 * computrons per `read()` and per `sample()`, and heap growth per call in steady state.
 *
 * Each driver first runs against its simulated part through a recording I2C class; then a
 * second instance of the driver replays that tape through a trivial I2C class (a copy per read),
 * so the figures are the driver's own work, not the simulator's. Heap growth is XS slots in use
 * after a crank of calls minus before it, less the same for an empty crank, x 32 bytes, per call
 * (a driver that allocates shows here; `sample()` reuses one result object, so the target is 0).
 * The harness is lib/sensor-harness.ts.
 */
import { measureDriver, replaySource } from './lib/sensor-harness';

/** Part, driver module, device module and class, address, ms between samples. */
const PARTS = [
  ['tmp117', 'TMP117', 'SimTMP117', 0x48, 1000],
  ['mcp9808', 'MCP9808', 'SimMCP9808', 0x18, 250],
  ['sht3x', 'SHT3x', 'SimSHT3x', 0x44, 1000],
  ['sht4x', 'SHT4x', 'SimSHT4x', 0x44, 100],
  ['mlx90614', 'MLX90614', 'SimMLX90614', 0x5a, 100],
  ['bme280', 'BME280', 'SimBME280', 0x76, 1000],
] as const;

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
env.time = 1000;
const recorder = new Driver({ sensor: { io: Recording, address: ${address} }, now: () => env.now() });
const out = new Int32Array(4);
${replaySource(driver, intervalMs, 'env.temperatureC = 20 + (i % 7) * 0.37; env.humidityRH = 40 + (i % 5);', `const driver = new Driver({ sensor: { io: Replay, address: ${address} }, now: () => clock });`)}`;
}

export async function bench(): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [part, driver, device, address, intervalMs] of PARTS) {
    await measureDriver(part, source(part, driver, device, address, intervalMs), figures);
  }
  return figures;
}
