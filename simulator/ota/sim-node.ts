/*
 * The OTA hardware of one simulated node, as the simulator runner keeps it across reboots:
 * one flash chip holding the boot state (2 blocks), slot A and slot B (`slotBlocks` each) and
 * the firmware's "ota" journal partition (3 blocks), plus the simulated bootloader over them.
 * The node's other partitions ("cache", "settings") stay where the runner keeps them.
 *
 * Simulator feature, test markers: a simulated image is opaque bytes; when the booted image
 * contains the ASCII marker `PIPEWATCH-SIM-FAULT:broker` the simulator host gives that boot an
 * unreachable broker address; with `PIPEWATCH-SIM-FAULT:sensor` the simulated board's parts do
 * not answer on their buses. This models a new image that boots but cannot reach the broker, or
 * whose sensor driver fails, so that rollback can be tested end to end. Only the simulator reads
 * the markers (at boot, from the slot); no firmware code path looks for them.
 * Portable (no Node APIs).
 */
import type { Flash, FlashProvider } from '../../firmware/host';
import { SLOT_IMAGE_OFFSET } from '../../firmware/ota/slot';
import { versionText } from '../../firmware/ota/manifest';
import { SimFlash } from '../flash/index';
import { partitionChip, type Partition } from './partition';
import { SimBootloader, type BootOutcome } from './bootloader';

export type SimImageFault = 'broker' | 'sensor' | undefined;
export const SIM_FAULT_MARKER = 'PIPEWATCH-SIM-FAULT:';

export interface SimOtaHardwareOptions {
  publicKey: Uint8Array;
  board: string;
  /** Blocks of 4 KiB per slot (default 16: 64 KiB, the image may take 60 KiB). */
  slotBlocks?: number;
  factory: { manifest: Uint8Array; image: Uint8Array };
}

export interface SimBoot {
  outcome: BootOutcome;
  version: string;
  trial: boolean;
  fault: SimImageFault;
}

export class SimOtaHardware {
  readonly chip: SimFlash;
  readonly bootloader: SimBootloader;
  readonly partitions: Map<string, Partition>;
  readonly slotBlocks: number;
  lastBoot: SimBoot | undefined;

  constructor(options: SimOtaHardwareOptions) {
    this.slotBlocks = options.slotBlocks ?? 16;
    const layout = [
      { name: 'boot', blocks: 2 },
      { name: 'slotA', blocks: this.slotBlocks },
      { name: 'slotB', blocks: this.slotBlocks },
      { name: 'ota', blocks: 3 },
    ];
    this.chip = new SimFlash({ blocks: layout.reduce((n, p) => n + p.blocks, 0), blockLength: 4096, writeAlign: 4 });
    this.partitions = partitionChip(this.chip, layout).partitions;
    this.bootloader = new SimBootloader({
      state: this.partitions.get('boot')!,
      slots: [this.partitions.get('slotA')!, this.partitions.get('slotB')!],
      publicKey: options.publicKey,
      board: options.board,
    });
    this.bootloader.provision(0, options.factory.manifest, options.factory.image);
  }

  /** The firmware's journal partition. */
  get otaPartition(): Flash {
    return this.partitions.get('ota')!;
  }

  /** A provider serving "ota" from this chip and every other partition from `others`. */
  provider(others: FlashProvider): FlashProvider {
    return {
      open: ({ path }) => (path === 'ota' ? this.otaPartition : others.open({ path })),
    };
  }

  /** Power-on: the bootloader picks (and may roll back) a slot; the simulator reads its markers. */
  boot(): SimBoot {
    const outcome = this.bootloader.boot();
    let boot: SimBoot = { outcome, version: '', trial: false, fault: undefined };
    if (outcome.ok) {
      boot = {
        outcome,
        version: versionText(outcome.manifest.version),
        trial: outcome.trial,
        fault: this.#fault(outcome.slot, outcome.manifest.imageBytes),
      };
    }
    this.lastBoot = boot;
    return boot;
  }

  #fault(slot: number, imageBytes: number): SimImageFault {
    const flash = this.partitions.get(slot === 0 ? 'slotA' : 'slotB')!;
    const image = new Uint8Array(imageBytes);
    flash.read(image, SLOT_IMAGE_OFFSET);
    const marker = SIM_FAULT_MARKER;
    outer: for (let i = 0; i + marker.length < image.length; i++) {
      for (let k = 0; k < marker.length; k++) if (image[i + k] !== marker.charCodeAt(k)) continue outer;
      const rest = String.fromCharCode(...image.subarray(i + marker.length, i + marker.length + 6));
      if (rest === 'broker') return 'broker';
      if (rest === 'sensor') return 'sensor';
    }
    return undefined;
  }
}
