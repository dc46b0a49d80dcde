/*
 * What the conformance check knows about each sensor part: the bus it sits on, what its driver
 * verifies when it opens, the part's measurement range per channel (datasheet), its accuracy,
 * its conversion period and the driver options the check uses. Portable (Node, XS, ESP32):
 * the Node tool (tools/drivers-check.ts) and the on-device app (manifests/drivers-check) read
 * the same table.
 */
import BME280 from '../sensors/bme280';
import DS18B20 from '../sensors/ds18b20';
import MAX31855 from '../sensors/max31855';
import MAX31856 from '../sensors/max31856';
import MAX31865 from '../sensors/max31865';
import MCP9808 from '../sensors/mcp9808';
import MLX90614 from '../sensors/mlx90614';
import NTC from '../sensors/ntc';
import SHT3x from '../sensors/sht3x';
import SHT4x from '../sensors/sht4x';
import TMP117 from '../sensors/tmp117';
export const CONFORMANCE_PARTS = {
    tmp117: {
        bus: 'i2c', module: 'tmp117', identity: 'Device_ID 117h', defaultAddress: 0x48,
        range: [[-55_000, 150_000]], tolerance: 100, periodMs: 1000,
    },
    mcp9808: {
        bus: 'i2c', module: 'mcp9808', identity: 'manufacturer and device id', defaultAddress: 0x18,
        range: [[-40_000, 125_000]], tolerance: 250, periodMs: 1000,
    },
    sht3x: {
        bus: 'i2c', module: 'sht3x', identity: 'status register and CRC', defaultAddress: 0x44,
        range: [[-40_000, 125_000], [0, 100_000]], tolerance: 300, periodMs: 1000,
    },
    sht4x: {
        bus: 'i2c', module: 'sht4x', identity: 'serial number and CRC', defaultAddress: 0x44,
        range: [[-40_000, 125_000], [0, 100_000]], tolerance: 300, periodMs: 1000,
    },
    bme280: {
        bus: 'i2c', module: 'bme280', identity: 'chip id 60h', defaultAddress: 0x76,
        range: [[-40_000, 85_000], [0, 100_000], [30_000, 110_000]], tolerance: 1000, periodMs: 1000,
    },
    mlx90614: {
        bus: 'smbus', module: 'mlx90614', identity: 'SMBus address in EEPROM, PEC', defaultAddress: 0x5a,
        range: [[-70_000, 380_000], [-40_000, 125_000]], tolerance: 500, periodMs: 1000,
    },
    ds18b20: {
        bus: 'onewire', module: 'ds18b20', identity: 'ROM family code 28h and CRC',
        range: [[-55_000, 125_000]], tolerance: 63, periodMs: 800,
    },
    max31855: {
        bus: 'spi', module: 'max31855', identity: 'none (no id register; reserved bits checked)',
        range: [[-200_000, 1_350_000], [-55_000, 125_000]], tolerance: 250, periodMs: 100, simTemperature: 180,
    },
    max31856: {
        bus: 'spi', module: 'max31856', identity: 'configuration read-back (no id register)',
        range: [[-210_000, 1_820_000], [-55_000, 125_000]], tolerance: 10, periodMs: 200, simTemperature: 180,
    },
    max31865: {
        bus: 'spi', module: 'max31865', identity: 'configuration and threshold read-back (no id register)',
        range: [[-200_000, 850_000]], tolerance: 60, periodMs: 100, simTemperature: 180,
    },
    ntc: {
        bus: 'analog', module: 'ntc', identity: 'none (analog input)',
        range: [[-40_000, 125_000]], tolerance: 300, periodMs: 100,
        options: { thermistor: { r25: 10_000, beta: 3380 }, seriesOhms: 10_000 },
    },
};
const DRIVERS = {
    tmp117: TMP117,
    mcp9808: MCP9808,
    sht3x: SHT3x,
    sht4x: SHT4x,
    bme280: BME280,
    mlx90614: MLX90614,
    ds18b20: DS18B20,
    max31855: MAX31855,
    max31856: MAX31856,
    max31865: MAX31865,
    ntc: NTC,
};
/** The driver class of a part, or undefined for a part the table does not know. */
export function conformanceDriver(part) {
    return DRIVERS[part];
}
export function conformancePartNames() {
    return Object.keys(CONFORMANCE_PARTS);
}
//# sourceMappingURL=parts.js.map