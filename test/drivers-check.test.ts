/*
 * `pipewatch drivers check`, called directly: every part against its simulated device, bad
 * options, a deliberately lenient driver (the checker must fail it), and the Linux host path
 * with a fake IIO directory and a missing I2C bus.
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import MAX31855 from '../firmware/sensors/max31855';
import { iio, parseBusPath } from '../hosts/linux/io';
import { SimMax31855 } from '../simulator/devices/max31855';
import { checkablePartNames, driversCheck, PARTS } from '../tools/drivers-check';

const root = new URL('../', import.meta.url);
const present = (part: string) =>
  existsSync(new URL(`firmware/sensors/${part}.ts`, root)) && existsSync(new URL(`simulator/devices/${part}.ts`, root));

async function run(argv: string[]) {
  const lines: string[] = [];
  const code = await driversCheck(argv, (line) => lines.push(line));
  return { code, text: lines.join('\n') };
}

for (const part of checkablePartNames()) {
  test(`drivers check --simulated: ${part}`, async (t) => {
    const { code, text } = await run(['check', '--part', part, '--simulated', '--samples', '5']);
    t.log(text);
    if (!present(part)) {
      t.is(code, 1, 'a part missing from the tree fails, saying so');
      t.regex(text, /not in this tree|no driver|no simulated device/);
      return;
    }
    t.is(code, 0, text);
    t.regex(text, /PASS/);
    t.regex(text, /wrong .* ok/);
  });
}

test('drivers check: bad options exit 2', async (t) => {
  t.is(await driversCheck([]), 2);
  t.is(await driversCheck(['check', '--part', 'lm35', '--simulated']), 2);
  t.is(await driversCheck(['check', '--part', 'tmp117']), 2);
  t.is(await driversCheck(['check', '--part', 'tmp117', '--simulated', '--bus', '/dev/i2c-1']), 2);
  t.is(await driversCheck(['check', '--part', 'tmp117', '--bus', '/dev/i2c-1', '--address', '0x99']), 2);
  t.is(await driversCheck(['check', '--part', 'tmp117', '--simulated', '--samples', 'ten']), 2);
  t.is(await driversCheck(['check', '--part', 'tmp117', '--bus', '/dev/ttyUSB0']), 2);
  t.is(await driversCheck(['check', '--part', 'max31855', '--bus', '/dev/i2c-1']), 2, 'an SPI part on an I2C bus');
  t.is(await driversCheck(['check', '--part', 'ds18b20', '--bus', '/dev/i2c-1']), 2, '1-Wire is not on hosts/linux');
});

test('drivers check: a driver that publishes its last value on a fault fails the check', async (t) => {
  class Lenient extends MAX31855 {
    #last = new Int32Array(2);
    #seen = false;
    override read(out: Int32Array): number {
      if (super.read(out)) {
        this.#last.set(out.subarray(0, 2));
        this.#seen = true;
        return 0b11;
      }
      if (!this.#seen) return 0;
      out.set(this.#last);
      return 0b11; // the classic bug: a plausible-looking stale number
    }
  }
  PARTS.lenient = { ...PARTS.max31855!, load: async () => ({ Driver: Lenient, Device: SimMax31855 }) };
  try {
    const { code, text } = await run(['check', '--part', 'lenient', '--simulated', '--samples', '3']);
    t.log(text);
    t.is(code, 1);
    t.regex(text, /fault: open \.+ FAIL {2}a number/);
  } finally {
    delete PARTS.lenient;
  }
});

test('drivers check on a real bus that is not there: says so before opening anything, exit 2', async (t) => {
  const { code, text } = await run(['check', '--part', 'tmp117', '--bus', '/dev/i2c-250', '--samples', '2', '--interval', '1']);
  t.is(code, 2);
  t.is(text, '', 'no report: the message is on stderr (test/cli.test.ts checks it)');
});

test('drivers check on hosts/linux Analog over an IIO directory (ntc)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-iio-'));
  mkdirSync(join(dir, 'iio:device0'));
  // 10 kΩ NTC and 10 kΩ series resistor at 25 °C: half scale of a 12-bit ADC.
  writeFileSync(join(dir, 'iio:device0', 'in_voltage0_raw'), '2047\n');
  const saved = iio.root;
  iio.root = dir;
  try {
    const { code, text } = await run(['check', '--part', 'ntc', '--bus', 'iio:device0', '--pin', '0', '--samples', '3', '--interval', '1']);
    t.log(text);
    t.is(code, 0, text);
    t.regex(text, /range temperature \.+ ok {4}25\.0/);
    t.regex(text, /wrong channel 1 \.+ ok {4}constructor: E_BUS/);
    writeFileSync(join(dir, 'iio:device0', 'in_voltage0_raw'), '4095\n');
    const open = await run(['check', '--part', 'ntc', '--bus', 'iio:device0', '--pin', '0', '--samples', '2', '--interval', '1']);
    t.is(open.code, 1, 'a full-scale code is an open thermistor, never a number');
    t.regex(open.text, /E_OPEN/);
  } finally {
    iio.root = saved;
  }
});

test('hosts/linux: bus paths', (t) => {
  t.deepEqual(parseBusPath('/dev/i2c-1'), { kind: 'i2c', port: 1 });
  t.deepEqual(parseBusPath('/dev/spidev0.1'), { kind: 'spi', port: 0, select: 1 });
  t.deepEqual(parseBusPath('/sys/bus/iio/devices/iio:device2'), { kind: 'iio', port: 2 });
  t.is(parseBusPath('/dev/ttyUSB0'), undefined);
});
