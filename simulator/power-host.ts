/*
 * The simulated hosts' power control (Host.power; firmware/host.ts): the states of an ESP32's
 * radio and sleep, with their timing. Portable (it runs inside XS with the firmware, and in
 * Node): it needs only the host's timers.
 *
 * - `radioOn(cb)`: the join (scan, authenticate, associate, DHCP) takes `joinMs`; then `cb`.
 * - while the radio is off, a socket the firmware opens fails at once, as with no IP address
 *   on the device (`guardSockets`): the node must not use the network it has switched off.
 * - `sleep('deep', ms)` records the sleep and returns (the node's RAM is kept here, the
 *   firmware restores from `retained` all the same); `wakeCause()` is then 'timer'.
 * - `retained`: 4 KiB, the ESP32's RTC slow memory is 8 KiB.
 */
import type { Host, PowerControl, TCPConstructor, TCPOptions, TLSSocketConstructor, Timers } from '../firmware/host';

export const SIM_RETAINED_BYTES = 4096;

export interface SimPower extends PowerControl {
  readonly radio: 'off' | 'joining' | 'on';
  readonly joins: number;
  readonly deepSleeps: number;
}

export function createSimPower(timers: Timers, joinMs: number): SimPower {
  let radio: 'off' | 'joining' | 'on' = 'off';
  let joins = 0;
  let deepSleeps = 0;
  let slept = false;
  let joinTimer: number | undefined;
  // At most a few callers wait for one join (the node's window); a fixed list.
  const waiting: Array<() => void> = [];
  const retained = new Uint8Array(SIM_RETAINED_BYTES);
  const power: SimPower = {
    get radio() {
      return radio;
    },
    get joins() {
      return joins;
    },
    get deepSleeps() {
      return deepSleeps;
    },
    retained,
    wakeCause: () => (slept ? 'timer' : 'power-on'),
    radioOn(onJoined) {
      if (radio === 'on') {
        timers.set(onJoined, 0);
        return;
      }
      if (waiting.length < 4) waiting.push(onJoined);
      if (radio === 'joining') return;
      radio = 'joining';
      joins++;
      joinTimer = timers.set(() => {
        joinTimer = undefined;
        radio = 'on';
        const list = waiting.splice(0, waiting.length);
        for (const cb of list) cb();
      }, joinMs);
    },
    radioOff() {
      timers.clear(joinTimer);
      joinTimer = undefined;
      waiting.length = 0;
      radio = 'off';
    },
    sleep(mode) {
      if (mode === 'deep') {
        deepSleeps++;
        slept = true;
      }
    },
    autoLightSleep() {},
  };
  return power;
}

/** Socket classes that refuse to open while the simulated radio is off. */
export function guardSockets(io: Host['io'], power: SimPower): Pick<Host['io'], 'TCP' | 'TLSSocket'> {
  const guard = <C extends TCPConstructor | TLSSocketConstructor>(Inner: C | undefined): C | undefined => {
    if (!Inner) return undefined;
    return class {
      constructor(options: TCPOptions) {
        if (power.radio !== 'on') throw new Error('no network: the radio is off');
        return new (Inner as TCPConstructor)(options);
      }
    } as unknown as C;
  };
  return { TCP: guard(io.TCP)!, TLSSocket: guard(io.TLSSocket) };
}
