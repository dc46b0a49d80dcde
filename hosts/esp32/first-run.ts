/*
 * Improv Wi-Fi over serial on an ESP32 (issue 16): the portable Improv service
 * (firmware/provision/improv.ts) over the SDK's `embedded:io/serial` on the board's console UART,
 * joining with the SDK's `wifi` module.
 *
 * Which UART. Moddable's runtime owns UART0 only in builds with the debugger or instrumentation
 * (`mcconfig -d`, `-i`): tools/mcconfig/make.esp32.mk then links lib/debugger/debugger_uart.c,
 * whose setupDebugger() installs the UART0 driver (uart_driver_install) and marks its pins used
 * (builtinUsePin: ESP32 TX 1 / RX 3, ESP32-S3 43/44, ESP32-C3 21/20). A release build
 * (`npm run build`, no -d) links lib/debugger/debugger_none.c instead: setupDebugger() does
 * nothing, trace() goes nowhere, and the SDK's release sdkconfig
 * (xsProj-esp32/sdkconfig.defaults.release) sets CONFIG_ESP_CONSOLE_NONE and no ROM console. So
 * in a release build UART0 — the pins behind the board's USB-serial bridge, the port ESP Web
 * Tools opens — is free for `embedded:io/serial` (modules/io/serial/esp32/serial.c checks
 * `builtinIsPinFree` for each pin, "in use", and `uart_is_driver_installed`, "port in use"). In a
 * debug build the constructor throws and the node says so and runs without Improv.
 *
 * Config (manifests/esp32/manifest.json): `improv` 1 turns it on (0 off), `improvBaud` (115200,
 * as ESP Web Tools opens the port); the pins are the board's `config.board.console`.
 *
 * After the settings are saved the node restarts (1 s later, so the RPC result with the URL
 * drains from the 128-byte FIFO first) and boots provisioned: one boot path for every node.
 */
import Serial from 'embedded:io/serial';
import WiFi from 'wifi';
import type { Host, SerialConstructor } from '../../firmware/host';
import { Improv, type ImprovDeviceInfo } from '../../firmware/provision/improv';
import { Network } from './network';

/** Between join attempts while the network is not found yet. */
const RETRY_MS = 3000;

export interface ConsoleUart {
  port: number;
  transmit: number;
  receive: number;
}

export interface FirstRunOptions {
  host: Host;
  uart: ConsoleUart;
  baud: number;
  info: ImprovDeviceInfo;
  /** The node has working Wi-Fi settings already. */
  provisioned: boolean;
  /** Stores the Wi-Fi settings that joined (with the build's broker and the MAC device id); false when refused. */
  save(ssid: string, password: string): boolean;
  url(): string | undefined;
}

/** Starts Improv on the console UART; undefined (logged) when the UART is not free (a debug build). */
export function startImprov(o: FirstRunOptions): Improv | undefined {
  const { host } = o;
  let monitor: WiFi | undefined;
  const stopJoin = () => {
    monitor?.close();
    monitor = undefined;
  };
  try {
    const improv = new Improv({
      serial: { io: Serial as unknown as SerialConstructor, baud: o.baud, port: o.uart.port, transmit: o.uart.transmit, receive: o.uart.receive },
      host,
      info: o.info,
      provisioned: o.provisioned,
      connect(ssid, password, done) {
        stopJoin();
        Network.initStation();
        const credentials = password ? { ssid, password } : { ssid };
        let retry: number | undefined;
        monitor = new WiFi(credentials, (message: string, value?: number) => {
          if (message === WiFi.gotIP) {
            host.timers.clear(retry);
            stopJoin();
            done(true);
          } else if (message === WiFi.disconnected) {
            // xs6wifi.c: -1 = the password was rejected; anything else (no AP found yet) is tried
            // again until Improv's own time-out cancels the attempt.
            if (value === -1) {
              stopJoin();
              done(false);
            } else if (retry === undefined && monitor) {
              retry = host.timers.set(() => {
                retry = undefined;
                if (monitor) WiFi.connect(credentials);
              }, RETRY_MS);
            }
          }
        });
      },
      cancel() {
        stopJoin();
        WiFi.disconnect();
      },
      save: (ssid, password) => o.save(ssid, password),
      scan(onNetwork, onDone) {
        WiFi.scan({}, (item: { ssid: string; rssi: number; authentication?: string } | null) => {
          if (item) onNetwork(item.ssid, item.rssi, item.authentication !== undefined && item.authentication !== 'none');
          else onDone();
        });
      },
      url: () => o.url(),
      onProvisioned(ssid) {
        host.log('info', `Improv: Wi-Fi "${ssid}" joined and saved; restarting provisioned`);
        host.timers.set(() => host.restart(), 1000);
      },
    });
    improv.announce();
    host.log('info', `Improv Wi-Fi on UART${o.uart.port} (TX ${o.uart.transmit}, RX ${o.uart.receive}) at ${o.baud} baud`);
    return improv;
  } catch (error) {
    host.log('warn', `Improv off: UART${o.uart.port} not free (${(error as Error).message}); a debug build (mcconfig -d) keeps it for xsbug`);
    return undefined;
  }
}
