/*
 * A staged rollout (`pipewatch ota rollout`, tools/ota-rollout.ts) run against a simulation
 * (`pipewatch sim --rollout 1.1.0`): once the run's clock reaches `atMs`, a simulated image of
 * `version` (with a simulator fault marker when asked: `1.1.0:sensor`, `1.1.0:broker`,
 * simulator/ota/sim-node.ts) is signed with the key the nodes trust and rolled out to every node
 * of the run over its broker, on the run's clock (virtual time in a virtual run).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Simulation } from './run';
import { signImage, simImage } from './ota/keys';
import { SIM_FAULT_MARKER } from './ota/sim-node';
import { runRollout, type RolloutResult } from '../tools/ota-rollout';
import type { RolloutConfig, RolloutJson } from '../tools/fleet/rollout';

export interface SimRolloutSpec {
  version: string;
  fault?: 'sensor' | 'broker';
  /** Run time at which the rollout starts (ms of the run's clock). */
  atMs: number;
  rules: Omit<RolloutConfig, 'version'>;
}

/** `1.1.0`, `1.1.0:sensor` or `1.1.0:broker`, or a message saying what is wrong. */
export function parseRolloutSpec(text: string): Pick<SimRolloutSpec, 'version' | 'fault'> | string {
  const m = /^(\d{1,3}\.\d{1,3}\.\d{1,5})(?::(sensor|broker))?$/.exec(text);
  if (!m) return `--rollout takes a version like 1.1.0, optionally with a simulated fault: 1.1.0:sensor or 1.1.0:broker; got "${text}"`;
  return { version: m[1]!, ...(m[2] ? { fault: m[2] as 'sensor' | 'broker' } : {}) };
}

export interface SimRolloutRun {
  done: Promise<RolloutResult>;
  /** Ends the rollout where it is (the simulation ended first). */
  abort(): void;
}

export function rolloutAlongside(
  sim: Simulation,
  spec: SimRolloutSpec,
  o: { cwd?: string; out?: (line: string) => void; warn?: (line: string) => void; tickMs?: number; onSaved?: (state: RolloutJson) => void } = {},
): SimRolloutRun {
  const controller = new AbortController();
  const done = (async () => {
    const { broker, deviceIds, otaKey } = await sim.ready;
    if (!otaKey) throw new Error('--rollout needs OTA on the nodes (leave out --no-ota)');
    const image = simImage(spec.version, spec.fault ? `${SIM_FAULT_MARKER}${spec.fault}` : '');
    const manifest = signImage(otaKey.privateKey, image, { version: spec.version });
    const dir = join(o.cwd ?? process.cwd(), '.pipewatch');
    mkdirSync(dir, { recursive: true });
    const statePath = join(dir, `sim-rollout-${spec.version}.json`);
    let release: (() => void) | undefined;
    rmSync(statePath, { force: true });
    return runRollout({
      broker,
      manifest,
      image,
      targets: deviceIds,
      to: 'all',
      rules: spec.rules,
      statePath,
      now: () => sim.now(),
      // A node that says it is back is offered the update a second later on the run's clock (a
      // real-time second is hours of virtual time: the rollout ended before it came).
      after: (ms, fn) => sim.at(sim.now() + ms, fn),
      // The clock stops at atMs until the first offers are out: the nodes' statuses are those of that moment.
      startGate: new Promise<void>((resolve) => sim.at(spec.atMs, () => {
        release = sim.hold();
        resolve();
      })),
      started: () => release?.(),
      tty: false,
      out: o.out,
      warn: o.warn,
      tickMs: o.tickMs,
      onSaved: o.onSaved,
      connectTimeoutMs: 30_000,
      signal: controller.signal,
    });
  })();
  return { done, abort: () => controller.abort() };
}
