/*
 * The ESP32 models (test/harness/esp32) reject what the SDK's C code rejects — one test per rule,
 * named after the SDK function — and the hosts/esp32 modules that sit on them: the host
 * provider's option merge (issue 10 item 1), its 1-Wire adapter, the runtime's timers (a throwing
 * callback must not reset the chip), the OTA slot writer over embedded:update, and the build's
 * TLS root certificate.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { modelBoard, loadOnBoard, buildConfig, until, type ModelledBoard } from './harness/esp32/harness';
import { LiveEnv, wirePart, boardPins } from './harness/esp32/world';
import { SimI2CBus } from '../simulator/devices/i2c-bus';
import { SimSPIBus } from '../simulator/devices/spi-bus';
import { SimTMP117 } from '../simulator/devices/tmp117';
import { ESP_IMAGE_MAGIC } from './harness/esp32/storage';
import { SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from '../firmware/ota/slot';
import type { Host } from '../firmware/host';

type Ctor = new (options: Record<string, unknown>) => any;

function throwsLike(t: ExecutionContext, fn: () => unknown, kind: ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, message: string): void {
  const error = t.throws(fn);
  t.is(error?.constructor, kind, `${error?.constructor.name}: ${error?.message}`);
  t.is(error?.message, message);
}

function nodemcu(extra: Partial<Parameters<typeof modelBoard>[0]> = {}): ModelledBoard {
  return modelBoard({ board: 'nodemcu', wire: wirePart('nodemcu', 'tmp117', new LiveEnv(50)), ...extra });
}

const I2C_PINS = { data: 21, clock: 22, hz: 400_000 };

// modules/io/i2c/esp32/_i2c.c: _xs_i2c_constructor
test('I2C: data, clock and address are required (RangeError "… required")', (t) => {
  const { I2C } = nodemcu().io as unknown as { I2C: Ctor };
  throwsLike(t, () => new I2C({ clock: 22, address: 0x48, hz: 1 }), RangeError, 'data required');
  throwsLike(t, () => new I2C({ data: 21, address: 0x48, hz: 1 }), RangeError, 'clock required');
  throwsLike(t, () => new I2C({ data: 21, clock: 22, hz: 1 }), RangeError, 'address required');
});

test('I2C: a present but undefined pin is rejected (builtinGetPin: Error "invalid")', (t) => {
  const { I2C } = nodemcu().io as unknown as { I2C: Ctor };
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48, data: undefined }), Error, 'invalid');
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48, clock: -1 }), RangeError, 'negative');
});

test('I2C: hz must be 1..20 MHz and is required; timeout >= -1; port < I2C_NUM_MAX', (t) => {
  const { I2C } = nodemcu().io as unknown as { I2C: Ctor };
  throwsLike(t, () => new I2C({ data: 21, clock: 22, address: 0x48 }), RangeError, 'invalid hz');
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48, hz: 20_000_001 }), RangeError, 'invalid hz');
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48, timeout: -2 }), RangeError, 'invalid timeout');
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48, port: 2 }), RangeError, 'invalid port');
  const c3 = modelBoard({ board: 'esp32c3' }).io as unknown as { I2C: Ctor };
  throwsLike(t, () => new c3.I2C({ data: 2, clock: 3, hz: 100_000, address: 0x48, port: 1 }), RangeError, 'invalid port');
});

test('I2C: address 0..127, no duplicate on the same pins, output-capable pins, pins not held by another class', (t) => {
  const m = nodemcu();
  const { I2C, Digital } = m.io as unknown as { I2C: Ctor; Digital: Ctor & { Output: number } };
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 128 }), RangeError, 'invalid address');
  const first = new I2C({ ...I2C_PINS, address: 0x48 });
  throwsLike(t, () => new I2C({ ...I2C_PINS, address: 0x48 }), RangeError, 'duplicate address');
  const second = new I2C({ ...I2C_PINS, address: 0x49 });
  second.close();
  throwsLike(t, () => new I2C({ data: 34, clock: 22, hz: 1, address: 1 }), RangeError, 'inUse');
  throwsLike(t, () => new I2C({ data: 34, clock: 35, hz: 1, address: 1 }), RangeError, 'unusable pins');
  const led = new Digital({ pin: 2, mode: Digital.Output });
  throwsLike(t, () => new I2C({ data: 2, clock: 4, hz: 1, address: 1 }), RangeError, 'inUse');
  led.close();
  first.close();
  first.close();
  throwsLike(t, () => first.read(2), Error, 'closed');
});

test('I2C: transactions reach the part on the wired pins; write always ends with STOP; NAK is "write failed"', (t) => {
  const { I2C } = nodemcu().io as unknown as { I2C: Ctor };
  const io = new I2C({ ...I2C_PINS, address: 0x48 });
  io.write(Uint8Array.of(0x0f));
  const id = new Uint8Array(io.read(2) as ArrayBuffer);
  t.is((id[0]! << 8) | id[1]!, 0x0117);
  const absent = new I2C({ ...I2C_PINS, address: 0x10 });
  throwsLike(t, () => absent.write(Uint8Array.of(0)), Error, 'write failed');
  t.is(absent.write(new Uint8Array(0)), 1, 'a zero-length write is a probe: 1 on NAK');
});

// modules/io/spi/esp/spi.c: xs_spi_constructor
test('SPI: clock pin and port required, hz 1..40 MHz, mode 0..3, in or out, port per chip', (t) => {
  const pins = boardPins('nodemcu').spi;
  const { SPI } = nodemcu().io as unknown as { SPI: Ctor };
  const ok = { clock: pins.clock, out: pins.out, in: pins.in, select: pins.select, active: 0, hz: 4_000_000, port: pins.port };
  throwsLike(t, () => new SPI({ ...ok, clock: undefined }), Error, 'invalid');
  throwsLike(t, () => new SPI({ ...ok, port: undefined }), Error, 'invalid');
  throwsLike(t, () => new SPI({ ...ok, hz: 0 }), RangeError, 'invalid hz');
  throwsLike(t, () => new SPI({ ...ok, hz: 40_000_001 }), RangeError, 'invalid hz');
  throwsLike(t, () => new SPI({ ...ok, mode: 4 }), RangeError, 'invalid mode');
  throwsLike(t, () => new SPI({ ...ok, active: 2 }), RangeError, 'invalid active');
  throwsLike(t, () => new SPI({ clock: pins.clock, hz: 1, port: pins.port }), Error, 'in or out required');
  throwsLike(t, () => new SPI({ ...ok, port: 3 }), RangeError, 'invalid port');
  const c3 = modelBoard({ board: 'esp32c3' }).io as unknown as { SPI: Ctor };
  throwsLike(t, () => new c3.SPI({ clock: 6, out: 7, in: 5, select: 10, active: 0, hz: 1_000_000, port: 2 }), RangeError, 'invalid port');
});

test('SPI: an instance holds clock, out, in and select: a second one on the same bus is "in use" until closed', (t) => {
  const pins = boardPins('nodemcu').spi;
  const { SPI } = nodemcu().io as unknown as { SPI: Ctor };
  const ok = { clock: pins.clock, out: pins.out, in: pins.in, select: pins.select, active: 0, hz: 4_000_000, port: pins.port };
  const first = new SPI(ok);
  throwsLike(t, () => new SPI({ ...ok, select: 15 }), Error, 'in use');
  first.close();
  t.notThrows(() => new SPI({ ...ok, select: 15 }).close());
  throwsLike(t, () => first.transfer(new Uint8Array(2)), Error, 'closed');
  throwsLike(t, () => new SPI(ok).read(0), RangeError, 'unsupported byteLength');
});

// modules/io/digital/digital.js + esp32/digitalbank.c
test('Digital: pin and mode required, valid mode, no output on an input-only pin, one owner per pin', (t) => {
  const { Digital } = nodemcu().io as unknown as { Digital: Ctor & { Output: number; Input: number } };
  throwsLike(t, () => new Digital({ mode: Digital.Output }), Error, 'invalid');
  throwsLike(t, () => new Digital({ pin: 2 }), Error, 'invalid');
  throwsLike(t, () => new Digital({ pin: 2, mode: 5 }), RangeError, 'invalid mode');
  throwsLike(t, () => new Digital({ pin: 34, mode: Digital.Output }), RangeError, 'input only');
  throwsLike(t, () => new Digital({ pin: 20, mode: Digital.Input }), Error, 'invalid pin');
  const led = new Digital({ pin: 2, mode: Digital.Output });
  throwsLike(t, () => new Digital({ pin: 2, mode: Digital.Output }), Error, 'in use');
  led.close();
});

// modules/io/analog/esp32/_analog.c
test('Analog: ADC pins only (per chip), 12-bit, and ESP32 ADC2 reads nothing while Wi-Fi runs', (t) => {
  const m = nodemcu();
  const { Analog } = m.io as unknown as { Analog: Ctor };
  const { WiFi } = m.net as unknown as { WiFi: { mode: number } };
  throwsLike(t, () => new Analog({ pin: 21 }), RangeError, 'not analog pin');
  throwsLike(t, () => new Analog({}), Error, 'invalid');
  const adc1 = new Analog({ pin: 34 });
  const adc2 = new Analog({ pin: 4 });
  t.is(adc1.resolution, 12);
  t.is(typeof adc2.read(), 'number');
  WiFi.mode = 1;
  t.is(adc2.read(), undefined);
  t.is(typeof adc1.read(), 'number');
  const c3 = modelBoard({ board: 'esp32c3' }).io as unknown as { Analog: Ctor };
  throwsLike(t, () => new c3.Analog({ pin: 5 }), RangeError, 'not analog pin');
});

// modules/drivers/onewire/esp32/modonewire.c
test('onewire: pin required; write() sends ONE byte (a buffer becomes 0x00); read(n) is an ArrayBuffer, >10 bytes read zeros; search ROMs reversed', (t) => {
  const m = modelBoard({ board: 'nodemcu', wire: wirePart('nodemcu', 'ds18b20', new LiveEnv()) });
  const { OneWire } = m.io as unknown as { OneWire: Ctor };
  throwsLike(t, () => new OneWire({}), Error, 'pin missing');
  const bus = new OneWire({ pin: 4 });
  t.true(bus.reset());
  const [rom] = bus.search() as ArrayBuffer[];
  t.true(rom instanceof ArrayBuffer);
  t.is(new Uint8Array(rom!)[7], 0x28, 'family code last: the driver swaps the 64-bit address');
  bus.reset();
  bus.write(0xcc);
  bus.write(0xbe);
  const scratch = bus.read(9);
  t.true(scratch instanceof ArrayBuffer);
  t.not(new Uint8Array(scratch as ArrayBuffer).reduce((a: number, b: number) => a | b, 0), 0);
  bus.reset();
  bus.write(0xcc);
  bus.write(0xbe);
  t.deepEqual([...new Uint8Array(bus.read(11) as ArrayBuffer)], new Array(11).fill(0));
  bus.close();
  t.throws(() => bus.close());
  throwsLike(t, () => new OneWire({ pin: 34 }), Error, "can't init pin");
});

// modules/drivers/neopixel/esp32/neopixel.c + ESP-IDF RMT channel counts
test('NeoPixel: length and pin required; ESP32-C3 has 2 RMT TX channels — a third aborts the chip', (t) => {
  const m = modelBoard({ board: 'esp32c3' });
  const { NeoPixel, OneWire } = m.io as unknown as { NeoPixel: Ctor; OneWire: Ctor };
  throwsLike(t, () => new NeoPixel({ pin: 8 }), RangeError, 'no pixels');
  throwsLike(t, () => new NeoPixel({ length: 1 }), RangeError, 'no pin');
  new NeoPixel({ length: 1, pin: 8 });
  new OneWire({ pin: 1 });
  t.deepEqual(m.device.rmt.used, { tx: 2, rx: 1 });
  t.throws(() => new NeoPixel({ length: 1, pin: 9 }));
  t.is(m.device.aborts.length, 1);
  t.true(m.device.aborts[0]!.includes('no free RMT TX channel'));
});

// modules/network/wifi/esp32/xs6wifi.c, net/esp/modNet.c, io/socket/lwip/tcp.c
test('network: before the Wi-Fi module runs there is no MAC, a socket throws "no network", Net.resolve is refused', (t) => {
  const m = nodemcu();
  const { Net, TCP, WiFi } = m.net as unknown as { Net: { get(p: string): unknown; resolve(n: string, cb: () => void): void }; TCP: Ctor; WiFi: { mode: number } };
  t.is(Net.get('MAC'), undefined);
  throwsLike(t, () => new TCP({ address: '127.0.0.1', port: 1883 }), Error, 'no network');
  t.throws(() => Net.resolve('broker', () => {}));
  WiFi.mode = 1;
  t.is(Net.get('MAC'), '24:6f:28:a1:b2:c3');
  throwsLike(t, () => new TCP({ address: 'broker.example', port: 1883 }), Error, 'invalid address');
  throwsLike(t, () => new TCP({ address: '127.0.0.1' }), Error, 'invalid');
  throwsLike(t, () => new TCP({ address: '127.0.0.1', port: 70000 }), RangeError, 'invalid port');
  throwsLike(t, () => new TCP({ address: '127.0.0.1', port: 1, onReadable: 5 }), Error, 'not a function');
  throwsLike(t, () => new TCP({ address: '127.0.0.1', port: 1883 }), Error, 'connect error');
});

test('Wi-Fi: connect needs an ssid of at most 32 bytes, a password of at most 64', (t) => {
  const { WiFi } = nodemcu().net as unknown as { WiFi: { connect(o: Record<string, unknown>): void } };
  throwsLike(t, () => WiFi.connect({ password: 'x' }), Error, 'ssid required');
  throwsLike(t, () => WiFi.connect({ ssid: 'x'.repeat(33) }), Error, 'ssid too long - 32 bytes max');
  throwsLike(t, () => WiFi.connect({ ssid: 'x', password: 'p'.repeat(65) }), Error, 'password too long - 64 bytes max');
});

test('TCP: write before the connection is up is "not ready"; reads beyond what arrived are "invalid"', async (t) => {
  const { createServer } = await import('node:net');
  const server = createServer((socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const m = nodemcu({ ap: { ssid: 'ap', password: 'password1' } });
  const { WiFi, TCP } = m.net as unknown as { WiFi: { connect(o: Record<string, unknown>): void }; TCP: Ctor };
  WiFi.connect({ ssid: 'ap', password: 'password1' });
  await until(() => m.net.ip !== undefined, 2000, 'IP');
  let readable = 0;
  const socket = new TCP({ address: '127.0.0.1', port, onReadable: (n: number) => (readable = n) });
  throwsLike(t, () => socket.write(Uint8Array.of(1)), Error, 'not ready');
  await until(() => readable === 5, 2000, 'data');
  throwsLike(t, () => socket.read(6), Error, 'invalid');
  t.is(new TextDecoder().decode(socket.read() as ArrayBuffer), 'hello');
  t.is(socket.read(), undefined);
  socket.close();
  m.device.halt();
  server.close();
});

// modules/io/socket/lwip/udp.c
test('UDP: "no network" before Wi-Fi; port, timeToLive and format checked; writes to IPv4 literals only, "UDP send failed" without an address; datagrams read one at a time; nothing after close', async (t) => {
  const { createSocket } = await import('node:dgram');
  const echo = createSocket('udp4');
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', () => resolve()));
  echo.on('message', (m, from) => {
    echo.send(m, from.port, from.address);
    echo.send(Buffer.from('second'), from.port, from.address);
  });
  const m = nodemcu({ ap: { ssid: 'ap', password: 'password1' }, mdnsPort: echo.address().port });
  const { WiFi, UDP } = m.net as unknown as { WiFi: { connect(o: Record<string, unknown>): void; mode: number }; UDP: Ctor };
  throwsLike(t, () => new UDP({}), Error, 'no network');
  WiFi.mode = 1;
  throwsLike(t, () => new UDP({ port: 70000 }), RangeError, 'invalid port');
  throwsLike(t, () => new UDP({ port: -1 }), RangeError, 'invalid port');
  throwsLike(t, () => new UDP({ timeToLive: 0 }), RangeError, 'invalid timeToLive');
  throwsLike(t, () => new UDP({ format: 'number' }), RangeError, 'invalid format');
  throwsLike(t, () => new UDP({ onReadable: 5 }), Error, 'not a function');
  const bound = new UDP({ port: 5353 });
  throwsLike(t, () => new UDP({ port: 5353 }), Error, 'bind failed');
  bound.close();
  let readable = 0;
  const socket = new UDP({ onReadable: (n: number) => (readable = n) });
  throwsLike(t, () => socket.write(Uint8Array.of(1), '224.0.0.251', 5353), Error, 'UDP send failed');
  WiFi.connect({ ssid: 'ap', password: 'password1' });
  await until(() => m.net.ip !== undefined, 2000, 'IP');
  throwsLike(t, () => socket.write(Uint8Array.of(1), 'station.local', 5353), RangeError, 'invalid IP address');
  t.is(socket.read(), undefined);
  socket.write(Uint8Array.from(Buffer.from('first')), '224.0.0.251', 5353);
  await until(() => readable === 2, 2000, 'two datagrams');
  const first = socket.read() as ArrayBuffer & { address: string; port: number };
  t.is(new TextDecoder().decode(first), 'first');
  t.is(first.port, 5353, 'from the mDNS port');
  t.is(new TextDecoder().decode(socket.read() as ArrayBuffer), 'second');
  t.is(socket.read(), undefined);
  socket.close();
  t.throws(() => socket.read());
  t.throws(() => socket.write(Uint8Array.of(1), '224.0.0.251', 5353));
  m.device.halt();
  echo.close();
});

// modules/io/flash/esp32/flash-esp32.c, io/update/esp32/update-esp32.c
test('flash: path required, partitions by name, mode r | r+, NOR writes only clear bits, bounds are "read/write failed"', (t) => {
  const m = nodemcu();
  const Flash = m.modules['embedded:storage/flash'] as { open(o: Record<string, unknown>): any };
  throwsLike(t, () => Flash.open({}), Error, 'no path');
  throwsLike(t, () => Flash.open({ path: 'nope' }), Error, "can't find partition");
  throwsLike(t, () => Flash.open({ path: 'settings', mode: 'w' }), Error, 'invalid mode');
  const ro = Flash.open({ path: 'settings', mode: 'r' });
  throwsLike(t, () => ro.write(Uint8Array.of(0), 0), Error, 'read-only');
  const settings = Flash.open({ path: 'settings' });
  t.deepEqual(settings.status(), { size: 0x2000, blockLength: 4096, blocks: 2 });
  settings.write(Uint8Array.of(0x0f), 0);
  settings.write(Uint8Array.of(0xf0), 0);
  t.is(new Uint8Array(settings.read(1, 0))[0], 0x00);
  t.is(m.storage.partitions.find((p) => p.name === 'settings')!.overwrites, 1);
  throwsLike(t, () => settings.write(new Uint8Array(2), 0x2000 - 1), Error, 'write failed');
  throwsLike(t, () => settings.read(2, 0x2000 - 1), Error, 'read failed');
  settings.close();
  throwsLike(t, () => settings.read(1, 0), Error, 'closed');
});

// esp_partition_write → esp_flash_write_encrypted for a partition with esp_partition_t.encrypted
test('flash encryption: partitions flagged encrypted take 16-byte aligned writes only, a unit written twice garbles, erased reads as noise', (t) => {
  const plain = nodemcu();
  const PlainFlash = plain.modules['embedded:storage/flash'] as { open(o: Record<string, unknown>): any };
  const native = plain.storage.natives.xs_pipewatch_partition_encrypted!;
  t.is(native('cache'), false, 'flagged, but flash encryption is off');
  PlainFlash.open({ path: 'cache' }).write(Uint8Array.of(0), 3);

  const m = nodemcu({ flashEncryption: true });
  const encrypted = m.storage.natives.xs_pipewatch_partition_encrypted!;
  t.is(encrypted('cache'), true);
  t.is(encrypted('ota'), true);
  t.is(encrypted('settings'), false, 'not flagged');
  t.is(encrypted('nope'), false);
  const Flash = m.modules['embedded:storage/flash'] as { open(o: Record<string, unknown>): any };
  const cache = Flash.open({ path: 'cache' });
  t.deepEqual(cache.status(), { size: 0x80000, blockLength: 4096, blocks: 0x80 });
  throwsLike(t, () => cache.write(new Uint8Array(4), 0), Error, 'write failed');
  throwsLike(t, () => cache.write(new Uint8Array(16), 8), Error, 'write failed');
  // The first encrypted boot encrypted the (erased) partition in place: it reads 0xFF, but every
  // unit is written, so a write garbles it until the block is erased.
  t.true(new Uint8Array(cache.read(16, 32)).every((b) => b === 0xff), 'encrypted in place: reads what it held');
  const data = new Uint8Array(16).map((_, i) => i + 1);
  cache.write(data, 4096 + 32);
  t.notDeepEqual(new Uint8Array(cache.read(16, 4096 + 32)), data, 'a unit encrypted in place does not take a write');
  cache.eraseBlock(0);
  const erased = new Uint8Array(cache.read(16, 32));
  t.false(erased.every((b) => b === 0xff), 'erased flash decrypts to noise');
  cache.write(data, 32);
  t.deepEqual(new Uint8Array(cache.read(16, 32)), data);
  cache.write(new Uint8Array(16).fill(0), 32);
  t.notDeepEqual(new Uint8Array(cache.read(16, 32)), new Uint8Array(16), 'a second write does not clear bits: the unit is garbage');
  t.notDeepEqual(new Uint8Array(cache.read(16, 32)), data);
  cache.eraseBlock(0);
  cache.write(data, 32);
  t.deepEqual(new Uint8Array(cache.read(16, 32)), data, 'after an erase the unit takes one write again');
  // The settings partition is not flagged: plain NOR.
  Flash.open({ path: 'settings' }).write(Uint8Array.of(0x0f), 1);
});

test('hosts/esp32/host.ts: an encrypted partition reports writeAlign 16 and encrypted; the others writeAlign 1', async (t) => {
  for (const flashEncryption of [false, true]) {
    const m = nodemcu({ flashEncryption });
    const { createEsp32Host } = await loadOnBoard<{ createEsp32Host(o: unknown): Host }>(m, 'hosts/esp32/host.ts');
    const host = createEsp32Host({ board: (m.config as { board: unknown }).board, restart: () => {} });
    const cache = host.flash!.open({ path: 'cache' }).status();
    const settings = host.flash!.open({ path: 'settings' }).status();
    t.deepEqual(settings, { blockLength: 4096, blocks: 2, writeAlign: 1, eraseValue: 0xff });
    if (flashEncryption) t.deepEqual(cache, { blockLength: 4096, blocks: 0x80, writeAlign: 16, eraseValue: 0xff, encrypted: true });
    else t.deepEqual(cache, { blockLength: 4096, blocks: 0x80, writeAlign: 1, eraseValue: 0xff });
  }
});

test('update: needs a writable flash partition, mode a | w, "a" takes no offset, an image without the ESP magic is refused at complete', (t) => {
  const m = nodemcu();
  const Flash = m.modules['embedded:storage/flash'] as { open(o: Record<string, unknown>): any };
  const Update = m.modules['embedded:update'] as { open(o: Record<string, unknown>): any };
  throwsLike(t, () => Update.open({}), Error, 'no partition');
  throwsLike(t, () => Update.open({ partition: Flash.open({ path: 'nextota', mode: 'r' }) }), Error, 'read-only partition');
  throwsLike(t, () => Update.open({ partition: Flash.open({ path: 'nextota' }), mode: 'x' }), RangeError, 'invalid mode');
  throwsLike(t, () => Update.open({ partition: Flash.open({ path: 'settings' }) }), Error, 'begin failed');
  const append = Update.open({ partition: Flash.open({ path: 'nextota' }), mode: 'a' });
  throwsLike(t, () => append.write(Uint8Array.of(1), 0), Error, 'offset not allowed');
  append.close();
  const bad = Update.open({ partition: Flash.open({ path: 'nextota' }), mode: 'w', byteLength: 4096 });
  bad.write(Uint8Array.of(0x00, 1, 2), 0);
  throwsLike(t, () => bad.complete(), Error, 'end failed');
  throwsLike(t, () => bad.complete(), Error, 'already complete');
  t.is(m.ota.boot, 0);
});

test('hosts/esp32/ota.ts: a slot image goes to the next app slot without its header, and complete() switches the boot slot', async (t) => {
  const m = nodemcu();
  const { esp32Update } = await loadOnBoard<{ esp32Update: any }>(m, 'hosts/esp32/ota.ts');
  const image = new Uint8Array(10_000).map((_, i) => i & 0xff);
  image[0] = ESP_IMAGE_MAGIC;
  const slot = esp32Update.open({ byteLength: SLOT_IMAGE_OFFSET + image.length });
  slot.write(image.subarray(0, 5000), SLOT_IMAGE_OFFSET);
  slot.write(image.subarray(5000), SLOT_IMAGE_OFFSET + 5000);
  slot.write(new Uint8Array(SLOT_HEADER_BYTES), 0);
  slot.complete();
  t.is(m.ota.boot, 1);
  const ota1 = m.storage.partitions.find((p) => p.name === 'ota_1')!;
  t.deepEqual(ota1.bytes.subarray(0, image.length), image);
  t.is(ota1.overwrites, 0);
  t.deepEqual(esp32Update.running(), { slot: 0, version: '0.1.0', trial: false });
});

// hosts/esp32/runtime.ts over modules/base/timer (modTimer.c: xs_timer_callback → fxAbort)
test('runtime timers: a throwing callback is caught and counted; the chip does not reset and a repeating timer keeps running', async (t) => {
  const m = nodemcu();
  const { ModdableTimers } = await loadOnBoard<{ ModdableTimers: new (onError?: (e: unknown) => void) => any }>(m, 'hosts/esp32/runtime.ts');
  const reported: string[] = [];
  const timers = new ModdableTimers((error: unknown) => reported.push((error as Error).message));
  let runs = 0;
  timers.set(
    () => {
      runs++;
      throw new Error('boom');
    },
    10,
    10,
  );
  await until(() => runs >= 3 || m.device.halted, 2000, 'three runs');
  t.deepEqual(m.device.aborts, []);
  t.true(timers.errors >= 3);
  t.is(reported[0], 'boom');
  m.device.halt();
});

test('host provider: undefined options keep the board\'s pins (issue 10 item 1, host side)', async (t) => {
  const m = nodemcu();
  const { createEsp32Host } = await loadOnBoard<{ createEsp32Host(o: unknown): Host }>(m, 'hosts/esp32/host.ts');
  const board = (m.config as { board: unknown }).board;
  const host = createEsp32Host({ board, restart: () => {} });
  const io = new host.io.I2C!({ address: 0x48, hz: 400_000, data: undefined, clock: undefined, port: undefined, timeout: undefined } as never);
  io.write(Uint8Array.of(0x0f));
  const id = new Uint8Array(io.read(2));
  t.is((id[0]! << 8) | id[1]!, 0x0117);
  io.close();
  const spi = new host.io.SPI!({ hz: 1_000_000, mode: 1, select: undefined, port: undefined } as never);
  spi.close();
});

test('build: the ESP32 manifest carries no root CA as `data` (the plant CA is the only trust anchor, issue 17 item 3); the SDK\'s ca.ski index alone trusts nothing', (t) => {
  const manifest = JSON.parse(readFileSync(new URL('../manifests/esp32/manifest.json', import.meta.url), 'utf8'));
  const data: string[] = manifest.data?.['*'] ?? [];
  t.deepEqual(data.filter((entry) => /\/crypt\/data\/ca\d+$/.test(entry)), [], 'no ca*.der in the build data');
  const moddable = process.env.MODDABLE;
  if (!moddable) return;
  // ssl_cert.js findCert reads `ca${index}.der` for an index found in ca.ski (a resource of
  // tls_common.json): without the .der file, `new Resource` throws and the handshake fails.
  t.true(readFileSync(`${moddable}/modules/crypt/data/ca.ski`).length % 20 === 0);
});

test('build config: the SDK target\'s rainbow is off on every board (issue 10 item 6)', (t) => {
  for (const board of ['nodemcu', 'esp32s3', 'esp32c3'] as const) {
    const led = buildConfig(board).led as { rainbow?: boolean } | undefined;
    t.not(led?.rainbow, true, board);
  }
  t.is((buildConfig('esp32s3').board as { led: { pin: number } }).led.pin, 38);
});

test('simulator I2C and SPI buses refuse a present-but-undefined option like the SDK (issue 10 item 1)', (t) => {
  const i2c = new SimI2CBus();
  i2c.attach(0x48, new SimTMP117(new LiveEnv()));
  const { I2C } = i2c.classes();
  t.throws(() => new I2C({ address: 0x48, data: undefined }), { instanceOf: TypeError });
  t.throws(() => new I2C({ address: 0x48, timeout: undefined }), { instanceOf: TypeError });
  t.notThrows(() => new I2C({ address: 0x48, hz: 400_000 }).close());
  const { SPI } = new SimSPIBus().classes();
  t.throws(() => new SPI({ select: undefined }), { instanceOf: TypeError });
  t.throws(() => new SPI({ select: 5, port: undefined }), { instanceOf: TypeError });
  t.throws(() => new SPI({ select: 5, hz: 50_000_000 }), { instanceOf: RangeError });
});

test('esp32s3: the status LED defaults to GPIO 38 (DevKitC-1 v1.1) and `ledPin=48` moves it for v1.0 boards', async (t) => {
  const { bootEsp32 } = await import('./harness/esp32/harness');
  for (const [ledPin, pin] of [[undefined, 38], ['48', 48]] as const) {
    const esp = await bootEsp32({ board: 'esp32s3', config: ledPin === undefined ? {} : { ledPin } });
    try {
      await until(() => esp.wiring.pixels.has(pin) || esp.device.halted, 3000, `LED on GPIO ${pin}`);
      t.is(esp.device.rmt.owner(pin), 'neopixel');
      t.deepEqual(esp.device.aborts, []);
    } finally {
      esp.stop();
    }
  }
});

test('harness: the SDK target configs the harness merges are the SDK\'s own (checked when $MODDABLE is set)', async (t) => {
  const { SDK_TARGET_CONFIG } = await import('./harness/esp32/harness');
  const moddable = process.env.MODDABLE;
  if (!moddable) {
    t.pass('no SDK here');
    return;
  }
  for (const board of ['nodemcu', 'esp32s3', 'esp32c3'] as const) {
    const manifest = JSON.parse(readFileSync(`${moddable}/build/devices/esp32/targets/${board}/manifest.json`, 'utf8'));
    t.deepEqual(manifest.config ?? {}, SDK_TARGET_CONFIG[board], board);
  }
});

// modules/io/i2c/smbus.js over the I2C model
test('SMBus: the SDK\'s smbus.js over I2C — register reads by writeRead, the same constructor checks', async (t) => {
  const { SMBus } = nodemcu().io as unknown as { SMBus: Ctor };
  throwsLike(t, () => new SMBus({ data: 21, clock: 22, address: 0x48 }), RangeError, 'invalid hz');
  // The TMP117 NAKs for 1.5 ms after power-up (datasheet 7.3.1): a fast machine reads before that.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const bus = new SMBus({ ...I2C_PINS, address: 0x48 });
  t.is(bus.readUint16(0x0f, true), 0x0117);
  bus.close();
  t.throws(() => bus.readUint16(0x0f, true), { instanceOf: TypeError });
});
