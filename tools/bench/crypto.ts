/*
 * Crypto and OTA figures: Ed25519 verify and SHA-256 per KiB in XS computrons (measured in the
 * real XS engine, @agoric/xsnap), the ESP-IDF image head check (firmware/ota/esp-image.ts) in
 * computrons, bytes re-downloaded after an interrupted download (simulated node, connection
 * dropped at several points mid-block), and bytes downloaded before an image for another chip
 * is refused.
 */
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker } from '../../hosts/xs/worker';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

const source = `
import { verify } from './firmware/crypto/ed25519';
import { Sha256 } from './firmware/crypto/sha256';
import { Sha512 } from './firmware/crypto/sha512';
import { fromHex } from './firmware/crypto/hex';
import { checkAppHead } from './firmware/ota/esp-image';
import { buildAppImage } from './simulator/ota/esp-image';
const head = buildAppImage({ chip: 5, version: '1.4.2', bytes: 4096 }).slice(0, 288);
const pk = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const sig = fromHex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
const kib = new Uint8Array(1024).map((_, i) => i & 255);
const sha = new Sha256();
const sha5 = new Sha512();
const out = new Uint8Array(64);
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes)[0];
  let r = 1;
  if (c === 1) r = verify(sig, new Uint8Array(0), pk) ? 1 : 0;
  if (c === 2) { sha.reset(); for (let i = 0; i < 64; i++) sha.update(kib); sha.digest(out); }
  if (c === 3) { sha5.reset(); for (let i = 0; i < 64; i++) sha5.update(kib); sha5.digest(out); }
  if (c === 4) r = checkAppHead(head, 288, { chip: 5, version: '1.4.2' }) === undefined ? 1 : 0;
  return new Uint8Array([r]).buffer;
};
`;

export async function bench(): Promise<Record<string, number>> {
  const code = await bundleForXs({ contents: source, resolveDir: root });
  const worker = new XsWorker();
  const crank = async (c: number) => (await worker.deliver(new Uint8Array([c]))).meter.compute;
  let verifyComputrons = 0;
  let shaPerKiB = 0;
  let sha512PerKiB = 0;
  let headCheck = 0;
  try {
    await worker.evaluate(code);
    const baseline = await crank(0);
    await crank(1);
    const runs = 3;
    for (let i = 0; i < runs; i++) verifyComputrons += (await crank(1)) - baseline;
    verifyComputrons /= runs;
    shaPerKiB = ((await crank(2)) - baseline) / 64;
    sha512PerKiB = ((await crank(3)) - baseline) / 64;
    await crank(4);
    headCheck = (await crank(4)) - baseline;
  } finally {
    worker.close();
  }
  const { makeRig, newManifestBytes, NEW_IMAGE, signManifest } = await import('../../test/portable/ota-fixture');
  const { buildAppImage } = await import('../../simulator/ota/esp-image');
  const wrongChip = buildAppImage({ chip: 9, version: '1.1.0', bytes: NEW_IMAGE.length });
  const refusedRig = makeRig();
  refusedRig.server.images.set('/fw/pipewatch.bin', wrongChip);
  refusedRig.updater!.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: wrongChip }));
  refusedRig.run(60_000, () => refusedRig.events.some((e) => e.type === 'failed'));
  let refetched = 0;
  const drops = [1000, 5000, 9000, 13_000, 17_000, 20_500];
  for (const drop of drops) {
    const rig = makeRig();
    rig.server.faults.dropAfterBytes = drop;
    rig.updater!.offer(newManifestBytes());
    rig.run(120_000, () => rig.restartRequested);
    refetched += rig.server.bodyBytesSent - NEW_IMAGE.length;
  }
  return {
    'crypto.ed25519VerifyComputrons': Math.round(verifyComputrons),
    'crypto.sha256ComputronsPerKiB': Math.round(shaPerKiB),
    'crypto.sha512ComputronsPerKiB': Math.round(sha512PerKiB),
    'ota.bytesRefetchedPerInterruption': Math.round(refetched / drops.length),
    'ota.blockBytes': 4096,
    'ota.imageHeadCheckComputrons': Math.round(headCheck),
    'ota.bytesBeforeWrongChipRefusal': refusedRig.server.bodyBytesSent,
    'ota.imageBytesOfferedInThatTest': wrongChip.length,
  };
}
