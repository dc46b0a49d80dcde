/*
 * Reconnect storm model: N nodes connected to one broker; the broker goes away at `lossAtMs`
 * (every node sees its link close, within `detectSpreadMs`) and comes back `outageMs` later.
 * Each node retries with its own policy; we record every connection attempt (its SYN time) and
 * measure the largest share of the fleet that attempts within any `windowMs` sliding window,
 * over the whole run and from the broker's return on, and how long until every node is back.
 *
 * Pure and fast: virtual time (`VirtualClock`), one seeded PRNG (`Xoshiro128`), no IO; 1,000
 * nodes run in tens of milliseconds. Two seams are pluggable:
 * - `client(index, random)`: what a node does (`StormClient`): given the loss and the end of each
 *   attempt, how long it waits before the next attempt. `retryClient()` wraps the firmware's
 *   backoff functions; the real firmware client can be adapted to it, or can run on the same
 *   `VirtualClock` and report its attempts to `peakWindow()` directly.
 * - `attempt(...)`: how long an attempt takes and whether it succeeds (`defaultAttempt`: refused
 *   within a few ms while the broker is down, TCP + MQTT CONNECT/CONNACK in 20-200 ms once up).
 */
import type { Random } from '../../firmware/host';
import {
  BACKOFF_EXHAUSTED,
  createBackoff,
  createFixedInterval,
  nextBackoff,
  noteConnected,
  noteDisconnected,
  type BackoffOptions,
  type RetryState,
} from '../../firmware/uplink/backoff';
import { Xoshiro128 } from '../../firmware/util/prng';
import { VirtualClock } from './clock';

/** A node's reconnect behaviour. Delays are in ms; a negative delay means "gives up". */
export interface StormClient {
  /** The established link closed at `nowMs`; returns the wait before the first attempt. */
  lost(nowMs: number): number;
  /** The attempt started earlier ended at `nowMs`; returns the wait before the next one (ignored when `ok`). */
  attemptEnded(ok: boolean, nowMs: number): number;
}

export type StormClientFactory = (index: number, random: Random) => StormClient;

export interface AttemptContext {
  index: number;
  startMs: number;
  /** Whether the broker accepts connections at time `ms`. */
  brokerUp(ms: number): boolean;
  random: Random;
}

export interface AttemptOutcome {
  durationMs: number;
  ok: boolean;
}

export type AttemptModel = (context: AttemptContext) => AttemptOutcome;

/** Refused in 1-21 ms while the broker is down; connected after 20-200 ms when it is up. */
export const defaultAttempt: AttemptModel = ({ startMs, brokerUp, random }) =>
  brokerUp(startMs)
    ? { durationMs: 20 + random.next() * 180, ok: true }
    : { durationMs: 1 + random.next() * 20, ok: false };

/**
 * A broker that completes at most `connectsPerSecond` connections per second of virtual time
 * (CONNECT processing, TLS handshakes, session restore); an attempt beyond that times out after
 * `timeoutMs`. Refused fast while the broker is down, as `defaultAttempt`.
 */
export function limitedBrokerAttempt(connectsPerSecond: number, timeoutMs = 10_000): AttemptModel {
  let bucketSecond = Number.NaN;
  let accepted = 0;
  return (context) => {
    const outcome = defaultAttempt(context);
    if (!outcome.ok) return outcome;
    const second = Math.floor(context.startMs / 1000);
    if (second !== bucketSecond) {
      bucketSecond = second;
      accepted = 0;
    }
    if (accepted >= connectsPerSecond) return { durationMs: timeoutMs, ok: false };
    accepted++;
    return outcome;
  };
}

/**
 * A node driven by a `RetryState` and the firmware's backoff functions: the link had been up
 * since `connectedSinceMs` (long enough to count as stable by default), so on the loss the
 * stable-connection rule decides whether the backoff starts over.
 */
export function retryClient(
  state: RetryState,
  random: Random,
  options: { stableMs?: number; connectedSinceMs?: number } = {},
): StormClient {
  const stableMs = options.stableMs ?? 60_000;
  noteConnected(state, options.connectedSinceMs ?? 0);
  return {
    lost(nowMs) {
      noteDisconnected(state, nowMs, stableMs);
      return nextBackoff(state, random.next());
    },
    attemptEnded(ok, nowMs) {
      if (ok) {
        noteConnected(state, nowMs);
        return 0;
      }
      const delay = nextBackoff(state, random.next());
      return delay === BACKOFF_EXHAUSTED ? -1 : delay;
    },
  };
}

/** Full-jitter exponential backoff (defaults 1 s base, 300 s cap). */
export function fullJitterClients(options: BackoffOptions & { stableMs?: number } = {}): StormClientFactory {
  return (_index, random) => retryClient(createBackoff(options), random, { stableMs: options.stableMs });
}

/** Fixed-interval retry, as ESPHome and Tasmota do (default 5 s). */
export function fixedIntervalClients(options: { intervalMs?: number; stableMs?: number } = {}): StormClientFactory {
  return (_index, random) => retryClient(createFixedInterval(options), random, { stableMs: options.stableMs });
}

export interface StormOptions {
  /** Fleet size (default 1000). */
  nodes?: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** When the broker goes down; nodes were connected from 0 until then (default 600 s). */
  lossAtMs?: number;
  /** How long the broker stays down (default 60 s). */
  outageMs?: number;
  /** Each node notices the loss uniformly within this long after `lossAtMs` (default 100 ms). */
  detectSpreadMs?: number;
  /** Sliding window for the peak measurement (default 1000 ms). */
  windowMs?: number;
  /** Stop simulating here, relative to the broker's return (default 3600 s). */
  horizonMs?: number;
  client: StormClientFactory;
  attempt?: AttemptModel;
}

export interface PeakWindow {
  /** Largest number of distinct nodes with an attempt starting inside one window. */
  nodes: number;
  /** Largest number of attempts inside one window. */
  attempts: number;
  /** Start of the window with the most distinct nodes (NaN when there was no attempt). */
  startMs: number;
}

export interface StormResult {
  nodes: number;
  brokerBackAtMs: number;
  attempts: number;
  attemptsAfterRestart: number;
  /** Peak share of the fleet (0..1) attempting within one window, whole run. */
  peakShare: number;
  peak: PeakWindow;
  /** Peak share of the fleet attempting within one window that starts at or after the broker's return. */
  peakShareAfterRestart: number;
  peakAfterRestart: PeakWindow;
  reconnected: number;
  gaveUp: number;
  /** From the broker's return until the last node is connected (NaN when some never were). */
  allReconnectedAfterMs: number;
  /** From the broker's return until half of the fleet is connected again. */
  halfReconnectedAfterMs: number;
}

/**
 * The sliding-window peak over attempt times (sorted ascending), counting distinct nodes and
 * attempts per window [t, t + windowMs). `nodeOf[i]` names the node of attempt i; without it
 * every attempt counts as its own node (what a proxy that cannot tell nodes apart sees).
 */
export function peakWindow(timesMs: ArrayLike<number>, windowMs: number, nodeOf?: ArrayLike<number>, nodes = 0): PeakWindow {
  const perNode = nodeOf ? new Int32Array(nodes) : undefined;
  let distinct = 0;
  let best: PeakWindow = { nodes: 0, attempts: 0, startMs: Number.NaN };
  let tail = 0;
  for (let head = 0; head < timesMs.length; head++) {
    const t = timesMs[head]!;
    if (head > 0 && t < timesMs[head - 1]!) throw new RangeError('peakWindow: times must be sorted ascending');
    if (perNode) {
      if (perNode[nodeOf![head]!]++ === 0) distinct++;
    } else distinct++;
    while (timesMs[tail]! <= t - windowMs) {
      if (perNode) {
        if (--perNode[nodeOf![tail]!] === 0) distinct--;
      } else distinct--;
      tail++;
    }
    const attempts = head - tail + 1;
    if (distinct > best.nodes) best = { nodes: distinct, attempts: Math.max(best.attempts, attempts), startMs: timesMs[tail]! };
    else if (attempts > best.attempts) best.attempts = attempts;
  }
  return best;
}

/** Runs one storm. Deterministic for a given seed and options. */
export function runStorm(options: StormOptions): StormResult {
  const nodes = options.nodes ?? 1000;
  const lossAtMs = options.lossAtMs ?? 600_000;
  const outageMs = options.outageMs ?? 60_000;
  const detectSpreadMs = options.detectSpreadMs ?? 100;
  const windowMs = options.windowMs ?? 1000;
  const attempt = options.attempt ?? defaultAttempt;
  const brokerBackAtMs = lossAtMs + outageMs;
  const horizonMs = brokerBackAtMs + (options.horizonMs ?? 3_600_000);
  if (!Number.isInteger(nodes) || nodes < 1) throw new RangeError(`runStorm: nodes must be a positive integer, got ${nodes}`);

  const random = new Xoshiro128(options.seed ?? 1);
  const clock = new VirtualClock(0);
  const brokerUp = (ms: number) => ms < lossAtMs || ms >= brokerBackAtMs;
  const times: number[] = [];
  const nodeOf: number[] = [];
  const connectedAt = new Float64Array(nodes).fill(Number.NaN);
  let gaveUp = 0;

  const clients: StormClient[] = [];
  for (let i = 0; i < nodes; i++) clients.push(options.client(i, random));

  const schedule = (index: number, delayMs: number) => {
    if (delayMs < 0) {
      gaveUp++;
      return;
    }
    clock.set(() => start(index), delayMs);
  };
  const start = (index: number) => {
    const startMs = clock.now();
    times.push(startMs);
    nodeOf.push(index);
    const outcome = attempt({ index, startMs, brokerUp, random });
    clock.set(() => {
      const nowMs = clock.now();
      const next = clients[index]!.attemptEnded(outcome.ok, nowMs);
      if (outcome.ok) connectedAt[index] = nowMs;
      else schedule(index, next);
    }, outcome.durationMs);
  };
  for (let i = 0; i < nodes; i++) {
    clock.set(() => schedule(i, clients[i]!.lost(clock.now())), lossAtMs + random.next() * detectSpreadMs);
  }
  clock.runAll(horizonMs);

  const peak = peakWindow(times, windowMs, nodeOf, nodes);
  let firstAfter = 0;
  while (firstAfter < times.length && times[firstAfter]! < brokerBackAtMs) firstAfter++;
  const peakAfterRestart = peakWindow(times.slice(firstAfter), windowMs, nodeOf.slice(firstAfter), nodes);

  const back = Array.from(connectedAt).filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
  return {
    nodes,
    brokerBackAtMs,
    attempts: times.length,
    attemptsAfterRestart: times.length - firstAfter,
    peakShare: peak.nodes / nodes,
    peak,
    peakShareAfterRestart: peakAfterRestart.nodes / nodes,
    peakAfterRestart,
    reconnected: back.length,
    gaveUp,
    allReconnectedAfterMs: back.length === nodes ? back[nodes - 1]! - brokerBackAtMs : Number.NaN,
    halfReconnectedAfterMs: back.length * 2 >= nodes ? back[Math.ceil(nodes / 2) - 1]! - brokerBackAtMs : Number.NaN,
  };
}

export interface StormComparison {
  fullJitter: StormResult;
  fixedInterval: StormResult;
}

/** The same storm (same seed, same fleet, same outage) under full jitter and under a fixed interval. */
export function compareStorm(
  options: Omit<StormOptions, 'client'> & { backoff?: BackoffOptions; fixedIntervalMs?: number; stableMs?: number } = {},
): StormComparison {
  const { backoff, fixedIntervalMs, stableMs, ...rest } = options;
  return {
    fullJitter: runStorm({ ...rest, client: fullJitterClients({ ...backoff, stableMs }) }),
    fixedInterval: runStorm({ ...rest, client: fixedIntervalClients({ intervalMs: fixedIntervalMs, stableMs }) }),
  };
}
