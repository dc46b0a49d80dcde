/*
 * `pipewatch certs` (tools/certs.ts): the plant CA, per-device certificates, revocation and
 * expiry warnings, checked with OpenSSL as the oracle (what mosquitto will do with them).
 * The first cases spawn the real command (exit codes and stderr as the user meets them); the
 * usage cases call certsMain in this process.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { certsMain, initCa, issueDevice, listCerts } from '../tools/certs';

const root = fileURLToPath(new URL('../', import.meta.url));
const cli = join(root, 'tools', 'pipewatch.mjs');

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'certs', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function opensslVerify(dir: string, cert: string, crl: boolean): string {
  const chain = join(dir, 'chain.pem');
  writeFileSync(chain, readFileSync(join(dir, 'ca.crt'), 'utf8') + (crl ? readFileSync(join(dir, 'crl.pem'), 'utf8') : ''));
  try {
    return execFileSync('openssl', ['verify', ...(crl ? ['-crl_check'] : []), '-purpose', 'sslclient', '-CAfile', chain, cert], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    return String((error as { stdout?: string }).stdout) + String((error as { stderr?: string }).stderr);
  }
}

test('init, issue, revoke, list: files, modes, common name, RSA-2048, CRL read by OpenSSL', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'pipewatch-certs-')), 'pki');
  const init = await run('init', '--dir', dir);
  t.is(init.code, 0, init.stderr);
  t.is(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
  t.true(ca.ca);

  const issue = await run('issue', 'boiler-7', '--dir', dir);
  t.is(issue.code, 0, issue.stderr);
  t.is(statSync(join(dir, 'boiler-7.key')).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(join(dir, 'boiler-7.crt')));
  t.is(cert.subject, 'CN=boiler-7');
  t.true(cert.checkIssued(ca) && cert.verify(ca.publicKey));
  const key = createPrivateKey(readFileSync(join(dir, 'boiler-7.key')));
  t.true(cert.checkPrivateKey(key));
  t.is(key.asymmetricKeyType, 'rsa');
  t.is(key.asymmetricKeyDetails?.modulusLength, 2048);
  t.regex(opensslVerify(dir, join(dir, 'boiler-7.crt'), true), /boiler-7\.crt: OK/, 'a client certificate, and an empty CRL OpenSSL accepts');

  const revoke = await run('revoke', 'boiler-7', '--dir', dir);
  t.is(revoke.code, 0, revoke.stderr);
  t.regex(opensslVerify(dir, join(dir, 'boiler-7.crt'), true), /certificate revoked/);
  const list = await run('list', '--dir', dir);
  t.is(list.code, 0);
  t.regex(list.stdout, /^boiler-7\t\S+\trevoked$/m);
  t.regex(list.stdout, /^ca \(CA\)\t\S+\tvalid$/m);

  const again = await run('init', '--dir', dir);
  t.is(again.code, 1, 'a second CA over the first is refused');
  t.regex(again.stderr, /^pipewatch certs init: .*ca\.key exists/);
});

test('expiry: list warns for expired and expiring certificates; issue warns when the CA ends first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-certs-'));
  const now = new Date();
  await initCa(dir, { days: 400, now });
  t.deepEqual(await issueDevice(dir, 'fresh', { now }), [`fresh: validity cut to the CA's, which ends ${new Date(new X509Certificate(readFileSync(join(dir, 'ca.crt'))).validTo).toISOString()}`]);
  t.deepEqual(await issueDevice(dir, 'soon', { now, days: 10 }), []);
  await issueDevice(dir, 'old', { now: new Date(now.getTime() - 3 * 86_400_000), days: 1 });
  const states = Object.fromEntries(listCerts(dir, { now }).map((c) => [c.id, c.state]));
  t.deepEqual(states, { 'ca (CA)': 'valid', fresh: 'valid', old: 'expired', soon: 'expiring' });
  t.regex(opensslVerify(dir, join(dir, 'old.crt'), false), /certificate has expired/);
  const list = await run('list', '--dir', dir);
  t.is(list.code, 0);
  t.regex(list.stderr, /^pipewatch certs list: warning: old expired /m);
  t.regex(list.stderr, /^pipewatch certs list: warning: soon expires .* within 30 days$/m);
  t.notRegex(list.stderr, /fresh/);
});

/** certsMain in this process with stdout/stderr captured (serial tests only). */
async function inProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await certsMain(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test.serial('usage: help on every verb, usage errors exit 2 with one line, failures exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-certs-'));
  for (const verb of ['init', 'issue', 'revoke', 'list']) {
    const help = await inProcess(verb, '--help');
    t.is(help.code, 0);
    t.regex(help.stdout, new RegExp(`^Usage: npx pipewatch certs ${verb}`));
  }
  t.is((await inProcess('--help')).code, 0);
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /^pipewatch certs: needs a verb/],
    [['mint'], 2, /^pipewatch certs: unknown verb "mint"/],
    [['init'], 2, /^pipewatch certs init: needs --dir DIR/],
    [['issue', 'a/b', '--dir', dir], 2, /^pipewatch certs issue: DEVICE_ID takes/],
    [['issue', '--dir', dir], 2, /^pipewatch certs issue: needs a DEVICE_ID/],
    [['issue', 'x', '--days', 'soon', '--dir', dir], 2, /^pipewatch certs issue: --days takes a whole number/],
    [['list', '--dir', dir, '--frob'], 2, /^pipewatch certs list: unknown option --frob/],
    [['issue', 'x', '--dir', dir], 1, /^pipewatch certs issue: cannot read the CA certificate/],
    [['revoke', 'x', '--dir', dir], 1, /^pipewatch certs revoke: cannot read the CA certificate/],
  ];
  for (const [args, code, message] of cases) {
    const r = await inProcess(...args);
    t.is(r.code, code, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
    t.is(r.stderr.trimEnd().split('\n').length, 1, `one line: ${args.join(' ')}`);
  }
});
