import { SensorError, SensorErrorCode } from './errors';
import { messageOf } from './fault';
/**
 * Constructs the driver's I2C handle with the part's default address and clock; E_BUS when the IO
 * class refuses. Only the settings the caller gave are passed: a key present with the value
 * undefined is not "use the default" to every host (Moddable's ESP32 I2C reads a present `data`
 * or `clock` as a pin and rejects undefined; a present `timeout: undefined` would become 0 ms),
 * and a host provider's `{...boardPins, ...options}` would let it replace the board's pin.
 */
export function openI2C(part, sensor, address, hz) {
    const options = { address: sensor.address ?? address, hz: sensor.hz ?? hz };
    if (sensor.data !== undefined)
        options.data = sensor.data;
    if (sensor.clock !== undefined)
        options.clock = sensor.clock;
    if (sensor.port !== undefined)
        options.port = sensor.port;
    if (sensor.timeout !== undefined)
        options.timeout = sensor.timeout;
    try {
        return new sensor.io(options);
    }
    catch (error) {
        throw new SensorError(part, SensorErrorCode.BUS, `cannot open I2C: ${messageOf(error)}`);
    }
}
export class I2CRegisters {
    #pointer = new Uint8Array(1);
    #command = new Uint8Array(3);
    #command2;
    constructor() {
        this.#command2 = this.#command.subarray(0, 2);
    }
    /** Register pointer (repeated start, no stop), then `into.length` bytes from it. */
    readInto(io, register, into) {
        this.#pointer[0] = register;
        io.write(this.#pointer, false);
        io.read(into);
    }
    /** `readInto` two bytes, as a big-endian word. */
    readWord(io, register, into) {
        this.#pointer[0] = register;
        io.write(this.#pointer, false);
        io.read(into);
        return (into[0] << 8) | into[1];
    }
    /** Register, then one data byte. */
    writeByte(io, register, value) {
        const command = this.#command2;
        command[0] = register;
        command[1] = value;
        io.write(command);
    }
    /** Register, then a big-endian word. */
    writeWord(io, register, value) {
        const command = this.#command;
        command[0] = register;
        command[1] = value >> 8;
        command[2] = value & 0xff;
        io.write(command);
    }
    /** A one-byte command (with stop). */
    command8(io, command) {
        const pointer = this.#pointer;
        pointer[0] = command;
        io.write(pointer);
    }
    /** A big-endian 16-bit command (with stop), e.g. Sensirion SHT3x. */
    command16(io, command) {
        const bytes = this.#command2;
        bytes[0] = command >> 8;
        bytes[1] = command & 0xff;
        io.write(bytes);
    }
}
//# sourceMappingURL=i2c-registers.js.map