/*
 * The sensor parts a node can be configured with, and how each is constructed from the host's
 * IO classes. Every driver follows the same convention (see firmware/sensors/tmp117.ts):
 * ECMA-419 sensor class (constructor/configure/sample/close) plus `read(out: Int32Array)`
 * returning a bitmask of valid fixed-point channels, `faults` counters, and static `channels`.
 */
import type { Host } from '../host';
import type { FaultCounts, SensorError } from './errors';
import BME280 from './bme280';
import DS18B20 from './ds18b20';
import MAX31855 from './max31855';
import MAX31856 from './max31856';
import MAX31865 from './max31865';
import MCP9808 from './mcp9808';
import MLX90614 from './mlx90614';
import NTC from './ntc';
import SHT3x from './sht3x';
import SHT4x from './sht4x';
import TMP117 from './tmp117';
import { deepFreeze } from '../util/freeze';

export interface ChannelInfo {
  kind: 'milliCelsius' | 'milliPercentRH' | 'pascal';
  name: string;
}

export interface SensorDriver {
  read(out: Int32Array): number;
  close(): void;
  readonly faults: FaultCounts;
}

type Bus = 'i2c' | 'smbus' | 'spi' | 'onewire' | 'analog';

interface DriverClass {
  new (options: any): SensorDriver;
  readonly channels: readonly ChannelInfo[];
}

interface Part {
  bus: Bus;
  driver: DriverClass;
}

const parts: Record<string, Part> = deepFreeze({
  tmp117: { bus: 'i2c', driver: TMP117 as unknown as DriverClass },
  mcp9808: { bus: 'i2c', driver: MCP9808 as unknown as DriverClass },
  sht3x: { bus: 'i2c', driver: SHT3x as unknown as DriverClass },
  sht4x: { bus: 'i2c', driver: SHT4x as unknown as DriverClass },
  bme280: { bus: 'i2c', driver: BME280 as unknown as DriverClass },
  mlx90614: { bus: 'smbus', driver: MLX90614 as unknown as DriverClass },
  ds18b20: { bus: 'onewire', driver: DS18B20 as unknown as DriverClass },
  max31855: { bus: 'spi', driver: MAX31855 as unknown as DriverClass },
  max31856: { bus: 'spi', driver: MAX31856 as unknown as DriverClass },
  max31865: { bus: 'spi', driver: MAX31865 as unknown as DriverClass },
  ntc: { bus: 'analog', driver: NTC as unknown as DriverClass },
});

/** One sensor in the node configuration. Bus settings are passed to the IO class. */
export interface SensorConfig {
  part: string;
  /** I2C/SMBus address. */
  address?: number;
  /** SPI chip select pin. */
  select?: number;
  /** 1-Wire or analog pin. */
  pin?: number;
  /** DS18B20 ROM id, 16 hex digits. */
  rom?: string;
  hz?: number;
  /** Driver options passed to configure(). */
  options?: Record<string, unknown>;
}

export function partNames(): string[] {
  return Object.keys(parts);
}

function partOf(name: string): Part {
  const part = parts[name];
  if (!part) throw new Error(`unknown sensor part "${name}" (known: ${partNames().join(', ')})`);
  return part;
}

export function channelsOf(name: string): readonly ChannelInfo[] {
  return partOf(name).driver.channels;
}

/** Constructs the driver; throws (a SensorError for a sensor fault) if the part cannot be opened. */
export function createSensor(host: Host, config: SensorConfig, onError: (error: SensorError) => void): SensorDriver {
  const part = partOf(config.part);
  const io =
    part.bus === 'i2c'
      ? host.io.I2C
      : part.bus === 'smbus'
        ? host.io.SMBus
        : part.bus === 'spi'
          ? host.io.SPI
          : part.bus === 'onewire'
            ? host.io.OneWire
            : host.io.Analog;
  if (!io) throw new Error(`${config.part}: this host has no ${part.bus} bus`);
  const { part: _name, options, ...bus } = config;
  return new part.driver({
    sensor: { io, ...bus },
    onError,
    now: () => host.clock.monotonic.now(),
    ...options,
  });
}
