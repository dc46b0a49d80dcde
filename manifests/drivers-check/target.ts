/*
 * What the on-device conformance check tests, from the manifest `config` (strings when given
 * on the mcconfig command line, e.g. `part=tmp117 address=0x48`): the part, where it sits and
 * where nothing must answer. Every value is validated; a bad one throws a RangeError naming it.
 *
 *   part        one of firmware/diagnostics/parts.ts (default tmp117)
 *   address     I2C/SMBus address, default the part's (0x48 for the TMP117)
 *   select      SPI chip-select GPIO, default the board's spi.select
 *   pin         1-Wire GPIO (default the board's onewire.pin) or ADC GPIO (default analogPin)
 *   rom         DS18B20 ROM id, 16 hex digits (default: Skip ROM, one part on the bus)
 *   wrong       where nothing must answer: I2C address (default address ^ 1), SPI chip-select
 *               GPIO (default wrongSelect), 1-Wire or ADC GPIO (default wrongPin)
 *   samples     2..1000 (default 10)
 *   intervalMs  time between samples, default the part's conversion period
 */
import { CONFORMANCE_PARTS, type ConformancePart, conformancePartNames } from '../../firmware/diagnostics/parts';

export interface CheckConfig {
  part?: unknown;
  address?: unknown;
  select?: unknown;
  pin?: unknown;
  rom?: unknown;
  wrong?: unknown;
  samples?: unknown;
  intervalMs?: unknown;
  /** Board defaults (manifest platform config). */
  wrongSelect?: unknown;
  analogPin?: unknown;
  wrongPin?: unknown;
}

/** Bus settings the board gives (config.board of manifests/esp32/boards, or the simulated board). */
export interface CheckBoard {
  spi: { select: number };
  onewire: { pin: number };
}

export interface CheckTarget {
  part: string;
  spec: ConformancePart;
  /** Bus settings for the driver's `sensor` (without `io`). */
  sensor: Record<string, unknown>;
  wrong: Record<string, unknown>;
  wrongLabel: string;
  samples: number;
  intervalMs: number;
}

const HEX_DIGITS = '0123456789abcdefABCDEF';

function given(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/** An integer from a number or a decimal / 0x-hex string, within min..max. */
export function configInteger(value: unknown, name: string, min: number, max: number): number {
  let n = NaN;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && value.length > 0 && value.length <= 10) {
    const hex = value.startsWith('0x') || value.startsWith('0X');
    const digits = hex ? value.slice(2) : value;
    let ok = digits.length > 0;
    for (let i = 0; i < digits.length && ok; i++) {
      const c = digits[i]!;
      ok = hex ? HEX_DIGITS.indexOf(c) >= 0 : c >= '0' && c <= '9';
    }
    if (ok) n = hex ? parseInt(digits, 16) : Number(digits);
  }
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`config ${name}: expected an integer ${min}..${max}, got "${String(value)}"`);
  }
  return n;
}

function gpio(value: unknown, name: string): number {
  return configInteger(value, name, 0, 48);
}

/** Resolves the check target; throws a RangeError naming the first bad config value. */
export function checkTarget(config: CheckConfig, board: CheckBoard): CheckTarget {
  const part = given(config.part) ? String(config.part) : 'tmp117';
  const spec = CONFORMANCE_PARTS[part];
  if (!spec) throw new RangeError(`config part: unknown part "${part}" (one of: ${conformancePartNames().join(', ')})`);
  const samples = given(config.samples) ? configInteger(config.samples, 'samples', 2, 1000) : 10;
  const intervalMs = given(config.intervalMs) ? configInteger(config.intervalMs, 'intervalMs', 1, 600_000) : spec.periodMs;
  const base = { part, spec, samples, intervalMs };
  if (spec.bus === 'i2c' || spec.bus === 'smbus') {
    const address = given(config.address) ? configInteger(config.address, 'address', 0x08, 0x77) : spec.defaultAddress!;
    const wrong = given(config.wrong) ? configInteger(config.wrong, 'wrong', 0x08, 0x77) : address ^ 1;
    if (wrong === address) throw new RangeError('config wrong: must differ from address');
    return { ...base, sensor: { address }, wrong: { address: wrong }, wrongLabel: `address 0x${wrong.toString(16)}` };
  }
  if (spec.bus === 'spi') {
    const select = given(config.select) ? gpio(config.select, 'select') : gpio(board.spi.select, 'board spi.select');
    const wrong = given(config.wrong) ? gpio(config.wrong, 'wrong') : gpio(config.wrongSelect, 'wrongSelect');
    if (wrong === select) throw new RangeError('config wrong: must differ from select');
    return { ...base, sensor: { select }, wrong: { select: wrong }, wrongLabel: `chip select GPIO ${wrong}` };
  }
  if (spec.bus === 'onewire') {
    const pin = given(config.pin) ? gpio(config.pin, 'pin') : gpio(board.onewire.pin, 'board onewire.pin');
    const wrong = given(config.wrong) ? gpio(config.wrong, 'wrong') : gpio(config.wrongPin, 'wrongPin');
    if (wrong === pin) throw new RangeError('config wrong: must differ from pin');
    const sensor: Record<string, unknown> = { pin };
    if (given(config.rom)) {
      const rom = String(config.rom);
      let ok = rom.length === 16;
      for (let i = 0; i < rom.length && ok; i++) ok = HEX_DIGITS.indexOf(rom[i]!) >= 0;
      if (!ok) throw new RangeError(`config rom: expected 16 hex digits, got "${rom}"`);
      sensor.rom = rom;
    }
    return { ...base, sensor, wrong: { pin: wrong }, wrongLabel: `1-Wire GPIO ${wrong} (nothing attached)` };
  }
  const pin = given(config.pin) ? gpio(config.pin, 'pin') : gpio(config.analogPin, 'analogPin');
  const wrong = given(config.wrong) ? gpio(config.wrong, 'wrong') : gpio(config.wrongPin, 'wrongPin');
  if (wrong === pin) throw new RangeError('config wrong: must differ from pin');
  return { ...base, sensor: { pin }, wrong: { pin: wrong }, wrongLabel: `ADC GPIO ${wrong} (tie it to GND)` };
}
