/*
 * The manifest format: round trip, every refusal reason of parseManifest / verifySignedManifest
 * / checkOffer, semver packing, and the test signer against RFC 8032 TEST 1.
 */
import { deepEqual, equal, ok } from '../harness/assert';
import {
  checkOffer,
  MAX_IMAGE_BYTES,
  packVersion,
  parseManifest,
  verifySignedManifest,
  versionText,
  type Manifest,
} from '../../firmware/ota/manifest';
import { fromHex, toHex } from '../../firmware/crypto/hex';
import { sha256 } from '../../firmware/crypto/sha256';
import { testKey, testSign } from './crypto-sign';
import { BOARD, image, otherKey, resign, signManifest, vendorKey } from './ota-fixture';

function reasonOf(bytes: Uint8Array): string {
  const r = verifySignedManifest(bytes, vendorKey().publicKey);
  return r.ok ? 'ok' : r.reason;
}

function patched(edit: (b: Uint8Array) => void, base = signManifest({})): Uint8Array {
  const b = base.slice();
  edit(b);
  return resign(b);
}

function parsed(): Manifest {
  const r = parseManifest(signManifest({ version: '1.2.3', securityCounter: 5 }));
  if (!r.ok) throw new Error(r.reason);
  return r.manifest;
}

export const tests = {
  'test signer reproduces RFC 8032 TEST 1'() {
    const key = testKey(fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')!);
    equal(toHex(key.publicKey), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    equal(
      toHex(testSign(key, new Uint8Array(0))),
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  },
  'round trip: every field comes back'() {
    const img = image(5000, 9);
    const bytes = signManifest({ version: '2.10.300', securityCounter: 77, image: img, url: 'https://ota.example/a.bin' });
    const r = verifySignedManifest(bytes, vendorKey().publicKey);
    ok(r.ok);
    if (!r.ok) return;
    equal(versionText(r.manifest.version), '2.10.300');
    equal(r.manifest.securityCounter, 77);
    equal(r.manifest.board, BOARD);
    equal(r.manifest.imageBytes, 5000);
    deepEqual(r.manifest.imageSha256, sha256(img));
    equal(r.manifest.url, 'https://ota.example/a.bin');
    equal(bytes.length, 120 + BOARD.length + 'https://ota.example/a.bin'.length);
    equal(toHex(bytes.subarray(0, 8)), '50574f5401000f00');
  },
  'semver packing'() {
    equal(packVersion('1.2.3'), 0x01020003);
    equal(packVersion('255.255.65535'), 0xffffffff);
    for (const bad of ['1.2', '1.2.3.4', '256.0.0', '0.256.0', '0.0.65536', '01.2.3', '1..3', 'a.b.c', '', '1.2.3 ']) {
      equal(packVersion(bad), -1, bad);
    }
    equal(versionText(0x01020003), '1.2.3');
  },
  'every parse refusal has its reason'() {
    const good = signManifest({});
    equal(reasonOf(good), 'ok');
    equal((parseManifest('x' as unknown as Uint8Array) as { reason: string }).reason, 'notBytes');
    equal(reasonOf(good.subarray(0, 120)), 'tooShort');
    equal(reasonOf(new Uint8Array(553)), 'tooLong');
    equal(reasonOf(patched((b) => (b[0] = 0x51))), 'badMagic');
    equal(reasonOf(patched((b) => (b[4] = 2))), 'unsupportedFormat');
    for (const at of [5, 7, 10, 11]) equal(reasonOf(patched((b) => (b[at] = 1))), 'reservedNotZero', `byte ${at}`);
    equal(reasonOf(patched((b) => (b[6] = 0))), 'badBoardLength');
    equal(reasonOf(patched((b) => (b[6] = 33))), 'badBoardLength');
    equal(reasonOf(patched((b) => ((b[8] = 1), (b[9] = 0x91)))), 'badUrlLength');
    equal(reasonOf(patched((b) => (b[9] = b[9]! + 1))), 'lengthMismatch');
    equal(reasonOf(patched((b) => b.fill(0, 12, 16))), 'badVersion');
    equal(reasonOf(patched((b) => b.fill(0, 20, 24))), 'badImageSize');
    equal(
      reasonOf(patched((b) => ((b[20] = 0x01), (b[21] = 0), (b[22] = 0), (b[23] = 1)))),
      'badImageSize',
      'one byte over 16 MiB',
    );
    equal(reasonOf(patched((b) => (b[56] = 0x41))), 'badBoard');
    equal(reasonOf(patched((b) => (b[56 + BOARD.length] = 0x66))), 'badUrl');
    equal(reasonOf(patched((b) => (b[56 + BOARD.length + 8] = 0x20))), 'badUrl');
  },
  'signature: flipped, unsigned, another key'() {
    const good = signManifest({});
    for (const at of [0, 30, 60, 90, good.length - 64, good.length - 1]) {
      const b = good.slice();
      b[at]! ^= 0x04;
      ok(reasonOf(b) !== 'ok', `flipped byte ${at}`);
    }
    const flippedSig = good.slice();
    flippedSig[good.length - 10]! ^= 1;
    equal(reasonOf(flippedSig), 'badSignature');
    const unsigned = good.slice();
    unsigned.fill(0, good.length - 64);
    equal(reasonOf(unsigned), 'badSignature', 'unsigned (zero signature)');
    equal(reasonOf(signManifest({}, otherKey())), 'badSignature', 'signed by another key');
    const max = signManifest({ imageBytes: MAX_IMAGE_BYTES });
    equal(reasonOf(max), 'ok', 'the largest image size is accepted');
  },
  'checkOffer: board, downgrade, same version, counter rollback, size'() {
    const m = parsed();
    const running = { board: BOARD, version: '1.2.2', securityCounter: 5 };
    deepEqual(checkOffer(m, running), { ok: true });
    deepEqual(checkOffer(m, { ...running, board: 'esp32-s3-tmp117' }), { ok: false, reason: 'wrongBoard' });
    deepEqual(checkOffer(m, { ...running, version: '1.3.0' }), { ok: false, reason: 'downgrade' });
    deepEqual(checkOffer(m, { ...running, version: '1.2.3' }), { ok: false, reason: 'sameVersion' });
    deepEqual(checkOffer(m, { ...running, securityCounter: 6 }), { ok: false, reason: 'counterRollback' });
    deepEqual(checkOffer(m, { ...running, maxImageBytes: 999 }), { ok: false, reason: 'oversized' });
    deepEqual(checkOffer(m, { ...running, maxImageBytes: 1000 }), { ok: true });
  },
};
