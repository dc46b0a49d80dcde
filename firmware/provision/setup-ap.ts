/*
 * The setup access point's portal (issue 16 item 3), portable: what a phone that joined the
 * node's own access point sees. The host runs the radio, the HTTP server and the DNS server
 * (hosts/esp32/setup-ap.ts maps Moddable's `wifi` access-point mode, `http` Server and
 * `dns/server`) and hands each request and each DNS question to this class; the class decides the
 * answers, validates the form, and says when the access point closes.
 *
 * - DNS: every A question gets the node's own address (a captive portal: the phone's
 *   connectivity check lands here and the phone opens the page by itself).
 * - HTTP: GET / is the page (the networks the node scanned before it opened the access point,
 *   a password field, an optional broker); POST /save takes the form
 *   (application/x-www-form-urlencoded, at most `MAX_FORM_BYTES`); any other GET is a 302 to the
 *   page (Android's /generate_204, Apple's /hotspot-detect.html, Windows' /connecttest.txt);
 *   anything else is 405.
 * - Form rules: ssid (a scanned network) or other (typed in; wins) 1..32 bytes of UTF-8, password empty (open network) or 8..63 characters
 *   (WPA2), broker empty or mqtt[s]://host[:port]; each field at most once; bad percent escapes or
 *   UTF-8 are refused. A refused form gets the page again with the reason (400). `save()` may
 *   refuse too (the host's settings rules); its message is shown the same way.
 * - Closes (`onClose`) after `timeoutMs` (3 minutes) from opening, or 1 s after a saved form (the
 *   answer page goes out first); later requests get 503.
 */
import type { Host, TimerId } from '../host';
import { utf8Decode } from '../uplink/utf8';

export const SETUP_AP_TIMEOUT_MS = 180_000;
export const MAX_FORM_BYTES = 512;
const MAX_NETWORKS = 16;

export interface ScannedNetwork {
  ssid: string;
  rssi: number;
  secure: boolean;
}

export interface SetupForm {
  ssid: string;
  password: string;
  /** Empty: the node finds the broker itself (mDNS) or uses the build's. */
  broker: string;
}

export interface SetupResponse {
  status: number;
  /** Header lines as name, value pairs. */
  headers: Array<[string, string]>;
  body: string;
}

export interface SetupPortalOptions {
  /** The node's id (page title, access point name). */
  name: string;
  /** The node's address on its access point (Moddable/ESP-IDF soft-AP default 192.168.4.1). */
  address: string;
  networks: readonly ScannedNetwork[];
  /** Stores the settings; a message when they are refused, undefined when saved. */
  save(form: SetupForm): string | undefined;
  host: Pick<Host, 'timers'>;
  onClose(reason: 'configured' | 'timeout'): void;
  timeoutMs?: number;
}

export interface SetupPortalStats {
  requests: number;
  pages: number;
  redirects: number;
  refusedForms: number;
  dnsAnswers: number;
  /** Requests after the portal closed, or with a method it does not take. */
  rejected: number;
}

/** "pipewatch-" and the last 6 characters of the device id: at most 16 bytes, under the 32 an SSID may have. */
export function setupApName(deviceId: string): string {
  return `pipewatch-${deviceId.slice(-6)}`;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decodes one urlencoded component ("+" is a space); undefined for a bad escape or bad UTF-8. */
export function decodeComponent(text: string): string | undefined {
  const bytes = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 2 < text.length ? hexValue(text.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(text.charCodeAt(i + 2)) : -1;
      if (lo < 0) return undefined;
      bytes[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b) bytes[n++] = 0x20;
    else if (c < 0x80) bytes[n++] = c;
    else return undefined; // a browser escapes every non-ASCII byte
  }
  return utf8Decode(bytes, 0, n);
}

function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The form, or the reason it is refused. */
export function parseSetupForm(body: string): SetupForm | string {
  if (utf8Bytes(body) > MAX_FORM_BYTES) return `the form is longer than ${MAX_FORM_BYTES} bytes`;
  const form: Record<string, string> = {};
  if (body !== '') {
    for (const pair of body.split('&')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (key !== 'ssid' && key !== 'other' && key !== 'password' && key !== 'broker') return `unknown field "${key.slice(0, 16)}"`;
      if (key in form) return `${key} given twice`;
      const value = decodeComponent(eq < 0 ? '' : pair.slice(eq + 1));
      if (value === undefined) return `${key}: not valid percent-encoded UTF-8`;
      form[key] = value;
    }
  }
  // "other" is the typed-in network; it wins over a picked one.
  const ssid = form.other ? form.other : (form.ssid ?? '');
  const password = form.password ?? '';
  const broker = (form.broker ?? '').trim();
  const ssidBytes = utf8Bytes(ssid);
  if (ssidBytes < 1 || ssidBytes > 32) return 'choose a network (1 to 32 bytes)';
  if (password !== '' && (password.length < 8 || password.length > 63)) return 'the password is empty (open network) or 8 to 63 characters (WPA2)';
  if (broker !== '' && !/^mqtts?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(broker)) return 'the broker is mqtt://host[:port] or mqtts://host[:port], or empty';
  return { ssid, password, broker };
}

export function escapeHtml(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    out += c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : c === "'" ? '&#39;' : c;
  }
  return out;
}

const HTML = 'text/html; charset=utf-8';

export class SetupPortal {
  readonly stats: SetupPortalStats = { requests: 0, pages: 0, redirects: 0, refusedForms: 0, dnsAnswers: 0, rejected: 0 };
  readonly #o: SetupPortalOptions;
  readonly #networks: ScannedNetwork[];
  #timer: TimerId | undefined;
  #closed = false;
  #configured = false;

  constructor(options: SetupPortalOptions) {
    this.#o = options;
    const seen: ScannedNetwork[] = [];
    for (const n of options.networks) {
      if (seen.length >= MAX_NETWORKS) break;
      if (typeof n?.ssid !== 'string' || n.ssid === '' || seen.some((s) => s.ssid === n.ssid)) continue;
      seen.push({ ssid: n.ssid, rssi: Number.isFinite(n.rssi) ? Math.round(n.rssi) : 0, secure: n.secure === true });
    }
    seen.sort((a, b) => b.rssi - a.rssi);
    this.#networks = seen;
    this.#timer = options.host.timers.set(() => {
      this.#timer = undefined;
      this.#finish('timeout');
    }, options.timeoutMs ?? SETUP_AP_TIMEOUT_MS);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The answer to a DNS A question: always this node (a captive portal), none once closed. */
  dnsAnswer(_name: string): string | undefined {
    if (this.#closed) return undefined;
    this.stats.dnsAnswers++;
    return this.#o.address;
  }

  /** Answers one HTTP request; `body` is the request body as text (POST). Never throws. */
  handle(method: string, path: string, body: string | undefined): SetupResponse {
    this.stats.requests++;
    if (this.#closed || this.#configured) {
      this.stats.rejected++;
      return { status: 503, headers: [['Content-Type', 'text/plain']], body: this.#configured ? 'Saved; the node is restarting.\n' : 'The setup access point is closing.\n' };
    }
    const q = path.indexOf('?');
    const route = q < 0 ? path : path.slice(0, q);
    if (method === 'GET' && (route === '/' || route === '/index.html')) {
      this.stats.pages++;
      return { status: 200, headers: [['Content-Type', HTML], ['Cache-Control', 'no-store']], body: this.#page('') };
    }
    if (method === 'POST' && route === '/save') {
      const form = parseSetupForm(body ?? '');
      let problem = typeof form === 'string' ? form : undefined;
      if (typeof form !== 'string') {
        try {
          problem = this.#o.save(form);
        } catch (error) {
          problem = `not saved: ${(error as Error)?.message ?? String(error)}`;
        }
      }
      if (problem !== undefined || typeof form === 'string') {
        this.stats.refusedForms++;
        return { status: 400, headers: [['Content-Type', HTML], ['Cache-Control', 'no-store']], body: this.#page(problem ?? 'refused') };
      }
      this.#configured = true;
      this.#o.host.timers.clear(this.#timer);
      this.#timer = this.#o.host.timers.set(() => {
        this.#timer = undefined;
        this.#finish('configured');
      }, 1000);
      const name = escapeHtml(this.#o.name);
      return {
        status: 200,
        headers: [['Content-Type', HTML], ['Connection', 'close']],
        body: `<!doctype html><meta name="viewport" content="width=device-width"><title>${name}</title><h1>${name}</h1><p>Saved. The node closes this access point, joins <b>${escapeHtml(form.ssid)}</b> and starts publishing. You can rejoin your usual network.</p>`,
      };
    }
    if (method === 'GET' || method === 'HEAD') {
      // Connectivity checks (and any other page): to the setup page, which opens the phone's captive sheet.
      this.stats.redirects++;
      return { status: 302, headers: [['Location', `http://${this.#o.address}/`], ['Content-Type', 'text/plain']], body: 'setup\n' };
    }
    this.stats.rejected++;
    return { status: 405, headers: [['Allow', 'GET, POST'], ['Content-Type', 'text/plain']], body: 'method not allowed\n' };
  }

  /** Closes now (the host stops the access point); safe twice. */
  close(): void {
    this.#o.host.timers.clear(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
  }

  #finish(reason: 'configured' | 'timeout'): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#o.onClose(reason);
    } catch {
      // the host's callback must not throw into a timer
    }
  }

  #page(problem: string): string {
    const name = escapeHtml(this.#o.name);
    let options = '';
    for (const n of this.#networks) {
      const ssid = escapeHtml(n.ssid);
      options += `<label><input type="radio" name="ssid" value="${ssid}"> ${ssid} (${n.rssi} dBm${n.secure ? ', password' : ', open'})</label><br>`;
    }
    return (
      `<!doctype html><meta name="viewport" content="width=device-width"><title>${name} setup</title>` +
      `<h1>${name}</h1>${problem ? `<p role="alert"><b>${escapeHtml(problem)}</b></p>` : ''}` +
      `<form method="post" action="/save"><fieldset><legend>Wi-Fi network</legend>${options || '<p>No network found in the scan; type its name:</p>'}` +
      `<label>${options ? 'or another' : 'Network'}: <input name="other" maxlength="32"${options ? '' : ' required'}></label></fieldset>` +
      `<p><label>Password <input name="password" type="password" maxlength="63"></label></p>` +
      `<p><label>Broker (optional) <input name="broker" placeholder="found by itself" maxlength="100"></label></p>` +
      `<p><button>Save</button></p></form>`
    );
  }
}
