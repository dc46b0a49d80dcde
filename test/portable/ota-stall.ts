/*
 * A slow image server cannot pin the updater (issue 11, item 5): a tarpit (one byte every
 * 400 ms, never silent long enough for the idle timeout) is cut by the minimum rate, a whole
 * download by the deadline (across reboots), and a newer offer, or the same manifest from
 * another URL, replaces a stalled download. Virtual time; runs on Node and XS.
 */
import { deepEqual, equal, ok } from '../harness/assert';
import type { OtaRig } from '../../simulator/ota/rig';
import { appImage, makeRig, newManifestBytes, NEW_IMAGE, signManifest } from './ota-fixture';

const TARPIT = { bytes: 1, everyMs: 400 };
const MIRROR = 'http://10.0.0.2:8080/fw/mirror.bin';

function running(rig: OtaRig): string {
  const r = rig.bootloader.update.running();
  return `${r.version}${r.trial ? ' trial' : ''}`;
}

function firstTime(rig: OtaRig, match: string, limitMs: number): number {
  const start = rig.loop.now();
  rig.run(limitMs, () => rig.eventTypes().indexOf(match) >= 0);
  ok(rig.eventTypes().indexOf(match) >= 0, `${match} within ${limitMs} ms; events ${rig.eventTypes().join(',')}`);
  return rig.loop.now() - start;
}

export const tests = {
  'a tarpit (1 byte every 400 ms) ends tooSlow within one rate window, then the download gives up'() {
    const rig = makeRig({ updater: { maxRetries: 3 } });
    rig.server.faults.slowDrip = TARPIT;
    equal(rig.updater!.offer(newManifestBytes()), undefined);
    const cut = firstTime(rig, 'interrupted:tooSlow', 120_000);
    ok(cut <= 31_000, `cut after ${cut} ms (rate window 30 s)`);
    const gaveUp = firstTime(rig, 'failed:networkGaveUp', 300_000);
    ok(gaveUp < 4 * 32_000, `gave up after ${gaveUp} ms`);
    ok(rig.server.bodyBytesSent < 400, `${rig.server.bodyBytesSent} bytes dripped in all`);
    equal(rig.restartRequested, false);
    rig.powerOn();
    equal(running(rig), '1.0.0');
    equal(rig.updater!.state, 'idle', 'a reboot does not resume the crawl');
    ok(rig.cacheIntact());
  },
  'a download over the minimum rate but past the deadline fails deadlineExceeded'() {
    const rig = makeRig({ updater: { deadlineMs: 20_000 } });
    rig.server.faults.slowDrip = { bytes: 1460, everyMs: 2000 };
    rig.updater!.offer(newManifestBytes());
    const failedAt = firstTime(rig, 'failed:deadlineExceeded', 120_000);
    ok(failedAt >= 20_000 && failedAt <= 20_100, `failed after ${failedAt} ms`);
    ok(rig.eventTypes().indexOf('interrupted:tooSlow') < 0, '730 B/s is above the minimum rate');
    rig.powerOn();
    equal(running(rig), '1.0.0');
    equal(rig.updater!.state, 'idle');
  },
  'the deadline spans reboots: a resumed download gets only the time left'() {
    const rig = makeRig({ updater: { deadlineMs: 20_000 } });
    rig.server.faults.slowDrip = { bytes: 1460, everyMs: 2000 };
    rig.updater!.offer(newManifestBytes());
    rig.run(13_000);
    ok(rig.updater!.bytesDone >= 8192, `${rig.updater!.bytesDone} bytes done before the reboot`);
    rig.powerOn();
    equal(rig.updater!.state, 'downloading', 'resumed');
    const left = firstTime(rig, 'failed:deadlineExceeded', 60_000);
    ok(left <= 12_000, `failed ${left} ms after the reboot: the time journaled before it counts (20 s without)`);
  },
  'a resumed download already past its deadline fails at boot'() {
    const rig = makeRig({ updater: { deadlineMs: 60_000 } });
    rig.server.faults.slowDrip = { bytes: 1460, everyMs: 2000 };
    rig.updater!.offer(newManifestBytes());
    rig.run(25_000);
    rig.options.updater!.deadlineMs = 20_000;
    rig.powerOn();
    deepEqual(rig.eventTypes().slice(-1), ['failed:deadlineExceeded'], 'the journal says more than 20 s were spent');
    equal(rig.updater!.state, 'idle');
    const requests = rig.server.requests.length;
    rig.run(10_000);
    equal(rig.server.requests.length, requests, 'nothing fetched after the boot');
  },
  'a newer offer replaces a download stuck on a tarpit'() {
    const rig = makeRig();
    rig.server.faults.slowDrip = { ...TARPIT, path: '/fw/pipewatch.bin' };
    rig.updater!.offer(newManifestBytes());
    rig.run(10_000);
    const newer = appImage('1.2.0', 21_000, 9);
    rig.server.images.set('/fw/mirror.bin', newer);
    equal(rig.updater!.offer(signManifest({ version: '1.2.0', securityCounter: 2, image: newer, url: MIRROR })), undefined);
    rig.run(60_000, () => rig.restartRequested);
    deepEqual(rig.eventTypes(), ['failed:superseded', 'progress', 'verified', 'rebooting']);
    equal(rig.events[0]!.type === 'failed' ? rig.events[0]!.version : '', '1.1.0', 'the superseded download is named');
    rig.powerOn();
    equal(running(rig), '1.2.0 trial');
  },
  'the same manifest from another URL replaces a stalled download and keeps the bytes done'() {
    const rig = makeRig();
    rig.server.faults.slowDrip = { ...TARPIT, afterBytes: 9_000, path: '/fw/pipewatch.bin' };
    rig.server.images.set('/fw/mirror.bin', NEW_IMAGE);
    rig.updater!.offer(newManifestBytes());
    rig.run(5_000);
    equal(rig.updater!.bytesDone, 8192);
    equal(rig.updater!.offer(newManifestBytes(), MIRROR), 'busy', 'not stalled yet: a healthy download keeps its URL');
    rig.run(30_000);
    equal(rig.updater!.offer(newManifestBytes(), MIRROR), undefined, 'stalled: the new URL is taken');
    rig.run(60_000, () => rig.restartRequested);
    equal(rig.server.requests.at(-1), '8192-20999', 'resumed at the last block from the mirror');
    equal(rig.updater!.stats.urlReplaced, 1);
    rig.powerOn();
    equal(running(rig), '1.1.0 trial');
  },
  'during a download: the same offer again is a duplicate, an older or equal version is busy'() {
    const rig = makeRig();
    rig.server.faults.slowDrip = TARPIT;
    rig.updater!.offer(newManifestBytes());
    rig.run(2_000);
    equal(rig.updater!.offer(newManifestBytes()), undefined);
    const other = appImage('1.1.0', 20_000, 4);
    equal(rig.updater!.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: other })), 'busy');
    equal(rig.updater!.offer(signManifest({ version: '1.0.5', securityCounter: 2, image: appImage('1.0.5', 20_000, 4) })), 'busy');
    deepEqual(rig.eventTypes(), ['refused:busy', 'refused:busy']);
    equal(rig.updater!.state, 'downloading');
  },
};
