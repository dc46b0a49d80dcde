/*
 * TCP fault proxy (Node only): sits between nodes and a broker on 127.0.0.1 and breaks the link
 * the ways real networks do.
 *
 *   const proxy = await FaultProxy.start({ target: { port: broker.port } });
 *   mqtt.connect(`mqtt://127.0.0.1:${proxy.port}`)
 *   proxy.stall();                 // bytes stop in both directions, no FIN, sockets stay open
 *   proxy.unstall();               // everything queued meanwhile flows again, in order
 *   proxy.drop();                  // FIN to both sides of every link
 *   proxy.reset();                 // RST to both sides of every link
 *   proxy.delay(150);              // one-way delay per direction (round trip + 300 ms)
 *   proxy.throttle(2000);          // bytes per second per direction per link (0: unlimited)
 *   await proxy.refuse('reset');   // accept, then RST at once   ('closed': listener closed, ECONNREFUSED)
 *   await proxy.refuse(false);     // accept again, on the same port
 *   proxy.scenario([{ at: 1000, action: 'stall' }, { at: 5000, action: 'unstall' }], { clock });
 *
 * The same controls exist per link (`proxy.links()[i].stall()`); the proxy-wide ones apply to
 * every open link and become the default for new links.
 *
 * Every incoming connection is logged with its time (`log`, `counters`), so the reconnect storm
 * can be measured on real clients with `peakWindow` from ./storm. Connections refused in
 * 'closed' mode never reach the proxy (the kernel refuses them) and are not logged.
 *
 * Delays, throttling and scenarios run on a `Clock` (./clock): real time by default, or a
 * `VirtualClock` (then they progress only as the test advances it). A broker that refuses or
 * fails the upstream connection makes the proxy reset the client: the client sees ECONNRESET
 * rather than ECONNREFUSED.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { realClock, type Clock, type ClockTimerId } from './clock';

export type RefuseMode = false | 'reset' | 'closed';

export interface ProxyTarget {
  host?: string;
  port: number;
}

export interface ProxyOptions {
  target: ProxyTarget;
  /** Listening address (default 127.0.0.1) and port (default 0: a free one). */
  host?: string;
  port?: number;
  clock?: Clock;
  /** Connection attempts kept in `log` (default 100,000); later ones are counted in `logDropped`. */
  logLimit?: number;
}

export type AttemptOutcome = 'pending' | 'forwarded' | 'refused' | 'upstream-failed';

export interface ConnectAttempt {
  /** Clock time the proxy accepted the connection. */
  atMs: number;
  id: number;
  remotePort: number;
  outcome: AttemptOutcome;
}

export interface ProxyCounters {
  attempts: number;
  forwarded: number;
  refused: number;
  upstreamFailed: number;
  drops: number;
  resets: number;
}

interface Shaping {
  stalled: boolean;
  delayMs: number;
  bytesPerSecond: number;
}

/** Bytes a direction may hold before it stops reading its source (TCP back-pressure). */
const HIGH_WATER_BYTES = 256 * 1024;
const LOW_WATER_BYTES = 64 * 1024;

type Item = { kind: 'data'; chunk: Buffer; readyAtMs: number } | { kind: 'end' | 'reset'; readyAtMs: number };

/** One direction of a link: a FIFO released by delay, throttle and stall. */
class Direction {
  readonly #queue: Item[] = [];
  #queuedBytes = 0;
  #timer: ClockTimerId | undefined;
  #waitingDrain = false;
  #tokens = 0;
  #refillAtMs: number;
  #finished = false;
  bytes = 0;

  constructor(
    readonly source: Socket,
    readonly dest: Socket,
    readonly link: ProxyLink,
    readonly clock: Clock,
  ) {
    this.#refillAtMs = clock.now();
  }

  push(item: Item): void {
    if (this.#finished) return;
    this.#queue.push(item);
    if (item.kind === 'data') {
      this.#queuedBytes += item.chunk.length;
      if (this.#queuedBytes > HIGH_WATER_BYTES) this.source.pause();
    }
    this.pump();
  }

  clear(): void {
    this.#finished = true;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.clock.clear(this.#timer);
    this.#timer = undefined;
  }

  pump(): void {
    const shaping = this.link.shaping;
    if (shaping.stalled || this.#waitingDrain || this.#timer !== undefined || this.#finished) return;
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const nowMs = this.clock.now();
      if (head.readyAtMs > nowMs) {
        this.#wake(head.readyAtMs - nowMs);
        return;
      }
      if (head.kind !== 'data') {
        this.#queue.shift();
        this.#finished = true;
        if (head.kind === 'end') this.dest.end();
        else this.link.reset();
        return;
      }
      let chunk = head.chunk;
      if (shaping.bytesPerSecond > 0) {
        const burst = Math.max(1, Math.floor(shaping.bytesPerSecond / 20));
        this.#tokens = Math.min(burst, this.#tokens + ((nowMs - this.#refillAtMs) * shaping.bytesPerSecond) / 1000);
        this.#refillAtMs = nowMs;
        if (this.#tokens < 1) {
          this.#wake(Math.ceil(((1 - this.#tokens) * 1000) / shaping.bytesPerSecond));
          return;
        }
        const allowed = Math.floor(this.#tokens);
        if (chunk.length > allowed) {
          head.chunk = chunk.subarray(allowed);
          chunk = chunk.subarray(0, allowed);
        } else this.#queue.shift();
        this.#tokens -= chunk.length;
      } else {
        this.#queue.shift();
        this.#refillAtMs = nowMs;
      }
      this.#queuedBytes -= chunk.length;
      this.bytes += chunk.length;
      if (this.#queuedBytes < LOW_WATER_BYTES && this.source.isPaused()) this.source.resume();
      if (!this.dest.write(chunk)) {
        this.#waitingDrain = true;
        this.dest.once('drain', () => {
          this.#waitingDrain = false;
          this.pump();
        });
        return;
      }
    }
  }

  #wake(ms: number): void {
    this.#timer = this.clock.set(() => {
      this.#timer = undefined;
      this.pump();
    }, ms);
  }
}

/** One client connection and its upstream connection to the broker. */
export class ProxyLink {
  readonly shaping: Shaping;
  readonly #up: Direction;
  readonly #down: Direction;
  #closed = false;
  #onClosed: () => void;

  constructor(
    readonly id: number,
    readonly client: Socket,
    readonly upstream: Socket,
    readonly openedAtMs: number,
    shaping: Shaping,
    clock: Clock,
    onClosed: () => void,
  ) {
    this.shaping = { ...shaping };
    this.#onClosed = onClosed;
    this.#up = new Direction(client, upstream, this, clock);
    this.#down = new Direction(upstream, client, this, clock);
    const wire = (source: Socket, direction: Direction) => {
      source.on('data', (chunk: Buffer) => direction.push({ kind: 'data', chunk, readyAtMs: clock.now() + this.shaping.delayMs }));
      source.on('end', () => direction.push({ kind: 'end', readyAtMs: clock.now() + this.shaping.delayMs }));
      source.on('error', () => direction.push({ kind: 'reset', readyAtMs: clock.now() + this.shaping.delayMs }));
      source.on('close', () => this.#checkClosed());
    };
    wire(client, this.#up);
    wire(upstream, this.#down);
  }

  /** Bytes forwarded client to broker, and broker to client. */
  get bytesUp(): number {
    return this.#up.bytes;
  }
  get bytesDown(): number {
    return this.#down.bytes;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get stalled(): boolean {
    return this.shaping.stalled;
  }

  /** FIN to both sides; queued bytes are discarded; what arrives afterwards is read and ignored. */
  drop(): void {
    if (this.#closed) return;
    this.#up.clear();
    this.#down.clear();
    for (const socket of [this.client, this.upstream]) {
      socket.resume();
      socket.end();
    }
  }

  /** RST to both sides. */
  reset(): void {
    if (this.#closed) return;
    this.#up.clear();
    this.#down.clear();
    for (const socket of [this.client, this.upstream]) {
      if (socket.destroyed) continue;
      if (socket.connecting || socket.readyState === 'closed') socket.destroy();
      else socket.resetAndDestroy();
    }
  }

  /** Forward nothing, in either direction, and send no FIN; the sockets stay open. */
  stall(): void {
    this.shaping.stalled = true;
  }

  unstall(): void {
    this.shaping.stalled = false;
    this.#up.pump();
    this.#down.pump();
  }

  /** One-way delay for bytes that arrive from now on, per direction. */
  delay(ms: number): void {
    if (!(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`delay: ms must be >= 0, got ${ms}`);
    this.shaping.delayMs = ms;
  }

  /** Rate limit per direction in bytes per second; 0 removes it. */
  throttle(bytesPerSecond: number): void {
    if (!(bytesPerSecond >= 0 && Number.isFinite(bytesPerSecond))) {
      throw new RangeError(`throttle: bytesPerSecond must be >= 0, got ${bytesPerSecond}`);
    }
    this.shaping.bytesPerSecond = bytesPerSecond;
    this.#up.pump();
    this.#down.pump();
  }

  /** Destroys both sockets without ceremony (used on proxy close). */
  destroy(): void {
    this.#up.clear();
    this.#down.clear();
    this.client.destroy();
    this.upstream.destroy();
  }

  #checkClosed(): void {
    if (this.#closed || !this.client.destroyed || !this.upstream.destroyed) return;
    this.#closed = true;
    this.#up.clear();
    this.#down.clear();
    this.#onClosed();
  }
}

export type ScenarioStep =
  | { at: number; action: 'drop' | 'reset' | 'stall' | 'unstall' | 'accept' | 'restartBroker' }
  | { at: number; action: 'refuse'; mode?: 'reset' | 'closed' }
  | { at: number; action: 'delay'; ms: number }
  | { at: number; action: 'throttle'; bytesPerSecond: number }
  | { at: number; action: 'call'; run: (proxy: FaultProxy) => void | Promise<void> };

export interface ScenarioOptions {
  /** Defaults to the proxy's clock. */
  clock?: Clock;
  /** What 'restartBroker' does (e.g. `aedes.restart` or `mosquitto.restart`). */
  restartBroker?: () => void | Promise<void>;
}

export interface ScenarioRun {
  /** Steps started so far, with the clock time each started at. */
  readonly executed: Array<{ step: ScenarioStep; atMs: number }>;
  /** Errors thrown or rejected by steps. */
  readonly errors: unknown[];
  /** Resolves once every step has run and settled (or the run was cancelled). */
  readonly done: Promise<void>;
  /** Resolves once every step started so far has settled. */
  settled(): Promise<void>;
  cancel(): void;
}

const ACTIONS = new Set(['drop', 'reset', 'stall', 'unstall', 'accept', 'restartBroker', 'refuse', 'delay', 'throttle', 'call']);

export class FaultProxy {
  readonly host: string;
  readonly clock: Clock;
  readonly log: ConnectAttempt[] = [];
  logDropped = 0;
  readonly counters: ProxyCounters = { attempts: 0, forwarded: 0, refused: 0, upstreamFailed: 0, drops: 0, resets: 0 };
  target: ProxyTarget;
  #port = 0;
  #server: Server | undefined;
  #refuse: RefuseMode = false;
  #nextId = 1;
  #closed = false;
  readonly #logLimit: number;
  readonly #links = new Set<ProxyLink>();
  readonly #pending = new Set<Socket>();
  readonly #shaping: Shaping = { stalled: false, delayMs: 0, bytesPerSecond: 0 };

  private constructor(options: ProxyOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.clock = options.clock ?? realClock();
    this.target = { host: options.target.host ?? '127.0.0.1', port: options.target.port };
    this.#logLimit = options.logLimit ?? 100_000;
  }

  static async start(options: ProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await proxy.#listen(options.port ?? 0);
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get refusing(): RefuseMode {
    return this.#refuse;
  }

  /** Open links, oldest first. */
  links(): ProxyLink[] {
    return [...this.#links];
  }

  drop(): void {
    this.counters.drops++;
    for (const link of this.#links) link.drop();
    for (const socket of this.#pending) {
      this.#pending.delete(socket);
      socket.resume();
      socket.end();
    }
  }

  reset(): void {
    this.counters.resets++;
    for (const link of this.#links) link.reset();
    for (const socket of this.#pending) {
      this.#pending.delete(socket);
      socket.resetAndDestroy();
    }
  }

  stall(): void {
    this.#shaping.stalled = true;
    for (const link of this.#links) link.stall();
  }

  unstall(): void {
    this.#shaping.stalled = false;
    for (const link of this.#links) link.unstall();
  }

  delay(ms: number): void {
    if (!(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`delay: ms must be >= 0, got ${ms}`);
    this.#shaping.delayMs = ms;
    for (const link of this.#links) link.delay(ms);
  }

  throttle(bytesPerSecond: number): void {
    if (!(bytesPerSecond >= 0 && Number.isFinite(bytesPerSecond))) {
      throw new RangeError(`throttle: bytesPerSecond must be >= 0, got ${bytesPerSecond}`);
    }
    this.#shaping.bytesPerSecond = bytesPerSecond;
    for (const link of this.#links) link.throttle(bytesPerSecond);
  }

  /**
   * 'reset': connections are accepted and reset at once (logged as refused). 'closed': the
   * listener closes, so connects fail with ECONNREFUSED. false: accept again on the same port.
   * Open links are not touched.
   */
  async refuse(mode: RefuseMode = 'reset'): Promise<void> {
    if (mode !== false && mode !== 'reset' && mode !== 'closed') throw new RangeError(`refuse: unknown mode ${String(mode)}`);
    this.#refuse = mode;
    if (mode === 'closed' && this.#server) {
      const server = this.#server;
      this.#server = undefined;
      // Stops listening at once; the links it accepted stay open.
      server.close();
    } else if (mode !== 'closed' && !this.#server && !this.#closed) {
      await this.#listen(this.#port);
    }
  }

  /** Runs `steps` at their `at` times (ms after this call) on the given or the proxy's clock. */
  scenario(steps: ScenarioStep[], options: ScenarioOptions = {}): ScenarioRun {
    const clock = options.clock ?? this.clock;
    for (const step of steps) {
      if (!ACTIONS.has(step.action)) throw new RangeError(`scenario: unknown action ${String(step.action)}`);
      if (!(Number.isFinite(step.at) && step.at >= 0)) throw new RangeError(`scenario: step.at must be >= 0, got ${step.at}`);
      if (step.action === 'restartBroker' && !options.restartBroker) {
        throw new RangeError('scenario: a restartBroker step needs options.restartBroker');
      }
    }
    const ordered = steps.map((step, index) => ({ step, index })).sort((a, b) => a.step.at - b.step.at || a.index - b.index);
    const executed: Array<{ step: ScenarioStep; atMs: number }> = [];
    const errors: unknown[] = [];
    const inFlight: Array<Promise<void>> = [];
    const timers: ClockTimerId[] = [];
    let remaining = ordered.length;
    let finish!: () => void;
    const allStarted = new Promise<void>((resolve) => (finish = resolve));
    if (remaining === 0) finish();
    for (const { step } of ordered) {
      timers.push(
        clock.set(() => {
          executed.push({ step, atMs: clock.now() });
          const settled = Promise.resolve()
            .then(() => this.#perform(step, options))
            .catch((error: unknown) => {
              errors.push(error);
            });
          inFlight.push(settled);
          if (--remaining === 0) finish();
        }, step.at),
      );
    }
    const settled = async () => {
      let count = -1;
      while (count !== inFlight.length) {
        count = inFlight.length;
        await Promise.all(inFlight);
      }
    };
    return {
      executed,
      errors,
      done: allStarted.then(settled),
      settled,
      cancel: () => {
        for (const id of timers) clock.clear(id);
        finish();
      },
    };
  }

  /** Closes the listener and destroys every link. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#links) link.destroy();
    for (const socket of this.#pending) socket.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #perform(step: ScenarioStep, options: ScenarioOptions): void | Promise<void> {
    switch (step.action) {
      case 'drop':
        return this.drop();
      case 'reset':
        return this.reset();
      case 'stall':
        return this.stall();
      case 'unstall':
        return this.unstall();
      case 'accept':
        return this.refuse(false);
      case 'refuse':
        return this.refuse(step.mode ?? 'reset');
      case 'delay':
        return this.delay(step.ms);
      case 'throttle':
        return this.throttle(step.bytesPerSecond);
      case 'restartBroker':
        return options.restartBroker!();
      case 'call':
        return step.run(this);
    }
  }

  async #listen(port: number): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('FaultProxy: no TCP address');
    this.#port = address.port;
    this.#server = server;
  }

  #record(attempt: ConnectAttempt): ConnectAttempt {
    this.counters.attempts++;
    if (this.log.length < this.#logLimit) this.log.push(attempt);
    else this.logDropped++;
    return attempt;
  }

  #accept(client: Socket): void {
    const attempt = this.#record({ atMs: this.clock.now(), id: this.#nextId++, remotePort: client.remotePort ?? 0, outcome: 'pending' });
    client.on('error', () => {});
    if (this.#refuse !== false || this.#closed) {
      attempt.outcome = 'refused';
      this.counters.refused++;
      client.resetAndDestroy();
      return;
    }
    this.#pending.add(client);
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    upstream.on('error', () => {});
    const onFailed = () => {
      this.#pending.delete(client);
      attempt.outcome = 'upstream-failed';
      this.counters.upstreamFailed++;
      if (!client.destroyed) client.resetAndDestroy();
    };
    upstream.once('error', onFailed);
    client.once('close', () => {
      if (this.#pending.delete(client)) upstream.destroy();
    });
    upstream.once('connect', () => {
      upstream.off('error', onFailed);
      if (!this.#pending.delete(client) || client.destroyed) {
        upstream.destroy();
        return;
      }
      attempt.outcome = 'forwarded';
      this.counters.forwarded++;
      const link = new ProxyLink(attempt.id, client, upstream, attempt.atMs, this.#shaping, this.clock, () => this.#links.delete(link));
      this.#links.add(link);
      client.resume();
    });
  }
}
