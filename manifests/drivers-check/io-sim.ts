/*
 * The check's IO in Moddable's desktop simulator (mcsim): the simulated board of simulator/board.ts
 * with the configured part wired to it (sensing the simulated plant), the Moddable timers and
 * Time.ticks of hosts/esp32/runtime. Nothing else is on the buses, so the "wrong" settings find
 * no part.
 */
import config from 'mc/config';
import type { Host } from '../../firmware/host';
import { EpochClock, ModdableTimers, TicksClock } from '../../hosts/esp32/runtime';
import { createBoard } from '../../simulator/board';
import { PipeEnv } from '../../simulator/world';
import type { CheckBoard } from './target';

export interface CheckIo {
  host: Host;
  board: CheckBoard;
  where(bus: string): string;
}

export function checkIo(): CheckIo {
  const part = String(config.part || 'tmp117');
  const seed = 1;
  const monotonic = new TicksClock();
  const start = monotonic.now();
  const board = createBoard([{ part }], (index) => new PipeEnv(() => monotonic.now() - start, seed, 0, index, { seed }), seed);
  const wired = board.sensors[0]!;
  const host: Host = {
    io: { ...board.io, TCP: undefined as never },
    clock: { monotonic, wall: new EpochClock() },
    timers: new ModdableTimers(),
    random: { next: () => 0.5 },
    log: (level, message) => trace(`[${level}] ${message}\n`),
    restart: () => undefined,
  };
  return {
    host,
    board: { spi: { select: wired.select ?? 0 }, onewire: { pin: wired.pin ?? 4 } },
    where: (bus) => `simulated ${bus} bus (mcsim)`,
  };
}
