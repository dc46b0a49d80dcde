/*
 * `pipewatch ota keygen|sign|verify`, the loopback image server, and the firmware's HTTP range
 * client (firmware/ota/http.ts) against that real server over real loopback TCP.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { otaCommand } from '../tools/ota';
import { startImageServer } from '../tools/ota-server';
import { parseUrl, RangeGet, type RangeResult } from '../firmware/ota/http';
import type { TCP, TCPOptions, Timers } from '../firmware/host';
import { verifySignedManifest } from '../firmware/ota/manifest';
import { fromHex } from '../firmware/crypto/hex';
import { EspChip } from '../firmware/ota/esp-image';
import { buildAppImage } from '../simulator/ota/esp-image';

async function run(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  // Results and errors (stderr) in one list, in order.
  const code = await otaCommand(argv, (l) => lines.push(l), (l) => lines.push(l));
  return { code, lines };
}

test('ota keygen / sign / verify', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-ota-'));
  const key = join(dir, 'key.pem');
  const fwKey = join(dir, 'public-key.ts');
  const gen = await run(['keygen', '--out', key, '--firmware-key', fwKey]);
  t.is(gen.code, 0, gen.lines.join('\n'));
  t.is(statSync(key).mode & 0o777, 0o600, 'private key is 0600');
  const pubHex = /public key ([0-9a-f]{64})/.exec(gen.lines[0]!)![1]!;
  t.true(readFileSync(fwKey, 'utf8').includes(pubHex));
  t.is((await run(['keygen', '--out', key])).code, 2, 'an existing key is never overwritten');

  const image = join(dir, 'fw.bin');
  writeFileSync(image, buildAppImage({ chip: EspChip.esp32c3, version: '1.4.2', bytes: 50_000 }));
  const manifest = join(dir, 'fw.manifest');
  const signed = await run(['sign', '--key', key, '--image', image, '--version', '1.4.2', '--board', 'esp32-c3-tmp117', '--counter', '3', '--url', 'http://127.0.0.1:1/fw.bin', '--out', manifest]);
  t.is(signed.code, 0, signed.lines.join('\n'));
  const bytes = new Uint8Array(readFileSync(manifest));
  const checked = verifySignedManifest(bytes, fromHex(pubHex)!);
  t.true(checked.ok);
  if (checked.ok) {
    t.is(checked.manifest.securityCounter, 3);
    t.is(Buffer.from(checked.manifest.imageSha256).toString('hex'), createHash('sha256').update(readFileSync(image)).digest('hex'));
  }
  t.is((await run(['verify', '--pub', `${key}.pub`, '--manifest', manifest, '--image', image])).code, 0);
  t.is((await run(['verify', '--pub', pubHex, '--manifest', manifest, '--board', 'esp32-s3-x'])).code, 1, 'wrong board');
  const other = join(dir, 'other.pem');
  await run(['keygen', '--out', other]);
  t.is((await run(['verify', '--pub', `${other}.pub`, '--manifest', manifest])).code, 1, 'another key');
  const tampered = join(dir, 'tampered.manifest');
  const t2 = bytes.slice();
  t2[30]! ^= 1;
  writeFileSync(tampered, t2);
  const bad = await run(['verify', '--pub', pubHex, '--manifest', tampered]);
  t.is(bad.code, 1);
  t.regex(bad.lines.join('\n'), /badSignature/);
  writeFileSync(image, Buffer.alloc(50_000, 8));
  t.is((await run(['verify', '--pub', pubHex, '--manifest', manifest, '--image', image])).code, 1, 'image changed');
  t.is((await run(['sign', '--key', key, '--image', image, '--version', '1.x', '--board', 'b', '--out', manifest])).code, 2, 'bad version');
});

test('ota sign refuses an image for another chip, a non-ESP-IDF file, a version or checksum mismatch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-ota-'));
  const key = join(dir, 'key.pem');
  t.is((await run(['keygen', '--out', key])).code, 0);
  const image = join(dir, 'fw.bin');
  const manifest = join(dir, 'fw.manifest');
  const sign = (board: string, version = '1.4.2') =>
    run(['sign', '--key', key, '--image', image, '--version', version, '--board', board, '--out', manifest]);
  writeFileSync(image, buildAppImage({ chip: EspChip.esp32c3, version: '1.4.2', bytes: 30_000 }));
  const classic = await sign('esp32-tmp117');
  t.is(classic.code, 1);
  t.regex(classic.lines.join('\n'), /built for esp32c3, but --board esp32-tmp117 is an esp32; nothing signed/);
  t.false(existsSync(manifest), 'nothing written');
  t.regex((await sign('esp32-s3-tmp117')).lines.join('\n'), /built for esp32c3, but --board esp32-s3-tmp117 is an esp32s3/);
  t.regex((await sign('rp2040-x')).lines.join('\n'), /names no ESP32 chip/);
  const version = await sign('esp32-c3-tmp117', '1.5.0');
  t.is(version.code, 1);
  t.regex(version.lines.join('\n'), /app descriptor says version "1\.4\.2", not 1\.5\.0/);
  writeFileSync(image, Buffer.alloc(30_000, 7));
  const raw = await sign('esp32-c3-tmp117');
  t.is(raw.code, 1);
  t.regex(raw.lines.join('\n'), /not an ESP-IDF app image/);
  const corrupt = buildAppImage({ chip: EspChip.esp32c3, version: '1.4.2', bytes: 30_000 });
  corrupt[10_000]! ^= 0x40;
  writeFileSync(image, corrupt);
  t.regex((await sign('esp32-c3-tmp117')).lines.join('\n'), /fails ESP-IDF's check \(badChecksum\)/);
  t.false(existsSync(manifest), 'no refusal wrote a manifest');
  writeFileSync(image, buildAppImage({ chip: EspChip.esp32c3, version: '1.4.2', bytes: 30_000 }));
  t.is((await sign('esp32-c3-tmp117')).code, 0);
  t.true(existsSync(manifest));
});

test('ota-server: 206 with Content-Range, 416, 200 without Range', async (t) => {
  const image = new Uint8Array(10_000).map((_, i) => i & 0xff);
  const server = await startImageServer({ images: new Map([['/fw.bin', image]]) });
  try {
    const url = server.url('/fw.bin');
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    t.is(part.status, 206);
    t.is(part.headers.get('content-range'), 'bytes 100-199/10000');
    t.deepEqual(new Uint8Array(await part.arrayBuffer()), image.subarray(100, 200));
    const open = await fetch(url, { headers: { range: 'bytes=9990-' } });
    t.is(open.headers.get('content-range'), 'bytes 9990-9999/10000');
    await open.arrayBuffer();
    const beyond = await fetch(url, { headers: { range: 'bytes=10000-10001' } });
    t.is(beyond.status, 416);
    t.is(beyond.headers.get('content-range'), 'bytes */10000');
    await beyond.arrayBuffer();
    const whole = await fetch(url);
    t.is(whole.status, 200);
    t.is((await whole.arrayBuffer()).byteLength, 10_000);
    t.is((await fetch(server.url('/nope'))).status, 404);
  } finally {
    await server.close();
  }
});

/** The host TCP contract over node:net, just enough for the client. */
class NodeTcp implements TCP {
  private socket: Socket;
  private chunks: Buffer[] = [];
  constructor(o: TCPOptions) {
    this.socket = new Socket();
    this.socket.connect(o.port, o.address, () => o.onWritable?.(65536));
    this.socket.on('data', (d) => {
      this.chunks.push(d);
      o.onReadable?.(d.length);
    });
    this.socket.on('close', () => o.onError?.('closed'));
    this.socket.on('error', () => {});
  }
  read(): ArrayBuffer | undefined {
    const b = Buffer.concat(this.chunks);
    this.chunks = [];
    return b.length ? new Uint8Array(b).buffer : undefined;
  }
  write(buffer: ArrayBuffer | ArrayBufferView): void {
    this.socket.write(buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  }
  close(): void {
    this.socket.destroy();
  }
}

const nodeTimers: Timers = {
  set: (cb, ms) => setTimeout(cb, ms) as unknown as number,
  clear: (id) => clearTimeout(id as unknown as NodeJS.Timeout),
};

function get(url: string, first: number, last: number, total: number): Promise<{ result: RangeResult; body: Uint8Array }> {
  return new Promise((resolve) => {
    const parts: Uint8Array[] = [];
    new RangeGet({
      TCP: NodeTcp,
      timers: nodeTimers,
      target: parseUrl(url)!,
      first,
      last,
      total,
      timeoutMs: 2000,
      headBuffer: new Uint8Array(2048),
      onBody: (b) => parts.push(b.slice()),
      onEnd: (result) => resolve({ result, body: new Uint8Array(Buffer.concat(parts)) }),
    });
  });
}

test('firmware range client against the real server: 206 ok; 200 refused; wrong total refused', async (t) => {
  const image = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const server = await startImageServer({ images: new Map([['/fw.bin', image]]) });
  const lax = await startImageServer({ images: new Map([['/fw.bin', image]]), ignoreRange: true });
  try {
    const ok = await get(server.url('/fw.bin'), 1000, 250_999, image.length);
    t.deepEqual(ok.result, { ok: true });
    t.deepEqual(ok.body, image.subarray(1000, 251_000));
    const ignored = await get(lax.url('/fw.bin'), 1000, 1999, image.length);
    t.deepEqual(ignored.result, { ok: false, reason: 'rangeIgnored', status: 200 });
    t.is(ignored.body.length, 0, 'no byte of a 200 answer is taken');
    const total = await get(server.url('/fw.bin'), 0, 99, image.length + 1);
    t.deepEqual(total.result, { ok: false, reason: 'badContentRange' });
    const missing = await get(server.url('/gone.bin'), 0, 99, 100);
    t.deepEqual(missing.result, { ok: false, reason: 'httpStatus', status: 404 });
    const closedPort = await get('http://127.0.0.1:1/fw.bin', 0, 9, 10);
    t.deepEqual(closedPort.result, { ok: false, reason: 'connectFailed' });
  } finally {
    await server.close();
    await lax.close();
  }
});

test('parseUrl is strict', (t) => {
  t.deepEqual(parseUrl('http://10.0.0.2:8080/fw/a.bin?x=1'), { secure: false, host: '10.0.0.2', port: 8080, path: '/fw/a.bin?x=1' });
  t.deepEqual(parseUrl('https://ota.example'), { secure: true, host: 'ota.example', port: 443, path: '/' });
  t.deepEqual(parseUrl('http://[::1]:99/x'), { secure: false, host: '::1', port: 99, path: '/x' });
  for (const bad of ['ftp://a/b', 'http://', 'http://u@h/x', 'http://h:0/x', 'http://h:70000/', 'http://h/a b', 'http://h/x#f', 'http://h:8a/']) {
    t.is(parseUrl(bad), undefined, bad);
  }
});
