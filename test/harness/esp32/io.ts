/*
 * Strict models of the Moddable SDK's ESP32 IO classes, wired to the project's simulated devices
 * (simulator/devices/*). Each rule cites the SDK function it comes from; a model throws where the
 * C code throws, with the same error class and message, and is never more lenient.
 */
import type { SimI2CBus } from '../../../simulator/devices/i2c-bus';
import type { SimSPIBus } from '../../../simulator/devices/spi-bus';
import type { SimOneWireBus } from '../../../simulator/devices/onewire-bus';
import type { SimAdc } from '../../../simulator/devices/analog';
import { getPin, getSignedInteger, toInteger } from './chip';
import type { Esp32Device } from './device';

type Bytes = ArrayBuffer | ArrayBufferView;
type Options = Record<string, unknown>;

/** xsmcHas: the key is present (even when its value is undefined). */
function has(options: Options, key: string): boolean {
  return options !== null && typeof options === 'object' && key in options;
}

/** xsmcGetBufferReadable / Writable: an ArrayBuffer or a view of one; anything else throws. */
function bytesOf(buffer: unknown): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected buffer');
}

/** builtinInitializeFormat (builtinCommon.c): only the class's format is accepted. */
function checkFormat(options: Options, allowed: string): void {
  if (!has(options, 'format')) return;
  const value = options.format;
  if (!value) return;
  if (String(value) !== allowed) throw new RangeError('invalid format');
}

/** What the boards wire where: the simulated buses and the pins they hang on. */
export interface Wiring {
  i2c?: { data: number; clock: number; bus: SimI2CBus };
  spi?: { clock: number; out: number; in: number; bus: SimSPIBus };
  oneWire: Map<number, SimOneWireBus>;
  adc?: SimAdc;
  /** Last level written per output pin. */
  levels: Map<number, number>;
  /** NeoPixel colours shown per pin (last update). */
  pixels: Map<number, number[]>;
}

export function emptyWiring(): Wiring {
  return { oneWire: new Map(), levels: new Map(), pixels: new Map() };
}

interface I2CRecord {
  data: number;
  clock: number;
  address: number;
  hz: number;
  timeout: number;
  pullup: boolean;
  port: number;
  bus: number;
}

/** Closed-instance check (xsmcGetHostDataValidate throws on an instance without host data). */
function closed(): never {
  throw new Error('closed');
}

export function ioModels(device: Esp32Device, wiring: Wiring) {
  const { chip, pins } = device;
  /** Open I2C instances (_i2c.c: gI2C) and the buses (port, pins) they created. */
  const i2cOpen = new Set<I2CRecord>();
  let nextBus = 1;

  class I2C {
    #r: I2CRecord | undefined;

    /** modules/io/i2c/esp32/_i2c.c: _xs_i2c_constructor. */
    constructor(options: Options) {
      if (!has(options, 'data')) throw new RangeError('data required');
      if (!has(options, 'clock')) throw new RangeError('clock required');
      if (!has(options, 'address')) throw new RangeError('address required');
      const data = getPin(options.data);
      const clock = getPin(options.clock);
      let shared = false;
      for (const r of i2cOpen) if (r.data === data && r.clock === clock) shared = true;
      if (!shared && (!pins.isFree(data) || !pins.isFree(clock))) throw new RangeError('inUse');
      const address = getPin(options.address);
      if (address < 0 || address > 127) throw new RangeError('invalid address');
      for (const r of i2cOpen) if (r.data === data && r.clock === clock && r.address === address) throw new RangeError('duplicate address');
      if (!chip.output.has(clock) || !chip.output.has(data)) throw new RangeError('unusable pins');
      const hz = toInteger(options.hz);
      if (hz <= 0 || hz > 20_000_000) throw new RangeError('invalid hz');
      let timeout = 400;
      if (has(options, 'timeout')) {
        timeout = toInteger(options.timeout);
        if (timeout < -1) throw new RangeError('invalid timeout');
      }
      const pullup = has(options, 'pullup') ? Boolean(options.pullup) : true;
      let port = -1;
      if (has(options, 'port')) {
        port = toInteger(options.port);
        if (port < 0 || port >= chip.i2cPorts) throw new RangeError('invalid port');
      }
      checkFormat(options, 'buffer');
      let bus = 0;
      for (const r of i2cOpen) if (r.data === data && r.clock === clock && r.port === port && r.pullup === pullup) bus = r.bus;
      if (!bus) {
        // i2c_new_master_bus: a port already taken by a bus on other pins, or no free port, fails.
        const taken = new Set<number>();
        for (const r of i2cOpen) taken.add(r.port);
        let actual = port;
        if (actual < 0) for (let p = chip.i2cPorts - 1; p >= 0; p--) if (!taken.has(p)) actual = p;
        if (actual < 0 || (taken.has(actual) && ![...i2cOpen].some((r) => r.port === actual && r.data === data && r.clock === clock))) {
          throw new Error("can't create bus");
        }
        bus = nextBus++;
      }
      this.#r = { data, clock, address, hz, timeout, pullup, port, bus };
      i2cOpen.add(this.#r);
      pins.use(data);
      pins.use(clock);
    }

    /** _xs_i2c_close / _xs_i2c_destructor: idempotent; pins are freed when no instance uses them. */
    close(): void {
      const r = this.#r;
      if (!r) return;
      this.#r = undefined;
      i2cOpen.delete(r);
      if (![...i2cOpen].some((o) => o.data === r.data && o.clock === r.clock)) {
        pins.free(r.data);
        pins.free(r.clock);
      }
    }

    /** _xs_i2c_read: count or buffer; the SDK's I2C.js passes only the first argument (no `stop`). */
    read(target: number | Bytes): ArrayBuffer | number {
      const r = this.#r ?? closed();
      const into = typeof target === 'object' ? bytesOf(target) : new Uint8Array(toInteger(target));
      transfer(r, 'read failed', (bus) => bus.transferRead(r.address, r.hz, into, true));
      return typeof target === 'object' ? into.byteLength : (into.buffer as ArrayBuffer);
    }

    /** _xs_i2c_write: always ends with STOP (i2c_master_transmit); a zero-length write is a probe returning 1 on NAK. */
    write(buffer: Bytes): number | undefined {
      const r = this.#r ?? closed();
      const bytes = bytesOf(buffer);
      if (bytes.length === 0) {
        try {
          transfer(r, 'write failed', (bus) => bus.transferRead(r.address, r.hz, new Uint8Array(0), true));
        } catch {
          return 1;
        }
        return undefined;
      }
      transfer(r, 'write failed', (bus) => bus.transferWrite(r.address, r.hz, bytes, true));
      return undefined;
    }

    /** _xs_i2c_writeRead: i2c_master_transmit_receive (repeated START between the two). */
    writeRead(buffer: Bytes, target: number | Bytes): ArrayBuffer | number {
      const r = this.#r ?? closed();
      const out = bytesOf(buffer);
      const into = typeof target === 'object' ? bytesOf(target) : new Uint8Array(toInteger(target));
      transfer(r, 'writeRead failed', (bus) => {
        bus.transferWrite(r.address, r.hz, out, false);
        bus.transferRead(r.address, r.hz, into, true);
      });
      return typeof target === 'object' ? into.byteLength : (into.buffer as ArrayBuffer);
    }

    get format(): string {
      return 'buffer';
    }
    set format(value: string) {
      if (value !== 'buffer') throw new RangeError();
    }
  }

  /** A transaction on the wired bus, or on nothing (every address NAKs) when the pins are not the wired ones. */
  function transfer(r: I2CRecord, failure: string, run: (bus: SimI2CBus) => void): void {
    const wired = wiring.i2c;
    if (!wired || wired.data !== r.data || wired.clock !== r.clock) throw new Error(failure);
    try {
      run(wired.bus);
    } catch {
      throw new Error(failure);
    }
  }

  /** modules/io/i2c/smbus.js, line for line over the I2C model (it ignores `pec`; `stop` picks writeRead's stop). */
  class SMBus {
    #io: I2C | undefined;
    readonly #writeWordBuffer = new Uint8Array(3);
    readonly #wordBuffer = new Uint8Array(this.#writeWordBuffer.buffer, 0, 2);
    readonly #byteBuffer = new Uint8Array(this.#writeWordBuffer.buffer, 0, 1);
    constructor(options: Options) {
      this.#io = new I2C(options);
    }
    close(): void {
      this.#io?.close();
      this.#io = undefined;
    }
    #open(): I2C {
      if (!this.#io) throw new TypeError("cannot read property 'writeRead' of undefined");
      return this.#io;
    }
    readUint8(register: number): number {
      const buffer = this.#byteBuffer;
      buffer[0] = register;
      this.#open().writeRead(buffer, buffer);
      return buffer[0]!;
    }
    readUint16(register: number, bigEndian?: boolean): number {
      const buffer = this.#wordBuffer;
      this.#byteBuffer[0] = register;
      this.#open().writeRead(this.#byteBuffer, buffer);
      return bigEndian ? (buffer[0]! << 8) | buffer[1]! : (buffer[1]! << 8) | buffer[0]!;
    }
    readBuffer(register: number, buffer: Bytes): ArrayBuffer | number {
      this.#byteBuffer[0] = register;
      return this.#open().writeRead(this.#byteBuffer, buffer);
    }
    writeUint8(register: number, byte: number): void {
      const buffer = this.#wordBuffer;
      buffer[0] = register;
      buffer[1] = byte;
      this.#open().write(buffer);
    }
    writeUint16(register: number, word: number, bigEndian?: boolean): void {
      const buffer = this.#writeWordBuffer;
      buffer[0] = register;
      buffer[1] = bigEndian ? word >> 8 : word;
      buffer[2] = bigEndian ? word : word >> 8;
      this.#open().write(buffer);
    }
    writeBuffer(register: number, buffer: Bytes): void {
      if (ArrayBuffer.isView(buffer) && (buffer as Uint8Array).BYTES_PER_ELEMENT > 1) throw new TypeError();
      const bytes = bytesOf(buffer);
      const data = new Uint8Array(1 + bytes.length);
      data[0] = register;
      data.set(bytes, 1);
      this.#open().write(data);
    }
    sendByte(command: number): void {
      this.#byteBuffer[0] = command;
      this.#open().write(this.#byteBuffer);
    }
    receiveByte(): number {
      this.#open().read(this.#byteBuffer);
      return this.#byteBuffer[0]!;
    }
  }

  const spiOpen = new Set<object>();
  interface SpiRecord {
    clock: number;
    out: number;
    in: number;
    select: number;
    active: number;
    hz: number;
    mode: number;
  }

  /** modules/io/spi/esp/spi.c (which modules/io/spi/esp32/spi.c includes): xs_spi_constructor and methods. */
  class SPI {
    #r: SpiRecord | undefined;
    constructor(options: Options) {
      const clock = getPin(options.clock);
      if (!pins.isFree(clock)) throw new Error('in use');
      const hz = toInteger(options.hz);
      if (hz < 1 || hz > 40_000_000) throw new RangeError('invalid hz');
      let out = -1;
      let input = -1;
      let select = -1;
      let active = 0;
      let mode = 0;
      if (has(options, 'out')) {
        out = getPin(options.out);
        if (!pins.isFree(out)) throw new Error('in use');
      }
      if (has(options, 'in')) {
        input = getPin(options.in);
        if (!pins.isFree(input)) throw new Error('in use');
      }
      if (has(options, 'select')) {
        select = getPin(options.select);
        if (!pins.isFree(select)) throw new Error('in use');
        if (has(options, 'active')) {
          active = toInteger(options.active);
          if (active !== 0 && active !== 1) throw new RangeError('invalid active');
        } else device.trace('WARNING: SPI used with default active (0). Please confirm that is intended.\n');
      }
      if (has(options, 'mode')) {
        const m = toInteger(options.mode);
        if (m & ~3) throw new RangeError('invalid mode');
        mode = m;
      }
      if (out < 0 && input < 0) throw new Error('in or out required');
      const port = getSignedInteger(options.port);
      if (!chip.spiHosts.includes(port)) throw new RangeError('invalid port');
      checkFormat(options, 'buffer');
      this.#r = { clock, out, in: input, select, active, hz, mode };
      spiOpen.add(this);
      pins.use(clock);
      if (out >= 0) pins.use(out);
      if (input >= 0) pins.use(input);
      if (select >= 0) pins.use(select);
    }
    close(): void {
      const r = this.#r;
      if (!r) return;
      this.#r = undefined;
      spiOpen.delete(this);
      pins.free(r.clock);
      if (r.out >= 0) pins.free(r.out);
      if (r.in >= 0) pins.free(r.in);
      if (r.select >= 0) pins.free(r.select);
    }
    /** xs_spi_read: a count (1..65535) or a buffer; the buffer's bytes are clocked out (modSPITxRx). */
    read(target: number | Bytes): ArrayBuffer | undefined {
      const r = this.#r ?? closed();
      let data: Uint8Array;
      if (typeof target === 'object') {
        data = bytesOf(target);
        if (data.length > 65535) throw new RangeError('unsupported byteLength');
      } else {
        const n = toInteger(target);
        if (n <= 0 || n > 65535) throw new RangeError('unsupported byteLength');
        data = new Uint8Array(n);
      }
      this.#clock(r, data, false);
      return typeof target === 'object' ? undefined : (data.buffer as ArrayBuffer);
    }
    write(buffer: Bytes): void {
      const r = this.#r ?? closed();
      const data = bytesOf(buffer);
      if (data.length > 65535) throw new RangeError('unsupported byteLength');
      this.#clock(r, data, true);
    }
    transfer(buffer: Bytes): void {
      const r = this.#r ?? closed();
      const data = bytesOf(buffer);
      if (data.length > 65535) throw new RangeError('unsupported byteLength');
      this.#clock(r, data, false);
    }
    flush(): void {
      if (!this.#r) closed();
    }
    get format(): string {
      return 'buffer';
    }
    set format(value: string) {
      if (value !== 'buffer') throw new RangeError();
    }
    /** A transaction: with the wired pins and an active-low select it reaches the device on that select; otherwise MISO floats. */
    #clock(r: SpiRecord, data: Uint8Array, keepOut: boolean): void {
      const wired = wiring.spi;
      const reaches = wired && wired.clock === r.clock && wired.out === r.out && wired.in === r.in && r.select >= 0 && r.active === 0;
      if (!reaches) {
        if (!keepOut) data.fill(0xff);
        return;
      }
      wired.bus.transaction(r.select, r.hz, r.mode, data, keepOut);
    }
  }

  /** modules/io/digital/digital.js + esp32/digitalbank.c: xs_digitalbank_constructor. */
  class Digital {
    static readonly Input = 0;
    static readonly InputPullUp = 1;
    static readonly InputPullDown = 2;
    static readonly InputPullUpDown = 3;
    static readonly Output = 8;
    static readonly OutputOpenDrain = 9;
    #pin: number | undefined;
    #output = false;
    constructor(options: Options) {
      let pin = options.pin as unknown;
      if (pin === undefined) throw new Error('invalid');
      if (pin !== null && typeof pin === 'object' && 'port' in pin) pin = (pin as unknown as { pin: unknown }).pin;
      const n = toInteger(pin);
      if (!chip.gpio.has(n)) throw new Error('invalid pin');
      if (!pins.isFree(n)) throw new Error('in use');
      const mode = getSignedInteger(options.mode);
      if (!((mode >= 0 && mode <= 3) || mode === 8 || mode === 9)) throw new RangeError('invalid mode');
      if ((mode === 8 || mode === 9) && !chip.output.has(n)) throw new RangeError('input only');
      this.#pin = n;
      this.#output = mode >= 8;
      pins.use(n);
    }
    read(): number {
      if (this.#pin === undefined) closed();
      return wiring.levels.get(this.#pin) ?? 0;
    }
    write(value: number): void {
      if (this.#pin === undefined) closed();
      if (!this.#output) throw new Error('not output');
      wiring.levels.set(this.#pin, value ? 1 : 0);
    }
    close(): void {
      if (this.#pin === undefined) return;
      pins.free(this.#pin);
      this.#pin = undefined;
    }
  }

  /** modules/io/analog/esp32/_analog.c: xs_analog_constructor_, read, resolution (12 bits on all three chips). */
  class Analog {
    #pin: number | undefined;
    readonly #adc2: boolean;
    constructor(options: Options) {
      const pin = getPin(options.pin);
      if (!pins.isFree(pin)) throw new RangeError('in use');
      const adc1 = chip.adc1.includes(pin);
      if (!adc1 && !chip.adc2.includes(pin)) throw new RangeError('not analog pin');
      checkFormat(options, 'number');
      this.#pin = pin;
      this.#adc2 = !adc1;
      pins.use(pin);
    }
    get resolution(): number {
      return 12;
    }
    /** adc_oneshot_read failing (ADC2 while Wi-Fi runs on ESP32) returns undefined, not a throw. */
    read(): number | undefined {
      const pin = this.#pin ?? closed();
      if (this.#adc2 && chip.adc2BlockedByWiFi && wifiRunning()) return undefined;
      if (!wiring.adc) return 0;
      try {
        return wiring.adc.convert(pin, 12);
      } catch {
        return 0;
      }
    }
    close(): void {
      if (this.#pin === undefined) return;
      pins.free(this.#pin);
      this.#pin = undefined;
    }
  }

  /**
   * modules/drivers/onewire/esp32/modonewire.c over the RMT 1-Wire bus component: one TX and one
   * RX RMT channel per bus (onewire_new_bus_rmt).
   */
  class OneWire {
    #pin: number | undefined;
    #bus: SimOneWireBus | undefined;
    constructor(options: Options) {
      if (!has(options, 'pin')) throw new Error('pin missing');
      const pin = toInteger(options.pin);
      // onewire_new_bus_rmt fails (bus stays NULL) on an invalid GPIO or without RMT channels.
      if (!chip.output.has(pin) || device.rmt.owner(pin) !== undefined || !device.rmt.take(pin, 'onewire', 1, 1)) {
        throw new Error("can't init pin");
      }
      this.#pin = pin;
      this.#bus = wiring.oneWire.get(pin);
    }
    /** xs_onewire_close on a closed instance dereferences NULL on the device. */
    close(): void {
      if (this.#pin === undefined) throw new Error('model: OneWire close() twice dereferences NULL on the device');
      device.rmt.give(this.#pin, 1, 1);
      this.#pin = undefined;
    }
    #open(): SimOneWireBus | undefined {
      if (this.#pin === undefined) throw new Error('model: OneWire used after close dereferences NULL on the device');
      return this.#bus;
    }
    /** xs_onewire_reset: presence pulse. */
    reset(): boolean {
      const bus = this.#open();
      try {
        return bus ? bus.reset() : false;
      } catch {
        return false;
      }
    }
    /** xs_onewire_write: ONE byte, `(uint8_t)xsmcToInteger(value)`: a buffer becomes 0x00. */
    write(value: unknown): void {
      const bus = this.#open();
      const byte = toInteger(value) & 0xff;
      try {
        bus?.writeByte(byte);
      } catch {
        // onewire_bus_write_bytes errors are ignored by the driver
      }
    }
    /**
     * xs_onewire_read: no argument → one byte as a number; a count → an ArrayBuffer. The RMT bus
     * receives at most max_rx_bytes = 10 per call: a longer read fails inside the component
     * (ESP_ERR_INVALID_ARG, ignored by the driver) and returns zeros.
     */
    read(count?: number): number | ArrayBuffer {
      const bus = this.#open();
      const one = arguments.length === 0;
      const n = one ? 1 : toInteger(count);
      const out = new Uint8Array(n);
      if (n <= 10 && bus) {
        try {
          for (let i = 0; i < n; i++) out[i] = bus.readByte();
        } catch {
          out.fill(0);
        }
      }
      return one ? out[0]! : (out.buffer as ArrayBuffer);
    }
    /** xs_onewire_search: ROMs as ArrayBuffers, each byte-reversed (the driver swaps the 64-bit address: CRC first). */
    search(): ArrayBuffer[] {
      const bus = this.#open();
      if (!bus) return [];
      let found: Uint8Array[];
      try {
        found = bus.search();
      } catch {
        return [];
      }
      return found.map((rom) => rom.slice().reverse().buffer as ArrayBuffer);
    }
    /** xs_onewire_select: reset, MATCH ROM, the ROM flipped back. */
    select(rom: ArrayBuffer): void {
      const bus = this.#open();
      const bytes = new Uint8Array(rom).slice().reverse();
      if (!bus || !bus.reset()) return;
      bus.writeByte(0x55);
      for (const b of bytes) bus.writeByte(b);
    }
  }

  /** modules/drivers/neopixel/esp32/modneopixel.c + neopixel.c (RMT led strip): one TX channel per strip. */
  class NeoPixel {
    #pin: number | undefined;
    readonly #pixels: number[];
    constructor(options: Options) {
      const length = has(options, 'length') ? toInteger(options.length) : 0;
      if (!length) throw new RangeError('no pixels');
      if (!has(options, 'pin')) throw new RangeError('no pin');
      const pin = toInteger(options.pin);
      const order = has(options, 'order') && options.order ? String(options.order) : 'GRB';
      if (order.length !== 3 && order.length !== 4) throw new Error('invalid order');
      // Stricter than the SDK on purpose: two RMT channels driving one GPIO fight on the wire.
      const owner = device.rmt.owner(pin);
      if (owner !== undefined) {
        device.abort('ESP_ERROR_CHECK failed', new Error(`rmt_new_tx_channel: GPIO ${pin} is already driven by ${owner}`));
        throw new Error('aborted');
      }
      // neopixel.c: ESP_ERROR_CHECK(rmt_new_tx_channel(...)) aborts the chip when no channel is left.
      if (!chip.output.has(pin) || !device.rmt.take(pin, 'neopixel', 1, 0)) {
        device.abort('ESP_ERROR_CHECK failed', new Error(`rmt_new_tx_channel: no free RMT TX channel for GPIO ${pin}`));
        throw new Error('aborted');
      }
      this.#pin = pin;
      this.#pixels = new Array<number>(length).fill(0);
    }
    makeRGB(r: number, g: number, b: number): number {
      return ((r & 0xff) << 16) | ((g & 0xff) << 8) | (b & 0xff);
    }
    setPixel(index: number, color: number): void {
      if (this.#pin === undefined) closed();
      if (index >= 0 && index < this.#pixels.length) this.#pixels[index] = color;
    }
    fill(color: number): void {
      if (this.#pin === undefined) closed();
      this.#pixels.fill(color);
    }
    update(): void {
      if (this.#pin === undefined) closed();
      wiring.pixels.set(this.#pin, this.#pixels.slice());
    }
    /** xs_neopixel_brightness_set scales the colours sent; the model keeps the colours as set. */
    set brightness(_value: number) {}
    get length(): number {
      return this.#pixels.length;
    }
    close(): void {
      if (this.#pin === undefined) return;
      device.rmt.give(this.#pin, 1, 0);
      this.#pin = undefined;
    }
  }

  let wifiRunning = (): boolean => false;

  return {
    I2C,
    SMBus,
    SPI,
    Digital,
    Analog,
    OneWire,
    NeoPixel,
    /** The Wi-Fi model tells the ADC model whether the radio runs (ADC2 conflict). */
    setWifiRunning(probe: () => boolean) {
      wifiRunning = probe;
    },
  };
}
