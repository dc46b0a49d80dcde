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

export type Bytes = ArrayBuffer | ArrayBufferView;

/** I2C controller (ECMA-419 §9.3). `read` returns a new ArrayBuffer or fills the given buffer. */
export interface I2COptions {
  address: number;
  hz?: number;
  data?: number;
  clock?: number;
  port?: number;
  /** Time-out of one transaction, in ms, where the host supports it. */
  timeout?: number;
}
export interface I2C {
  read(byteLength: number, stop?: boolean): ArrayBuffer;
  read(buffer: Bytes, stop?: boolean): void;
  write(buffer: Bytes, stop?: boolean): void;
  close(): void;
}
export interface I2CConstructor {
  new (options: I2COptions): I2C;
}

/** SMBus (ECMA-419 §9.4), an I2C with register helpers. Multi-byte values are little-endian unless `bigEndian`. */
export interface SMBus extends I2C {
  readUint8(register: number): number;
  writeUint8(register: number, value: number): void;
  readUint16(register: number, bigEndian?: boolean): number;
  writeUint16(register: number, value: number, bigEndian?: boolean): void;
  readBuffer(register: number, buffer: Bytes): void;
  writeBuffer(register: number, buffer: Bytes): void;
  sendByte(command: number): void;
  receiveByte(): number;
}
export interface SMBusConstructor {
  new (options: I2COptions & { pec?: boolean }): SMBus;
}

/** SPI controller (ECMA-419 §9.5). `transfer` writes the buffer and replaces it with what was read. */
export interface SPIOptions {
  select?: number;
  hz?: number;
  mode?: 0 | 1 | 2 | 3;
  out?: number;
  in?: number;
  clock?: number;
  port?: number;
}
export interface SPI {
  read(buffer: Bytes): void;
  write(buffer: Bytes): void;
  transfer(buffer: Bytes): void;
  flush?(): void;
  close(): void;
}
export interface SPIConstructor {
  new (options: SPIOptions): SPI;
}

/** Digital pin (ECMA-419 §9.1). */
export interface DigitalOptions {
  pin: number;
  mode: 'input' | 'inputPullUp' | 'inputPullDown' | 'output' | 'outputOpenDrain';
  edge?: 'rising' | 'falling' | 'rising-falling';
  onReadable?(): void;
}
export interface Digital {
  read(): 0 | 1;
  write(value: 0 | 1): void;
  close(): void;
}
export interface DigitalConstructor {
  new (options: DigitalOptions): Digital;
}

/** Analog input (ECMA-419 §9.2). `read()` returns an integer in [0, 2^resolution - 1]. */
export interface AnalogOptions {
  pin: number;
  resolution?: number;
}
export interface Analog {
  readonly resolution: number;
  read(): number;
  close(): void;
}
export interface AnalogConstructor {
  new (options: AnalogOptions): Analog;
}

/**
 * 1-Wire bus master (not in ECMA-419's first edition; shaped like Moddable's onewire module).
 * `reset()` returns true when at least one device answered with a presence pulse.
 * `search()` runs the ROM search and returns each 8-byte ROM id (family, serial, CRC).
 */
export interface OneWireOptions {
  pin: number;
}
export interface OneWire {
  reset(): boolean;
  write(buffer: Bytes): void;
  read(byteLength: number): ArrayBuffer;
  read(buffer: Bytes): void;
  search(): ArrayBuffer[];
  close(): void;
}
export interface OneWireConstructor {
  new (options: OneWireOptions): OneWire;
}

/**
 * TCP socket (ECMA-419 §10.3). Callbacks run on the host's event loop, never re-entrantly
 * inside a call the firmware made. `onWritable(count)` first fires once the connection is up.
 * `onReadable(count)` says how many bytes `read()` can return. `onError()` ends the socket:
 * after it, the firmware closes it and opens a new one.
 */
export interface TCPOptions {
  /** Dotted IPv4/IPv6 address, or a host name where the host resolves names itself. */
  address: string;
  port: number;
  nodelay?: boolean;
  onReadable?(count: number): void;
  onWritable?(count: number): void;
  onError?(message?: string): void;
}
export interface TCP {
  /** Returns up to `count` bytes (all buffered bytes when omitted), or undefined when none. */
  read(count?: number): ArrayBuffer | undefined;
  /** Queues the bytes; throws if the socket is closed or the host's send buffer is full. */
  write(buffer: Bytes): void;
  close(): void;
}
export interface TCPConstructor {
  new (options: TCPOptions): TCP;
}

/**
 * UDP socket (ECMA-419 §10.4, `embedded:io/socket/udp`), format "buffer". Rules of Moddable's
 * lwIP version (modules/io/socket/lwip/udp.c) that firmware must respect:
 * - the constructor throws without a network interface ("no network"); `port` is an integer
 *   0..65535, 0 or absent for an ephemeral port (a RangeError otherwise);
 * - `write(buffer, address, port)`: `address` is a dotted IPv4 literal (names throw), and a
 *   failed send throws;
 * - `read()` returns the next waiting datagram, an ArrayBuffer with the sender's `address` and
 *   `port` as properties, or undefined when none waits;
 * - `onReadable(count)` fires when datagrams wait, `count` of them.
 * Callbacks run on the event loop, never inside a call the firmware made.
 */
export interface UDPOptions {
  port?: number;
  onReadable?(count: number): void;
}
export type UDPDatagram = ArrayBuffer & { address: string; port: number };
export interface UDP {
  read(): UDPDatagram | undefined;
  write(buffer: Bytes, address: string, port: number): void;
  close(): void;
}
export interface UDPConstructor {
  new (options: UDPOptions): UDP;
}

/** TLS socket: a TCP socket with the ECMA-419 `secure` options (CA, client certificate). */
export interface TLSOptions extends TCPOptions {
  secure: {
    ca?: Bytes | string;
    certificate?: Bytes | string;
    key?: Bytes | string;
    serverName?: string;
  };
}
export interface TLSSocketConstructor {
  new (options: TLSOptions): TCP;
}

/**
 * Serial port, a UART (ECMA-419 §10.2, `embedded:io/serial`), format "buffer". At least one of
 * `receive` / `transmit` (pins) is given; `port` selects the UART; `baud` in (0, 20 000 000].
 * Rules of Moddable's `modules/io/serial/esp32/serial.c` that firmware must respect:
 * - `onWritable(count)` first fires once the port is open, then whenever the transmit FIFO has
 *   drained, with the bytes `write()` may now take (the FIFO holds 128 bytes on an ESP32).
 * - `write(buffer)` throws ("output full") if the buffer is longer than the free FIFO space;
 *   nothing is written then. Callers track the count `onWritable` gave them.
 * - `onReadable(count)` fires when received bytes wait, and again while some are left unread.
 * - `read()` returns all waiting bytes, `read(count)` exactly `count` (throws if `count` is not
 *   in 1..waiting), `read(buffer)` fills up to its length and returns how many; each returns
 *   undefined when nothing waits. The receive FIFO is bounded: bytes beyond it are lost.
 * Callbacks run on the event loop, never inside a call the firmware made.
 */
export interface SerialOptions {
  receive?: number;
  transmit?: number;
  baud: number;
  port?: number;
  onReadable?(count: number): void;
  onWritable?(count: number): void;
}
export interface Serial {
  read(): ArrayBuffer | undefined;
  read(count: number): ArrayBuffer | undefined;
  read(buffer: Bytes): number | undefined;
  write(buffer: Bytes): void;
  close(): void;
}
export interface SerialConstructor {
  new (options: SerialOptions): Serial;
}

/** Name resolution. Exactly one of the callbacks runs, later, on the event loop. */
export interface DNS {
  resolve(
    name: string,
    onResolved: (address: string) => void,
    onError: (message: string) => void,
  ): void;
}

/**
 * Flash partition (ECMA-419 2nd edition storage: Flash).
 * - `read(byteLength, byteOffset)` returns a new ArrayBuffer; `read(buffer, byteOffset)` fills it.
 * - `write(buffer, byteOffset)`: offset and length are multiples of `writeAlign`; NOR semantics:
 *   bits only go from the erase value towards the other, so write only erased areas.
 * - `eraseBlock(block)` sets the whole block to `eraseValue`.
 * - operations throw on an out-of-range or misaligned access, or a device fault.
 */
export interface FlashStatus {
  blockLength: number;
  blocks: number;
  writeAlign: number;
  eraseValue: number;
  /**
   * ESP32 flash encryption is on for this partition (flagged `encrypted`): reads decrypt, writes
   * are 16-byte aligned multiples of 16, a 16-byte unit is written once per erase, and erased
   * flash reads back as noise. Absent or false: plain NOR.
   */
  encrypted?: boolean;
}
export interface Flash {
  read(byteLength: number, byteOffset: number): ArrayBuffer;
  read(buffer: Bytes, byteOffset: number): void;
  write(buffer: Bytes, byteOffset: number): void;
  eraseBlock(block: number): void;
  status(): FlashStatus;
  close(): void;
}
export interface FlashProvider {
  /** Opens a named partition (e.g. "cache", "settings"); throws if there is none. */
  open(options: { path: string }): Flash;
}

/**
 * OTA update target (ECMA-419 style Update, as Moddable's `embedded:update`): writes go to the
 * inactive slot; `complete()` marks it bootable on trial; `cancel()` discards it.
 */
export interface Update {
  write(buffer: Bytes, byteOffset?: number): void;
  complete(): void;
  cancel(): void;
}
export interface UpdateProvider {
  open(options?: { byteLength?: number }): Update;
  /**
   * The running image: which slot, its version, whether it runs on trial, and (where the
   * bootloader knows it) the security counter of its signed manifest (anti-rollback floor).
   */
  running(): { slot: number; version: string; trial: boolean; securityCounter?: number };
  /** Marks the running trial image good; without it the next boot rolls back. */
  confirm(): void;
}

/** Monotonic clock in milliseconds; never goes back, unrelated to the wall clock. */
export interface MonotonicClock {
  now(): number;
}
/** Wall clock in ms since the Unix epoch, or undefined while it is not synchronised. */
export interface WallClock {
  now(): number | undefined;
}

/** Timers on the host's event loop. A callback never runs inside the call that set it. */
export type TimerId = number;
export interface Timers {
  set(callback: () => void, ms: number, repeat?: number): TimerId;
  clear(id: TimerId | undefined): void;
}

/** Random source: uniformly distributed in [0, 1). Seeded and deterministic in simulation. */
export interface Random {
  next(): number;
}

/**
 * What the chip knows about itself, where the host knows it (the heartbeat reports each field
 * it finds; firmware/health.ts). ESP-IDF: `esp_reset_reason()`, a boot counter in NVS or RTC
 * memory, `esp_get_free_heap_size()`.
 */
export interface SystemInfo {
  /** Boots since the counter was last cleared (1 on the first boot). */
  bootCount?: number;
  /** Why the chip last started: one of RESET_REASONS (firmware/health.ts). */
  resetReason?: string;
  /** Free heap, bytes, now. */
  freeHeap?(): number;
}

/** The Wi-Fi radio, where the host has one: the signal of the access point, dBm, or undefined while not associated. */
export interface WiFiInfo {
  rssi(): number | undefined;
}

/**
 * Power control, where the host has it (firmware/power.ts drives it; docs/energy.md). ESP32:
 * hosts/esp32/power.ts over the native sleep module (esp_sleep, esp_wifi); the simulator's hosts:
 * simulator/power-host.ts, which models the same states and their timing. Absent: the node
 * stays awake and associated (the `always-connected` mode, today's behaviour).
 */
export interface PowerControl {
  /**
   * Memory that survives deep sleep but not a power cut (the ESP32's RTC slow memory), fixed
   * size; zeroed at power-on. The firmware keeps the detector's state and its report filter here.
   */
  readonly retained: Uint8Array;
  /** Why the chip started: 'timer' after a deep sleep it asked for, else 'power-on'. */
  wakeCause(): 'timer' | 'power-on';
  /**
   * Turns the radio on and joins the access point; `onJoined` runs on the event loop once
   * associated (an IP address held). Calling it while on or joining only waits for that join.
   */
  radioOn(onJoined: () => void): void;
  /** Leaves the access point and powers the radio down. */
  radioOff(): void;
  /**
   * The chip sleeps `ms` in `mode`. 'light': RAM and the association kept (DTIM power save),
   * returns after the sleep; 'deep': everything but the RTC is powered down. On the ESP32 a deep
   * sleep does not return (the chip boots again, `wakeCause()` 'timer'); a simulated host
   * accounts the time and returns, and the firmware treats its RAM as lost all the same (it
   * restores from `retained`).
   */
  sleep(mode: 'light' | 'deep', ms: number): void;
  /**
   * Automatic light sleep while associated (ESP-IDF power management with Wi-Fi modem sleep):
   * the chip sleeps whenever idle and wakes for the access point's DTIM beacons.
   */
  autoLightSleep?(on: boolean): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What the firmware may construct or call. Optional members are absent on hosts without them. */
export interface Host {
  io: {
    I2C?: I2CConstructor;
    SMBus?: SMBusConstructor;
    SPI?: SPIConstructor;
    Digital?: DigitalConstructor;
    Analog?: AnalogConstructor;
    OneWire?: OneWireConstructor;
    TCP: TCPConstructor;
    TLSSocket?: TLSSocketConstructor;
    /** Datagrams on the node's network (the mDNS broker search, firmware/provision/mdns.ts). */
    UDP?: UDPConstructor;
    /** The console UART where a serial host (Improv Wi-Fi) talks to the node. */
    Serial?: SerialConstructor;
  };
  dns?: DNS;
  flash?: FlashProvider;
  update?: UpdateProvider;
  system?: SystemInfo;
  wifi?: WiFiInfo;
  power?: PowerControl;
  clock: {
    monotonic: MonotonicClock;
    wall: WallClock;
  };
  timers: Timers;
  random: Random;
  log(level: LogLevel, message: string): void;
  /** Reboots the node. On a simulated host the node is torn down and booted again. */
  restart(): void;
}
