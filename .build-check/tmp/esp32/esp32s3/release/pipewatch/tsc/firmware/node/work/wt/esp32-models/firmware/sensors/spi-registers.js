import { SensorError, SensorErrorCode } from './errors';
import { messageOf, uniformFill } from './fault';
/** Default SCK for the converters: 4 MHz. */
export const DEFAULT_HZ = 4_000_000;
/** The requested SCK frequency (4 MHz by default); E_CONFIG above the part's maximum. */
export function spiHz(part, sensor, maxHz) {
    const hz = sensor.hz ?? DEFAULT_HZ;
    if (!(hz > 0 && hz <= maxHz))
        throw new SensorError(part, SensorErrorCode.CONFIG, `hz ${hz} above ${maxHz / 1e6} MHz`);
    return hz;
}
/**
 * Constructs the driver's SPI handle; E_BUS when the IO class refuses. Only the pins the caller
 * gave are passed (see openI2C): Moddable's ESP32 SPI reads a present `select`, `out`, `in` or
 * `clock` as a pin and rejects undefined, and a present `port: undefined` is no SPI host.
 */
export function openSPI(part, sensor, hz, mode) {
    const options = { hz, mode: (sensor.mode ?? mode) };
    if (sensor.select !== undefined)
        options.select = sensor.select;
    if (sensor.port !== undefined)
        options.port = sensor.port;
    if (sensor.out !== undefined)
        options.out = sensor.out;
    if (sensor.in !== undefined)
        options.in = sensor.in;
    if (sensor.clock !== undefined)
        options.clock = sensor.clock;
    try {
        return new sensor.io(options);
    }
    catch (error) {
        throw new SensorError(part, SensorErrorCode.BUS, `cannot open SPI: ${messageOf(error)}`);
    }
}
export class SPIRegisters {
    /** Address byte, then the registers of the last `readBlock`. */
    block;
    #count;
    #writeFlag;
    #command = new Uint8Array(2);
    /** `count` registers from the block's first; `writeFlag` is ORed into a write's address byte. */
    constructor(count, writeFlag) {
        this.#count = count;
        this.#writeFlag = writeFlag;
        this.block = new Uint8Array(1 + count);
    }
    /** Reads every register from `first` in one transaction into block[1..]. */
    readBlock(io, first) {
        const b = this.block;
        b.fill(0);
        b[0] = first;
        io.transfer(b);
    }
    /** 0 or 0xff when the whole block read that byte (MISO stuck, no part), otherwise -1. */
    blockFill() {
        return uniformFill(this.block, 1, 1 + this.#count);
    }
    /** Writes one register. */
    write(io, register, value) {
        const c = this.#command;
        c[0] = this.#writeFlag | register;
        c[1] = value;
        io.write(c);
    }
}
//# sourceMappingURL=spi-registers.js.map