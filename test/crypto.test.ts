/*
 * Crypto: the portable suite (Node + XS), plus Node-only checks against oracles: node:crypto
 * and @noble/curves on random keys and messages, and the embedded vector copy against
 * ../shared/vectors when that folder is present.
 */
import test from 'ava';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { ed25519 as noble } from '@noble/curves/ed25519.js';
import { portable } from './harness/portable';
import { verify } from '../firmware/crypto/ed25519';
import { Sha256 } from '../firmware/crypto/sha256';
import { Sha512 } from '../firmware/crypto/sha512';
import { ed25519Invalid, ed25519Valid, sha256Vectors } from './portable/crypto-vectors';

await portable('crypto', new URL('./portable/crypto.ts', import.meta.url));

const shared = new URL('../../shared/vectors/', import.meta.url);

test('crypto › embedded vectors equal ../shared/vectors', (t) => {
  const edFile = new URL('rfc8032_ed25519.json', shared);
  const shaFile = new URL('sha256_vectors.json', shared);
  if (!existsSync(edFile) || !existsSync(shaFile)) {
    t.pass('shared vectors not present on this machine');
    return;
  }
  const ed = JSON.parse(readFileSync(edFile, 'utf8'));
  t.deepEqual(
    ed.vectors.map((v: Record<string, string>) => [v.name, v.public_key, v.message, v.signature]),
    ed25519Valid.map((v) => [v.name, v.publicKey, v.message, v.signature]),
  );
  t.deepEqual(
    ed.negative_vectors.map((v: Record<string, string>) => [v.name, v.public_key, v.message, v.signature]),
    ed25519Invalid.map((v) => [v.name, v.publicKey, v.message, v.signature]),
  );
  const sha = JSON.parse(readFileSync(shaFile, 'utf8'));
  t.deepEqual(
    sha.vectors.map((v: { name: string; msg?: string; md: string; msg_generator?: { byte: string; repeat: number } }) => [
      v.name,
      v.msg ?? `${v.msg_generator!.byte}x${v.msg_generator!.repeat}`,
      v.md,
    ]),
    sha256Vectors.map((v) => [v.name, v.msg ?? `${v.repeat!.byte}x${v.repeat!.count}`, v.md]),
  );
});

test('crypto › SHA-256 and SHA-512 equal node:crypto on random lengths and random splits', (t) => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const bytes = new Uint8Array(rand(3000));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rand(256);
    const a = new Sha256();
    const b = new Sha512();
    for (let at = 0; at < bytes.length; ) {
      const next = Math.min(bytes.length, at + rand(300));
      a.update(bytes.subarray(at, next));
      b.update(bytes.subarray(at, next));
      at = next;
    }
    t.is(Buffer.from(a.digest()).toString('hex'), createHash('sha256').update(bytes).digest('hex'));
    t.is(Buffer.from(b.digest()).toString('hex'), createHash('sha512').update(bytes).digest('hex'));
  }
});

test('crypto › Ed25519 verify agrees with node:crypto and @noble/curves (strict) on random keys and forgeries', (t) => {
  for (let i = 0; i < 40; i++) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pk = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    const msg = new Uint8Array(i * 17).map((_, j) => (j * 7 + i) & 255);
    const sig = new Uint8Array(sign(null, msg, privateKey));
    t.true(verify(sig, msg, pk), `random key ${i}`);
    t.true(noble.verify(sig, msg, pk, { zip215: false }));
    const bad = sig.slice();
    bad[i % 64]! ^= 1 << (i % 8);
    const nobleSays = (() => {
      try {
        return noble.verify(bad, msg, pk, { zip215: false });
      } catch {
        return false;
      }
    })();
    t.is(verify(bad, msg, pk), nobleSays, `flipped signature ${i}`);
    t.false(verify(bad, msg, pk));
  }
});
