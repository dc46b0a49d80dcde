/*
 * `provision` (tools/moddable.ts) without a device: --image-only writes the NVS partition
 * image, which is mounted here as ESP-IDF's NVS would (test/harness/esp32/preference.ts
 * nvsStateFromImage) and read with the firmware's own store (NvsSettingsStore over the strict
 * `preference` model). No esptool, no hardware.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NvsSettingsStore, SETTINGS_DOMAIN, SETTINGS_KEYS } from '../hosts/esp32/settings';
import { nvsStateFromImage, preferenceModel } from './harness/esp32/preference';
import { ROOT, moddableCommand } from '../tools/moddable';
import { PROVISIONED_UTF8_ARGS, PROVISIONED_UTF8_HEX } from './portable/esp32-settings';

/*
 * RSA-2048 fixtures made with openssl: ca.pem (CN "pipewatch test CA", its key not kept), client.pem
 * (CN pipe-0042, signed by it) with client-key.pem (PKCS#8) and client-key-pkcs1.pem (the same key,
 * PKCS#1), other-key.pem (an unrelated RSA key), ec-client.pem and ec-client-key.pem (CN pipe-0042,
 * P-256, signed by the same CA: what the node's TLS client cannot sign with).
 */
const FIXTURES = join(ROOT, 'test', 'fixtures', 'provision');
const dir = mkdtempSync(join(tmpdir(), 'pipewatch-provision-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const base = ['--ssid', 'Plant', '--password', 'passphrase1', '--broker', 'mqtts://broker.example.net', '--device-id', 'pipe-1'];

async function provision(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await moddableCommand('provision', args, (line) => lines.push(line));
  return { code, text: lines.join('\n') };
}

/** The settings record's bytes in an NVS image (the blob under the first settings key). */
function recordOf(file: string): Uint8Array {
  const { state, problems } = nvsStateFromImage(new Uint8Array(readFileSync(file)));
  if (problems.length > 0) throw new Error(`NVS would skip parts of the image: ${problems.join('; ')}`);
  const item = state.namespaces.get(SETTINGS_DOMAIN)?.get(SETTINGS_KEYS[0]);
  if (item?.type !== 'blob') throw new Error('no settings blob in the image');
  return item.value;
}

function decodeFile(file: string) {
  const { state } = nvsStateFromImage(new Uint8Array(readFileSync(file)));
  recordOf(file);
  const settings = new NvsSettingsStore(preferenceModel(state)).load();
  if (!settings) throw new Error('the image holds no settings the firmware reads');
  return settings;
}

test('--help and -h print the usage on stdout and exit 0', (t) => {
  for (const flag of ['--help', '-h']) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools', 'moddable.ts'), 'provision', flag], { cwd: ROOT, encoding: 'utf8' });
    t.is(run.status, 0, `${flag}: ${run.stderr}`);
    t.regex(run.stdout, /^usage: npm run provision -- --port/, flag);
    t.regex(run.stdout, /--mqtt-username/);
    t.regex(run.stdout, /--client-key FILE/);
    t.regex(run.stdout, /RSA only/);
    t.notRegex(run.stdout, /EC P-256/, 'no advice the device cannot follow');
    t.regex(run.stdout, /tmp117, mcp9808/, 'the known parts are listed');
  }
});

test('an unknown sensor part is refused with the known parts named, exit 2, no image', async (t) => {
  const file = join(dir, 'unknown-part.bin');
  const { code, text } = await provision([...base, '--sensors', 'tmp11@0x48', '--image-only', file]);
  t.is(code, 2, text);
  t.regex(text, /E_SETTINGS_SENSORS: sensor "tmp11@0x48": unknown part "tmp11" \(known: tmp117, mcp9808, .*ntc\)/);
  t.false(existsSync(file));
});

test('--interval-ms is parsed strictly', async (t) => {
  for (const value of ['', '12abc', '1e4', '010000', '99', '86400001', '0x2710']) {
    const { code, text } = await provision([...base, '--interval-ms', value, '--image-only', join(dir, 'interval.bin')]);
    t.is(code, 2, value);
    t.regex(text, /--interval-ms: an integer from 100 to 86400000/, value);
  }
  const file = join(dir, 'interval-ok.bin');
  t.is((await provision([...base, '--interval-ms', '2500', '--image-only', file])).code, 0);
  t.is(decodeFile(file).intervalMs, 2500);
});

test('the image is written mode 0600, also over an existing 0644 file', async (t) => {
  const file = join(dir, 'settings.bin');
  writeFileSync(file, 'old');
  chmodSync(file, 0o644);
  const { code, text } = await provision([...base, '--image-only', file]);
  t.is(code, 0, text);
  t.is(statSync(file).mode & 0o777, 0o600);
  t.regex(text, /mode 0600/);
  const fresh = join(dir, 'fresh', 'settings.bin');
  t.is((await provision([...base, '--image-only', fresh])).code, 0);
  t.is(statSync(fresh).mode & 0o777, 0o600);
});

test('broker user name, password, CA, client certificate and key reach the record', async (t) => {
  const file = join(dir, 'secure.bin');
  const { code, text } = await provision([
    ...base,
    '--device-id',
    'pipe-0042',
    '--mqtt-username',
    'pipe-1',
    '--mqtt-password',
    'broker secret',
    '--ca',
    join(FIXTURES, 'ca.pem'),
    '--client-cert',
    join(FIXTURES, 'client.pem'),
    '--client-key',
    join(FIXTURES, 'client-key-pkcs1.pem'),
    '--image-only',
    file,
  ]);
  t.is(code, 0, text);
  const settings = decodeFile(file);
  t.is(settings.mqttUsername, 'pipe-1');
  t.is(settings.mqttPassword, 'broker secret');
  const ca = new X509Certificate(readFileSync(join(FIXTURES, 'ca.pem')));
  t.deepEqual(Buffer.from(settings.ca!), ca.raw, 'the CA as DER');
  t.deepEqual(Buffer.from(settings.clientCert!), new X509Certificate(readFileSync(join(FIXTURES, 'client.pem'))).raw);
  const pkcs8 = createPrivateKey(readFileSync(join(FIXTURES, 'client-key.pem'))).export({ type: 'pkcs8', format: 'der' });
  t.deepEqual(Buffer.from(settings.clientKey!), pkcs8, 'a PKCS#1 key is stored as PKCS#8 DER');
  const der = join(dir, 'ca.der');
  writeFileSync(der, ca.raw);
  const fromDer = join(dir, 'secure-der.bin');
  t.is((await provision([...base, '--ca', der, '--image-only', fromDer])).code, 0);
  t.deepEqual(Buffer.from(decodeFile(fromDer).ca!), ca.raw);
});

test('a client certificate whose common name is not --device-id is refused naming both, exit 2, no image', async (t) => {
  const file = join(dir, 'wrong-cn.bin');
  const { code, text } = await provision([
    ...base,
    '--client-cert',
    join(FIXTURES, 'client.pem'),
    '--client-key',
    join(FIXTURES, 'client-key.pem'),
    '--image-only',
    file,
  ]);
  t.is(code, 2, text);
  t.regex(text, /--client-cert .*client\.pem: its common name is "pipe-0042", not --device-id "pipe-1"/);
  t.is(text.split('\n').length, 2, 'one line and the usage line');
  t.false(existsSync(file));
});

test('an EC client key or certificate is refused (the device signs with RSA only), exit 2, no image', async (t) => {
  const file = join(dir, 'ec.bin');
  const ecPair = ['--client-cert', join(FIXTURES, 'ec-client.pem'), '--client-key', join(FIXTURES, 'ec-client-key.pem')];
  const cases: Array<[string[], RegExp]> = [
    [ecPair, /--client-cert .*ec-client\.pem: an EC certificate; the node's TLS client \(Moddable SDK\) signs only with RSA PKCS#1 v1\.5/],
    [['--client-cert', join(FIXTURES, 'client.pem'), '--client-key', join(FIXTURES, 'ec-client-key.pem')], /--client-key .*ec-client-key\.pem: an EC key; .* RSA PKCS#1 v1\.5/],
  ];
  for (const [extra, message] of cases) {
    const { code, text } = await provision([...base, '--device-id', 'pipe-0042', ...extra, '--image-only', file]);
    t.is(code, 2, text);
    t.regex(text, message);
    t.false(existsSync(file));
  }
  t.is((await provision([...base, '--device-id', 'pipe-0042', '--client-cert', join(FIXTURES, 'client.pem'), '--client-key', join(FIXTURES, 'client-key.pem'), '--image-only', file])).code, 0, 'the RSA pair is taken');
});

test('a non-ASCII MQTT user name and password reach the record as UTF-8, and read back', async (t) => {
  const file = join(dir, 'utf8.bin');
  const { code, text } = await provision([...PROVISIONED_UTF8_ARGS, '--image-only', file]);
  t.is(code, 0, text);
  const image = new Uint8Array(readFileSync(file));
  t.is(image.length, 0x5000, 'the whole nvs partition of manifests/esp32/partitions.csv');
  const record = Buffer.from(recordOf(file)).toString('hex');
  t.is(record, PROVISIONED_UTF8_HEX, 'the record test/portable/esp32-settings.ts parses on Node and XS');
  const settings = decodeFile(file);
  t.is(settings.mqttUsername, 'j\u00fcrgen');
  t.is(settings.mqttPassword, 'p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11');
  t.true(Buffer.from(image).includes(Buffer.from('p\u00e4ssw\u00f6rd \u5bc6\u7801 \ud83d\udd11', 'utf8')), 'the password as its UTF-8 bytes');
  const cli = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools', 'moddable.ts'), 'provision', ...PROVISIONED_UTF8_ARGS, '--image-only', join(dir, 'utf8-cli.bin')], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  t.is(cli.status, 0, cli.stderr);
  t.deepEqual(readFileSync(join(dir, 'utf8-cli.bin')), Buffer.from(image), 'the same image from the command line (arguments as UTF-8)');
});

test('credential and certificate mistakes are refused with the option named, exit 2', async (t) => {
  const file = join(dir, 'refused.bin');
  const cases: Array<[string[], RegExp]> = [
    [['--mqtt-password', 'secret'], /mqttPassword: needs mqttUsername/],
    [['--mqtt-username', 'u', '--mqtt-password', 'pa\ud800ss'], /E_SETTINGS_VALUE: mqttPassword: MQTT password has a lone surrogate \(no UTF-8 encoding\)/],
    [['--mqtt-username', 'u\u0000'], /E_SETTINGS_VALUE: mqttUsername: MQTT user name has U\+0000/],
    [['--mqtt-username', ''], /E_SETTINGS_VALUE: mqttUsername: a non-empty string/],
    [
      ['--mqtt-username', 'u', '--mqtt-password', '\u00e4'.repeat(500)],
      /E_SETTINGS_VALUE: mqttUsername, mqttPassword: MQTT CONNECT would be 1060 bytes, more than the 1024-byte transmit buffer/,
    ],
    [['--client-cert', join(FIXTURES, 'client.pem')], /--client-cert and --client-key: give both/],
    [['--client-cert', join(FIXTURES, 'client.pem'), '--client-key', join(FIXTURES, 'other-key.pem')], /--client-key .*other-key\.pem: not the key of the certificate/],
    [['--ca', join(FIXTURES, 'client-key.pem')], /--ca .*: not an X\.509 certificate/],
    [['--client-cert', join(FIXTURES, 'client.pem'), '--client-key', join(FIXTURES, 'ca.pem')], /--client-key .*: not an unencrypted private key/],
  ];
  const chain = join(dir, 'chain.pem');
  writeFileSync(chain, readFileSync(join(FIXTURES, 'ca.pem'), 'utf8') + readFileSync(join(FIXTURES, 'client.pem'), 'utf8'));
  cases.push([['--ca', chain], /--ca .*: holds 2 certificates; give one/]);
  for (const [extra, message] of cases) {
    const { code, text } = await provision([...base, ...extra, '--image-only', file]);
    t.is(code, 2, `${extra.join(' ')}: ${text}`);
    t.regex(text, message);
    t.false(existsSync(file), extra.join(' '));
  }
  const plain = await provision([...base.slice(0, 4), '--broker', 'mqtt://10.0.0.5', '--device-id', 'pipe-1', '--ca', join(FIXTURES, 'ca.pem'), '--image-only', file]);
  t.is(plain.code, 2);
  t.regex(plain.text, /E_SETTINGS_TLS: ca, clientCert: need an mqtts:\/\/ broker/);
});

test('without --port or --image-only nothing is written', async (t) => {
  const file = join(ROOT, 'build', 'moddable', 'provision', 'nvs-pipe-no-port.bin');
  rmSync(file, { force: true });
  const { code, text } = await provision([...base, '--device-id', 'pipe-no-port']);
  t.is(code, 2);
  t.regex(text, /--port is required/);
  t.false(existsSync(file));
});

test('a plain mqtt:// broker is refused unless --insecure says the build allows it (issue 17 item 3)', async (t) => {
  const file = join(dir, 'plain.bin');
  const plain = [...base.slice(0, 4), '--broker', 'mqtt://10.0.0.5', '--device-id', 'pipe-1', '--image-only', file];
  const refused = await provision(plain);
  t.is(refused.code, 2, refused.text);
  t.regex(refused.text, /^E_INSECURE_BROKER: broker "mqtt:\/\/10\.0\.0\.5" is plain MQTT, which this build refuses; .*insecure=true .*--insecure\)$/m);
  t.false(existsSync(file));
  const allowed = await provision([...plain, '--insecure']);
  t.is(allowed.code, 0, allowed.text);
  t.is(decodeFile(file).broker, 'mqtt://10.0.0.5');
});

test('mqtts:// without --ca: provisioned, with a note that the build must carry the CA', async (t) => {
  const { code, text } = await provision([...base, '--image-only', join(dir, 'no-ca.bin')]);
  t.is(code, 0, text);
  t.regex(text, /note: no --ca: the node trusts only the CA its build carries \(tlsCA=\); .*\(E_NO_CA\)/);
  const withCa = await provision([...base, '--ca', join(FIXTURES, 'ca.pem'), '--image-only', join(dir, 'ca.bin')]);
  t.notRegex(withCa.text, /note: no --ca/);
});

test('no --broker: provisioned without one; the node finds it by mDNS at boot (issue 16 item 4)', async (t) => {
  const file = join(dir, 'no-broker.bin');
  const { code, text } = await provision([...base.slice(0, 4), '--device-id', 'pipe-1', '--image-only', file]);
  t.is(code, 0, text);
  t.regex(text, /^note: no --broker: the node looks for _mqtt\._tcp by mDNS at boot/m);
  t.is(decodeFile(file).broker, '');
});
