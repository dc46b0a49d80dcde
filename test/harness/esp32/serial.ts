/*
 * Strict model of the SDK's ESP32 `embedded:io/serial` (modules/io/serial/esp32/serial.c) and of
 * what the runtime does to UART0 before main (build/devices/esp32/lib/debugger/*.c).
 *
 * xs_serial_constructor, in the C code's order:
 * - `transmit` present: builtinGetPin, then builtinIsPinFree or Error "in use";
 * - `receive` present: likewise; neither present: Error "invalid";
 * - `port` present: builtinGetSignedInteger, outside 0..UART_NUM_MAX-1 RangeError "invalid port";
 * - `baud` (xsmcToInteger, so absent is 0): outside 1..20 000 000 RangeError "invalid baud";
 * - callbacks: builtinGetCallback (a non-callable is an error);
 * - format: builtinInitializeFormat; other than "number"/"buffer" RangeError "invalid format"
 *   ("number" is refused by this model with a model error: pipewatch uses "buffer" only);
 * - uart_is_driver_installed(port): RangeError "port in use";
 * - then both pins are marked used (builtinUsePin) until close.
 * Reads, writes and callbacks follow simulator/devices/serial.ts (the same file's rules), on the
 * device's clock: a UART link per port, the computer's end of UART0 being the board's
 * USB-serial bridge.
 *
 * The runtime's start-up (setupDebugger): a build with the debugger or instrumentation
 * (mcconfig -d / -i: debugger_uart.c) installs the UART0 driver and marks the console pins used;
 * a release build (debugger_none.c) touches nothing. `debugBuild` picks which.
 */
import { SimSerialLink, SimSerialPort, type SimSerialClock } from '../../../simulator/devices/serial';
import type { SerialOptions } from '../../../firmware/host';
import { getPin, getSignedInteger, toInteger } from './chip';
import type { Esp32Device } from './device';

type Options = Record<string, unknown>;

function has(options: Options, key: string): boolean {
  return options !== null && typeof options === 'object' && key in options;
}

/** builtinGetCallback: undefined/null = none; anything else must be callable. */
function callbackOf(options: Options, key: string): ((...args: unknown[]) => void) | undefined {
  const value = options[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function') throw new Error('not a function');
  return value as (...args: unknown[]) => void;
}

/** The device's clock and timers for a UART link (callbacks run as host callbacks: a throw aborts). */
function deviceClock(device: Esp32Device): SimSerialClock {
  let next = 1;
  const timers = new Map<number, ReturnType<typeof setTimeout>>();
  device.onHalt(() => {
    for (const t of timers.values()) clearTimeout(t);
    timers.clear();
  });
  return {
    now: () => device.uptime(),
    set(callback, ms) {
      const id = next++;
      if (device.halted) return id;
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          device.callback(callback);
        }, Math.max(0, ms)),
      );
      return id;
    },
    clear(id) {
      if (id === undefined) return;
      const t = timers.get(id);
      if (t) clearTimeout(t);
      timers.delete(id);
    },
  };
}

export function serialModels(device: Esp32Device, o: { debugBuild?: boolean; baud?: number } = {}) {
  const { chip, pins } = device;
  const clock = deviceClock(device);
  const links = new Map<number, SimSerialLink>();
  const linkOf = (port: number): SimSerialLink => {
    let link = links.get(port);
    if (!link) links.set(port, (link = new SimSerialLink(clock, { baud: o.baud ?? 115200 })));
    return link;
  };
  /** uart_is_driver_installed: by the debugger's setup (UART0 in a debug build) or an open Serial. */
  const installed = new Set<number>();
  if (o.debugBuild) {
    installed.add(0);
    pins.use(chip.consoleUart.transmit);
    pins.use(chip.consoleUart.receive);
  }
  const stats = { opened: 0, refused: [] as string[] };

  class Serial {
    #port: SimSerialPort | undefined;
    #uart = 0;
    #pins: number[] = [];

    constructor(options: Options) {
      try {
        let transmit: number | undefined;
        let receive: number | undefined;
        if (has(options, 'transmit')) {
          transmit = getPin(options.transmit);
          if (!pins.isFree(transmit)) throw new Error('in use');
        }
        if (has(options, 'receive')) {
          receive = getPin(options.receive);
          if (!pins.isFree(receive)) throw new Error('in use');
        } else if (transmit === undefined) throw new Error('invalid');
        let uart = 0;
        if (has(options, 'port')) {
          uart = getSignedInteger(options.port);
          if (uart < 0 || uart >= chip.uarts) throw new RangeError('invalid port');
        }
        const baud = toInteger(options.baud);
        if (baud <= 0 || baud > 20_000_000) throw new RangeError('invalid baud');
        const onReadable = callbackOf(options, 'onReadable');
        const onWritable = callbackOf(options, 'onWritable');
        if (has(options, 'format') && options.format) {
          const format = String(options.format);
          if (format === 'number') throw new Error('model: format "number" is not modelled (pipewatch reads buffers)');
          if (format !== 'buffer') throw new RangeError('invalid format');
        }
        if (installed.has(uart)) throw new RangeError('port in use');
        const self = this;
        const portOptions: SerialOptions = {
          baud,
          port: 0,
          ...(transmit !== undefined ? { transmit } : {}),
          ...(receive !== undefined ? { receive } : {}),
          ...(onReadable && receive !== undefined ? { onReadable: (count: number) => onReadable.call(self, count) } : {}),
          ...(onWritable && transmit !== undefined ? { onWritable: (count: number) => onWritable.call(self, count) } : {}),
        };
        this.#port = new SimSerialPort(linkOf(uart), portOptions);
        this.#uart = uart;
        installed.add(uart);
        for (const pin of [transmit, receive]) {
          if (pin === undefined) continue;
          pins.use(pin);
          this.#pins.push(pin);
        }
        stats.opened++;
      } catch (error) {
        stats.refused.push((error as Error).message);
        throw error;
      }
    }

    #open(): SimSerialPort {
      if (!this.#port) throw new Error('closed');
      return this.#port;
    }

    read(arg?: number | ArrayBuffer | ArrayBufferView): ArrayBuffer | number | undefined {
      return this.#open().read(arg as never);
    }

    write(buffer: ArrayBuffer | ArrayBufferView): void {
      this.#open().write(buffer);
    }

    close(): void {
      if (!this.#port) return;
      this.#port.close();
      this.#port = undefined;
      installed.delete(this.#uart);
      for (const pin of this.#pins) pins.free(pin);
      this.#pins = [];
    }
  }

  return {
    Serial,
    stats,
    /** The computer's end of a UART (UART0: the board's USB-serial bridge). */
    link: linkOf,
  };
}
