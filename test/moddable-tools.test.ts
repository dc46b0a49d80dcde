import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOARDS, MANIFEST, ROOT, findSdk, moddableCommand, parseDuration, partitionOffset } from '../tools/moddable';

function collect(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

function withoutSdk<T>(run: () => Promise<T>): Promise<T> {
  const saved = { MODDABLE: process.env.MODDABLE, IDF_PATH: process.env.IDF_PATH };
  delete process.env.MODDABLE;
  delete process.env.IDF_PATH;
  return run().finally(() => {
    if (saved.MODDABLE !== undefined) process.env.MODDABLE = saved.MODDABLE;
    if (saved.IDF_PATH !== undefined) process.env.IDF_PATH = saved.IDF_PATH;
  });
}

for (const [kind, args] of [
  ['build', ['--target', 'esp32/nodemcu', '--check']],
  ['build', ['--target', 'esp32/esp32c3']],
  ['flash', ['--target', 'esp32/nodemcu', '--port', '/dev/ttyUSB0']],
  ['sim', ['--duration', '30s', '--broker', 'mqtt://127.0.0.1:1883']],
] as const) {
  test.serial(`without $MODDABLE, ${kind} ${args.join(' ')} explains and exits non-zero`, async (t) => {
    const { lines, log } = collect();
    const code = await withoutSdk(() => moddableCommand(kind, [...args], log));
    t.is(code, 2);
    const text = lines.join('\n');
    t.regex(text, /\$MODDABLE is not set/);
    t.regex(text, /Moddable-OpenSource\/moddable/);
    t.regex(text, /docs\/moddable\.md/);
  });
}

test('findSdk names a directory that is not the SDK, and unbuilt tools', (t) => {
  t.regex(findSdk({ MODDABLE: join(ROOT, 'firmware') }) as string, /does not look like the Moddable SDK/);
});

test('argument errors exit 2 with a usage hint', async (t) => {
  const a = collect();
  t.is(await moddableCommand('build', [], a.log), 2);
  t.regex(a.lines.join('\n'), /--target is required/);
  const b = collect();
  t.is(await moddableCommand('flash', ['--target', 'esp32/nodemcu'], b.log), 2);
  t.regex(b.lines.join('\n'), /--port is required/);
  const c = collect();
  t.is(await moddableCommand('build', ['--target', 'esp32/nodemcu', 'not-a-setting'], c.log), 2);
  t.regex(c.lines.join('\n'), /name=value/);
});

test('provision --image-only writes a valid NVS image without a device', async (t) => {
  const { lines, log } = collect();
  const file = join(ROOT, 'build', 'moddable', 'test-nvs.bin');
  const code = await moddableCommand(
    'provision',
    ['--ssid', 'Plant', '--password', 'passphrase1', '--broker', 'mqtt://10.0.0.5', '--device-id', 'pipe-1', '--insecure', '--image-only', file],
    log,
  );
  t.is(code, 0, lines.join('\n'));
  const image = readFileSync(file);
  t.is(image.length, 0x5000, 'the nvs partition of partitions.csv');
  t.is(image.readUInt32LE(0), 0xfffffffe, 'an ACTIVE NVS page');
  t.true(image.includes(Buffer.from('PWS1')), 'the settings record inside');
  const bad = collect();
  t.is(await moddableCommand('provision', ['--ssid', '', '--broker', 'mqtt://x', '--device-id', 'd', '--image-only', file], bad.log), 2);
  t.regex(bad.lines.join('\n'), /E_SETTINGS_VALUE: ssid/);
});

test('durations', (t) => {
  t.is(parseDuration('30s'), 30_000);
  t.is(parseDuration('2m'), 120_000);
  t.is(parseDuration('1500ms'), 1500);
  t.is(parseDuration('45'), 45_000);
  t.throws(() => parseDuration('soon'), { message: /invalid duration/ });
});

test('partition table: two OTA slots, cache and settings, aligned, inside 4 MB', (t) => {
  const rows = readFileSync(join(ROOT, 'manifests', 'esp32', 'partitions.csv'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.split(',').map((c) => c.trim()));
  const names = rows.map((r) => r[0]);
  for (const name of ['otadata', 'ota_0', 'ota_1', 'cache', 'settings']) t.true(names.includes(name), name);
  let end = 0;
  for (const [name, type, , offset, size] of rows) {
    const o = parseInt(offset!, 16);
    const s = parseInt(size!, 16);
    t.true(o >= end, `${name} overlaps`);
    t.is(o % 0x1000, 0, `${name} offset not 4 KB aligned`);
    if (type === 'app') t.is(o % 0x10000, 0, `${name}: app partitions need 64 KB alignment`);
    end = o + s;
  }
  t.true(end <= 0x400000);
  t.is(partitionOffset('settings'), 0x3f0000);
  const settings = rows.find((r) => r[0] === 'settings')!;
  t.is(parseInt(settings[4]!, 16), 2 * 4096, 'settings holds two 4 KB blocks');
});

test('every listed board has a platform block, pins and fixed budgets', (t) => {
  const app = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  for (const board of BOARDS) {
    const block = app.platforms[board];
    t.truthy(block, board);
    const file = block.include.find((p: string) => p.includes('/boards/'));
    const manifest = JSON.parse(readFileSync(join(ROOT, 'manifests', 'node', file), 'utf8'));
    const pins = manifest.config.board;
    for (const pin of [pins.i2c.data, pins.i2c.clock, pins.spi.clock, pins.spi.out, pins.spi.in, pins.spi.select, pins.onewire.pin, pins.led.pin]) {
      t.true(Number.isInteger(pin) && pin >= 0 && pin <= 48, `${board}: pin ${pin}`);
    }
    t.is(manifest.creation.chunk.incremental, 0, `${board}: fixed chunk budget`);
    t.is(manifest.creation.heap.incremental, 0, `${board}: fixed heap budget`);
    t.true(manifest.creation.stack > 0);
  }
  const order = Object.keys(app.platforms);
  t.true(order.indexOf('esp32/*') > Math.max(...BOARDS.map((b) => order.indexOf(b))), 'mcconfig takes the first match: boards before esp32/*');
  for (const desktop of ['lin', 'mac', 'win']) t.is(app.platforms[desktop].include, '../sim/manifest.json');
});
