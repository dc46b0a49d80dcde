/*
 * Advertises an MQTT broker as `_mqtt._tcp` by mDNS (DNS-SD, RFC 6763), with the well-kept
 * `multicast-dns` package, so that a node with no broker in its settings finds it
 * (firmware/provision/mdns.ts). Answers each PTR question for `_mqtt._tcp.local` (or ANY) with
 * PTR → `<instance>._mqtt._tcp.local`, its SRV (port, `<host>.local`), an empty TXT, and the
 * host's A record; answers go to the asker's address and port (a unicast reply, RFC 6762 §6.7,
 * which also works over loopback, where Linux's `lo` has no multicast).
 *
 * `socket` options are multicast-dns's: the default is the mDNS group 224.0.0.251:5353 on every
 * interface; tests give `{ multicast: false, port, bind: '127.0.0.1' }`.
 */
import makeMdns from 'multicast-dns';

export interface AdvertiseOptions {
  /** The instance name ("pipewatch-station"). */
  instance: string;
  /** The host's name without .local, and its IPv4 address the nodes reach. */
  host: string;
  address: string;
  port: number;
  socket?: Record<string, unknown>;
}

export interface Advertisement {
  readonly answered: number;
  ready: Promise<void>;
  close(): Promise<void>;
}

export const MQTT_SERVICE = '_mqtt._tcp.local';

export function advertiseBroker(o: AdvertiseOptions): Advertisement {
  const mdns = makeMdns(o.socket ?? {});
  const instance = `${o.instance}.${MQTT_SERVICE}`;
  const target = `${o.host}.local`;
  let answered = 0;
  mdns.on('query', (query: { questions: Array<{ name: string; type: string }> }, rinfo: { address: string; port: number }) => {
    const asked = query.questions.some((q) => q.name.toLowerCase() === MQTT_SERVICE && (q.type === 'PTR' || q.type === 'ANY'));
    if (!asked) return;
    answered++;
    mdns.respond(
      {
        answers: [{ name: MQTT_SERVICE, type: 'PTR', ttl: 120, data: instance }],
        additionals: [
          { name: instance, type: 'SRV', ttl: 120, data: { priority: 0, weight: 0, port: o.port, target } },
          { name: instance, type: 'TXT', ttl: 120, data: [] },
          { name: target, type: 'A', ttl: 120, data: o.address },
        ],
      },
      rinfo,
    );
  });
  const ready = new Promise<void>((resolve, reject) => {
    mdns.once('ready', () => resolve());
    mdns.once('error', reject);
  });
  return {
    get answered() {
      return answered;
    },
    ready,
    close: () => new Promise<void>((resolve) => mdns.destroy(() => resolve())),
  };
}
