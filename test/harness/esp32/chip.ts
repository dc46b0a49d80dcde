/*
 * The three ESP32 chips pipewatch builds for, as far as the SDK's IO code tells them apart, and
 * the pin bookkeeping every Moddable ESP32 IO class shares.
 *
 * Sources (ESP-IDF 5.x `soc_caps.h` per chip, as the SDK compiles against it, and the SDK):
 * - valid GPIOs: SOC_GPIO_VALID_GPIO_MASK (modules/io/common/builtinCommon.c: gDigitalAvailable
 *   starts from it); output-capable: SOC_GPIO_VALID_OUTPUT_GPIO_MASK (GPIO_IS_VALID_OUTPUT_GPIO in
 *   modules/io/i2c/esp32/_i2c.c; ESP32 GPIO 34..39 are input only);
 * - I2C ports: I2C_NUM_MAX (_i2c.c: xs_i2c_constructor "invalid port");
 * - SPI hosts: modules/io/spi/esp/spi.c xs_spi_constructor (#if kCPUESP32C3: SPI1/SPI2 only);
 * - RMT: SOC_RMT_TX_CANDIDATES_PER_GROUP / SOC_RMT_RX_CANDIDATES_PER_GROUP (ESP32: 8 channels,
 *   each TX or RX; ESP32-S3: 4 TX + 4 RX; ESP32-C3: 2 TX + 2 RX);
 * - ADC pins: modules/io/analog/esp32/_analog.c gADCMap / gADC2Map per chip.
 * - UARTs: UART_NUM_MAX (modules/io/serial/esp32/serial.c: xs_serial_constructor "invalid port");
 *   the console UART0 pins of build/devices/esp32/lib/debugger/debugger_uart.c (USE_UART_TX/RX).
 */

export type ChipName = 'esp32' | 'esp32s3' | 'esp32c3';

export interface Chip {
  name: ChipName;
  gpio: ReadonlySet<number>;
  output: ReadonlySet<number>;
  i2cPorts: number;
  spiHosts: readonly number[];
  /** RMT channels: `shared` = one pool for TX and RX (ESP32), else separate TX and RX pools. */
  rmt: { shared: number } | { tx: number; rx: number };
  adc1: readonly number[];
  adc2: readonly number[];
  /** ADC2 cannot be read while Wi-Fi runs (ESP32: adc_oneshot_read returns ESP_ERR_TIMEOUT). */
  adc2BlockedByWiFi: boolean;
  /** UART_NUM_MAX. */
  uarts: number;
  /** UART0's pins, the console (debugger_uart.c). */
  consoleUart: { transmit: number; receive: number };
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

const esp32Gpio = [...range(0, 19), 21, 22, 23, 25, 26, 27, ...range(32, 39)];

export const CHIPS: Readonly<Record<ChipName, Chip>> = Object.freeze({
  esp32: {
    name: 'esp32',
    gpio: new Set(esp32Gpio),
    output: new Set(esp32Gpio.filter((pin) => pin < 34)),
    i2cPorts: 2,
    spiHosts: [0, 1, 2],
    rmt: { shared: 8 },
    adc1: [36, 37, 38, 39, 32, 33, 34, 35],
    adc2: [4, 0, 2, 15, 13, 12, 14, 27, 25, 26],
    adc2BlockedByWiFi: true,
    uarts: 3,
    consoleUart: { transmit: 1, receive: 3 },
  },
  esp32s3: {
    name: 'esp32s3',
    gpio: new Set([...range(0, 21), ...range(26, 48)]),
    output: new Set([...range(0, 21), ...range(26, 48)]),
    i2cPorts: 2,
    spiHosts: [0, 1, 2],
    rmt: { tx: 4, rx: 4 },
    adc1: range(1, 10),
    adc2: range(11, 20),
    adc2BlockedByWiFi: false,
    uarts: 3,
    consoleUart: { transmit: 43, receive: 44 },
  },
  esp32c3: {
    name: 'esp32c3',
    gpio: new Set(range(0, 21)),
    output: new Set(range(0, 21)),
    i2cPorts: 1,
    spiHosts: [0, 1],
    rmt: { tx: 2, rx: 2 },
    adc1: range(0, 4),
    adc2: [],
    adc2BlockedByWiFi: false,
    uarts: 2,
    consoleUart: { transmit: 21, receive: 20 },
  },
});

/** XS's ToInteger as `xsmcToInteger` applies it: NaN and undefined become 0, fractions truncate. */
export function toInteger(value: unknown): number {
  const n = Number(value);
  if (!Number.isFinite(n)) return 0;
  return Math.trunc(n) | 0;
}

/**
 * builtinGetPin = builtinGetUnsignedInteger (modules/io/common/builtinCommon.c): undefined is
 * Error "invalid", a negative number RangeError "negative"; anything else goes through ToInteger.
 */
export function getPin(value: unknown): number {
  if (value === undefined) throw new Error('invalid');
  const n = toInteger(value);
  if (n < 0) throw new RangeError('negative');
  return n;
}

/** builtinGetSignedInteger (builtinCommon.c): undefined is Error "invalid". */
export function getSignedInteger(value: unknown): number {
  if (value === undefined) throw new Error('invalid');
  return toInteger(value);
}

/** Which GPIOs the IO classes hold (builtinCommon.c: builtinUsePins, builtinFreePins, builtinArePinsFree). */
export class PinTable {
  readonly #free: Set<number>;
  constructor(readonly chip: Chip) {
    this.#free = new Set(chip.gpio);
  }
  isFree(pin: number): boolean {
    return this.#free.has(pin);
  }
  use(pin: number): void {
    this.#free.delete(pin);
  }
  free(pin: number): void {
    if (this.chip.gpio.has(pin)) this.#free.add(pin);
  }
}

/** RMT channel allocation (ESP-IDF driver/rmt: rmt_new_tx_channel / rmt_new_rx_channel fail with ESP_ERR_NOT_FOUND when none is left). */
export class RmtChannels {
  #tx = 0;
  #rx = 0;
  readonly #owners = new Map<number, string>();
  constructor(readonly chip: Chip) {}

  get used(): { tx: number; rx: number } {
    return { tx: this.#tx, rx: this.#rx };
  }

  /** Takes `tx` TX and `rx` RX channels on `pin` for `owner`; false when the chip has too few left. */
  take(pin: number, owner: string, tx: number, rx: number): boolean {
    const rmt = this.chip.rmt;
    const fits = 'shared' in rmt ? this.#tx + this.#rx + tx + rx <= rmt.shared : this.#tx + tx <= rmt.tx && this.#rx + rx <= rmt.rx;
    if (!fits) return false;
    this.#tx += tx;
    this.#rx += rx;
    this.#owners.set(pin, owner);
    return true;
  }

  give(pin: number, tx: number, rx: number): void {
    this.#tx -= tx;
    this.#rx -= rx;
    this.#owners.delete(pin);
  }

  /** Who drives `pin` through RMT, if anyone. */
  owner(pin: number): string | undefined {
    return this.#owners.get(pin);
  }
}
