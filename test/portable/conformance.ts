/*
 * The portable conformance check (firmware/diagnostics/conformance.ts) against register-level
 * simulated parts, on Node and inside XS: a good TMP117 passes; a TMP117 that NAKs, a driver
 * that publishes a stale number on a fault, and a part that answers at the wrong address fail.
 */
import { type ConformanceFault, type ConformanceOptions, runConformance, timerWait } from '../../firmware/diagnostics/conformance';
import { CONFORMANCE_PARTS, conformanceDriver } from '../../firmware/diagnostics/parts';
import TMP117 from '../../firmware/sensors/tmp117';
import type { Timers } from '../../firmware/host';
import { FixedEnv } from '../../simulator/devices/env';
import { SimI2CBus } from '../../simulator/devices/i2c-bus';
import { SimTMP117 } from '../../simulator/devices/tmp117';
import { equal, ok } from '../harness/assert';

interface Run {
  passed: boolean;
  lines: string[];
}

function tmp117Rig(overrides: Partial<ConformanceOptions> = {}, setup?: (bus: SimI2CBus, env: FixedEnv) => void): Promise<Run> {
  const env = new FixedEnv();
  env.temperatureC = 21.5;
  env.time = 1000;
  const bus = new SimI2CBus();
  bus.attach(0x48, new SimTMP117(env));
  setup?.(bus, env);
  const { I2C } = bus.classes();
  const spec = CONFORMANCE_PARTS.tmp117!;
  const faults: ConformanceFault[] = [
    { name: 'I2C nak', on: () => bus.inject(0x48, 'nak'), off: () => bus.inject(0x48, undefined) },
    { name: 'I2C ones', on: () => bus.inject(0x48, 'ones'), off: () => bus.inject(0x48, undefined) },
  ];
  const lines: string[] = [];
  return runConformance({
    part: 'tmp117',
    where: 'simulated i2c bus',
    Driver: conformanceDriver('tmp117')!,
    sensor: { io: I2C, address: 0x48 },
    wrong: { io: I2C, address: 0x49 },
    wrongLabel: 'address 0x49',
    identity: spec.identity,
    ranges: spec.range,
    samples: 5,
    intervalMs: spec.periodMs,
    powerUpMs: 100,
    expected: { value: 21_500, tolerance: spec.tolerance },
    faults,
    now: () => env.now(),
    wait: async (ms) => {
      env.time += ms;
    },
    print: (line) => lines.push(line),
    ...overrides,
  }).then((passed) => ({ passed, lines }));
}

function line(run: Run, label: string): string {
  const found = run.lines.find((l) => l.startsWith(`  ${label} `));
  ok(found !== undefined, `no "${label}" line in:\n${run.lines.join('\n')}`);
  return found!;
}

export const tests: Record<string, () => void | Promise<void>> = {
  async 'a simulated TMP117 passes every check'() {
    const run = await tmp117Rig();
    ok(run.passed, run.lines.join('\n'));
    equal(run.lines[0], 'pipewatch drivers check: tmp117 on simulated i2c bus, address 0x48');
    equal(run.lines[run.lines.length - 1], 'PASS (8 checks)');
    ok(line(run, 'samples').endsWith('ok    5/5 valid'), line(run, 'samples'));
    ok(/ok {4}21\.5\d*\.\.21\.5\d* °C within -55\.\.150$/.test(line(run, 'range temperature')), line(run, 'range temperature'));
    ok(line(run, 'fault: I2C nak').includes('ok    E_BUS'), line(run, 'fault: I2C nak'));
    ok(line(run, 'wrong address 0x49').includes('ok    constructor: E_BUS'), line(run, 'wrong address 0x49'));
  },

  async 'a TMP117 that NAKs everything fails: no open, and the report says FAIL'() {
    const run = await tmp117Rig({}, (bus) => bus.inject(0x48, 'nak'));
    ok(!run.passed);
    ok(line(run, 'open and identify').includes('FAIL  E_BUS'), line(run, 'open and identify'));
    ok(run.lines[run.lines.length - 1]!.startsWith('FAIL (1 of 2 checks)'), run.lines.join('\n'));
  },

  async 'a driver that publishes its last value on a fault fails'() {
    class Stale extends TMP117 {
      #last = 0;
      #seen = false;
      override read(out: Int32Array): number {
        if (super.read(out)) {
          this.#last = out[0]!;
          this.#seen = true;
          return 1;
        }
        if (!this.#seen) return 0;
        out[0] = this.#last;
        return 1;
      }
    }
    const run = await tmp117Rig({ Driver: Stale as never });
    ok(!run.passed);
    ok(/fault: I2C nak \.+ FAIL {2}a number \(21\.5/.test(line(run, 'fault: I2C nak')), line(run, 'fault: I2C nak'));
    ok(run.lines[run.lines.length - 1]!.startsWith('FAIL ('), run.lines.join('\n'));
  },

  async 'a second part answering at the "wrong" address fails the wrong-address check'() {
    const run = await tmp117Rig({}, (bus, env) => bus.attach(0x49, new SimTMP117(env)));
    ok(!run.passed);
    ok(line(run, 'wrong address 0x49').includes('FAIL  a number'), line(run, 'wrong address 0x49'));
  },

  async 'a simulated temperature off by more than the accuracy fails the accuracy check'() {
    const run = await tmp117Rig({ expected: { value: 22_000, tolerance: 100 } });
    ok(!run.passed);
    ok(line(run, 'accuracy temperature').includes('FAIL  within 0.5 °C'), line(run, 'accuracy temperature'));
    equal(run.lines[run.lines.length - 1], 'FAIL (1 of 8 checks)');
  },

  async 'timerWait resolves on the host timer, never inside the call'() {
    const pending: { callback: () => void; ms: number }[] = [];
    const timers: Timers = {
      set(callback, ms) {
        pending.push({ callback, ms });
        return pending.length;
      },
      clear() {},
    };
    let done = false;
    const waited = timerWait(timers)(250).then(() => {
      done = true;
    });
    equal(pending.length, 1);
    equal(pending[0]!.ms, 250);
    await Promise.resolve();
    ok(!done, 'resolved before the timer fired');
    pending[0]!.callback();
    await waited;
    ok(done);
  },
};
