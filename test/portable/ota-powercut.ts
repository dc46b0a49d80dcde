/*
 * Power cut at every flash operation of an update (clean and torn), MCUboot style: after power
 * comes back the node always boots a verified image, keeps its cache, and a second attempt
 * ends on the new image, confirmed.
 */
import { equal, ok } from '../harness/assert';
import { makeRig, newManifestBytes } from './ota-fixture';
import type { OtaRig } from '../../simulator/ota/rig';

/** The whole update from the offer to the confirmation on the new image. */
function fullUpdate(rig: OtaRig): void {
  if (rig.updater!.state === 'idle' && !rig.bootloader.update.running().trial) {
    if (rig.bootloader.update.running().version === '1.1.0') return;
    rig.updater!.offer(newManifestBytes());
  }
  for (let guard = 0; guard < 5 && rig.bootloader.update.running().trial === false && rig.bootloader.update.running().version !== '1.1.0'; guard++) {
    rig.run(120_000, () => rig.restartRequested);
    if (rig.restartRequested) rig.powerOn();
  }
  if (rig.bootloader.update.running().trial) rig.updater!.noteHealthy({ sensorOk: true, publishAcked: true });
}

function isPowerCut(error: unknown): boolean {
  return (error as { code?: string }).code === 'E_POWER_CUT';
}

/** Cuts at operations offset, offset + stride, ... of a full update; returns how many cuts ran. */
export function sweep(tear: boolean, stride: number, offset = 0): number {
  const probe = makeRig();
  const start = probe.chip.operations;
  fullUpdate(probe);
  equal(probe.bootloader.update.running().version, '1.1.0', 'the uninterrupted update lands');
  const total = probe.chip.operations - start;
  ok(total > 20, `an update takes ${total} flash operations`);
  let cuts = 0;
  for (let at = offset; at < total; at += stride) {
    const rig = makeRig();
    rig.chip.cutAfter(at, { tear, seed: at + 1 });
    let cut = false;
    try {
      fullUpdate(rig);
    } catch (error) {
      if (!isPowerCut(error)) throw error;
      cut = true;
    }
    ok(cut || rig.chip.poweredOff || rig.powerCycles > 0, `operation ${at} was cut`);
    cuts++;
    const out = rig.powerOn();
    ok(out.ok, `cut at operation ${at}${tear ? ' (torn)' : ''}: the node boots`);
    ok(rig.cacheIntact(), `cut at operation ${at}: cache intact`);
    const version = rig.bootloader.update.running().version;
    ok(version === '1.0.0' || version === '1.1.0', `cut at ${at}: runs a known image (${version})`);
    fullUpdate(rig);
    if (rig.bootloader.update.running().trial) rig.updater!.noteHealthy({ sensorOk: true, publishAcked: true });
    rig.powerOn();
    const final = rig.bootloader.update.running();
    if (final.version !== '1.1.0') {
      fullUpdate(rig);
      rig.powerOn();
    }
    equal(rig.bootloader.update.running().version, '1.1.0', `cut at ${at}: the retried update lands`);
    equal(rig.bootloader.update.running().trial, false, `cut at ${at}: confirmed`);
    ok(rig.cacheIntact(), `cut at ${at}: cache intact at the end`);
  }
  return cuts;
}

/* Inside XS a full sweep takes ~40 s, so the portable run samples every 4th operation (clean
 * and torn, interleaved); test/ota-powercut.test.ts runs the full sweeps on Node. */
export const tests = {
  'power cut at every 4th flash operation (clean cut)'() {
    ok(sweep(false, 4, 0) > 5);
  },
  'power cut at every 4th flash operation (torn write or erase)'() {
    ok(sweep(true, 4, 2) > 5);
  },
};
