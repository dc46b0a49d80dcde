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
const parts = {
    tmp117: { bus: 'i2c', driver: TMP117 },
    mcp9808: { bus: 'i2c', driver: MCP9808 },
    sht3x: { bus: 'i2c', driver: SHT3x },
    sht4x: { bus: 'i2c', driver: SHT4x },
    bme280: { bus: 'i2c', driver: BME280 },
    mlx90614: { bus: 'smbus', driver: MLX90614 },
    ds18b20: { bus: 'onewire', driver: DS18B20 },
    max31855: { bus: 'spi', driver: MAX31855 },
    max31856: { bus: 'spi', driver: MAX31856 },
    max31865: { bus: 'spi', driver: MAX31865 },
    ntc: { bus: 'analog', driver: NTC },
};
export function partNames() {
    return Object.keys(parts);
}
function partOf(name) {
    const part = parts[name];
    if (!part)
        throw new Error(`unknown sensor part "${name}" (known: ${partNames().join(', ')})`);
    return part;
}
export function channelsOf(name) {
    return partOf(name).driver.channels;
}
/** Constructs the driver; throws (a SensorError for a sensor fault) if the part cannot be opened. */
export function createSensor(host, config, onError) {
    const part = partOf(config.part);
    const io = part.bus === 'i2c'
        ? host.io.I2C
        : part.bus === 'smbus'
            ? host.io.SMBus
            : part.bus === 'spi'
                ? host.io.SPI
                : part.bus === 'onewire'
                    ? host.io.OneWire
                    : host.io.Analog;
    if (!io)
        throw new Error(`${config.part}: this host has no ${part.bus} bus`);
    const { part: _name, options, ...bus } = config;
    return new part.driver({
        sensor: { io, ...bus },
        onError,
        now: () => host.clock.monotonic.now(),
        ...options,
    });
}
//# sourceMappingURL=registry.js.map