/*
 * The Node host: the firmware runs in this Node process. Real TCP (node:net / node:tls),
 * the shared real-or-virtual scheduler for clock and timers, a seeded random source, and the
 * simulated board's buses (or real ones, from hosts/linux) for sensors.
 */
import type { FlashProvider, Host, LogLevel, UpdateProvider } from '../../firmware/host';
import { Xoshiro128 } from '../../firmware/util/prng';
import type { Scheduler } from './scheduler';
import { socketClasses } from './tcp';

/** Virtual wall clock epoch: 2026-01-01T00:00:00Z. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export interface NodeHostOptions {
  scheduler: Scheduler;
  seed: number;
  io?: Partial<Host['io']>;
  flash?: FlashProvider;
  update?: UpdateProvider;
  log?: (level: LogLevel, message: string) => void;
  /** Called by host.restart(). */
  onRestart?: () => void;
}

export function createNodeHost(o: NodeHostOptions): Host {
  const { scheduler } = o;
  const random = new Xoshiro128(o.seed);
  const sockets = socketClasses(scheduler);
  return {
    io: { ...sockets, ...o.io },
    flash: o.flash,
    update: o.update,
    clock: {
      monotonic: { now: () => scheduler.now() },
      wall: {
        now: () => (scheduler.virtual ? VIRTUAL_EPOCH_MS + scheduler.now() : Date.now()),
      },
    },
    timers: {
      set: (callback, ms, repeat) => scheduler.set(callback, ms, repeat),
      clear: (id) => scheduler.clear(id),
    },
    random: { next: () => random.next() },
    log: o.log ?? (() => {}),
    restart: () => o.onRestart?.(),
  };
}
