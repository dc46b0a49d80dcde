/*
 * `pipewatch drivers check`: a driver conformance check against a connected sensor or its
 * simulated device.
 *
 *   pipewatch drivers check --part <part> (--bus <path> [--address 0x48] | --simulated) [--samples N] [--json]
 *     --bus /dev/i2c-N            I2C / SMBus parts (hosts/linux, i2c-bus package)
 *     --bus /dev/spidevB.C        SPI parts (hosts/linux, spi-device package)
 *     --bus iio:deviceN --pin P   the NTC on an IIO ADC channel
 *     --wrong-address A           the address (I2C), chip select (SPI) or channel (analog) used
 *                                 for the fault-handling check: nothing must answer there
 *     --interval MS               time between samples (default: the part's conversion period)
 *
 * Checks, in order: the driver opens (and verifies the chip id where the part has one); N
 * samples are valid; every value is within the part's range (and, simulated, within the part's
 * accuracy of the simulated temperature); the spread over the samples is at most 1 °C / 3 %RH;
 * a sensor at the wrong address gives an error code, never a number. With --simulated, each
 * fault the simulated bus and part can inject must also give an error code and no number.
 * Exit code 0 = pass, 1 = fail, 2 = bad options or a bus that is not there or not accessible
 * (one line on stderr, with how to enable it). `--json` prints one JSON object instead of the
 * report: { part, where, passed, checks: [{ name, ok, detail }], summary } (docs/hardware.md).
 *
 * The check itself is portable, firmware/diagnostics/conformance.ts (`runConformance`); part
 * ranges, accuracy and periods are in firmware/diagnostics/parts.ts. This file adds what only
 * Node has: options, real Linux buses (hosts/linux) and the simulated rigs with their faults.
 * The same check runs on a board as an on-device app, manifests/drivers-check: build it with
 * `npm run build -- --app drivers-check --target esp32/nodemcu part=tmp117 address=0x48`, flash
 * it, and read the report on the serial console (docs/moddable.md, "Driver conformance check on
 * a board"); `--target lin` runs it in mcsim against the simulated part.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { AnalogConstructor, I2CConstructor, SMBusConstructor, SPIConstructor } from '../firmware/host';
import { type ConformanceDriverClass, type ConformanceFault, runConformance } from '../firmware/diagnostics/conformance';
import { CONFORMANCE_PARTS, type ConformancePart, conformanceDriver, conformancePartNames } from '../firmware/diagnostics/parts';
import * as linuxIo from '../hosts/linux/io';
import { parseBusPath } from '../hosts/linux/io';
import { SimAdc, SimNtcDivider } from '../simulator/devices/analog';
import { FixedEnv, type SimEnv } from '../simulator/devices/env';
import { SimI2CBus, type SimI2CDevice } from '../simulator/devices/i2c-bus';
import { SimOneWireBus } from '../simulator/devices/onewire-bus';
import { SimSPIBus, type SimSPIDevice } from '../simulator/devices/spi-bus';

type DriverClass = ConformanceDriverClass;
/** One fault the simulation can switch on and off. */
type SimFault = ConformanceFault;

interface Rig {
  env: FixedEnv;
  sensor: Record<string, unknown>;
  wrong: Record<string, unknown>;
  wrongLabel: string;
  faults: SimFault[];
}

interface PartSpec extends ConformancePart {
  /** Overrides the module lookup (tests check the checker with a deliberately lenient driver). */
  load?: () => Promise<{ Driver?: DriverClass; Device?: new (env: SimEnv, options?: any) => unknown }>;
  /** Builds the simulated bus and device. */
  simulate(device: new (env: SimEnv, options?: any) => unknown, env: FixedEnv): Rig;
}

const I2C_BUS_FAULTS = ['nak', 'timeout', 'zeros', 'ones'] as const;

function i2cRig(address: number, bus: 'i2c' | 'smbus') {
  return (Device: new (env: SimEnv, options?: any) => unknown, env: FixedEnv): Rig => {
    const sim = new SimI2CBus();
    sim.attach(address, new Device(env, { address }) as SimI2CDevice);
    const io = bus === 'smbus' ? sim.classes().SMBus : sim.classes().I2C;
    const wrong = address ^ 1;
    return {
      env,
      sensor: { io, address },
      wrong: { io, address: wrong },
      wrongLabel: `address 0x${wrong.toString(16)}`,
      faults: I2C_BUS_FAULTS.map((f) => ({ name: `I2C ${f}`, on: () => sim.inject(address, f), off: () => sim.inject(address, undefined) })),
    };
  };
}

function spiRig(switches: string[]) {
  return (Device: new (env: SimEnv, options?: any) => unknown, env: FixedEnv): Rig => {
    const sim = new SimSPIBus();
    const device = new Device(env) as SimSPIDevice & Record<string, unknown>;
    sim.attach(0, device);
    const { SPI } = sim.classes();
    const faults: SimFault[] = (['zeros', 'ones', 'error'] as const).map((f) => ({
      name: `SPI ${f}`,
      on: () => sim.inject(0, f),
      off: () => sim.inject(0, undefined),
    }));
    for (const s of switches) faults.push({ name: s, on: () => (device[s] = true), off: () => (device[s] = false) });
    return { env, sensor: { io: SPI, select: 0 }, wrong: { io: SPI, select: 1 }, wrongLabel: 'chip select 1', faults };
  };
}

/** How each part is simulated: its bus, the device on it, and the faults both can inject. */
const SIMULATE: Record<string, PartSpec['simulate'] | undefined> = {
  tmp117: i2cRig(0x48, 'i2c'),
  mcp9808: i2cRig(0x18, 'i2c'),
  sht3x: i2cRig(0x44, 'i2c'),
  sht4x: i2cRig(0x44, 'i2c'),
  bme280: i2cRig(0x76, 'i2c'),
  mlx90614: i2cRig(0x5a, 'smbus'),
  ds18b20(Device, env) {
    const sim = new SimOneWireBus();
    const device = new Device(env, 0x5eed) as InstanceType<typeof import('../simulator/devices/ds18b20').SimDs18b20>;
    sim.attach(device);
    const absent = new Device(new FixedEnv(), 0xabcdef) as typeof device;
    const { OneWire } = sim.classes();
    const hex = (rom: Uint8Array) => Array.from(rom, (b) => b.toString(16).padStart(2, '0')).join('');
    const faults: SimFault[] = [
      { name: '1-Wire bus error', on: () => (sim.busError = true), off: () => (sim.busError = false) },
      { name: 'DQ shorted to ground', on: () => (sim.shortToGround = true), off: () => (sim.shortToGround = false) },
      { name: 'unplugged', on: () => (device.connected = false), off: () => (device.connected = true) },
      { name: 'CRC error', on: () => (device.crcError = true), off: () => (device.crcError = false) },
      { name: 'power cycle, conversions fail (+85 °C)', on: () => ((device.conversionFails = true), device.powerCycle()), off: () => (device.conversionFails = false) },
    ];
    return { env, sensor: { io: OneWire, pin: 4, rom: hex(device.rom) }, wrong: { io: OneWire, pin: 4, rom: hex(absent.rom) }, wrongLabel: `ROM ${hex(absent.rom)}`, faults };
  },
  max31855: spiRig(['open', 'shortToGround', 'shortToVcc']),
  max31856: spiRig(['open', 'shortToGround', 'shortToVcc', 'hung']),
  max31865: spiRig(['open', 'shorted', 'overvoltage']),
  ntc(Ntc, env) {
    const ntc = new Ntc(env) as { open: boolean; shorted: boolean };
    const adc = new SimAdc(3.3, 12);
    adc.attach(0, new SimNtcDivider(ntc as never, 10_000, 3.3));
    adc.attach(1, { volts: () => 0 });
    const { Analog } = adc.classes();
    return {
      env,
      sensor: { io: Analog, pin: 0 },
      wrong: { io: Analog, pin: 1 },
      wrongLabel: 'channel 1 (grounded)',
      faults: [
        { name: 'thermistor open', on: () => (ntc.open = true), off: () => (ntc.open = false) },
        { name: 'thermistor shorted', on: () => (ntc.shorted = true), off: () => (ntc.shorted = false) },
        { name: 'input floating', on: () => adc.float(0, true), off: () => adc.float(0, false) },
      ],
    };
  },
};

/** The part registry (firmware/diagnostics/parts.ts plus the simulated rigs); exported for tests. */
export const PARTS: Record<string, PartSpec> = {};
for (const name of conformancePartNames()) PARTS[name] = { ...CONFORMANCE_PARTS[name]!, simulate: SIMULATE[name]! };

export type { PartSpec };

export function checkablePartNames(): string[] {
  return Object.keys(PARTS);
}

class BadOptions extends Error {}

interface Options {
  part: string;
  simulated: boolean;
  bus?: string;
  address?: number;
  pin?: number;
  wrong?: number;
  samples: number;
  intervalMs?: number;
  json: boolean;
}

function parseNumber(text: string | undefined, flag: string, min: number, max: number): number {
  if (text === undefined) throw new BadOptions(`${flag} needs a value`);
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new BadOptions(`${flag} takes a number in ${min}..${max}, got "${text}"`);
  return n;
}

function parseOptions(argv: string[]): Options {
  const args = argv[0] === 'check' ? argv.slice(1) : argv;
  const o: Partial<Options> & { samples: number } = { samples: 10, simulated: false, json: false };
  if (argv[0] !== 'check') throw new BadOptions(argv[0] === undefined ? 'give the verb check: npx pipewatch drivers check --part PART ... (see npx pipewatch drivers check --help)' : `unknown verb "${argv[0]}": the verb is check (see npx pipewatch drivers check --help)`);
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new BadOptions(`${flag} needs a value (see npx pipewatch drivers check --help)`);
      return v;
    };
    switch (flag) {
      case '--part': o.part = value(); break;
      case '--bus': o.bus = value(); break;
      case '--simulated': o.simulated = true; break;
      case '--json': o.json = true; break;
      case '--address': o.address = parseNumber(value(), flag, 0x08, 0x77); break;
      case '--pin': o.pin = parseNumber(value(), flag, 0, 255); break;
      case '--wrong-address': o.wrong = parseNumber(value(), flag, 0, 0x7f); break;
      case '--samples': o.samples = parseNumber(value(), flag, 2, 10_000); break;
      case '--interval': o.intervalMs = parseNumber(value(), flag, 1, 600_000); break;
      default: throw new BadOptions(flag.startsWith('-') ? `unknown option ${flag} (see npx pipewatch drivers check --help)` : `unexpected argument "${flag}" (see npx pipewatch drivers check --help)`);
    }
  }
  if (!o.part) throw new BadOptions(`--part is required (one of: ${checkablePartNames().join(', ')})`);
  if (!PARTS[o.part]) throw new BadOptions(`unknown part "${o.part}" (one of: ${checkablePartNames().join(', ')})`);
  if (o.simulated === !!o.bus) throw new BadOptions('give either --bus <path> or --simulated');
  if (o.simulated && (o.address !== undefined || o.pin !== undefined)) throw new BadOptions('--address and --pin go with --bus');
  return o as Options;
}

export const USAGE = `usage: npx pipewatch drivers check --part PART (--bus PATH [--address 0x48] [--pin P] | --simulated)
                                    [--samples N] [--wrong-address A] [--interval MS] [--json]
Driver conformance check against a connected sensor (Linux) or its simulated device.
  --part PART           the sensor part
  --simulated           the part's simulated device, with every fault it can inject
  --bus /dev/i2c-N      an I2C or SMBus part on Linux I2C bus N (Raspberry Pi: /dev/i2c-1)
  --bus /dev/spidevB.C  an SPI part on SPI bus B, chip select C (Raspberry Pi: /dev/spidev0.0)
  --bus iio:deviceN     the NTC on an IIO ADC (/sys/bus/iio/devices/iio:deviceN), --pin = channel
  --address 0x48        the part's I2C address (default: the part's usual one)
  --wrong-address A     the address, chip select or channel where nothing answers (fault check)
  --samples N           samples to take, 2..10000 (default 10)
  --interval MS         time between samples (default: the part's conversion period)
  --json                one JSON object: { part, where, passed, checks: [{ name, ok, detail }], summary }
Exit 0 pass, 1 fail, 2 bad options or a bus that is missing or not accessible.
Wiring, enabling I2C/SPI and permissions: docs/hardware.md.`;

const ENABLE_HINT: Record<'i2c' | 'spi' | 'iio', string> = {
  i2c: 'on a Raspberry Pi enable I2C (sudo raspi-config nonint do_i2c 0, or dtparam=i2c_arm=on in /boot/firmware/config.txt, and reboot); elsewhere sudo modprobe i2c-dev; see docs/hardware.md',
  spi: 'on a Raspberry Pi enable SPI (sudo raspi-config nonint do_spi 0, or dtparam=spi=on in /boot/firmware/config.txt, and reboot); see docs/hardware.md',
  iio: 'load the ADC driver (a device-tree overlay, e.g. dtoverlay=ads1015 on a Raspberry Pi) so that it appears in /sys/bus/iio/devices; see docs/hardware.md',
};

/** Why the bus at `path` cannot be used (missing, not accessible), or undefined when it can. */
export function busProblem(path: string, fileExists = existsSync, access = (p: string) => accessSync(p, constants.R_OK | constants.W_OK)): string | undefined {
  const bus = parseBusPath(path);
  if (!bus) return undefined;
  const file = bus.kind === 'iio' ? `${linuxIo.iio.root}/iio:device${bus.port}` : path;
  const what = bus.kind === 'i2c' ? `I2C bus ${bus.port}` : bus.kind === 'spi' ? `SPI bus ${bus.port} chip select ${bus.select}` : `IIO device ${bus.port}`;
  if (!fileExists(file)) return `${file} does not exist (no ${what} on this machine): ${ENABLE_HINT[bus.kind]}`;
  if (bus.kind === 'iio') return undefined;
  try {
    access(file);
  } catch {
    const group = bus.kind === 'i2c' ? 'i2c' : 'spi';
    return `${file} is not readable and writable by this user: sudo usermod -aG ${group} $USER and log in again (or a udev rule, docs/hardware.md)`;
  }
  return undefined;
}

/** The report's lines as JSON (the lines come from firmware/diagnostics/conformance.ts). */
export function reportJson(part: string, lines: string[]): { part: string; where: string; passed: boolean; checks: Array<{ name: string; ok: boolean; detail: string }>; summary: string } {
  const checks: Array<{ name: string; ok: boolean; detail: string }> = [];
  let where = '';
  let summary = '';
  for (const line of lines) {
    const check = /^  (.+?) \.* ?(ok  |FAIL)  (.*)$/.exec(line);
    if (check) checks.push({ name: check[1]!.replace(/ \.+$/, ''), ok: check[2] !== 'FAIL', detail: check[3]!.trim() });
    else if (/^(PASS|FAIL)\b/.test(line)) summary = line;
    else if (line.startsWith('pipewatch drivers check: ')) where = line.slice('pipewatch drivers check: '.length);
  }
  return { part, where, passed: summary.startsWith('PASS'), checks, summary };
}

async function loadModule(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(new URL(path, import.meta.url).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module/.test(String(error))) return undefined;
    throw error;
  }
}

function simClass(mod: Record<string, unknown>, part: string): (new (env: SimEnv, options?: any) => unknown) | undefined {
  const classes = Object.entries(mod).filter(([k, v]) => typeof v === 'function' && k.startsWith('Sim'));
  const match = classes.find(([k]) => k.toLowerCase().replace(/[^a-z0-9]/g, '').includes(part)) ?? classes[0];
  return match?.[1] as never;
}

/** Runs the check; `print` receives each report line (default: stdout). */
export async function driversCheck(argv: string[], print: (line: string) => void = (l) => console.log(l)): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    print(USAGE);
    print(`parts: ${checkablePartNames().join(', ')}`);
    return 0;
  }
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (error) {
    if (!(error instanceof BadOptions)) throw error;
    console.error(`pipewatch drivers check: ${error.message}`);
    return 2;
  }
  if (o.json) {
    const lines: string[] = [];
    const code = await check(o, (line) => lines.push(line));
    if (code === 2) return code;
    print(JSON.stringify(reportJson(o.part, lines)));
    return code;
  }
  return await check(o, print);
}

async function check(o: Options, print: (line: string) => void): Promise<number> {
  const spec = PARTS[o.part]!;
  const loaded = spec.load ? await spec.load() : undefined;
  const Driver = loaded ? loaded.Driver : conformanceDriver(o.part);
  if (!Driver) {
    print(`pipewatch drivers check: ${o.part}: no driver in this tree (firmware/sensors/${spec.module}.ts)`);
    print('FAIL');
    return 1;
  }
  let rig: Rig;
  let now: () => number;
  let wait: (ms: number) => Promise<void>;
  let where: string;
  if (o.simulated) {
    const deviceModule = loaded ? undefined : await loadModule(`../simulator/devices/${spec.module}.ts`);
    const Device = loaded ? loaded.Device : deviceModule && simClass(deviceModule, spec.module);
    if (!Device) {
      print(`pipewatch drivers check: ${o.part}: no simulated device in this tree (simulator/devices/${spec.module}.ts)`);
      print('FAIL');
      return 1;
    }
    const env = new FixedEnv();
    env.temperatureC = spec.simTemperature ?? 21.5;
    env.ambientC = 23;
    env.humidityRH = 45;
    env.time = 1000;
    rig = spec.simulate(Device, env);
    now = () => env.now();
    wait = async (ms) => {
      env.time += ms;
    };
    where = `simulated ${spec.bus} bus`;
  } else {
    const real = realRig(o, spec);
    const problem = typeof real === 'string' ? real : busProblem(o.bus!);
    if (problem || typeof real === 'string') {
      console.error(`pipewatch drivers check: ${problem}`);
      return 2;
    }
    rig = real;
    const t0 = performance.now();
    now = () => performance.now() - t0;
    wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    where = o.bus!;
  }
  const passed = await runConformance({
    part: o.part,
    where,
    Driver,
    sensor: rig.sensor,
    wrong: rig.wrong,
    wrongLabel: rig.wrongLabel,
    identity: spec.identity,
    ranges: spec.range,
    options: spec.options,
    samples: o.samples,
    intervalMs: o.intervalMs ?? spec.periodMs,
    // the simulated parts were just powered: power-up time
    powerUpMs: o.simulated ? 100 : 0,
    expected: o.simulated ? { value: (spec.simTemperature ?? 21.5) * 1000, tolerance: spec.tolerance } : undefined,
    faults: o.simulated ? rig.faults : undefined,
    now,
    wait,
    print,
  });
  return passed ? 0 : 1;
}

/** IO classes for a real bus (hosts/linux), or a message for exit code 2. */
function realRig(o: Options, spec: PartSpec): Rig | string {
  const path = parseBusPath(o.bus!);
  if (!path) return `--bus "${o.bus}" is not /dev/i2c-N, /dev/spidevB.C or iio:deviceN`;
  const env = new FixedEnv();
  // hosts/linux loads its native packages only when a bus is opened.
  const linux = linuxIo;
  if (spec.bus === 'i2c' || spec.bus === 'smbus') {
    if (path.kind !== 'i2c') return `${o.part} is an I2C part: --bus /dev/i2c-N`;
    const io: I2CConstructor | SMBusConstructor = spec.bus === 'smbus' ? linux.SMBus : linux.I2C;
    const address = o.address ?? spec.defaultAddress!;
    const wrong = o.wrong ?? address ^ 1;
    return { env, sensor: { io, address, port: path.port }, wrong: { io, address: wrong, port: path.port }, wrongLabel: `address 0x${wrong.toString(16)}`, faults: [] };
  }
  if (spec.bus === 'spi') {
    if (path.kind !== 'spi') return `${o.part} is an SPI part: --bus /dev/spidevB.C`;
    const io: SPIConstructor = linux.SPI;
    const wrong = o.wrong ?? (path.select ^ 1);
    return { env, sensor: { io, port: path.port, select: path.select }, wrong: { io, port: path.port, select: wrong }, wrongLabel: `chip select ${wrong}`, faults: [] };
  }
  if (spec.bus === 'analog') {
    if (path.kind !== 'iio') return `${o.part} is on an analog input: --bus iio:deviceN --pin <channel>`;
    const io: AnalogConstructor = linux.Analog;
    const pin = o.pin ?? 0;
    const wrong = o.wrong ?? pin + 1;
    const port = path.port;
    const bind = (p: number) =>
      class extends (io as any) {
        constructor(x: object) {
          super({ ...x, pin: p, port });
        }
      } as unknown as AnalogConstructor;
    return { env, sensor: { io: bind(pin), pin }, wrong: { io: bind(wrong), pin: wrong }, wrongLabel: `channel ${wrong}`, faults: [] };
  }
  return `${o.part}: 1-Wire is not available on hosts/linux (the kernel's w1 driver owns the bus); use --simulated, or the on-device check`;
}

