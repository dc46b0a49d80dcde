/*
 * The Node host: the firmware runs in this Node process. Real TCP (node:net / node:tls),
 * the shared real-or-virtual scheduler for clock and timers, a seeded random source, and the
 * simulated board's buses (or real ones, from hosts/linux) for sensors.
 */
import type { FlashProvider, Host, LogLevel, SystemInfo, UpdateProvider } from '../../firmware/host';
import { Xoshiro128 } from '../../firmware/util/prng';
import type { Scheduler } from './scheduler';
import { socketClasses } from './tcp';
import { udpClass, type UdpRoute } from './udp';
import { createSimPower, guardSockets } from '../../simulator/power-host';

/**
 * What one boot of a simulated node holds on the shared scheduler and the network: `cut()`
 * (power off, for a simulated reboot) clears its timers and resets its sockets at once, so
 * nothing more goes out (the broker publishes the will).
 */
export class PowerDomain {
  readonly #timers = new Set<number>();
  readonly #sockets = new Set<{ abort(): void }>();
  #off = false;

  get off(): boolean {
    return this.#off;
  }

  timer(id: number): number {
    this.#timers.add(id);
    return id;
  }

  forget(id: number | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  socket(socket: { abort(): void }): void {
    if (this.#off) socket.abort();
    else this.#sockets.add(socket);
  }

  cut(scheduler: Scheduler): void {
    this.#off = true;
    for (const id of this.#timers) scheduler.clear(id);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.abort();
    this.#sockets.clear();
  }
}

/** Virtual wall clock epoch: 2026-01-01T00:00:00Z. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export interface NodeHostOptions {
  scheduler: Scheduler;
  seed: number;
  io?: Partial<Host['io']>;
  flash?: FlashProvider;
  update?: UpdateProvider;
  /** What the simulated chip knows about itself (boot count, reset reason); no RSSI: the simulator has no radio link model. */
  system?: SystemInfo;
  log?: (level: LogLevel, message: string) => void;
  /** Called by host.restart(). */
  onRestart?: () => void;
  /** Tracks this boot's timers and sockets, so that a simulated reboot can cut them. */
  power?: PowerDomain;
  /**
   * A simulated radio and sleep control (Host.power, simulator/power-host.ts) whose Wi-Fi join
   * takes `joinMs`; sockets fail while its radio is off. For the duty-cycle modes; absent:
   * no Host.power (always-connected, today's behaviour).
   */
  radio?: { joinMs: number };
  /** Where datagrams to a destination go instead ("224.0.0.251:5353" → a loopback mDNS advertiser). */
  udpRedirect?: ReadonlyMap<string, UdpRoute>;
}

export function createNodeHost(o: NodeHostOptions): Host {
  const { scheduler } = o;
  const random = new Xoshiro128(o.seed);
  const power = o.power;
  const sockets = socketClasses(scheduler, power ? (socket) => power.socket(socket) : undefined);
  const log = o.log ?? (() => {});
  const host: Host = {
    io: { ...sockets, UDP: udpClass(scheduler, o.udpRedirect, power ? (socket) => power.socket(socket) : undefined), ...o.io },
    flash: o.flash,
    update: o.update,
    system: o.system,
    clock: {
      monotonic: { now: () => scheduler.now() },
      wall: {
        now: () => (scheduler.virtual ? VIRTUAL_EPOCH_MS + scheduler.now() : Date.now()),
      },
    },
    timers: {
      set: (callback, ms, repeat) => {
        // A callback that throws is reported in the node's log; the timer goes on (repeating
        // timers stay armed), as on the device (hosts/esp32/runtime.ts).
        const guarded = () => {
          try {
            callback();
          } catch (error) {
            log('error', `timer callback threw: ${(error as Error)?.stack ?? String(error)}`);
          }
        };
        if (!power) return scheduler.set(guarded, ms, repeat);
        if (power.off) return 0;
        const id = scheduler.set(
          () => {
            if (!repeat) power.forget(id);
            guarded();
          },
          ms,
          repeat,
        );
        return power.timer(id);
      },
      clear: (id) => {
        power?.forget(id);
        scheduler.clear(id);
      },
    },
    random: { next: () => random.next() },
    log,
    restart: () => o.onRestart?.(),
  };
  if (o.radio) {
    const simPower = createSimPower(host.timers, o.radio.joinMs);
    host.power = simPower;
    host.io = { ...host.io, ...guardSockets(host.io, simPower) };
  }
  return host;
}
