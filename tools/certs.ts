/*
 * `pipewatch certs`: a plant's own certificate authority and one certificate per node, for
 * brokers that authenticate nodes by TLS client certificate (docs/security.md).
 *
 *   pipewatch certs init --dir DIR [--days 3650] [--name "pipewatch plant CA"]
 *       DIR/ca.crt, DIR/ca.key (mode 0600), and an empty DIR/crl.pem for the broker's `crlfile`
 *   pipewatch certs issue DEVICE_ID --dir DIR [--days 825]
 *       DIR/DEVICE_ID.crt (common name = DEVICE_ID, clientAuth) and DIR/DEVICE_ID.key (mode 0600)
 *   pipewatch certs revoke DEVICE_ID --dir DIR
 *       adds the certificate's serial to DIR/revoked.json and rewrites DIR/crl.pem
 *   pipewatch certs list --dir DIR [--warn-days 30]
 *       each certificate with its expiry; warns for those that expire within --warn-days
 *
 * Keys are RSA-2048 and signatures RSASSA-PKCS1-v1_5 with SHA-256: Moddable's TLS client
 * (modules/crypt/ssl/ssl_handshake.js, certificateVerify.packetize) signs the CertificateVerify
 * only with an RSA key, PKCS#1 v1.5 over SHA-256 for TLS 1.2, and throws "unimplemented" for
 * any other key; an EC client key would fail the handshake on the device.
 *
 * Keys come from Node's crypto (WebCrypto); the X.509 and CRL encoding from @peculiar/x509.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Failure, oneLine, parseInteger, parseOptions, runVerb, UsageError } from './args';

// The library signs with node:crypto's WebCrypto, the same that makes and imports the keys.
x509.cryptoProvider.set(webcrypto as never);

const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;
const DAY_MS = 86_400_000;

/** A device id usable as a certificate common name, an MQTT client id and one topic level. */
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkDeviceId(id: string | undefined): string {
  if (id === undefined) throw new UsageError('needs a DEVICE_ID (see npx pipewatch certs --help)');
  if (!DEVICE_ID.test(id) || id === 'ca') {
    throw new UsageError(`DEVICE_ID takes 1 to 64 letters, digits, "_", "." or "-" (no "/", "+", "#"; not "ca"), got "${id}"`);
  }
  return id;
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  return webcrypto.subtle.importKey('pkcs8', Buffer.from(body, 'base64'), RSA, false, ['sign']);
}

/** A positive 128-bit serial number in hex (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f | 0x01;
  return bytes.toString('hex');
}

interface Ca {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Failure(`cannot read ${what} ${path}: ${oneLine(error)}`);
  }
}

async function loadCa(dir: string): Promise<Ca> {
  const cert = new x509.X509Certificate(readText(join(dir, 'ca.crt'), 'the CA certificate'));
  const key = await importKeyPem(readText(join(dir, 'ca.key'), 'the CA key'));
  return { cert, key };
}

interface Revoked {
  id: string;
  serial: string;
  revokedAt: string;
}

function readRevoked(dir: string): Revoked[] {
  const path = join(dir, 'revoked.json');
  if (!existsSync(path)) return [];
  const list = JSON.parse(readText(path, 'the revocation list')) as unknown;
  if (!Array.isArray(list) || !list.every((r) => typeof r?.id === 'string' && typeof r?.serial === 'string' && typeof r?.revokedAt === 'string')) {
    throw new Failure(`${path}: not a list of {id, serial, revokedAt}`);
  }
  return list as Revoked[];
}

/**
 * Writes DIR/crl.pem listing `revoked`, signed by the CA. Its nextUpdate is the CA's own expiry:
 * OpenSSL (mosquitto's `crlfile`) refuses every client once a CRL's nextUpdate has passed, and a
 * plant rewrites the CRL only when it revokes.
 */
async function writeCrl(dir: string, ca: Ca, revoked: Revoked[], now: Date): Promise<void> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject,
    thisUpdate: now,
    nextUpdate: ca.cert.notAfter,
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.revokedAt), reason: x509.X509CrlReason.keyCompromise })),
    signingAlgorithm: RSA,
    signingKey: ca.key,
  });
  // OpenSSL reads a CRL only under the PEM label "X509 CRL" (RFC 7468 §5); the library writes "CRL".
  const pem = crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
  writeFileSync(join(dir, 'crl.pem'), pem + '\n');
}

export async function initCa(dir: string, options: { days?: number; name?: string; now?: Date } = {}): Promise<void> {
  if (existsSync(join(dir, 'ca.key'))) throw new Failure(`${join(dir, 'ca.key')} exists: a plant keeps one CA (remove it first to start over)`);
  mkdirSync(dir, { recursive: true });
  const now = options.now ?? new Date();
  const keys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const name = options.name ?? 'pipewatch plant CA';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }],
    notBefore: now,
    notAfter: new Date(now.getTime() + (options.days ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writePrivate(join(dir, 'ca.key'), await exportKeyPem(keys.privateKey));
  writeFileSync(join(dir, 'ca.crt'), cert.toString('pem') + '\n');
  await writeCrl(dir, { cert, key: keys.privateKey }, [], now);
}

/**
 * Issues DIR/ID.crt and DIR/ID.key; returns warnings (a validity cut to the CA's, a CA near its
 * end). `serverNames` (host names or IP addresses) makes it the broker's certificate instead:
 * serverAuth, with those names as subjectAltName.
 */
export async function issueDevice(
  dir: string,
  id: string,
  options: { days?: number; now?: Date; warnDays?: number; serverNames?: string[] } = {},
): Promise<string[]> {
  checkDeviceId(id);
  const ca = await loadCa(dir);
  const now = options.now ?? new Date();
  const warnings: string[] = [];
  let notAfter = new Date(now.getTime() + (options.days ?? 825) * DAY_MS);
  if (notAfter > ca.cert.notAfter) {
    notAfter = ca.cert.notAfter;
    warnings.push(`${id}: validity cut to the CA's, which ends ${ca.cert.notAfter.toISOString()}`);
  }
  if (ca.cert.notAfter.getTime() - now.getTime() < (options.warnDays ?? 30) * DAY_MS) {
    warnings.push(`the CA expires ${ca.cert.notAfter.toISOString()}: make a new one and re-issue every node`);
  }
  const server = options.serverNames?.length ? options.serverNames : undefined;
  const keys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [id] }],
    issuer: ca.cert.subject,
    notBefore: now,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: RSA,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      ...(server ? [new x509.SubjectAlternativeNameExtension(server.map((name) => ({ type: isIP(name) ? 'ip' as const : 'dns' as const, value: name })))] : []),
    ],
  });
  writePrivate(join(dir, `${id}.key`), await exportKeyPem(keys.privateKey));
  writeFileSync(join(dir, `${id}.crt`), cert.toString('pem') + '\n');
  return warnings;
}

export async function revokeDevice(dir: string, id: string, options: { now?: Date } = {}): Promise<void> {
  checkDeviceId(id);
  const ca = await loadCa(dir);
  const cert = new x509.X509Certificate(readText(join(dir, `${id}.crt`), 'the certificate'));
  const now = options.now ?? new Date();
  const revoked = readRevoked(dir);
  if (!revoked.some((r) => r.serial === cert.serialNumber)) revoked.push({ id, serial: cert.serialNumber, revokedAt: now.toISOString() });
  writeFileSync(join(dir, 'revoked.json'), JSON.stringify(revoked, null, 2) + '\n');
  await writeCrl(dir, ca, revoked, now);
}

export interface CertStatus {
  id: string;
  serial: string;
  notAfter: Date;
  state: 'valid' | 'expiring' | 'expired' | 'revoked';
}

export function listCerts(dir: string, options: { now?: Date; warnDays?: number } = {}): CertStatus[] {
  const now = (options.now ?? new Date()).getTime();
  const warnMs = (options.warnDays ?? 30) * DAY_MS;
  const revoked = new Set(readRevoked(dir).map((r) => r.serial));
  const files = readdirSync(dir).filter((f) => f.endsWith('.crt')).sort();
  return files.map((file) => {
    const cert = new x509.X509Certificate(readText(join(dir, file), 'the certificate'));
    const left = cert.notAfter.getTime() - now;
    const state = revoked.has(cert.serialNumber) ? 'revoked' : left <= 0 ? 'expired' : left < warnMs ? 'expiring' : 'valid';
    return { id: file === 'ca.crt' ? 'ca (CA)' : file.slice(0, -4), serial: cert.serialNumber, notAfter: cert.notAfter, state };
  });
}

export const CERTS_USAGE = `Usage: npx pipewatch certs <verb> [options]

A plant's certificate authority and one TLS client certificate per node (RSA-2048, SHA-256:
what Moddable's TLS client can sign with). See docs/security.md.

  certs init --dir DIR [--days 3650] [--name NAME]
      DIR/ca.crt, DIR/ca.key (mode 0600) and an empty DIR/crl.pem (the broker's crlfile)
  certs issue DEVICE_ID --dir DIR [--days 825] [--server NAME ...]
      DIR/DEVICE_ID.crt (common name DEVICE_ID) and DIR/DEVICE_ID.key (mode 0600);
      with --server (host name or IP, repeatable) a broker's certificate for those names
  certs revoke DEVICE_ID --dir DIR
      rewrites DIR/crl.pem with DEVICE_ID's certificate in it; restart or signal (SIGHUP) mosquitto
  certs list --dir DIR [--warn-days 30]
      each certificate, its expiry, and a warning for those expired or expiring within --warn-days

Install one on a node:
  npm run provision -- ... --ca DIR/ca.crt --client-cert DIR/ID.crt --client-key DIR/ID.key

Exit: 0 done (list: 0 even with warnings, printed on stderr), 1 failed, 2 usage error.`;

const VERB_USAGE: Record<string, string> = {
  init: 'Usage: npx pipewatch certs init --dir DIR [--days 3650] [--name NAME]\n\nMakes the plant CA: DIR/ca.crt, DIR/ca.key (mode 0600), DIR/crl.pem (empty). Refuses to replace an existing DIR/ca.key.',
  issue:
    'Usage: npx pipewatch certs issue DEVICE_ID --dir DIR [--days 825] [--server NAME ...]\n\n' +
    'DIR/DEVICE_ID.crt (common name DEVICE_ID, signed by DIR/ca.key) and DIR/DEVICE_ID.key (RSA-2048, mode 0600).\n' +
    '--server NAME  the broker\'s certificate instead (serverAuth; NAME, a host name or IP address, in subjectAltName; repeatable)\n' +
    'Warns when the CA ends before the requested validity or within 30 days.',
  revoke: 'Usage: npx pipewatch certs revoke DEVICE_ID --dir DIR\n\nAdds DIR/DEVICE_ID.crt to DIR/revoked.json and rewrites DIR/crl.pem; the broker reads it at start or on SIGHUP.',
  list: 'Usage: npx pipewatch certs list --dir DIR [--warn-days 30]\n\nOne line per certificate: id, expiry, state (valid, expiring, expired, revoked). Warnings on stderr.',
};

export async function certsMain(argv: string[]): Promise<number> {
  const verb = argv[0];
  const rest = argv.slice(1);
  if (verb === undefined || verb === '--help' || verb === '-h') {
    if (verb !== undefined) return runVerb('pipewatch certs', CERTS_USAGE, ['--help'], () => 0);
    process.stderr.write('pipewatch certs: needs a verb: init, issue, revoke or list (see npx pipewatch certs --help)\n');
    return 2;
  }
  const usage = VERB_USAGE[verb];
  if (!usage) {
    process.stderr.write(`pipewatch certs: unknown verb "${verb}" (see npx pipewatch certs --help)\n`);
    return 2;
  }
  const see = `npx pipewatch certs ${verb}`;
  return runVerb(`pipewatch certs ${verb}`, usage, rest, async () => {
    const options = {
      dir: { type: 'string' as const },
      days: { type: 'string' as const },
      ...(verb === 'init' ? { name: { type: 'string' as const } } : {}),
      ...(verb === 'list' ? { 'warn-days': { type: 'string' as const } } : {}),
      ...(verb === 'issue' ? { server: { type: 'string' as const, multiple: true } } : {}),
    };
    if (verb === 'revoke' || verb === 'list') delete (options as Record<string, unknown>).days;
    const { values, positionals } = parseOptions(rest, options, see, verb === 'issue' || verb === 'revoke');
    const dir = values.dir as string | undefined;
    if (dir === undefined) throw new UsageError(`needs --dir DIR (see ${see} --help)`);
    const days = values.days === undefined ? undefined : parseInteger(values.days as string, '--days', 1, 36500);
    if (positionals.length > 1) throw new UsageError(`takes one DEVICE_ID, got ${positionals.length} (see ${see} --help)`);
    try {
      if (verb === 'init') {
        await initCa(dir, { days, name: values.name as string | undefined });
        process.stdout.write(`pipewatch certs: plant CA in ${join(dir, 'ca.crt')} (key ${join(dir, 'ca.key')}, mode 0600), empty ${join(dir, 'crl.pem')}\n`);
      } else if (verb === 'issue') {
        const id = checkDeviceId(positionals[0]);
        const serverNames = values.server as string[] | undefined;
        for (const name of serverNames ?? []) {
          if (!isIP(name) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(name)) {
            throw new UsageError(`--server takes a host name or an IP address, got "${name}"`);
          }
        }
        for (const warning of await issueDevice(dir, id, { days, serverNames })) process.stderr.write(`pipewatch certs issue: warning: ${warning}\n`);
        process.stdout.write(`pipewatch certs: ${join(dir, `${id}.crt`)} and ${join(dir, `${id}.key`)} (mode 0600)\n`);
      } else if (verb === 'revoke') {
        const id = checkDeviceId(positionals[0]);
        await revokeDevice(dir, id);
        process.stdout.write(`pipewatch certs: ${id} revoked in ${join(dir, 'crl.pem')}; have the broker reload it (mosquitto: SIGHUP or restart)\n`);
      } else {
        const warnDays = values['warn-days'] === undefined ? 30 : parseInteger(values['warn-days'] as string, '--warn-days', 0, 36500);
        for (const c of listCerts(dir, { warnDays })) {
          process.stdout.write(`${c.id}\t${c.notAfter.toISOString()}\t${c.state}\n`);
          if (c.state === 'expired') process.stderr.write(`pipewatch certs list: warning: ${c.id} expired ${c.notAfter.toISOString()}\n`);
          if (c.state === 'expiring') process.stderr.write(`pipewatch certs list: warning: ${c.id} expires ${c.notAfter.toISOString()}, within ${warnDays} days\n`);
        }
      }
    } catch (error) {
      if (error instanceof UsageError || error instanceof Failure) throw error;
      throw new Failure(oneLine(error));
    }
    return 0;
  });
}
