/*
 * The on-device check's configuration (manifests/drivers-check/target.ts): manifest config
 * values, as numbers or as mcconfig command-line strings, validated into the check target.
 */
import test from 'ava';
import { checkTarget, configInteger } from '../manifests/drivers-check/target';

const board = { spi: { select: 5 }, onewire: { pin: 4 } };
const defaults = { wrongSelect: 27, analogPin: 34, wrongPin: 33 };

test('defaults: TMP117 at 0x48, wrong address 0x49, 10 samples at the conversion period', (t) => {
  const target = checkTarget({ ...defaults, part: 'tmp117', address: '', samples: 10 }, board);
  t.deepEqual(target.sensor, { address: 0x48 });
  t.deepEqual(target.wrong, { address: 0x49 });
  t.is(target.wrongLabel, 'address 0x49');
  t.is(target.samples, 10);
  t.is(target.intervalMs, 1000);
});

test('command-line overrides are strings: part=mcp9808 address=0x1a wrong=0x1f samples=3 intervalMs=250', (t) => {
  const target = checkTarget({ ...defaults, part: 'mcp9808', address: '0x1a', wrong: '0x1f', samples: '3', intervalMs: '250' }, board);
  t.deepEqual(target.sensor, { address: 0x1a });
  t.deepEqual(target.wrong, { address: 0x1f });
  t.is(target.samples, 3);
  t.is(target.intervalMs, 250);
});

test('SPI, 1-Wire and analog parts take the board pins and the board defaults', (t) => {
  t.deepEqual(checkTarget({ ...defaults, part: 'max31855' }, board).sensor, { select: 5 });
  t.deepEqual(checkTarget({ ...defaults, part: 'max31855' }, board).wrong, { select: 27 });
  t.deepEqual(checkTarget({ ...defaults, part: 'ds18b20', rom: '28ff641e0f00004b' }, board).sensor, { pin: 4, rom: '28ff641e0f00004b' });
  t.deepEqual(checkTarget({ ...defaults, part: 'ds18b20' }, board).wrong, { pin: 33 });
  t.deepEqual(checkTarget({ ...defaults, part: 'ntc' }, board).sensor, { pin: 34 });
  t.deepEqual(checkTarget({ ...defaults, part: 'ntc', pin: '35', wrong: '32' }, board).wrong, { pin: 32 });
});

test('bad values are refused with the name of the setting', (t) => {
  t.throws(() => checkTarget({ ...defaults, part: 'lm35' }, board), { message: /config part: unknown part "lm35"/ });
  t.throws(() => checkTarget({ ...defaults, address: '0x99' }, board), { message: /config address/ });
  t.throws(() => checkTarget({ ...defaults, address: '72h' }, board), { message: /config address/ });
  t.throws(() => checkTarget({ ...defaults, wrong: '0x48' }, board), { message: /config wrong: must differ/ });
  t.throws(() => checkTarget({ ...defaults, samples: '1' }, board), { message: /config samples/ });
  t.throws(() => checkTarget({ ...defaults, part: 'ds18b20', rom: '28ff' }, board), { message: /config rom/ });
  t.throws(() => checkTarget({ part: 'max31855' }, board), { message: /config wrongSelect/ });
  t.throws(() => checkTarget({ ...defaults, part: 'ntc', pin: '34' , wrong: '34' }, board), { message: /must differ/ });
  t.is(configInteger('0x48', 'x', 0, 127), 0x48);
  t.is(configInteger(17, 'x', 0, 127), 17);
  t.throws(() => configInteger('1.5', 'x', 0, 127));
  t.throws(() => configInteger('', 'x', 0, 127));
});
