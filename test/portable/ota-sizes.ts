/*
 * Images of every length modulo the flash alignment install end to end (issue 11, item 4): the
 * last write is padded to the write alignment, and every update target (the simulated
 * bootloader's and the ESP32 slot writer in front of esp_ota) accepts it. Runs on Node and XS.
 */
import { deepEqual, equal, throws } from '../harness/assert';
import { makeRig, signManifest, sizedImage } from './ota-fixture';

function installs(bytes: number): void {
  const rig = makeRig();
  const img = sizedImage(bytes, '1.1.0');
  equal(img.length, bytes, 'image length');
  rig.server.images.set('/fw/pipewatch.bin', img);
  equal(rig.updater!.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: img })), undefined);
  rig.run(120_000, () => rig.restartRequested);
  deepEqual(rig.eventTypes(), ['progress', 'verified', 'rebooting'], `${bytes} bytes`);
  rig.powerOn();
  const running = rig.bootloader.update.running();
  deepEqual({ slot: running.slot, version: running.version, trial: running.trial }, { slot: 1, version: '1.1.0', trial: true }, `${bytes} bytes boots on trial`);
  rig.updater!.noteHealthy({ sensorOk: true, publishAcked: true });
  equal(rig.eventTypes().at(-1), 'confirmed', `${bytes} bytes confirmed`);
}

export const tests = {
  'the simulated target takes writes where esp_ota does: up to the end of the erased block, no further'() {
    const rig = makeRig();
    const target = rig.bootloader.update.open({ byteLength: 4096 + 5001 });
    target.write(new Uint8Array(16).fill(0x11), 4096 + 4992);
    target.write(new Uint8Array(16).fill(0x22), 4096 + 8176);
    throws(() => target.write(new Uint8Array(16), 4096 + 8192), /E_OTA_RANGE/);
    throws(() => rig.bootloader.update.open({ byteLength: 16 * 4096 + 1 }), /E_OTA_SIZE/);
    target.cancel();
  },
  'an image of 4n+1 bytes installs'() {
    installs(21_001);
  },
  'an image of 4n+2 bytes installs'() {
    installs(21_002);
  },
  'an image of 4n+3 bytes installs'() {
    installs(21_003);
  },
  'an image ending 1 byte into a new block installs (the padded write starts a block)'() {
    installs(5 * 4096 + 1);
  },
  'an image of 4n bytes still installs'() {
    installs(21_004);
  },
};
