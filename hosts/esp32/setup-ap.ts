/*
 * The setup access point on an ESP32 (issue 16 item 3), the fallback when a node has no Wi-Fi
 * settings and no serial host spoke Improv within `setupApAfterMs` of boot: the portable portal
 * (firmware/provision/setup-ap.ts) over the SDK's modules.
 *
 * - networks: one `WiFi.scan` in station mode first (the page lists them), at most 16 kept;
 * - radio: `WiFi.accessPoint({ssid, password?})` (modules/network/wifi/esp32/xs6wifi.c:
 *   xs_wifi_accessPoint): named `pipewatch-<last 6 of the id>`, open when the build's
 *   `setupApPassword` is empty — the key is left out then, because the C code refuses a password
 *   shorter than 8 bytes, "" included — else WPA2 with it; the SDK's soft-AP is 192.168.4.1;
 * - DNS: `dns/server` (modules/network/dns/dnsserver.js) answers A questions with what the portal
 *   returns (every name: a captive portal);
 * - HTTP: `http` Server (modules/network/http/http.js) on port 80; the request body is asked for
 *   as a String; the response body goes out as UTF-8 bytes in an ArrayBuffer, because http.js
 *   counts a string body's content-length in UTF-16 units (a page with an SSID like "Café"
 *   would be cut short);
 * - closing: the servers closed, the radio back to station mode; after a saved form, a restart
 *   into the new settings.
 */
import WiFi from 'wifi';
import { Server } from 'http';
import DNSServer from 'dns/server';
import type { Host } from '../../firmware/host';
import { SetupPortal, setupApName, type ScannedNetwork, type SetupForm } from '../../firmware/provision/setup-ap';
import { utf8Length, writeUtf8 } from '../../firmware/uplink/utf8';

/** ESP-IDF's default soft-AP address (esp_netif_create_default_wifi_ap). */
const AP_ADDRESS = '192.168.4.1';
const MAX_SCANNED = 16;
const DNS_RESOLVE = 1;

export interface SetupApOptions {
  host: Host;
  deviceId: string;
  /** WPA2 password of the access point, or "" for an open one. */
  password: string;
  save(form: SetupForm): string | undefined;
  timeoutMs?: number;
}

function utf8Buffer(text: string): ArrayBuffer {
  const bytes = new Uint8Array(Math.max(0, utf8Length(text, true)));
  writeUtf8(text, bytes, 0);
  return bytes.buffer;
}

/** Scans, then opens the access point and its servers. Errors are logged; the node samples on. */
export function startSetupAp(o: SetupApOptions): void {
  const { host } = o;
  const networks: ScannedNetwork[] = [];
  let opened = false;
  const open = () => {
    if (opened) return;
    opened = true;
    try {
      openAccessPoint(o, networks);
    } catch (error) {
      host.log('error', `setup access point not opened: ${(error as Error).message}`);
    }
  };
  try {
    WiFi.scan({}, (item: { ssid: string; rssi: number; authentication?: string } | null) => {
      if (!item) return open();
      if (networks.length < MAX_SCANNED) networks.push({ ssid: item.ssid, rssi: item.rssi, secure: item.authentication !== undefined && item.authentication !== 'none' });
    });
  } catch (error) {
    host.log('warn', `setup access point: no scan (${(error as Error).message})`);
    open();
  }
}

function openAccessPoint(o: SetupApOptions, networks: ScannedNetwork[]): void {
  const { host } = o;
  const ssid = setupApName(o.deviceId);
  WiFi.accessPoint(o.password ? { ssid, password: o.password } : { ssid });
  let http: Server | undefined;
  let dns: DNSServer | undefined;
  const portal = new SetupPortal({
    name: o.deviceId,
    address: AP_ADDRESS,
    networks,
    save: (form) => o.save(form),
    host,
    timeoutMs: o.timeoutMs,
    onClose(reason) {
      try {
        http?.close();
        dns?.close();
      } catch (error) {
        host.log('warn', `setup access point: closing: ${(error as Error).message}`);
      }
      http = dns = undefined;
      WiFi.mode = WiFi.Mode.station;
      if (reason === 'configured') {
        host.log('info', 'setup access point: settings saved; restarting provisioned');
        host.restart();
      } else host.log('info', 'setup access point closed after 3 minutes without settings; restart the node to open it again');
    },
  });
  // dnsserver.js: Server.resolve = 1 (the SDK's typings leave it out); returning undefined sends no answer.
  dns = new DNSServer(((message: number, value?: string) => (message === DNS_RESOLVE ? portal.dnsAnswer(String(value)) : undefined)) as (message: number, value?: string) => string);
  http = new Server({ port: 80 });
  http.callback = function (this: Record<string, unknown>, message: number, value?: unknown, etc?: unknown) {
    if (message === Server.status) {
      this.path = String(value);
      this.method = String(etc);
    } else if (message === Server.headersComplete) return String;
    else if (message === Server.requestComplete) this.body = value;
    else if (message === Server.prepareResponse) {
      const r = portal.handle(String(this.method), String(this.path), typeof this.body === 'string' ? this.body : undefined);
      const headers: string[] = [];
      for (const [name, text] of r.headers) headers.push(name, text);
      return { status: r.status, headers, body: utf8Buffer(r.body) };
    }
    return undefined;
  } as never;
  host.log('info', `setup access point "${ssid}" (${o.password ? 'WPA2' : 'open'}) at http://${AP_ADDRESS}/ for ${Math.round((o.timeoutMs ?? 180_000) / 1000)} s`);
}
