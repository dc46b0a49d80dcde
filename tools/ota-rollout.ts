/*
 * `pipewatch ota rollout`: a staged rollout of a signed update over MQTT (the state machine is
 * tools/fleet/rollout.ts; this file is its Node driver).
 *
 * - Connects to the broker with a persistent session (clean session off, a client id kept in
 *   the state file), so the nodes' status events (QoS 1) that arrive while the tool is stopped
 *   wait at the broker for `--resume`.
 * - Learns which nodes are online from their retained `pipewatch/<dev>/status` (and follows it),
 *   and feeds their `pipewatch/<dev>/ota/status` events to the state machine and to the fleet
 *   metrics module (tools/fleet/metrics.ts: the rollout's update success rate).
 * - Serves the image with range requests (tools/ota-server.ts, as `ota publish` does), one path
 *   per node; the port is kept in the state file so a resumed rollout's URLs are the same (a node
 *   given the same manifest and URL again ignores it as a duplicate).
 * - Writes the state file (atomically: a temporary file renamed over it) before any offer goes
 *   out, and after changes (at most every `saveEveryMs`), so a tool that was killed resumes
 *   without offering the update again to a node that has settled. On resume, nodes offered
 *   the update that never answered are offered it again once the events queued at the broker
 *   for the tool have arrived (`discoverMs`).
 * - One progress line per wave (redrawn in place on a TTY, printed when the wave has settled
 *   otherwise), the stop reason, and a result for the JSON summary.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { parseManifest, versionText } from '../firmware/ota/manifest';
import { sha256 } from '../firmware/crypto/sha256';
import { fromHex, toHex } from '../firmware/crypto/hex';
import { startImageServer, type ImageServer } from './ota-server';
import { Rollout, type RolloutConfig, type RolloutJson, type RolloutSummary } from './fleet/rollout';
import { FleetMetrics, type RolloutMetrics } from './fleet/metrics';
import { BrokerUnreachable } from './ota-publish';

type Out = (line: string) => void;

export const STATE_FORMAT = 'pipewatch-rollout-state/1';

export interface RolloutOptions {
  broker: string;
  /** A fresh rollout: the signed manifest, the image, the targets and the rules. */
  manifest?: Uint8Array;
  image?: Uint8Array;
  /** Device ids, or 'all': every node with a retained status at the broker. */
  targets?: string[] | 'all';
  /** How the targets were chosen (`all`, `line:L1`, `file:ids.txt`), for the state file. */
  to?: string;
  rules?: Omit<RolloutConfig, 'version'>;
  /** The state file (written; read with `resume`). */
  statePath: string;
  /** Continue the rollout of the state file. `image` may be given again (checked against it). */
  resume?: boolean;
  /** Where the image lives (saved, to read it again on resume). */
  imagePath?: string;
  host?: string;
  port?: number;
  out?: Out;
  warn?: Out;
  tty?: boolean;
  /** The rollout's clock (ms, monotonic): default real time; the simulator gives its virtual clock. */
  now?: () => number;
  /** Wall-clock ms for the metrics module's event times (default Date.now). */
  wallNow?: () => number;
  /**
   * The first step waits for this (connected and following the statuses meanwhile); `started`
   * is called once the first offers are out (the simulator holds its virtual clock in between).
   */
  startGate?: Promise<void>;
  started?: () => void;
  /** How often the state machine is stepped (real ms, default 200). */
  tickMs?: number;
  /** How long retained statuses (and events queued for a resumed session) are collected first (real ms, default 1500). */
  discoverMs?: number;
  /** A node seen coming online is offered the update after this (real ms, default 1000: it subscribes after saying online). */
  onlineDelayMs?: number;
  /**
   * Runs `fn` after `ms` on the rollout's clock (`now`): the simulator's, whose virtual time can
   * run hours ahead of a real-time timer. Default: a real-time timer.
   */
  after?: (ms: number, fn: () => void) => void;
  saveEveryMs?: number;
  /** How long the broker gets to answer the CONNECT (default 10 s). */
  connectTimeoutMs?: number;
  /** Test hook: after each state file write. */
  onSaved?: (state: RolloutJson) => void;
  /** Test hook: ends the run early (like a kill, but the state on disk is what the last write left). */
  signal?: AbortSignal;
}

export interface RolloutResult {
  code: number;
  summary: RolloutSummary & { stateFile: string; resumed: boolean; metrics: RolloutMetrics | null };
  /** Offers published in this run, per node. */
  offers: Record<string, number>;
  requests: ImageServer['requests'];
}

interface StateFile {
  format: string;
  clientId: string;
  broker: string;
  to: string;
  port: number;
  imagePath: string | null;
  imageSha256: string;
  manifest: string;
  rollout: RolloutJson;
}

/** The state file could not be used (missing for --resume, exists for a fresh rollout, malformed). */
export class StateError extends Error {}

export function readState(path: string): StateFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new StateError(`cannot read the state file ${path} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  let s: StateFile;
  try {
    s = JSON.parse(text) as StateFile;
  } catch {
    throw new StateError(`the state file ${path} is not JSON`);
  }
  if (!s || s.format !== STATE_FORMAT || typeof s.clientId !== 'string' || typeof s.manifest !== 'string' || typeof s.imageSha256 !== 'string') {
    throw new StateError(`${path} is not a rollout state file (${STATE_FORMAT})`);
  }
  return s;
}

function writeState(path: string, s: StateFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(s) + '\n');
  renameSync(tmp, path);
}

export async function runRollout(o: RolloutOptions): Promise<RolloutResult> {
  const out = o.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const warn = o.warn ?? ((l: string) => process.stderr.write(l + '\n'));
  const tty = o.tty ?? process.stdout.isTTY === true;
  const now = o.now ?? (() => performance.now());
  const wallNow = o.wallNow ?? (() => Date.now());
  const discoverMs = o.discoverMs ?? 1500;

  let saved: StateFile | undefined;
  let manifest: Uint8Array;
  let image: Uint8Array;
  if (o.resume) {
    saved = readState(o.statePath);
    manifest = fromHex(saved.manifest) ?? new Uint8Array(0);
    if (o.image) image = o.image;
    else {
      if (!saved.imagePath) throw new StateError('the state file names no image file: give --image again');
      try {
        image = new Uint8Array(readFileSync(saved.imagePath));
      } catch (error) {
        throw new StateError(`cannot read the image ${saved.imagePath} named in the state file (${(error as NodeJS.ErrnoException).code}): give --image`);
      }
    }
    if (toHex(sha256(image)) !== saved.imageSha256) throw new StateError(`the image is not the one this rollout offers (sha256 ${saved.imageSha256.slice(0, 16)}…)`);
  } else {
    if (!o.manifest || !o.image || !o.targets || !o.rules) throw new Error('runRollout: manifest, image, targets and rules are needed');
    manifest = o.manifest;
    image = o.image;
  }
  const parsed = parseManifest(manifest);
  if (!parsed.ok) throw new Error(`the manifest does not parse (${parsed.reason})`);
  const m = parsed.manifest;
  if (image.length !== m.imageBytes || toHex(sha256(image)) !== toHex(m.imageSha256)) {
    throw new Error(`the image (${image.length} bytes) does not match the manifest (${m.imageBytes} bytes)`);
  }
  const version = versionText(m.version);
  const clientId = saved?.clientId ?? `pipewatch-rollout-${toHex(new Uint8Array(randomBytes(6)))}`;

  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(o.broker, { clientId, clean: false, reconnectPeriod: 1000, connectTimeout: o.connectTimeoutMs ?? 10_000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new BrokerUnreachable(`cannot reach the broker ${o.broker} (${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? String(e.message).split('\n')[0]})`);
  }
  const metrics = new FleetMetrics([]);
  const statuses = new Map<string, 'online' | 'offline'>();
  // Events that arrive before the machine exists (a resumed session's queue): kept in order.
  const early: Array<{ dev: string; event: Record<string, unknown> }> = [];
  let rollout: Rollout | undefined;
  let savedChanges = -1;
  const offers: Record<string, number> = {};
  const onlineTimers = new Set<NodeJS.Timeout>();
  let ended = false;
  const handleEvent = (dev: string, event: Record<string, unknown>) => {
    if (!rollout) {
      early.push({ dev, event });
      return;
    }
    if (!rollout.node(dev)) return;
    rollout.event(dev, event as never, now());
    if (event.version === undefined || event.version === version) metrics.addOtaStatus(dev, event as never, wallNow());
  };
  client.on('message', (topic, payload, packet) => {
    const status = /^pipewatch\/([^/]+)\/status$/.exec(topic);
    if (status) {
      const dev = status[1]!;
      const text = payload.toString();
      if (text !== 'online' && text !== 'offline') return;
      statuses.set(dev, text);
      if (!rollout) return;
      if (text === 'offline') {
        rollout.setOffline(dev, now());
      } else if (packet.retain) rollout.setOnline(dev, now());
      else if (o.after) {
        o.after(o.onlineDelayMs ?? 1000, () => {
          if (!ended && statuses.get(dev) === 'online') rollout?.setOnline(dev, now());
        });
      } else {
        const timer = setTimeout(() => {
          onlineTimers.delete(timer);
          if (statuses.get(dev) === 'online') rollout?.setOnline(dev, now());
        }, o.onlineDelayMs ?? 1000);
        onlineTimers.add(timer);
      }
      return;
    }
    const ota = /^pipewatch\/([^/]+)\/ota\/status$/.exec(topic);
    if (!ota) return;
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      return;
    }
    if (event && typeof event.event === 'string') handleEvent(ota[1]!, event);
  });

  let server: ImageServer | undefined;
  let tick: NodeJS.Timeout | undefined;
  let saveTimer: NodeJS.Timeout | undefined;
  try {
    // The image server first (on the port of the first run when resuming): a node whose download
    // was cut by the stop retries it there. Its paths are filled in once the targets are known.
    const images = new Map<string, Uint8Array>();
    for (const n of saved?.rollout.nodes ?? []) images.set(`/ota/${n.id}/${version}.bin`, image);
    const wantPort = o.port ?? saved?.port;
    try {
      server = await startImageServer({ images, host: o.host ?? '127.0.0.1', port: wantPort });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || o.port !== undefined) throw error;
      warn(`pipewatch ota rollout: port ${wantPort} of the first run is in use; the image is served on another (nodes under way resume their download from the new URL)`);
      server = await startImageServer({ images, host: o.host ?? '127.0.0.1' });
    }
    await client.subscribeAsync({ 'pipewatch/+/ota/status': { qos: 1 }, 'pipewatch/+/status': { qos: 1 } });
    await new Promise((resolve) => setTimeout(resolve, discoverMs));
    if (o.startGate) await Promise.race([o.startGate, new Promise<void>((resolve) => o.signal?.addEventListener('abort', () => resolve()))]);

    if (saved) rollout = Rollout.fromJSON(saved.rollout, now());
    else {
      let ids: string[];
      if (o.targets === 'all') {
        ids = [...statuses.keys()].sort();
        if (ids.length === 0) throw new Error('--to all: no node has a retained status on pipewatch/+/status at the broker');
      } else ids = o.targets!;
      for (const id of ids) if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new Error(`invalid device id "${id}"`);
      rollout = new Rollout({ version, ...o.rules! }, ids);
    }
    const r = rollout;
    for (const [dev, s] of statuses) if (s === 'online') r.setOnline(dev, now());
    for (const e of early.splice(0)) handleEvent(e.dev, e.event);

    for (const n of r.nodes) images.set(`/ota/${n.id}/${version}.bin`, image);
    const srv = server;
    const state = (): StateFile => ({
      format: STATE_FORMAT,
      clientId,
      broker: o.broker,
      to: saved?.to ?? o.to ?? (o.targets === 'all' ? 'all' : 'ids'),
      port: srv.port,
      imagePath: o.imagePath ?? saved?.imagePath ?? null,
      imageSha256: toHex(sha256(image)),
      manifest: toHex(manifest),
      rollout: r.toJSON(),
    });
    const save = () => {
      savedChanges = r.changes;
      const s = state();
      writeState(o.statePath, s);
      o.onSaved?.(s.rollout);
    };
    save();
    const offer = (ids: string[]) => {
      if (ids.length === 0) return;
      // On disk before on the wire: a kill after this never loses an offer.
      save();
      for (const id of ids) {
        const url = new TextEncoder().encode(srv.url(`/ota/${id}/${version}.bin`));
        const payload = new Uint8Array(manifest.length + url.length);
        payload.set(manifest);
        payload.set(url, manifest.length);
        offers[id] = (offers[id] ?? 0) + 1;
        client.publish(`pipewatch/${id}/ota`, Buffer.from(payload), { qos: 1, retain: false });
      }
    };
    out(
      `${saved ? 'resuming' : 'rolling out'} ${m.board} ${version} (${m.imageBytes} bytes) to ${r.nodes.length} node(s) in ${r.waves.length} wave(s) ` +
        `${r.waves.map((w) => `${w.pct}%`).join(',')}; stop above ${r.config.abortAbovePct} % failed; ${r.config.maxConcurrent} downloads at once; image on ${srv.url('/ota/')}; state ${o.statePath}`,
    );
    if (saved) {
      // Offered before the stop and never answered (not even after the queued events arrived): again.
      const unanswered = r.nodes.filter((n) => n.state === 'offered' && r.isOnline(n.id)).map((n) => n.id);
      for (const id of unanswered) r.node(id)!.offers++;
      offer(unanswered);
    }

    const printed = new Set<number>();
    for (let i = 0; i < r.waves.length; i++) if (r.waves[i]!.settledAtMs !== undefined) printed.add(i);
    let drawn = false;
    let saidStop = false;
    const report = () => {
      for (let i = 0; i < r.waves.length; i++) {
        if (printed.has(i) || r.waves[i]!.settledAtMs === undefined) continue;
        printed.add(i);
        if (tty && drawn) process.stdout.write('\x1b[1A\x1b[2K');
        drawn = false;
        out(r.waveLine(i));
      }
      if (r.stopped && !saidStop) {
        saidStop = true;
        if (tty && drawn) process.stdout.write('\x1b[1A\x1b[2K');
        drawn = false;
        out(`stopped: ${r.stopReason}`);
      }
      if (tty && r.wave >= 0 && !printed.has(r.wave)) {
        process.stdout.write(`${drawn ? '\x1b[1A\x1b[2K' : ''}${r.waveLine(r.wave)}\n`);
        drawn = true;
      }
    };
    let lastSave = performance.now();
    let startedCalled = false;
    await new Promise<void>((resolve) => {
      const step = () => {
        if (o.signal?.aborted) return resolve();
        const t = now();
        // Waves that settled on an event: their line as they settled, before this step offers more.
        report();
        const ids = r.step(t);
        offer(ids);
        if (!startedCalled) {
          startedCalled = true;
          o.started?.();
        }
        report();
        if (r.changes !== savedChanges && performance.now() - lastSave >= (o.saveEveryMs ?? 250)) {
          save();
          lastSave = performance.now();
        }
        if (r.done(t)) return resolve();
        tick = setTimeout(step, o.tickMs ?? 200);
      };
      step();
    });
    if (o.signal?.aborted) {
      const summary = { ...r.summary(), stateFile: o.statePath, resumed: !!saved, metrics: metrics.report().ota.rollouts[version] ?? null };
      return { code: 1, summary, offers, requests: srv.requests };
    }
    save();
    // Waves under way when the rollout stopped: their line too.
    for (let i = 0; i <= r.wave && i < r.waves.length; i++) if (!printed.has(i)) {
      if (tty && drawn) process.stdout.write('\x1b[1A\x1b[2K');
      drawn = false;
      printed.add(i);
      out(r.waveLine(i));
    }
    const summary = { ...r.summary(), stateFile: o.statePath, resumed: !!saved, metrics: metrics.report().ota.rollouts[version] ?? null };
    const c = summary.counts;
    out(
      `${summary.complete ? 'done' : summary.stopped ? 'stopped' : 'ended'}: ${c.confirmed} of ${summary.targets} confirmed` +
        (summary.settled - c.confirmed ? `, ${summary.settled - c.confirmed} failed (${Object.entries(summary.failures).map(([k, v]) => `${k} ${v}`).join(', ')})` : '') +
        (summary.unreached.length
          ? summary.stopped ? `, ${summary.unreached.length} not offered (the rollout stopped)` : `, ${summary.unreached.length} not reached (offline; --resume offers it to them when they are back)`
          : ''),
    );
    // Nothing more to follow: the session keeps no subscription (no messages pile up for it).
    if (summary.complete || summary.stopped) await client.unsubscribeAsync(['pipewatch/+/ota/status', 'pipewatch/+/status']).catch(() => {});
    return { code: summary.complete ? 0 : 1, summary, offers, requests: srv.requests };
  } finally {
    o.started?.();
    if (tick) clearTimeout(tick);
    if (saveTimer) clearTimeout(saveTimer);
    ended = true;
    for (const t of onlineTimers) clearTimeout(t);
    // Ended early (the simulation is over, its broker maybe gone): do not wait for the broker.
    await client.endAsync(o.signal?.aborted === true).catch(() => {});
    await server?.close();
  }
}
