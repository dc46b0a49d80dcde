/*
 * The host provider inside Moddable's desktop simulator (mcsim): real TCP to a broker through
 * the SDK's ECMA-419 socket, everything else simulated with the portable models of
 * simulator/ (I2C parts sensing the simulated plant, strict NOR flash partitions). The manifest
 * (manifests/sim) maps this host and the simulated devices; the firmware is the same as on ESP32.
 */
import TCP from 'embedded:io/socket/tcp';
import Net from 'net';
import type { FlashProvider, Host, LogLevel } from '../../firmware/host';
import type { SensorConfig } from '../../firmware/sensors/registry';
import { Xoshiro128 } from '../../firmware/util/prng';
import { createBoard, type SimBoard } from '../../simulator/board';
import { SimFlash } from '../../simulator/flash/index';
import { PipeEnv } from '../../simulator/world';
import { EpochClock, ModdableTimers, TicksClock, socketClass, type Resolver } from '../esp32/runtime';

export interface SimHostOptions {
  seed: number;
  sensors: SensorConfig[];
  /** Blocks of 4 KB in the simulated `cache` and `settings` partitions. */
  cacheBlocks: number;
  settingsBlocks: number;
  /** Called (from the event loop) when the firmware asks for a restart. */
  onRestart(): void;
  /**
   * Memory for the cells of a simulated partition. Default: a Uint8Array in the script's heap.
   * The budget build (manifests/budget) passes memory outside the XS heap, because on a board
   * the flash chip is not in RAM.
   */
  storage?: (byteLength: number) => Uint8Array;
}

export interface SimHost extends Host {
  readonly board: SimBoard;
  readonly partitions: Record<string, SimFlash>;
}

const resolve: Resolver = (name, callback) => {
  Net.resolve(name, (_name: string, address?: string) => callback(address || undefined));
};

/** Builds the mcsim host. Simulated flash lives as long as the mcsim process (it survives `restart()`). */
export function createSimHost(o: SimHostOptions, partitions?: Record<string, SimFlash>): SimHost {
  const monotonic = new TicksClock();
  const start = monotonic.now();
  const board = createBoard(o.sensors, (index) => new PipeEnv(() => monotonic.now() - start, o.seed, 0, index, { seed: o.seed }), o.seed);
  const partition = (blocks: number): SimFlash => {
    const geometry = { blocks, blockLength: 4096, writeAlign: 4, eraseValue: 0xff };
    return o.storage ? SimFlash.onStorage(geometry, o.storage(blocks * 4096)) : new SimFlash(geometry);
  };
  const flashes = partitions ?? { cache: partition(o.cacheBlocks), settings: partition(o.settingsBlocks) };
  const flash: FlashProvider = {
    open(options: { path: string }) {
      const partition = flashes[options.path];
      if (!partition) throw new Error(`no flash partition "${options.path}"`);
      return partition;
    },
  };
  const random = new Xoshiro128(o.seed);
  const timers = new ModdableTimers();
  return {
    board,
    partitions: flashes,
    io: {
      I2C: board.io.I2C,
      SMBus: board.io.SMBus,
      TCP: socketClass(TCP as never, resolve),
    },
    flash,
    clock: { monotonic, wall: new EpochClock() },
    timers,
    random,
    log(level: LogLevel, message: string) {
      trace(`[${level}] ${message}\n`);
    },
    restart() {
      timers.set(() => o.onRestart(), 0);
    },
  };
}
