/*
 * Sensor fault codes shared by every driver. A driver never returns a plausible-looking
 * wrong number: on any of these it reports a SensorError through `onError`, counts it, and
 * `sample()` returns no temperature. A fault of one channel of a multi-channel part (a BME280
 * pressure out of range, a MAX31855 or MAX31856 thermocouple fault) names that channel in
 * `SensorError.channel`; `read()` then clears only that channel's bit and keeps the others.
 */
export const SensorErrorCode = Object.freeze({
  /** Bus NAK, time-out or other transport error (the IO class threw). */
  BUS: 'E_BUS',
  /** CRC over the data did not match (Sensirion CRC-8, Dallas CRC-8, ...). */
  CRC: 'E_CRC',
  /** SMBus packet error code did not match. */
  PEC: 'E_PEC',
  /** The chip at this address is not the part the driver is for. */
  CHIP_ID: 'E_CHIP_ID',
  /** The part still holds its power-on value (e.g. DS18B20 +85 °C before any conversion). */
  POWER_ON_VALUE: 'E_POWER_ON_VALUE',
  /** The part reads as disconnected (e.g. DS18B20 -127 °C pattern, no presence pulse). */
  DISCONNECTED: 'E_DISCONNECTED',
  /** Thermocouple, RTD element or one of its leads open circuit. */
  OPEN: 'E_OPEN',
  /** Thermocouple, thermistor or an RTD lead shorted to GND. */
  SHORT_GND: 'E_SHORT_GND',
  /** Thermocouple shorted to VCC. */
  SHORT_VCC: 'E_SHORT_VCC',
  /** The sensing element shorted across its terminals (an RTD reading near 0 Ω). */
  SHORT: 'E_SHORT',
  /** A sensor input above the supply or below ground (MAX31865 D2): a lead touching another voltage. */
  OVERVOLTAGE: 'E_OVERVOLTAGE',
  /** An RTD converter fault flag with no cause in its fault status register (MAX31865). */
  RTD_FAULT: 'E_RTD_FAULT',
  /** A thermocouple converter fault status bit other than open/short (MAX31856 fault register). */
  TC_FAULT: 'E_TC_FAULT',
  /** An all-zero or all-ones frame: a floating or stuck bus, not a reading. */
  FRAME: 'E_FRAME',
  /** The value has not changed for longer than the configured stuck time. */
  STUCK: 'E_STUCK',
  /** No conversion has completed yet (not an error of the part; not counted as a fault). */
  NOT_READY: 'E_NOT_READY',
  /** A value outside the part's measurement range. */
  RANGE: 'E_RANGE',
  /** A configuration the part does not support. */
  CONFIG: 'E_CONFIG',
} as const);

export type SensorErrorCodeValue = (typeof SensorErrorCode)[keyof typeof SensorErrorCode];

export class SensorError extends Error {
  override name = 'SensorError';
  readonly code: SensorErrorCodeValue;
  readonly part: string;
  /**
   * The one channel (index into the driver's `channels`) the fault is about, when the read
   * kept the others (its bitmask has this bit clear and theirs set); undefined: every channel.
   */
  readonly channel: number | undefined;
  constructor(part: string, code: SensorErrorCodeValue, message: string, channel?: number) {
    super(`${part}: ${code}: ${message}`);
    this.part = part;
    this.code = code;
    this.channel = channel;
  }
}

/** Per-driver fault counters, one per code; allocated once. */
export type FaultCounts = Record<SensorErrorCodeValue, number>;

export function newFaultCounts(): FaultCounts {
  const counts = {} as FaultCounts;
  for (const code of Object.values(SensorErrorCode)) counts[code] = 0;
  return counts;
}
