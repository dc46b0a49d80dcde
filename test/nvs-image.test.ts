/*
 * tools/nvs-image.ts, the NVS partition image provisioning flashes, against ESP-IDF's own
 * generator: test/fixtures/nvs/one.bin and mixed.bin were made by nvs_partition_gen.py
 * (espressif/esp-idf-nvs-partition-gen, commit 67113ed, format version 2) from these CSVs,
 * with the blob files below:
 *
 *   one.csv                                   mixed.csv
 *   key,type,encoding,value                   key,type,encoding,value
 *   pipewatch,namespace,,                     alpha,namespace,,
 *   settings.0,file,binary,a.bin              flag,data,u8,1
 *                                             count,data,i32,-123456
 *   python3 -m esp_idf_nvs_partition_gen      name,data,string,pipe-0042 über
 *     generate one.csv one.bin 0x5000         pipewatch,namespace,,
 *                                             settings.1,file,binary,b.bin
 *                                             last,data,i32,7
 *
 * a.bin: 3000 bytes, byte i = (7i + 3) & 0xFF; b.bin: 5000 bytes, (13i + 11) & 0xFF (a blob
 * split over two pages). The reader (test/harness/esp32/preference.ts nvsStateFromImage, which
 * the ESP32 harness mounts the `nvs` partition with) is checked on the same images.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { nvsImage, NvsImageProblem } from '../tools/nvs-image';
import { nvsStateFromImage } from './harness/esp32/preference';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/nvs/${name}`, import.meta.url)));
const a = new Uint8Array(3000).map((_, i) => (i * 7 + 3) & 0xff);
const b = new Uint8Array(5000).map((_, i) => (i * 13 + 11) & 0xff);

function firstDifference(x: Uint8Array, y: Uint8Array): number {
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

test('one blob: byte for byte what nvs_partition_gen.py writes', (t) => {
  const image = nvsImage([{ namespace: 'pipewatch', key: 'settings.0', value: { type: 'blob', value: a } }], 0x5000);
  t.is(firstDifference(image, fixture('one.bin')), -1);
});

test('two namespaces, u8, i32, a UTF-8 string and a two-page blob: byte for byte what nvs_partition_gen.py writes', (t) => {
  const image = nvsImage(
    [
      { namespace: 'alpha', key: 'flag', value: { type: 'u8', value: 1 } },
      { namespace: 'alpha', key: 'count', value: { type: 'i32', value: -123456 } },
      { namespace: 'alpha', key: 'name', value: { type: 'str', value: 'pipe-0042 \u00fcber' } },
      { namespace: 'pipewatch', key: 'settings.1', value: { type: 'blob', value: b } },
      { namespace: 'pipewatch', key: 'last', value: { type: 'i32', value: 7 } },
    ],
    0x5000,
  );
  t.is(firstDifference(image, fixture('mixed.bin')), -1);
});

test('the reader mounts the reference images without a problem and finds every value', (t) => {
  const one = nvsStateFromImage(fixture('one.bin'));
  t.deepEqual(one.problems, []);
  t.deepEqual(one.state.namespaces.get('pipewatch')?.get('settings.0'), { type: 'blob', value: a });
  const mixed = nvsStateFromImage(fixture('mixed.bin'));
  t.deepEqual(mixed.problems, []);
  const alpha = mixed.state.namespaces.get('alpha')!;
  t.deepEqual(alpha.get('flag'), { type: 'u8', value: 1 });
  t.deepEqual(alpha.get('count'), { type: 'i32', value: -123456 });
  t.deepEqual(alpha.get('name'), { type: 'str', value: 'pipe-0042 \u00fcber' });
  t.deepEqual(mixed.state.namespaces.get('pipewatch')?.get('settings.1'), { type: 'blob', value: b });
  t.deepEqual(mixed.state.namespaces.get('pipewatch')?.get('last'), { type: 'i32', value: 7 });
});

test('the reader skips what NVS skips: a bad entry CRC, a bad data CRC, a bad page header', (t) => {
  const entryCrc = fixture('mixed.bin');
  entryCrc[64 + 32 + 8] ^= 0x01; // the key of the second entry ("flag")
  t.true(nvsStateFromImage(entryCrc).problems.some((p) => p === 'page 0 entry 1: header CRC'));
  t.is(nvsStateFromImage(entryCrc).state.namespaces.get('alpha')?.get('flag'), undefined);
  const dataCrc = fixture('one.bin');
  dataCrc[64 + 3 * 32 + 5] ^= 0x80; // inside the first blob chunk's data
  const dataResult = nvsStateFromImage(dataCrc);
  t.true(dataResult.problems.some((p) => p.endsWith('data CRC')), dataResult.problems.join('; '));
  t.is(dataResult.state.namespaces.get('pipewatch')?.get('settings.0'), undefined, 'a blob missing a chunk is not returned');
  const header = fixture('one.bin');
  header[4] ^= 0x01;
  t.deepEqual(nvsStateFromImage(header).problems.slice(0, 1), ['page 0: header CRC']);
});

test('refused: keys and namespaces over 15 bytes, a string over 3999 bytes, entries that do not fit, a partition under 3 pages', (t) => {
  const blob = { type: 'blob' as const, value: Uint8Array.of(1) };
  t.throws(() => nvsImage([{ namespace: 'n'.repeat(16), key: 'k', value: blob }], 0x5000), { instanceOf: NvsImageProblem, message: /namespace/ });
  t.throws(() => nvsImage([{ namespace: 'n', key: 'k'.repeat(16), value: blob }], 0x5000), { instanceOf: NvsImageProblem, message: /key/ });
  t.throws(() => nvsImage([{ namespace: 'n', key: 's', value: { type: 'str', value: 'x'.repeat(4000) } }], 0x5000), { instanceOf: NvsImageProblem });
  t.throws(() => nvsImage([{ namespace: 'n', key: 'k', value: { type: 'blob', value: new Uint8Array(17_000) } }], 0x5000), { instanceOf: NvsImageProblem, message: /do not fit/ });
  t.throws(() => nvsImage([], 0x2000), { instanceOf: NvsImageProblem, message: /at least 3 pages/ });
  const last = nvsImage([{ namespace: 'n', key: 'k', value: { type: 'blob', value: new Uint8Array(12_000) } }], 0x5000);
  t.true(last.subarray(0x4000).every((x) => x === 0xff), 'the last page stays erased (NVS needs one free page)');
  t.deepEqual(nvsStateFromImage(last).problems, []);
});
