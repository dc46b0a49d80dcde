/*
 * A simulated node for OTA: one SimFlash chip (boot state, slot A, slot B, "ota" journal,
 * "cache"), the simulated bootloader, the Updater, a virtual loop and a simulated image server.
 * `powerOn()` boots like the real part (power back after a cut: a fresh view of the same bits);
 * `runUntilSettled()` drives the loop and performs restarts the firmware asks for.
 * Portable: used by the tests on Node and inside XS, and by the simulator.
 */
import { SimFlash } from '../flash/index';
import { partitionChip, type Partition } from './partition';
import { SimBootloader, type BootOutcome } from './bootloader';
import { VirtualLoop } from './loop';
import { SimImageServer } from './image-server';
import { Updater, type OtaEvent, type UpdaterOptions } from '../../firmware/ota/updater';
import { SLOT_HEADER_BYTES } from '../../firmware/ota/slot';

export interface OtaRigOptions {
  publicKey: Uint8Array;
  board: string;
  slotBlocks?: number;
  /** Factory image: signed manifest and image bytes, in slot A. */
  factory: { manifest: Uint8Array; image: Uint8Array; securityCounter: number };
  updater?: Partial<Omit<UpdaterOptions, 'io' | 'timers' | 'clock' | 'update' | 'flash' | 'restart' | 'onEvent'>>;
}

const LAYOUT = (slotBlocks: number) => [
  { name: 'boot', blocks: 2 },
  { name: 'slotA', blocks: slotBlocks },
  { name: 'slotB', blocks: slotBlocks },
  { name: 'ota', blocks: 3 },
  { name: 'cache', blocks: 4 },
];

export class OtaRig {
  readonly loop = new VirtualLoop();
  readonly server: SimImageServer;
  chip: SimFlash;
  partitions!: Map<string, Partition>;
  bootloader!: SimBootloader;
  updater: Updater | undefined;
  outcome!: BootOutcome;
  readonly events: OtaEvent[] = [];
  restartRequested = false;
  boots = 0;
  /** Power-ons that found the power had been cut (the chip was rebooted). */
  powerCycles = 0;
  readonly slotBlocks: number;

  constructor(readonly options: OtaRigOptions) {
    this.slotBlocks = options.slotBlocks ?? 16;
    const blocks = LAYOUT(this.slotBlocks).reduce((n, p) => n + p.blocks, 0);
    this.chip = new SimFlash({ blocks, blockLength: 4096, writeAlign: 4 });
    this.server = new SimImageServer(this.loop);
    this.layout();
    this.bootloader.provision(0, options.factory.manifest, options.factory.image);
    const cache = this.partitions.get('cache')!;
    const pattern = new Uint8Array(4096);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7) & 0xff;
    cache.write(pattern, 0);
  }

  private layout(): void {
    const { partitions } = partitionChip(this.chip, LAYOUT(this.slotBlocks));
    this.partitions = partitions;
    this.bootloader = new SimBootloader({
      state: partitions.get('boot')!,
      slots: [partitions.get('slotA')!, partitions.get('slotB')!],
      publicKey: this.options.publicKey,
      board: this.options.board,
    });
  }

  /** Whether the cache partition still holds what the factory wrote. */
  cacheIntact(): boolean {
    const bytes = this.chip.peekBytes((2 + 2 * this.slotBlocks + 3) * 4096, 4096);
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== ((i * 7) & 0xff)) return false;
    return true;
  }

  /** Power on (or back on): boot a slot, start the firmware's updater. */
  powerOn(): BootOutcome {
    this.updater?.close();
    this.loop.reset();
    this.restartRequested = false;
    if (this.chip.poweredOff) {
      this.chip = this.chip.reboot();
      this.powerCycles++;
    }
    this.layout();
    this.boots++;
    this.outcome = this.bootloader.boot();
    if (!this.outcome.ok) {
      this.updater = undefined;
      return this.outcome;
    }
    const running = this.outcome.manifest;
    const slotBytes = this.slotBlocks * 4096;
    this.updater = new Updater({
      io: { TCP: this.server.tcp() },
      timers: this.loop,
      clock: this.loop,
      update: this.bootloader.update,
      flash: this.partitions.get('ota')!,
      publicKey: this.options.publicKey,
      board: this.options.board,
      securityCounter: running.securityCounter,
      maxImageBytes: slotBytes - SLOT_HEADER_BYTES,
      restart: () => {
        this.restartRequested = true;
      },
      onEvent: (event) => this.events.push(event),
      retryMs: 1000,
      timeoutMs: 5000,
      ...this.options.updater,
    });
    this.updater.boot();
    return this.outcome;
  }

  /** Runs the loop for up to `ms` of virtual time, performing requested restarts. */
  run(ms: number, stop?: () => boolean): void {
    const end = this.loop.now() + ms;
    while (this.loop.now() < end) {
      this.loop.run(end - this.loop.now(), () => this.restartRequested || (stop ? stop() : false));
      if (stop && stop()) return;
      if (this.restartRequested) this.powerOn();
    }
  }

  eventTypes(): string[] {
    return this.events.map((e) => ('reason' in e ? `${e.type}:${e.reason}` : e.type));
  }
}
