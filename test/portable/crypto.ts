/*
 * SHA-256, SHA-512 and Ed25519 verification, on Node and inside XS: every public vector, the
 * streaming API split at every boundary, state export/import, and the strict rejections.
 */
import { deepEqual, equal, ok } from '../harness/assert';
import { Sha256, sha256, SHA256_STATE_BYTES } from '../../firmware/crypto/sha256';
import { Sha512, sha512 } from '../../firmware/crypto/sha512';
import { verify, isSmallOrderEncoding, isValidPointEncoding, L } from '../../firmware/crypto/ed25519';
import { fromHex, toHex } from '../../firmware/crypto/hex';
import { ed25519Invalid, ed25519Valid, sha256Vectors } from './crypto-vectors';

function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (!bytes) throw new Error(`bad hex in test data: ${text}`);
  return bytes;
}

/** Deterministic test message: n bytes of a simple sequence. */
function message(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** The 8 points of order 1, 2, 4 and 8, canonically encoded. */
export const SMALL_ORDER_ENCODINGS = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
];

function leBytes(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function test3() {
  const v = ed25519Valid[2]!;
  return { sig: hex(v.signature), msg: hex(v.message), pk: hex(v.publicKey) };
}

export const tests = {
  'sha256: every public vector'() {
    equal(sha256Vectors.length, 20);
    for (const v of sha256Vectors) {
      const h = new Sha256();
      if (v.repeat) {
        const chunk = new Uint8Array(1000).fill(hex(v.repeat.byte)[0]!);
        for (let done = 0; done < v.repeat.count; done += chunk.length) h.update(chunk);
      } else h.update(hex(v.msg!));
      equal(toHex(h.digest()), v.md, v.name);
    }
  },
  'sha256: streaming split at every boundary equals one-shot'() {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 200]) {
      const m = message(n);
      const expected = toHex(sha256(m));
      for (let cut = 0; cut <= n; cut++) {
        const h = new Sha256();
        h.update(m.subarray(0, cut)).update(m.subarray(cut));
        equal(toHex(h.digest()), expected, `n=${n} cut=${cut}`);
      }
    }
    const m = message(150, 3);
    const expected = toHex(sha256(m));
    for (let a = 0; a <= 150; a += 7) {
      for (let b = a; b <= 150; b += 11) {
        const h = new Sha256();
        h.update(m.subarray(0, a)).update(m.subarray(a, b)).update(m.subarray(b));
        equal(toHex(h.digest()), expected, `three parts ${a}/${b}`);
      }
    }
    const bytewise = new Sha256();
    for (let i = 0; i < m.length; i++) bytewise.update(m.subarray(i, i + 1));
    equal(toHex(bytewise.digest()), expected, 'one byte at a time');
  },
  'sha256: update does not touch the input, digest fills a given buffer between canaries'() {
    const m = message(100);
    const copy = m.slice();
    const out = new Uint8Array(36).fill(0xa5);
    new Sha256().update(m).digest(out.subarray(2, 34));
    deepEqual(m, copy);
    equal(out[0], 0xa5);
    equal(out[1], 0xa5);
    equal(out[34], 0xa5);
    equal(out[35], 0xa5);
    equal(toHex(out.subarray(2, 34)), toHex(sha256(m)));
  },
  'sha256: finished context refuses more input until reset'() {
    const h = new Sha256();
    h.update(message(3)).digest();
    let threw = false;
    try {
      h.update(message(1));
    } catch {
      threw = true;
    }
    ok(threw, 'update after digest throws');
    equal(toHex(h.reset().digest()), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  },
  'sha256: export at a block boundary, import, continue'() {
    const m = message(64 * 5 + 17);
    const expected = toHex(sha256(m));
    const a = new Sha256().update(m.subarray(0, 192));
    const state = new Uint8Array(SHA256_STATE_BYTES);
    ok(a.exportState(state));
    const b = new Sha256();
    ok(b.importState(state));
    equal(b.length, 192);
    equal(toHex(b.update(m.subarray(192)).digest()), expected);
    ok(!new Sha256().update(message(10)).exportState(state), 'mid-block export is refused');
    const bad = state.slice();
    bad[39] = 1;
    ok(!new Sha256().importState(bad), 'a byte count that is not a block multiple is refused');
    ok(!new Sha256().importState(state.subarray(0, 39)), 'a short state is refused');
  },
  'sha512: FIPS 180-2 vectors and streaming splits'() {
    const abc = '616263';
    equal(
      toHex(sha512(hex(abc))),
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
    const twoBlock = new Uint8Array(112);
    const text = 'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu';
    for (let i = 0; i < 112; i++) twoBlock[i] = text.charCodeAt(i);
    equal(
      toHex(sha512(twoBlock)),
      '8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909',
    );
    equal(
      toHex(sha512(new Uint8Array(0))),
      'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
    for (const n of [0, 111, 112, 127, 128, 129, 260]) {
      const m = message(n);
      const expected = toHex(sha512(m));
      for (let cut = 0; cut <= n; cut++) {
        const h = new Sha512();
        h.update(m.subarray(0, cut)).update(m.subarray(cut));
        equal(toHex(h.digest()), expected, `n=${n} cut=${cut}`);
      }
    }
  },
  'ed25519: every RFC 8032 vector verifies'() {
    equal(ed25519Valid.length, 5);
    for (const v of ed25519Valid) ok(verify(hex(v.signature), hex(v.message), hex(v.publicKey)), v.name);
  },
  'ed25519: every negative vector is rejected'() {
    equal(ed25519Invalid.length, 6);
    for (const v of ed25519Invalid) ok(!verify(hex(v.signature), hex(v.message), hex(v.publicKey)), v.name);
  },
  'ed25519: wrong key'() {
    const { sig, msg } = test3();
    for (const v of ed25519Valid) {
      if (v.publicKey !== ed25519Valid[2]!.publicKey) ok(!verify(sig, msg, hex(v.publicKey)), v.name);
    }
  },
  'ed25519: flipped bits in R, S, message and key'() {
    const { sig, msg, pk } = test3();
    for (const bit of [0, 77, 200, 255]) {
      const r = sig.slice();
      r[bit >> 3]! ^= 1 << (bit & 7);
      ok(!verify(r, msg, pk), `R bit ${bit}`);
      const s = sig.slice();
      s[32 + (bit >> 3)]! ^= 1 << (bit & 7);
      ok(!verify(s, msg, pk), `S bit ${bit}`);
      const k = pk.slice();
      k[bit >> 3]! ^= 1 << (bit & 7);
      ok(!verify(sig, msg, k), `key bit ${bit}`);
    }
    for (const bit of [0, 9, 15]) {
      const m = msg.slice();
      m[bit >> 3]! ^= 1 << (bit & 7);
      ok(!verify(sig, m, pk), `message bit ${bit}`);
    }
    ok(!verify(sig, new Uint8Array([...msg, 0]), pk), 'message with a byte appended');
    ok(!verify(sig, msg.subarray(0, 1), pk), 'truncated message');
    ok(verify(sig, msg, pk), 'the unmodified inputs still verify');
  },
  'ed25519: non-canonical S (S + L, S = L, S = 2^256 - 1) is rejected'() {
    const { sig, msg, pk } = test3();
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]!);
    for (const bad of [s + L, L, (1n << 256n) - 1n]) {
      const forged = sig.slice();
      forged.set(leBytes(bad, 32), 32);
      ok(!verify(forged, msg, pk), `S = ${bad}`);
    }
  },
  'ed25519: the 8 small-order points are rejected as A and as R'() {
    const { sig, msg, pk } = test3();
    for (const text of SMALL_ORDER_ENCODINGS) {
      const point = hex(text);
      ok(isValidPointEncoding(point), `${text} decodes`);
      ok(isSmallOrderEncoding(point), `${text} has small order`);
      ok(!verify(sig, msg, point), `A = ${text}`);
      const r = sig.slice();
      r.set(point, 0);
      ok(!verify(r, msg, pk), `R = ${text}`);
      for (const other of SMALL_ORDER_ENCODINGS) {
        const forged = new Uint8Array(64);
        forged.set(hex(other), 0);
        ok(!verify(forged, msg, point), `small-order A with small-order R and S = 0: ${text}/${other}`);
      }
    }
    ok(!isSmallOrderEncoding(pk), 'a real key is not small-order');
  },
  'ed25519: non-canonical and off-curve encodings are rejected'() {
    const { sig, msg, pk } = test3();
    const p = (1n << 255n) - 19n;
    const encodings = [
      leBytes(p, 32),
      leBytes(p + 1n, 32),
      leBytes(p + 18n, 32),
      leBytes(p | (1n << 255n), 32),
      leBytes(1n | (1n << 255n), 32),
      leBytes((1n << 255n) - 1n, 32),
    ];
    for (const e of encodings) {
      ok(!isValidPointEncoding(e), `${toHex(e)} is not canonical`);
      ok(!verify(sig, msg, e), `A = ${toHex(e)}`);
      const r = sig.slice();
      r.set(e, 0);
      ok(!verify(r, msg, pk), `R = ${toHex(e)}`);
    }
    const offCurve = leBytes(2n, 32);
    ok(!isValidPointEncoding(offCurve), 'y = 2 has no x on the curve');
    ok(!verify(sig, msg, offCurve), 'off-curve key');
  },
  'ed25519: malformed arguments give false, never an exception'() {
    const { sig, msg, pk } = test3();
    ok(!verify(sig.subarray(0, 63), msg, pk));
    ok(!verify(new Uint8Array([...sig, 0]), msg, pk));
    ok(!verify(sig, msg, pk.subarray(0, 31)));
    ok(!verify(new Uint8Array(64), msg, pk), 'all-zero signature');
    const untyped = verify as unknown as (a: unknown, b: unknown, c: unknown) => boolean;
    ok(!untyped(undefined, msg, pk));
    ok(!untyped(sig, 'text', pk));
    ok(!untyped(sig, msg, null));
    ok(!untyped(Array.from(sig), msg, pk));
  },
};
