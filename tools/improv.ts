/*
 * `pipewatch provision --port /dev/ttyUSB0 [--ssid S --password P] [--baud 115200]`: Wi-Fi
 * settings for a node over its USB serial port, with the Improv Wi-Fi serial protocol
 * (https://www.improv-wifi.com/serial/) that the firmware speaks (firmware/provision/improv.ts),
 * through the `serialport` package. Asks for what is missing (a network from the node's own scan,
 * then its password) when standard input is a terminal; prints the node's id and its URL.
 * The esptool path (`npm run provision`, tools/moddable.ts) stays for factory provisioning.
 *
 * Exit codes (tools/args.ts conventions): 0 provisioned; 1 (Failure) the port cannot be opened, the
 * node refused or could not join, or did not answer; 2 (UsageError) bad or missing options.
 */
import { createInterface } from 'node:readline/promises';
import { TextDecoder } from 'node:util';
import { Failure, oneLine, parseOptions, UsageError } from './args';


const HEADER = [0x49, 0x4d, 0x50, 0x52, 0x4f, 0x56];
export const ImprovErrorText: Record<number, string> = {
  0x01: 'invalid RPC packet',
  0x02: 'unknown RPC command',
  0x03: 'unable to connect to the network',
  0x04: 'not authorized',
  0xff: 'unknown error',
};

/** The byte stream to a node: what `serialport` gives, reduced to what the client needs. */
export interface ImprovTransport {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

export type ImprovEvent =
  | { type: 'state'; state: number }
  | { type: 'error'; error: number }
  | { type: 'result'; command: number; strings: string[] };

/** Builds an RPC command packet (type 0x03) with its strings length-prefixed. */
export function improvRpc(command: number, strings: Uint8Array[] = []): Uint8Array {
  const data: number[] = [];
  for (const s of strings) {
    if (s.length > 255) throw new UsageError('an Improv string is at most 255 bytes');
    data.push(s.length, ...s);
  }
  if (data.length > 253) throw new UsageError('the Improv command is longer than one packet');
  const bytes = [...HEADER, 1, 0x03, data.length + 2, command, data.length, ...data];
  let sum = 0;
  for (const b of bytes) sum += b;
  bytes.push(sum & 0xff);
  return Uint8Array.from(bytes);
}

/** Finds Improv packets in a byte stream interleaved with the node's log lines. */
export class ImprovStreamParser {
  #buffer = new Uint8Array(0);
  /** Bytes outside packets (log text), decoded as lines for a verbose listener. */
  readonly other: number[] = [];

  push(chunk: Uint8Array, emit: (event: ImprovEvent) => void): void {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    let p = 0;
    for (;;) {
      let start = p;
      while (start < joined.length && joined[start] !== HEADER[0]) start++;
      for (let i = p; i < start; i++) this.other.push(joined[i]!);
      p = start;
      if (joined.length - p < 9) break;
      let header = true;
      for (let i = 0; i < 6; i++) if (joined[p + i] !== HEADER[i]) header = false;
      const total = 9 + joined[p + 8]! + 1;
      if (!header || joined[p + 6] !== 1) {
        this.other.push(joined[p]!);
        p++;
        continue;
      }
      if (joined.length - p < total) break;
      let sum = 0;
      for (let i = p; i < p + total - 1; i++) sum += joined[i]!;
      if ((sum & 0xff) !== joined[p + total - 1]) {
        this.other.push(joined[p]!);
        p++;
        continue;
      }
      this.#emit(joined.subarray(p + 7, p + total - 1), emit);
      p += total;
    }
    this.#buffer = joined.slice(p);
  }

  #emit(packet: Uint8Array, emit: (event: ImprovEvent) => void): void {
    const type = packet[0]!;
    const length = packet[1]!;
    const data = packet.subarray(2, 2 + length);
    if (type === 0x01 && length === 1) emit({ type: 'state', state: data[0]! });
    else if (type === 0x02 && length === 1) emit({ type: 'error', error: data[0]! });
    else if (type === 0x04 && length >= 2 && data[1] === length - 2) {
      const strings: string[] = [];
      const decoder = new TextDecoder('utf-8', { fatal: false });
      for (let p = 2; p < length; ) {
        const n = data[p]!;
        if (p + 1 + n > length) return;
        strings.push(decoder.decode(data.subarray(p + 1, p + 1 + n)));
        p += 1 + n;
      }
      emit({ type: 'result', command: data[0]!, strings });
    }
  }
}

export interface ScannedNetwork {
  ssid: string;
  rssi: number;
  secure: boolean;
}

/** An Improv client over a transport: one request at a time. */
export class ImprovClient {
  readonly #transport: ImprovTransport;
  readonly #parser = new ImprovStreamParser();
  #listeners = new Set<(event: ImprovEvent) => void>();
  state: number | undefined;

  constructor(transport: ImprovTransport) {
    this.#transport = transport;
    transport.onData((bytes) =>
      this.#parser.push(bytes, (event) => {
        if (event.type === 'state') this.state = event.state;
        for (const listener of [...this.#listeners]) listener(event);
      }),
    );
  }

  /** Sends `packet`, resolves with what `until` returns first (not undefined), or rejects. */
  request<T>(packet: Uint8Array, until: (event: ImprovEvent) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`no answer from the node to ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const listener = (event: ImprovEvent) => {
        let value: T | undefined;
        try {
          value = until(event);
        } catch (error) {
          clearTimeout(timer);
          this.#listeners.delete(listener);
          reject(error as Error);
          return;
        }
        if (value === undefined) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(value);
      };
      this.#listeners.add(listener);
      this.#transport.write(packet);
    });
  }

  #failOnError(what: string) {
    return (event: ImprovEvent) => {
      if (event.type === 'error' && event.error !== 0) {
        throw new Error(`the node answered ${what} with error 0x${event.error.toString(16).padStart(2, '0')} (${ImprovErrorText[event.error] ?? 'unlisted'})`);
      }
    };
  }

  /** Current state; asked again every `retryMs` until the node answers (it may be booting). */
  async currentState(timeoutMs = 10_000, retryMs = 1000): Promise<{ state: number; urls: string[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const state = await this.request(improvRpc(0x02), (e) => (e.type === 'state' ? e.state : undefined), Math.min(retryMs, Math.max(1, deadline - Date.now())), 'a state request');
        if (state !== 0x04) return { state, urls: [] };
        const urls = await this.#urlsAfterState();
        return { state, urls };
      } catch (error) {
        if (Date.now() >= deadline) throw new Error(`no Improv answer from the node within ${timeoutMs / 1000} s: is the firmware running and the baud rate right?`);
        if (!/no answer/.test((error as Error).message)) throw error;
      }
    }
  }

  #urlsAfterState(): Promise<string[]> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        resolve([]);
      }, 1000);
      const listener = (event: ImprovEvent) => {
        if (event.type === 'result' && event.command === 0x02) {
          clearTimeout(timer);
          this.#listeners.delete(listener);
          resolve(event.strings);
        }
      };
      this.#listeners.add(listener);
    });
  }

  deviceInfo(timeoutMs = 5000): Promise<{ firmware: string; version: string; chip: string; name: string }> {
    const fail = this.#failOnError('the device-info request');
    return this.request(
      improvRpc(0x03),
      (e) => {
        fail(e);
        if (e.type !== 'result' || e.command !== 0x03) return undefined;
        const [firmware = '', version = '', chip = '', name = ''] = e.strings;
        return { firmware, version, chip, name };
      },
      timeoutMs,
      'the device-info request',
    );
  }

  scan(timeoutMs = 20_000): Promise<ScannedNetwork[]> {
    const fail = this.#failOnError('the scan request');
    const networks: ScannedNetwork[] = [];
    return this.request(
      improvRpc(0x04),
      (e) => {
        fail(e);
        if (e.type !== 'result' || e.command !== 0x04) return undefined;
        if (e.strings.length === 0) return networks;
        const [ssid = '', rssi = '', auth = ''] = e.strings;
        if (!networks.some((n) => n.ssid === ssid)) networks.push({ ssid, rssi: Number(rssi), secure: auth === 'YES' });
        return undefined;
      },
      timeoutMs,
      'the scan request',
    );
  }

  /** Sends the Wi-Fi settings; resolves with the node's URLs once it is provisioned. */
  provision(ssid: string, password: string, timeoutMs = 45_000): Promise<string[]> {
    const encoder = new TextEncoder();
    const fail = this.#failOnError('the Wi-Fi settings');
    let provisioned = false;
    return this.request(
      improvRpc(0x01, [encoder.encode(ssid), encoder.encode(password)]),
      (e) => {
        fail(e);
        if (e.type === 'state' && e.state === 0x04) provisioned = true;
        if (e.type === 'result' && e.command === 0x01 && provisioned) return e.strings;
        return undefined;
      },
      timeoutMs,
      'the Wi-Fi settings',
    );
  }
}

/** Opens `path` with the `serialport` package (its native binding for this platform). */
export async function openSerialPort(path: string, baud: number): Promise<ImprovTransport> {
  const { SerialPort } = await import('serialport');
  const port = await new Promise<InstanceType<typeof SerialPort>>((resolve, reject) => {
    const p: InstanceType<typeof SerialPort> = new SerialPort({ path, baudRate: baud }, (error) => (error ? reject(error) : resolve(p)));
  });
  return streamTransport(port);
}

/** A transport over a node stream with `write`, 'data' events and `close(callback)`. */
export function streamTransport(port: {
  write(data: Uint8Array): unknown;
  on(event: 'data', listener: (data: Uint8Array) => void): unknown;
  close(callback: (error?: Error | null) => void): void;
  isOpen: boolean;
}): ImprovTransport {
  return {
    write: (bytes) => void port.write(bytes),
    onData: (listener) => void port.on('data', (data) => listener(new Uint8Array(data))),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

export interface ProvisionIo {
  out(line: string): void;
  /** Asks a question; undefined when there is no terminal to ask on. */
  ask?(question: string): Promise<string>;
  open?(path: string, baud: number): Promise<ImprovTransport>;
  timeouts?: { stateMs?: number; joinMs?: number; scanMs?: number };
}

export const PROVISION_IMPROV_USAGE = `usage: npx pipewatch provision --port /dev/ttyUSB0 [--ssid S --password P] [--baud 115200]
Sends Wi-Fi settings to a node over its USB serial port (Improv Wi-Fi), asking for what is missing
(a network from the node's scan, its password) on a terminal; prints the node's id and URL.
  --port PATH     the node's serial port (/dev/ttyUSB0, /dev/ttyACM0, COM3, a simulator's /dev/pts/N)
  --ssid S        the network (1 to 32 bytes); without it, the node scans and you pick one
  --password P    its password (--password "" for an open network)
  --baud N        bit/s (default 115200, the console's rate)
Factory provisioning with esptool (settings record, broker, device id): npm run provision -- --help
Exit codes: 0 provisioned, 1 the node could not join or did not answer, 2 bad options.`;

function terminalIo(): ProvisionIo {
  const io: ProvisionIo = { out: (line) => process.stdout.write(line + '\n') };
  if (process.stdin.isTTY) {
    io.ask = async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    };
  }
  return io;
}

export async function provisionCommand(argv: string[], io: ProvisionIo = terminalIo()): Promise<number> {
  const { values } = parseOptions(
    argv,
    { port: { type: 'string' }, ssid: { type: 'string' }, password: { type: 'string' }, baud: { type: 'string' } },
    'pipewatch provision',
  );
  const path = values.port as string | undefined;
  if (!path) throw new UsageError('--port is needed (see pipewatch provision --help)');
  const baudText = (values.baud as string | undefined) ?? '115200';
  if (!/^\d+$/.test(baudText) || Number(baudText) <= 0 || Number(baudText) > 20_000_000) throw new UsageError(`--baud takes a rate in bit/s, got "${baudText}"`);
  let ssid = values.ssid as string | undefined;
  let password = values.password as string | undefined;
  if (ssid !== undefined && (ssid === '' || new TextEncoder().encode(ssid).length > 32)) throw new UsageError('--ssid is 1 to 32 bytes');
  if (password !== undefined && new TextEncoder().encode(password).length > 64) throw new UsageError('--password is at most 64 bytes');

  let transport: ImprovTransport;
  try {
    transport = await (io.open ?? openSerialPort)(path, Number(baudText));
  } catch (error) {
    throw new Failure(`cannot open ${path}: ${oneLine(error)}`);
  }
  const client = new ImprovClient(transport);
  try {
    const { state, urls } = await client.currentState(io.timeouts?.stateMs);
    const info = await client.deviceInfo();
    io.out(`node ${info.name}: ${info.firmware} ${info.version} on ${info.chip}`);
    if (state === 0x04 && ssid === undefined) {
      io.out(`already provisioned${urls.length ? ': ' + urls.join(' ') : ''} (give --ssid to change its network)`);
      return 0;
    }
    let secure = true;
    if (ssid === undefined) {
      const networks = await client.scan(io.timeouts?.scanMs);
      networks.sort((a, b) => b.rssi - a.rssi);
      io.out(networks.length ? 'networks the node sees:' : 'the node sees no network');
      networks.forEach((n, i) => io.out(`  ${String(i + 1).padStart(2)}. ${n.ssid}  ${n.rssi} dBm${n.secure ? '' : '  (open)'}`));
      if (!io.ask) throw new UsageError('--ssid is needed (no terminal to ask on)');
      const answer = (await io.ask('Wi-Fi network (number or name): ')).trim();
      const picked = /^\d+$/.test(answer) ? networks[Number(answer) - 1] : networks.find((n) => n.ssid === answer);
      ssid = picked?.ssid ?? answer;
      secure = picked?.secure ?? true;
      if (!ssid || new TextEncoder().encode(ssid).length > 32) throw new UsageError('the network name is 1 to 32 bytes');
    }
    if (password === undefined) {
      if (!secure) password = '';
      else if (io.ask) password = await io.ask(`password for "${ssid}": `);
      else throw new UsageError('--password is needed (--password "" for an open network)');
    }
    io.out(`sending the settings for "${ssid}"; the node joins it...`);
    const nodeUrls = await client.provision(ssid, password, io.timeouts?.joinMs);
    io.out(`OK ${info.name} provisioned on "${ssid}"${nodeUrls.length ? ': ' + nodeUrls.join(' ') : ''}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new Failure(oneLine(error));
  } finally {
    await transport.close();
  }
}
