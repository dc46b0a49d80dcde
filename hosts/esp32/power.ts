/*
 * Host.power on an ESP32 (firmware/host.ts PowerControl), over the native sleep.c: retained RTC
 * memory, the timer wake-up cause, deep and light sleep, and the Wi-Fi radio through the host's
 * Network (hosts/esp32/network.ts). Used for the light-sleep and wake-cycle modes; an
 * always-connected node has no Host.power (main.ts).
 *
 * The monotonic clock: the SDK's ticks restart at each boot, so `Esp32SleepClock` adds the
 * offset sleep.c keeps in RTC memory (the ticks at each deep sleep and the time slept): the
 * detector's times run on across deep sleep.
 */
import type { MonotonicClock, PowerControl } from '../../firmware/host';

export const RETAINED_BYTES = 4096;

export interface RadioControl {
  /** Joins; `onJoined` once an IP address is held. */
  up(onJoined: () => void): void;
  down(): void;
}

export class Esp32SleepClock implements MonotonicClock {
  readonly #ticks: MonotonicClock;
  readonly #offset: number;

  constructor(ticks: MonotonicClock) {
    this.#ticks = ticks;
    this.#offset = native('xs_pipewatch_power_clock_offset').call(this) as number;
  }

  now(): number {
    return this.#offset + this.#ticks.now();
  }

  /** This boot's ticks (deepSleep hands them to sleep.c). */
  ticks(): number {
    return this.#ticks.now();
  }
}

export function esp32Power(clock: Esp32SleepClock, radio: RadioControl): PowerControl {
  const retained = new Uint8Array(RETAINED_BYTES);
  const boot = {
    timerWake(): boolean {
      return native('xs_pipewatch_power_wake_cause').call(this) as boolean;
    },
    read(buffer: ArrayBuffer): void {
      native('xs_pipewatch_power_retained_read').call(this, buffer);
    },
  };
  const timer = boot.timerWake();
  if (timer) boot.read(retained.buffer);
  return {
    retained,
    wakeCause: () => (timer ? 'timer' : 'power-on'),
    radioOn: (onJoined) => radio.up(onJoined),
    radioOff: () => radio.down(),
    sleep(mode, ms) {
      if (mode === 'deep') {
        radio.down();
        native('xs_pipewatch_power_retained_write').call(this, retained.buffer);
        native('xs_pipewatch_power_deep_sleep').call(this, ms, clock.ticks());
      } else {
        native('xs_pipewatch_power_light_sleep').call(this, ms);
      }
    },
    autoLightSleep(on) {
      native('xs_pipewatch_power_auto_light_sleep').call(this, on);
    },
  };
}
