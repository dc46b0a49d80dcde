/*
 * The whole OTA flow on a simulated node (virtual time, simulated flash, bootloader and image
 * server): the good update, each bad update refused or failed with its reason and the node
 * still healthy, resume after a dropped connection and after a reboot, and the health check
 * with rollback. Runs on Node and inside XS.
 */
import { equal, ok, deepEqual } from '../harness/assert';
import type { OtaRig } from '../../simulator/ota/rig';
import { image, IMAGE_URL, makeRig, newManifestBytes, NEW_IMAGE, otherKey, resign, signManifest } from './ota-fixture';

/** Runs until the node asked to restart (or the time is up), then reboots it. */
/** Slot, version and trial flag of the running image (running() also says its security counter). */
function runningImage(rig: OtaRig): { slot: number; version: string; trial: boolean } {
  const { slot, version, trial } = rig.bootloader.update.running();
  return { slot, version, trial };
}

function downloadAndReboot(rig: OtaRig, ms = 120_000): void {
  rig.run(ms, () => rig.restartRequested);
  ok(rig.restartRequested, `the node asked to reboot; events ${rig.eventTypes().join(',')}`);
  rig.powerOn();
}

/** Still on the factory image, not on trial, nothing pending, cache untouched. */
function healthyOnFactory(rig: OtaRig, label: string): void {
  const out = rig.powerOn();
  ok(out.ok, `${label}: boots`);
  if (!out.ok) return;
  equal(out.slot, 0, `${label}: factory slot`);
  equal(out.trial, false, `${label}: not on trial`);
  deepEqual(runningImage(rig), { slot: 0, version: '1.0.0', trial: false }, label);
  ok(rig.cacheIntact(), `${label}: cache intact`);
  equal(rig.updater!.state, 'idle', `${label}: updater idle after reboot`);
}

function refusedWith(offer: Uint8Array, reason: string, url?: string): void {
  const rig = makeRig();
  const ops = rig.chip.operations;
  equal(rig.updater!.offer(offer, url), reason);
  deepEqual(rig.eventTypes(), [`refused:${reason}`]);
  equal(rig.chip.operations, ops, `${reason}: a refused offer writes nothing`);
  equal(rig.server.requests.length, 0, `${reason}: nothing downloaded`);
  healthyOnFactory(rig, reason);
}

function failedWith(rig: OtaRig, reason: string): void {
  rig.run(60_000, () => rig.events.some((e) => e.type === 'failed'));
  const failed = rig.events.find((e) => e.type === 'failed');
  equal(failed && 'reason' in failed ? failed.reason : 'none', reason);
  equal(rig.restartRequested, false, `${reason}: no reboot`);
  healthyOnFactory(rig, reason);
}

export const tests = {
  'good update: download, verify, trial boot, health check, confirm'() {
    const rig = makeRig();
    equal(rig.updater!.offer(newManifestBytes()), undefined);
    downloadAndReboot(rig);
    deepEqual(runningImage(rig), { slot: 1, version: '1.1.0', trial: true });
    equal(rig.updater!.state, 'trial');
    rig.run(30_000);
    rig.updater!.noteHealthy({ sensorOk: true });
    equal(rig.updater!.state, 'trial', 'one kind of evidence is not enough');
    rig.updater!.noteHealthy({ publishAcked: true });
    deepEqual(rig.eventTypes(), ['progress', 'verified', 'rebooting', 'confirmed']);
    rig.run(200_000);
    rig.powerOn();
    deepEqual(runningImage(rig), { slot: 1, version: '1.1.0', trial: false });
    equal(rig.bootloader.update.running().securityCounter, 2, 'running() says the security counter of the booted manifest');
    ok(rig.cacheIntact());
    deepEqual(rig.server.requests, ['0-20999']);
  },
  'refused before download: wrong board, downgrade, same version, counter rollback, oversized'() {
    refusedWith(signManifest({ board: 'esp32-s3-tmp117', version: '1.1.0' }), 'wrongBoard');
    refusedWith(signManifest({ version: '0.9.0', securityCounter: 1 }), 'downgrade');
    refusedWith(signManifest({ version: '1.0.0', securityCounter: 1 }), 'sameVersion');
    refusedWith(signManifest({ version: '1.2.0', securityCounter: 0 }), 'counterRollback');
    refusedWith(signManifest({ version: '1.2.0', imageBytes: 16 * 4096, image: NEW_IMAGE }), 'oversized');
  },
  'refused before download: bad signature, unsigned, another key, fields out of range, bad URL'() {
    const flipped = newManifestBytes().slice();
    flipped[flipped.length - 1]! ^= 0x80;
    refusedWith(flipped, 'badSignature');
    const unsigned = newManifestBytes().slice();
    unsigned.fill(0, unsigned.length - 64);
    refusedWith(unsigned, 'badSignature');
    refusedWith(signManifest({ version: '1.1.0', image: NEW_IMAGE }, otherKey()), 'badSignature');
    const reserved = newManifestBytes().slice();
    reserved[5] = 1;
    refusedWith(resign(reserved), 'reservedNotZero');
    refusedWith(newManifestBytes().subarray(0, 100), 'tooShort');
    refusedWith(newManifestBytes(), 'badUrl', 'ftp://10.0.0.2/x');
    refusedWith(signManifest({ version: '1.1.0', image: NEW_IMAGE, url: '' }), 'noUrl');
  },
  'corrupted image: digest mismatch before complete(), nothing switched'() {
    const rig = makeRig();
    const corrupt = NEW_IMAGE.slice();
    corrupt[12_345]! ^= 0x10;
    rig.server.images.set('/fw/pipewatch.bin', corrupt);
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'digestMismatch');
  },
  'truncated image on the server: refused by Content-Range / 416'() {
    const rig = makeRig();
    rig.server.images.set('/fw/pipewatch.bin', NEW_IMAGE.subarray(0, 20_000));
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'badContentRange');
  },
  'server answers 200 instead of 206: refused'() {
    const rig = makeRig();
    rig.server.faults.ignoreRange = true;
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'rangeIgnored');
  },
  'server lies about the total size: refused'() {
    const rig = makeRig();
    rig.server.faults.lieTotal = 1_000_000;
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'badContentRange');
  },
  'image missing on the server (404): refused'() {
    const rig = makeRig();
    rig.server.images.clear();
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'httpStatus');
  },
  'dropped connection: resumes at the last block, re-fetching less than one block'() {
    const rig = makeRig();
    rig.server.faults.dropAfterBytes = 10_000;
    rig.updater!.offer(newManifestBytes());
    downloadAndReboot(rig);
    deepEqual(rig.server.requests, ['0-20999', '8192-20999']);
    const stats = rig.events.filter((e) => e.type === 'interrupted');
    equal(stats.length, 1);
    equal(rig.server.bodyBytesSent - NEW_IMAGE.length, 10_000 - 8192, 'bytes re-downloaded');
    deepEqual(runningImage(rig), { slot: 1, version: '1.1.0', trial: true });
  },
  'reboot mid-download: resumes from the journal'() {
    const rig = makeRig();
    rig.server.faults.stallAfterBytes = 13_000;
    rig.updater!.offer(newManifestBytes());
    rig.run(2_000);
    equal(rig.updater!.bytesDone, 12_288);
    rig.powerOn();
    equal(rig.updater!.state, 'downloading');
    rig.server.faults.stallAfterBytes = undefined;
    downloadAndReboot(rig);
    deepEqual(rig.server.requests, ['0-20999', '12288-20999']);
    deepEqual(runningImage(rig), { slot: 1, version: '1.1.0', trial: true });
    equal(rig.updater!.stats.resumes, 0, 'a fresh updater after the trial reboot');
  },
  'network gone for good: gives up after the retries, node healthy'() {
    const rig = makeRig({ updater: { maxRetries: 3 } });
    rig.server.faults.down = true;
    rig.updater!.offer(newManifestBytes());
    failedWith(rig, 'networkGaveUp');
  },
  'new image cannot reach the broker: rolled back after the health window'() {
    const rig = makeRig();
    rig.updater!.offer(newManifestBytes());
    downloadAndReboot(rig);
    rig.updater!.noteHealthy({ sensorOk: true });
    rig.run(119_000);
    equal(rig.bootloader.update.running().trial, true);
    rig.run(2_000);
    deepEqual(runningImage(rig), { slot: 0, version: '1.0.0', trial: false });
    const types = rig.eventTypes();
    deepEqual(types.slice(-2), ['failed:healthCheckTimeout', 'rolledBack']);
    ok(rig.cacheIntact());
  },
  'new image whose sensor fails: rolled back'() {
    const rig = makeRig();
    rig.updater!.offer(newManifestBytes());
    downloadAndReboot(rig);
    rig.updater!.noteHealthy({ publishAcked: true, sensorOk: false });
    rig.run(125_000);
    deepEqual(runningImage(rig), { slot: 0, version: '1.0.0', trial: false });
    ok(rig.eventTypes().indexOf('rolledBack') >= 0);
    equal(rig.updater!.offer(newManifestBytes()), undefined, 'the update may be offered again');
  },
  'a trial image that crashes before its health check is rolled back at the next boot'() {
    const rig = makeRig();
    rig.updater!.offer(newManifestBytes());
    downloadAndReboot(rig);
    rig.run(1_000);
    rig.powerOn();
    deepEqual(runningImage(rig), { slot: 0, version: '1.0.0', trial: false });
    equal(rig.bootloader.counters.rollbacks, 1);
    ok(rig.eventTypes().indexOf('rolledBack') >= 0);
  },
  'a slot that fails verification at boot is never run'() {
    const rig = makeRig();
    rig.updater!.offer(newManifestBytes());
    rig.run(60_000, () => rig.restartRequested);
    rig.chip.bitFlip((2 + 16) * 4096 + 4096 + 100, 3);
    rig.powerOn();
    deepEqual(runningImage(rig), { slot: 0, version: '1.0.0', trial: false });
    ok(rig.eventTypes().indexOf('rolledBack') >= 0);
  },
  'offers during a trial are refused'() {
    const rig = makeRig();
    rig.updater!.offer(newManifestBytes());
    downloadAndReboot(rig);
    equal(rig.updater!.offer(signManifest({ version: '1.2.0', securityCounter: 2, image: image(100, 5) })), 'onTrial');
    ok(IMAGE_URL.length > 0);
  },
};
