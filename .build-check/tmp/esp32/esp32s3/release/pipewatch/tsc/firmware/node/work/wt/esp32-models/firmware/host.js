/*
 * The host provider: everything the firmware may touch, in one place.
 *
 * Shaped after the ECMA-419 host provider (`device.io`, `device.flash`, ...). The firmware
 * receives one `Host` object and never imports a host. Each host folder (`hosts/node`,
 * `hosts/xs`, `hosts/esp32`, `hosts/moddable-sim`, `hosts/linux`) builds one of these.
 *
 * Contracts common to all IO classes (ECMA-419 "IO class pattern"):
 * - constructors take one options object and throw if the resource cannot be opened;
 *   a thrown constructor leaves nothing half-open.
 * - synchronous bus operations (I2C/SMBus/SPI/1-Wire) throw an `Error` on a bus fault
 *   (NAK, timeout, arbitration loss); drivers turn that into a counted error code.
 * - `close()` releases the resource and is safe to call more than once.
 * - binary data is exchanged as `ArrayBuffer` or an `ArrayBufferView` over one.
 */
//# sourceMappingURL=host.js.map