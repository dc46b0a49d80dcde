/*
 * A simulated node's first run (`pipewatch sim --unprovisioned`, issue 16): the node powers on
 * with no Wi-Fi settings and runs the firmware's Improv service (firmware/provision/improv.ts) on a
 * simulated UART (simulator/devices/serial.ts) whose computer end the simulator bridges to a
 * pseudo-terminal. A simulated radio joins the simulated access point after `joinMs` (association
 * and DHCP) when the SSID and password match, and scans it and its neighbours. Once the settings
 * are saved the boot code starts the node proper.
 *
 * Portable: the same file runs in Node (engine node) and inside the XS engine (hosts/xs/guest.ts).
 */
import type { Host } from '../firmware/host';
import { Improv } from '../firmware/provision/improv';
import { SimSerialLink } from './devices/serial';

export interface SimAccessPoint {
  ssid: string;
  /** "" for an open network. */
  password: string;
  /** Simulated association + DHCP time, ms. */
  joinMs: number;
  /** Other networks a scan finds. */
  neighbours?: Array<{ ssid: string; rssi: number; secure: boolean }>;
}

/** The simulated network every simulated node can join. */
export const SIM_ACCESS_POINT: Readonly<SimAccessPoint> = Object.freeze({
  ssid: 'plant-floor',
  password: 'steam-pipes',
  // ESP32 station: association ~1 s, WPA2 4-way handshake and DHCP ~1-2 s on a quiet network.
  joinMs: 2500,
  neighbours: Object.freeze([Object.freeze({ ssid: 'guest', rssi: -74, secure: false })]) as SimAccessPoint['neighbours'],
});

export interface FirstRunConfig {
  ap: SimAccessPoint;
  baud: number;
  /** Device info the node reports (its id, the chip). */
  name: string;
  chip: string;
  version: string;
  /** The station's page for this node, returned after success, if any. */
  url?: string;
}

export interface FirstRunHooks {
  /** Bytes the node transmitted (to the pseudo-terminal). */
  onSerialOut(bytes: Uint8Array): void;
  /** Wi-Fi settings arrived and the join started. */
  onJoin(): void;
  /** Settings saved: start the node. */
  onProvisioned(ssid: string): void;
}

export interface FirstRun {
  /** Bytes from the computer (the pseudo-terminal) to the node's UART. */
  receive(bytes: Uint8Array): void;
  readonly improv: Improv;
  close(): void;
}

export function startFirstRun(host: Pick<Host, 'timers' | 'clock' | 'log'>, config: FirstRunConfig, hooks: FirstRunHooks): FirstRun {
  const link = new SimSerialLink(
    // Whole milliseconds: a host clock counts in them (Time.ticks), and a byte's wire time is a fraction of one.
    { now: () => host.clock.monotonic.now(), set: (callback, ms) => host.timers.set(callback, Math.ceil(ms)), clear: (id) => host.timers.clear(id) },
    { baud: config.baud },
  );
  link.onData = (bytes) => hooks.onSerialOut(bytes);
  let joining: number | undefined;
  const ap = config.ap;
  const improv = new Improv({
    serial: { io: link.classes().Serial, baud: config.baud, transmit: 1, receive: 3 },
    host,
    info: { firmware: 'pipewatch', version: config.version, chip: config.chip, name: config.name },
    connect(ssid, password, done) {
      hooks.onJoin();
      host.timers.clear(joining);
      joining = host.timers.set(() => {
        joining = undefined;
        done(ssid === ap.ssid && password === ap.password);
      }, ap.joinMs);
    },
    cancel() {
      host.timers.clear(joining);
      joining = undefined;
    },
    save: () => true,
    scan(onNetwork, onDone) {
      host.timers.set(() => {
        onNetwork(ap.ssid, -52, ap.password !== '');
        for (const n of ap.neighbours ?? []) onNetwork(n.ssid, n.rssi, n.secure);
        onDone();
      }, 1200);
    },
    url: () => config.url,
    onProvisioned(ssid) {
      host.log('info', `Improv: Wi-Fi "${ssid}" joined and saved; starting`);
      hooks.onProvisioned(ssid);
    },
  });
  improv.announce();
  return {
    receive: (bytes) => link.send(bytes),
    improv,
    close() {
      host.timers.clear(joining);
      improv.close();
    },
  };
}
