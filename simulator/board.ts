/*
 * A simulated board: the buses of one node (an I2C bus, an SPI bus, a 1-Wire bus, an ADC) with
 * the simulated parts the node's configuration names, each sensing the world at its position.
 * It also completes the configuration with the bus settings the parts got (I2C address, chip
 * select, 1-Wire ROM id, ADC pin), as a board's wiring would. Portable: the XS host builds the
 * same board inside the engine.
 */
import type { Host } from '../firmware/host';
import type { SensorConfig } from '../firmware/sensors/registry';
import { SimAdc, SimNtcDivider } from './devices/analog';
import { SimBME280 } from './devices/bme280';
import { SimDs18b20 } from './devices/ds18b20';
import type { SimEnv } from './devices/env';
import { SimI2CBus, type SimI2CDevice } from './devices/i2c-bus';
import { SimMax31855 } from './devices/max31855';
import { SimMax31856 } from './devices/max31856';
import { SimMax31865 } from './devices/max31865';
import { SimMCP9808 } from './devices/mcp9808';
import { SimMLX90614 } from './devices/mlx90614';
import { SimNtc } from './devices/ntc';
import { SimOneWireBus } from './devices/onewire-bus';
import { SimSHT3x } from './devices/sht3x';
import { SimSHT4x } from './devices/sht4x';
import { SimSPIBus, type SimSPIDevice } from './devices/spi-bus';
import { SimTMP117 } from './devices/tmp117';

export interface SimBoard {
  io: Pick<Host['io'], 'I2C' | 'SMBus' | 'SPI' | 'OneWire' | 'Analog'>;
  /** The configuration completed with each part's bus settings. */
  sensors: SensorConfig[];
  i2c: SimI2CBus;
  spi: SimSPIBus;
  oneWire: SimOneWireBus;
  adc: SimAdc;
}

/** I2C parts: the addresses each can be strapped to, in order of preference. */
const i2cParts: Record<string, { addresses: number[]; make(env: SimEnv, address: number, seed: number): SimI2CDevice }> = {
  tmp117: { addresses: [0x48, 0x49, 0x4a, 0x4b], make: (env, _a, seed) => new SimTMP117(env, { noiseLsb: 2, seed }) },
  mcp9808: { addresses: [0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f], make: (env) => new SimMCP9808(env) },
  sht3x: { addresses: [0x44, 0x45], make: (env) => new SimSHT3x(env) },
  sht4x: { addresses: [0x44, 0x45, 0x46], make: (env, _a, seed) => new SimSHT4x(env, { serial: seed }) },
  bme280: { addresses: [0x76, 0x77], make: (env) => new SimBME280(env) },
  mlx90614: { addresses: [0x5a, 0x5b, 0x5c, 0x5d], make: (env, address) => new SimMLX90614(env, { address }) },
};

const spiParts: Record<string, (env: SimEnv) => SimSPIDevice> = {
  max31855: (env) => new SimMax31855(env),
  max31856: (env) => new SimMax31856(env),
  max31865: (env) => new SimMax31865(env),
};

/** The thermistor the simulated NTC input carries (Murata NCP18XH103: 10 kΩ, B25/50 3380 K). */
export const SIM_NTC_OPTIONS = { thermistor: { r25: 10_000, beta: 3380 }, seriesOhms: 10_000 };

const ONE_WIRE_PIN = 4;

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

/** Builds the buses for `sensors`; `envFor(i)` is what sensor i senses. */
export function createBoard(sensors: SensorConfig[], envFor: (index: number) => SimEnv, seed: number): SimBoard {
  const i2c = new SimI2CBus();
  const spi = new SimSPIBus();
  const oneWire = new SimOneWireBus();
  const adc = new SimAdc(3.3, 12);
  const usedAddresses = new Set<number>();
  let nextSelect = 0;
  let nextPin = 0;
  const completed = sensors.map((sensor, index): SensorConfig => {
    const env = envFor(index);
    const partSeed = (seed + index * 7919) >>> 0;
    const i2cPart = i2cParts[sensor.part];
    if (i2cPart) {
      const address = sensor.address ?? i2cPart.addresses.find((a) => !usedAddresses.has(a));
      if (address === undefined || usedAddresses.has(address)) {
        throw new Error(`simulated board: no free I2C address for another ${sensor.part}`);
      }
      usedAddresses.add(address);
      i2c.attach(address, i2cPart.make(env, address, partSeed));
      return { ...sensor, address };
    }
    const spiPart = spiParts[sensor.part];
    if (spiPart) {
      const select = sensor.select ?? nextSelect++;
      spi.attach(select, spiPart(env));
      return { ...sensor, select };
    }
    if (sensor.part === 'ds18b20') {
      const device = new SimDs18b20(env, partSeed & 0xffffff);
      oneWire.attach(device);
      return { ...sensor, pin: ONE_WIRE_PIN, rom: hex(device.rom) };
    }
    if (sensor.part === 'ntc') {
      const pin = sensor.pin ?? nextPin++;
      adc.attach(pin, new SimNtcDivider(new SimNtc(env), SIM_NTC_OPTIONS.seriesOhms, 3.3));
      return { ...sensor, pin, options: { ...SIM_NTC_OPTIONS, ...sensor.options } };
    }
    throw new Error(`the simulator has no simulated "${sensor.part}"`);
  });
  return {
    io: { ...i2c.classes(), ...spi.classes(), ...oneWire.classes(), ...adc.classes() },
    sensors: completed,
    i2c,
    spi,
    oneWire,
    adc,
  };
}
