/*
 * The driver conformance check as an on-device app (issue 4): builds the board's IO classes
 * (manifests/drivers-check/io-*.ts), reads the part and its bus settings from the manifest
 * `config` (target.ts), runs firmware/diagnostics/conformance.ts on host timers and prints the
 * report with trace(), ending with a `PASS (n checks)` or `FAIL (k of n checks)` line.
 *
 *   npm run build -- --app drivers-check --target esp32/nodemcu part=tmp117 address=0x48
 */
import config from 'mc/config';
import { runConformance, timerWait } from '../../firmware/diagnostics/conformance';
import { conformanceDriver } from '../../firmware/diagnostics/parts';
import { checkIo } from 'manifests/drivers-check/io';
import { checkTarget, type CheckTarget } from './target';

function print(line: string): void {
  trace(`${line}\n`);
}

export default function main(): void {
  globalThis.abort = (why: string, exception?: unknown) => {
    trace(`[error] abort: ${why}: ${exception instanceof Error ? exception.message : String(exception)}\nFAIL (aborted)\n`);
  };
  let target: CheckTarget;
  let io: ReturnType<typeof checkIo>;
  try {
    io = checkIo();
    target = checkTarget(config as Record<string, unknown>, io.board);
  } catch (error) {
    print(`pipewatch drivers check: ${(error as Error).message}`);
    print('FAIL (bad configuration)');
    return;
  }
  const { host } = io;
  const bus = target.spec.bus;
  const Io =
    bus === 'i2c' ? host.io.I2C : bus === 'smbus' ? host.io.SMBus : bus === 'spi' ? host.io.SPI : bus === 'onewire' ? host.io.OneWire : host.io.Analog;
  const Driver = conformanceDriver(target.part);
  if (!Io || !Driver) {
    print(`pipewatch drivers check: ${target.part}: this host has no ${bus} bus`);
    print('FAIL (no bus)');
    return;
  }
  runConformance({
    part: target.part,
    where: io.where(bus),
    Driver,
    sensor: { io: Io, ...target.sensor },
    wrong: { io: Io, ...target.wrong },
    wrongLabel: target.wrongLabel,
    identity: target.spec.identity,
    ranges: target.spec.range,
    options: target.spec.options,
    samples: target.samples,
    intervalMs: target.intervalMs,
    powerUpMs: target.spec.periodMs,
    now: () => host.clock.monotonic.now(),
    wait: timerWait(host.timers),
    print,
  }).then(
    () => undefined,
    (error: unknown) => {
      print(`pipewatch drivers check: stopped: ${(error as Error).message}`);
      print('FAIL (stopped)');
    },
  );
}
