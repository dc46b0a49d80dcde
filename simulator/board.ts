/*
 * A simulated board: the buses of one node with simulated parts attached where its
 * configuration says, each part sensing the world at its position. Portable: the XS host
 * builds the same board inside the engine.
 */
import type { Host } from '../firmware/host';
import type { SensorConfig } from '../firmware/sensors/registry';
import type { SimEnv } from './devices/env';
import { SimI2CBus } from './devices/i2c-bus';
import { SimTMP117 } from './devices/tmp117';

export interface SimBoard {
  io: Pick<Host['io'], 'I2C' | 'SMBus'>;
  i2c: SimI2CBus;
}

const i2cParts: Record<string, { address: number; make(env: SimEnv, seed: number): any }> = {
  tmp117: { address: 0x48, make: (env, seed) => new SimTMP117(env, { noiseLsb: 2, seed }) },
};

export function defaultAddress(part: string): number | undefined {
  return i2cParts[part]?.address;
}

/** Builds the buses for `sensors`; `envFor(i)` is what sensor i senses. */
export function createBoard(sensors: SensorConfig[], envFor: (index: number) => SimEnv, seed: number): SimBoard {
  const i2c = new SimI2CBus();
  sensors.forEach((sensor, index) => {
    const part = i2cParts[sensor.part];
    if (!part) throw new Error(`the simulator has no simulated "${sensor.part}"`);
    i2c.attach(sensor.address ?? part.address, part.make(envFor(index), (seed + index) >>> 0));
  });
  return { io: i2c.classes(), i2c };
}
