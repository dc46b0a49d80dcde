/*
 * `pipewatch ota publish`: announce a signed update to nodes over MQTT and serve its image.
 *
 *   ota publish --broker mqtt://HOST:PORT --manifest F --image F (--node ID ... | --group all)
 *               [--host 127.0.0.1] [--timeout 10m]
 *
 * 1. Checks that the image matches the manifest (size, SHA-256); the signature is the nodes'
 *    business (they hold the public key), but a manifest that does not parse is refused here.
 * 2. Serves the image over HTTP with range requests on `--host` (loopback by default; a LAN
 *    address for field nodes, with a warning), one path per node (so each node's progress is
 *    visible on the server side too). Nodes may as well download from any HTTP(S) server: the
 *    manifest's signed-in `--url` is used when the offer carries none (docs/ota.md).
 * 3. Subscribes to pipewatch/<dev>/ota/status, then publishes the offer on pipewatch/<dev>/ota
 *    (QoS 1, not retained; a node that is offline gets it from its persistent session): the
 *    signed manifest followed by the URL of its image (firmware/ota/agent.ts documents it).
 *    A node is offered the update once its retained pipewatch/<dev>/status ("online", or the
 *    will's "offline") shows it has a session at the broker; a node seen coming online just now
 *    gets a second to subscribe first (it publishes "online" before its SUBSCRIBE).
 *    `--group all` offers it to every node whose retained pipewatch/<dev>/status is "online".
 *    A node whose status says "offline" (it stopped, or its will was published) is told about:
 *    it gets the offer from its persistent session when it comes back.
 * 4. Draws one progress line per node (redrawn on a TTY, plain lines otherwise) and ends when
 *    every node reported `confirmed` (exit 0) or something else final: refused, failed,
 *    rolledBack, or the timeout (exit 1), with a one-line summary per node. Usage errors and a
 *    broker that cannot be reached (BrokerUnreachable): 2, in tools/ota.ts.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { parseManifest, versionText } from '../firmware/ota/manifest';
import { sha256 } from '../firmware/crypto/sha256';
import { toHex } from '../firmware/crypto/hex';
import { startImageServer } from './ota-server';

type Out = (line: string) => void;

export interface PublishOptions {
  broker: string;
  manifest: Uint8Array;
  image: Uint8Array;
  /** Device ids, or 'all' for every node announcing itself online. */
  nodes: string[] | 'all';
  /** The image server's address, put in the URLs (default 127.0.0.1), and port (default a free one). */
  host?: string;
  port?: number;
  timeoutMs?: number;
  /** Notes that are not progress (a node's status is offline): default stderr. */
  warn?: Out;
  /** How long `--group all` listens for retained "online" statuses (default 1.5 s). */
  discoverMs?: number;
  out?: Out;
  /** Redraw lines in place (default: stdout is a TTY). */
  tty?: boolean;
  /** Test switch for the image server (see tools/ota-server.ts). */
  interruptAfterBytes?: number;
  write?: (text: string) => void;
}

export type NodeOutcome = 'confirmed' | 'refused' | 'failed' | 'rolledBack' | 'timeout';

export interface NodeProgress {
  deviceId: string;
  phase: string;
  bytes: number;
  total: number;
  running: string;
  reason?: string;
  outcome?: NodeOutcome;
  events: string[];
}

export interface PublishResult {
  code: number;
  nodes: NodeProgress[];
  /** Range requests the image server answered (per node path). */
  requests: Array<{ path: string; range: string | undefined; status: number }>;
}

/** The broker refused or did not answer: nothing was offered. */
export class BrokerUnreachable extends Error {}

const FINAL: Record<string, NodeOutcome> = { confirmed: 'confirmed', refused: 'refused', failed: 'failed', rolledBack: 'rolledBack' };

function bar(fraction: number, width = 24): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '#'.repeat(full) + '-'.repeat(width - full);
}

function line(p: NodeProgress): string {
  const pct = p.total ? Math.floor((p.bytes / p.total) * 100) : 0;
  const kib = (n: number) => (n / 1024).toFixed(1);
  const detail = p.outcome ? `${p.outcome}${p.reason ? `: ${p.reason}` : ''}` : p.phase + (p.reason ? ` (${p.reason})` : '');
  return `${p.deviceId.padEnd(12)} [${bar(p.total ? p.bytes / p.total : 0)}] ${String(pct).padStart(3)}% ${kib(p.bytes)}/${kib(p.total)} KiB  ${detail}`;
}

export async function publishUpdate(o: PublishOptions): Promise<PublishResult> {
  const out = o.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const write = o.write ?? ((t: string) => process.stdout.write(t));
  const tty = o.tty ?? process.stdout.isTTY === true;
  const parsed = parseManifest(o.manifest);
  if (!parsed.ok) throw new Error(`the manifest does not parse (${parsed.reason})`);
  const m = parsed.manifest;
  if (o.image.length !== m.imageBytes || toHex(sha256(o.image)) !== toHex(m.imageSha256)) {
    throw new Error(`the image (${o.image.length} bytes) does not match the manifest (${m.imageBytes} bytes, sha256 ${toHex(m.imageSha256)})`);
  }
  const version = versionText(m.version);
  const warn = o.warn ?? ((l: string) => process.stderr.write(l + '\n'));
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(o.broker, { clientId: `pipewatch-ota-${process.pid}-${Date.now() % 100000}`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new BrokerUnreachable(`cannot reach the broker ${o.broker} (${e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? String(e.message).split('\n')[0]})`);
  }
  const progress = new Map<string, NodeProgress>();
  const images = new Map<string, Uint8Array>();
  let server: Awaited<ReturnType<typeof startImageServer>> | undefined;
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    let ids: string[];
    if (o.nodes === 'all') {
      const online = new Set<string>();
      client.on('message', (topic, payload) => {
        const match = /^pipewatch\/([^/]+)\/status$/.exec(topic);
        if (match && payload.toString() === 'online') online.add(match[1]!);
      });
      await client.subscribeAsync('pipewatch/+/status', { qos: 0 });
      await new Promise((resolve) => setTimeout(resolve, o.discoverMs ?? 1500));
      await client.unsubscribeAsync('pipewatch/+/status');
      client.removeAllListeners('message');
      ids = [...online].sort();
      if (ids.length === 0) throw new Error('--group all: no node announced itself online on pipewatch/+/status');
    } else ids = o.nodes;
    for (const id of ids) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new Error(`--node: invalid device id "${id}"`);
      images.set(`/ota/${id}/${version}.bin`, o.image);
      progress.set(id, { deviceId: id, phase: 'offered', bytes: 0, total: m.imageBytes, running: '', events: [] });
    }
    const redraw = (changed?: NodeProgress) => {
      if (tty) {
        let text = drawn ? `\x1b[${drawn}A` : '';
        for (const p of progress.values()) text += `\x1b[2K${line(p)}\n`;
        drawn = progress.size;
        write(text);
      } else if (changed) out(line(changed));
    };
    server = await startImageServer({
      images,
      host: o.host ?? '127.0.0.1',
      port: o.port,
      interruptAfterBytes: o.interruptAfterBytes,
      onProgress: (_client, sentEnd, _total, path) => {
        const id = path.split('/')[2];
        const p = id ? progress.get(id) : undefined;
        if (p && !p.outcome && p.phase !== 'verified') {
          p.phase = 'downloading';
          if (tty) redraw();
        }
        void sentEnd;
      },
    });
    let settle!: () => void;
    const allDone = new Promise<void>((resolve) => (settle = resolve));
    const check = () => {
      if ([...progress.values()].every((p) => p.outcome)) settle();
    };
    client.on('message', (topic, payload) => {
      const match = /^pipewatch\/([^/]+)\/ota\/status$/.exec(topic);
      const p = match ? progress.get(match[1]!) : undefined;
      if (!p || p.outcome) return;
      let event: { event?: string; running?: string; version?: string; reason?: string; bytes?: number; total?: number; trial?: boolean };
      try {
        event = JSON.parse(payload.toString());
      } catch {
        return;
      }
      if (typeof event.event !== 'string') return;
      p.events.push(event.reason ? `${event.event}:${event.reason}` : event.event);
      if (typeof event.running === 'string') p.running = event.running;
      if (event.event === 'progress' || event.event === 'interrupted') {
        if (typeof event.bytes === 'number') p.bytes = event.bytes;
        p.phase = event.event === 'progress' ? 'downloading' : 'interrupted';
        p.reason = event.reason;
      } else if (event.event === 'verified' || event.event === 'rebooting') {
        p.bytes = p.total;
        p.phase = event.event;
      } else if (event.event === 'booted') {
        p.phase = event.trial ? `trial boot ${event.running}` : `booted ${event.running}`;
      } else {
        // A trial image that failed its health check is rolled back next: wait for that report.
        const outcome = event.event === 'failed' && event.reason === 'healthCheckTimeout' ? undefined : FINAL[event.event];
        if (!outcome) p.phase = event.reason ? `${event.event} (${event.reason})` : event.event;
        // Only events about this update settle it (a node may report on another one).
        if (outcome && (event.version === undefined || event.version === version || outcome === 'refused')) {
          p.outcome = outcome;
          p.reason = event.reason;
          if (outcome === 'confirmed') p.bytes = p.total;
        }
      }
      redraw(p);
      check();
    });
    const offered = new Set<string>();
    const sendOffer = (id: string) => {
      if (offered.has(id)) return;
      offered.add(id);
      const url = new TextEncoder().encode(server!.url(`/ota/${id}/${version}.bin`));
      const offer = new Uint8Array(o.manifest.length + url.length);
      offer.set(o.manifest);
      offer.set(url, o.manifest.length);
      client.publish(`pipewatch/${id}/ota`, Buffer.from(offer), { qos: 1, retain: false });
    };
    const saidOffline = new Set<string>();
    client.on('message', (topic, payload, packet) => {
      const match = /^pipewatch\/([^/]+)\/status$/.exec(topic);
      if (!match || !progress.has(match[1]!)) return;
      const id = match[1]!;
      // Offline before it reported anything about this offer (a reboot into the new image also
      // publishes the will, but then the node has reported progress): say so once.
      if (payload.toString() === 'offline' && !saidOffline.has(id) && progress.get(id)!.events.length === 0) {
        saidOffline.add(id);
        progress.get(id)!.phase = 'node offline; offer waits in its session';
        warn(`pipewatch ota publish: ${id}: status is offline${packet.retain ? ' (retained: the node stopped or lost its connection)' : ''}; it gets the offer when it is back online`);
      }
      if (offered.has(id)) return;
      if (packet.retain) sendOffer(id);
      else setTimeout(() => sendOffer(id), 1000);
    });
    await client.subscribeAsync(ids.map((id) => `pipewatch/${id}/ota/status`), { qos: 1 });
    out(`offering ${m.board} ${version} (${m.imageBytes} bytes, sha256 ${toHex(m.imageSha256).slice(0, 16)}…) to ${ids.length} node(s); image served on ${server.url('/ota/')}`);
    await client.subscribeAsync(ids.map((id) => `pipewatch/${id}/status`), { qos: 0 });
    redraw();
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, o.timeoutMs ?? 600_000)));
    await Promise.race([allDone, timeout]);
    for (const p of progress.values()) {
      if (p.outcome) continue;
      p.outcome = 'timeout';
      if (!offered.has(p.deviceId)) p.phase = 'never seen at the broker, not offered';
    }
    if (tty) redraw();
    for (const p of progress.values()) {
      const detail = p.outcome === 'confirmed' ? `now runs ${version}` : p.reason ? p.reason : p.outcome === 'timeout' ? `last: ${p.phase}` : '';
      out(`${p.deviceId}: ${p.outcome}${detail ? ` (${detail})` : ''}${p.running ? `, running ${p.running}` : ''}`);
    }
    const code = [...progress.values()].every((p) => p.outcome === 'confirmed') ? 0 : 1;
    return { code, nodes: [...progress.values()], requests: server.requests };
  } finally {
    if (timer) clearTimeout(timer);
    await client.endAsync().catch(() => {});
    await server?.close();
  }
}
