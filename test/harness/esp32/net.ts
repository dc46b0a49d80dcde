/*
 * Strict models of the SDK's ESP32 network modules: `wifi`, `net`, `sntp`, the ECMA-419 TCP
 * and UDP sockets over lwIP, and the TLS socket (examples/io/tcp/tlssocket over modules/crypt/ssl).
 * Sockets are real loopback connections (Node `net` / `tls`); the model decides, as lwIP and the
 * SDK would, whether a connection may be opened at all and what each call returns or throws.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { createSocket as udpSocket, type Socket as DgramSocket } from 'node:dgram';
import { connect as tlsConnect, type TLSSocket as NodeTLSSocket, type PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { getSignedInteger } from './chip';
import type { Esp32Device } from './device';

type Options = Record<string, unknown>;

/** What the model's world looks like from the radio. */
export interface Air {
  /** The access point in range, or undefined (out of range / switched off). */
  ap: { ssid: string; password: string } | undefined;
  /** Host names the network's DNS server knows (name → dotted IPv4). */
  dns: Map<string, string>;
  /** Device-side IPv4 addresses that reach a loopback port (address → 127.0.0.1 via the same port). */
  reachable: Set<string>;
  /** The SNTP server answers (seconds since 1970 from the test host's clock). */
  sntp: boolean;
  /** Other networks a scan finds besides `ap` (ssid, dBm, open or not). */
  neighbours?: Array<{ ssid: string; rssi: number; open: boolean }>;
  /**
   * A loopback UDP port where an mDNS responder listens (the station's advertiser): datagrams the
   * node sends to the group 224.0.0.251:5353 go there (Linux's `lo` carries no multicast).
   */
  mdnsPort?: number;
}

const MDNS_GROUP = '224.0.0.251';
const MDNS_PORT = 5353;

/** CONFIG_LWIP_TCP_SND_BUF_DEFAULT in the SDK's ESP32 sdkconfig: what tcp_sndbuf reports on an idle socket. */
export const TCP_SND_BUF = 5744;

function has(options: Options, key: string): boolean {
  return options !== null && typeof options === 'object' && key in options;
}

/** lwIP ipaddr_aton, IPv4 dotted form (the only form the project uses). */
function ipaddrAton(text: string): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function bytesOf(buffer: unknown): Uint8Array {
  if (buffer instanceof ArrayBuffer) return new Uint8Array(buffer);
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  throw new TypeError('expected buffer');
}

/** builtinGetCallback (builtinCommon.c): undefined/null = none; anything else must be callable. */
function callbackOf(options: Options, key: string): ((...args: unknown[]) => void) | undefined {
  const value = options[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function') throw new Error('not a function');
  return value as (...args: unknown[]) => void;
}

export function netModels(device: Esp32Device, air: Air, mac: string) {
  /** xs6wifi.c gWiFiState: <= 0 not initialised; 1 initialised (esp_netif + esp_wifi_start). */
  let wifiState = 0;
  let mode = 0;
  let connectedTo: string | undefined;
  let ip: string | undefined;
  let connecting: ReturnType<typeof setTimeout> | undefined;
  /** The node's own access point (xs_wifi_accessPoint), while the mode includes AP. */
  let softAp: { ssid: string; password: string; channel: number; station: boolean } | undefined;
  /** xs6wifi.c gScan: the scan under way. */
  let scanning: object | undefined;
  const monitors = new Set<{ notify(message: string, value?: number): void }>();
  const sockets = new Set<{ drop(): void }>();
  const stats = {
    connects: 0,
    sockets: 0,
    tlsSockets: 0,
    resolves: 0,
    /** Keys of a TLS socket's session options the SDK's session ignores. */
    ignoredTlsKeys: [] as string[],
    /** Socket constructors that threw, by message ("no network", "connect error", ...). */
    refused: [] as string[],
    /** TLS handshakes whose certificate check failed (ssl_cert.js verify). */
    tlsVerifyFailures: 0,
    /** Certificate dates checked against an unset clock (Date.now() before 2020). */
    tlsUnsetClock: 0,
    scans: 0,
    /** UDP sockets opened, and datagrams the node sent. */
    udpSockets: 0,
    datagrams: 0,
  };

  device.onHalt(() => {
    if (connecting) clearTimeout(connecting);
    for (const s of [...sockets]) s.drop();
    for (const s of [...udpSockets]) s.drop();
  });

  const initWiFi = (): void => {
    if (wifiState > 0) return;
    wifiState = 1;
  };

  const notifyAll = (message: string, value?: number): void => {
    for (const m of [...monitors]) device.callback(() => m.notify(message, value));
  };

  /**
   * xs6wifi.c wifiEventPending: "disconnect" carries gDisconnectReason, not the IDF reason: -1
   * when the password was rejected (MIC failure, 4-way or group-key handshake timeout), else what
   * it was (0 after a connect request clears it).
   */
  let disconnectReason = 0;
  const disconnected = (idfReason: number): void => {
    if ([14, 15, 16, 17, 204].includes(idfReason)) disconnectReason = -1;
    notifyAll('disconnect', disconnectReason);
  };

  const dropLink = (reason: number): void => {
    const had = connectedTo !== undefined;
    connectedTo = undefined;
    ip = undefined;
    for (const s of [...sockets]) s.drop();
    if (had) disconnected(reason);
  };

  /** esp_wifi_connect: association + DHCP take a little while; no AP or a wrong key → "disconnect". */
  const associate = (ssid: string, password: string): void => {
    if (connecting) clearTimeout(connecting);
    connecting = setTimeout(() => {
      connecting = undefined;
      if (device.halted) return;
      const ap = air.ap;
      if (!ap || ap.ssid !== ssid) return disconnected(201); // WIFI_REASON_NO_AP_FOUND
      if (ap.password !== password) return disconnected(15); // WIFI_REASON_4WAY_HANDSHAKE_TIMEOUT
      connectedTo = ssid;
      notifyAll('connect');
      setTimeout(() => {
        if (device.halted || connectedTo !== ssid) return;
        ip = '192.168.4.20';
        notifyAll('gotIP');
      }, 20);
    }, 30);
  };

  /** modules/network/wifi/esp32/wifi.js + xs6wifi.c. */
  class WiFi {
    static readonly Mode = Object.freeze({ off: -5, none: 0, station: 1, accessPoint: 2 });
    static readonly gotIP = 'gotIP';
    static readonly lostIP = 'lostIP';
    static readonly connected = 'connect';
    static readonly disconnected = 'disconnect';
    #callback: ((message: string, value?: number) => void) | undefined;
    #registered = false;

    /** xs_wifi_constructor → build(dictionary, onNotify): connect first, then the callback. */
    constructor(dictionary?: Options, onNotify?: (message: string, value?: number) => void) {
      if (dictionary) WiFi.connect(dictionary);
      if (onNotify) this.onNotify = onNotify;
    }

    set onNotify(callback: ((message: string, value?: number) => void) | undefined) {
      this.#callback = callback ?? undefined;
      if (callback && !this.#registered) {
        this.#registered = true;
        monitors.add(this.#monitor);
      }
    }

    readonly #monitor = {
      notify: (message: string, value?: number) => this.#callback?.call(this, message, value),
    };

    /** xs_wifi_close. */
    close(): void {
      monitors.delete(this.#monitor);
      this.#registered = false;
      this.#callback = undefined;
    }

    /** xs_wifi_set_mode: 1 station, 2 AP, 3 both, 0 none, -5 off; anything else "invalid mode". */
    static set mode(value: number) {
      const m = Number(value) | 0;
      if (m === -5) {
        dropLink(8);
        wifiState = 0;
        mode = 0;
        return;
      }
      if (m < 0 || m > 3) throw new Error('invalid mode');
      initWiFi();
      mode = m;
      if (m !== 2 && m !== 3) softAp = undefined;
    }

    /** xs_wifi_get_mode: -5 (off) before initWiFi. */
    static get mode(): number {
      return wifiState <= 0 ? -5 : mode;
    }

    /** xs_wifi_connect: no argument disconnects; `ssid` required (≤ 32 bytes), password ≤ 64. */
    static connect(dictionary?: Options): void {
      if (dictionary === undefined) {
        if (connecting) clearTimeout(connecting);
        connecting = undefined;
        dropLink(8);
        return;
      }
      initWiFi();
      if (mode === 0) mode = 1;
      const ssid = dictionary.ssid;
      if (!ssid) throw new Error('ssid required');
      if (String(ssid).length > 32) throw new Error('ssid too long - 32 bytes max');
      const password = dictionary.password ? String(dictionary.password) : '';
      if (password.length > 64) throw new Error('password too long - 64 bytes max');
      if (has(dictionary, 'channel')) {
        const channel = Number(dictionary.channel) | 0;
        if (channel < 1 || channel > 13) throw new Error('invalid channel');
      }
      stats.connects++;
      disconnectReason = 0; // xs_wifi_connect: gDisconnectReason = 0
      associate(String(ssid), password);
    }

    static disconnect(): void {
      WiFi.connect();
    }

    /**
     * xs_wifi_accessPoint: initWiFi(AP); ssid over 32 bytes "ssid too long - 32 bytes max"; a
     * `password` key present: over 64 bytes "password too long - 64 bytes max", under 8 bytes —
     * "" included, the length is checked before emptiness — "password too short - 8 bytes min";
     * `channel` outside 1..13 "invalid channel"; the mode becomes AP (or AP+STA with `station`)
     * unless it already includes AP.
     */
    static accessPoint(dictionary: Options): void {
      initWiFi();
      const ssid = String(dictionary.ssid);
      if (Buffer.byteLength(ssid) > 32) throw new Error('ssid too long - 32 bytes max');
      let password = '';
      if (has(dictionary, 'password')) {
        password = String(dictionary.password);
        if (Buffer.byteLength(password) > 64) throw new Error('password too long - 64 bytes max');
        if (Buffer.byteLength(password) < 8) throw new Error('password too short - 8 bytes min');
      }
      let channel = 1;
      if (has(dictionary, 'channel')) {
        channel = Number(dictionary.channel) | 0;
        if (channel < 1 || channel > 13) throw new Error('invalid channel');
      }
      const station = has(dictionary, 'station') && Boolean(dictionary.station);
      if (mode !== 2 && mode !== 3) {
        mode = station ? 3 : 2;
        if (!station) dropLink(8);
      }
      softAp = { ssid, password, channel, station };
    }

    /**
     * xs_wifi_scan: initWiFi(STA); no argument stops a scan; a scan under way is Error "already
     * scanning"; fewer than 2 arguments or a non-object dictionary Error "invalid". reportScan
     * then calls back once per access point ({ssid, rssi, channel, hidden, bssid,
     * authentication}, an exception in it caught by xsTry) and once with null (not caught).
     */
    static scan(dictionary?: Options, callback?: (item: Options | null) => void): void {
      initWiFi();
      if (dictionary === undefined && callback === undefined) {
        scanning = undefined;
        return;
      }
      if (scanning) throw new Error('already scanning');
      if (callback === undefined || dictionary === null || typeof dictionary !== 'object') throw new Error('invalid');
      const token = {};
      scanning = token;
      stats.scans++;
      setTimeout(() => {
        if (scanning !== token || device.halted) return;
        scanning = undefined;
        device.callback(() => {
          const found = [
            ...(air.ap ? [{ ssid: air.ap.ssid, rssi: -48, open: air.ap.password === '' }] : []),
            ...(air.neighbours ?? []),
          ];
          let channel = 1;
          for (const n of found) {
            try {
              callback.call(undefined, {
                ssid: n.ssid,
                rssi: n.rssi,
                channel: channel++,
                hidden: false,
                bssid: new ArrayBuffer(6),
                authentication: n.open ? 'none' : 'wpa2_psk',
              });
            } catch {
              // reportScan: xsCatch {}
            }
          }
          callback.call(undefined, null);
        });
      }, 40);
    }
  }

  /** modules/network/net/net.js + esp/modNet.c, esp/modResolve.c. */
  class Net {
    /** xs_net_get: getNIF is NULL before initWiFi (esp_wifi_get_mode → ESP_ERR_WIFI_NOT_INIT): everything reads undefined. */
    static get(property: string): string | number | undefined {
      if (wifiState <= 0) return undefined;
      if (property === 'MAC') return mac;
      if (property === 'IP') return ip;
      if (property === 'SSID') return connectedTo;
      if (property === 'RSSI') return connectedTo ? -55 : undefined;
      return undefined;
    }

    /**
     * xs_net_resolve: queues dns_gethostbyname; the callback runs later with (name, address) or
     * (name) when it failed. Before lwIP exists dns_gethostbyname is undefined behaviour on the
     * device: the model refuses it.
     */
    static resolve(name: string, callback: (name: string, address?: string) => void): void {
      if (wifiState <= 0) throw new Error('model: Net.resolve before the network stack is up (lwIP not initialised)');
      if (typeof callback !== 'function') throw new TypeError('callback');
      stats.resolves++;
      const text = String(name);
      device.later(() => {
        const address = ipaddrAton(text) ? text : ip ? air.dns.get(text) : undefined;
        if (address) callback(text, address);
        else callback(text);
      }, 5);
    }
  }

  /** modules/network/sntp/sntp.js: one request; time, retry or error; closes itself after time/error. */
  class SNTP {
    static readonly time = 1;
    static readonly retry = 2;
    static readonly error = -1;
    #timer: ReturnType<typeof setTimeout> | undefined;
    constructor(options: Options, callback: (message: number, value?: number) => void) {
      if (!options || typeof options.host !== 'string') throw new Error('host required');
      if (wifiState <= 0) throw new Error('model: SNTP before the network stack is up');
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (ip && air.sntp) device.callback(() => callback(SNTP.time, Math.floor(Date.now() / 1000)));
        else device.callback(() => callback(SNTP.error));
      }, 40);
    }
    close(): void {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * modules/io/socket/lwip/tcp.c: xs_tcp_constructor, read, write, close, with the lwIP behaviour
   * behind them. `connection(address, port)` opens the Node socket (plain or TLS).
   */
  class TCPCore {
    readonly #onReadable: ((count: number) => void) | undefined;
    readonly #onWritable: ((count: number) => void) | undefined;
    readonly #onError: ((message?: string) => void) | undefined;
    readonly #self: object;
    #socket: Socket | undefined;
    #buffers: Uint8Array[] = [];
    #available = 0;
    #ready = false;
    #error = false;
    #closed = false;
    #pending = 0;

    constructor(self: object, options: Options, open: (address: string, port: number) => Socket) {
      this.#self = self;
      // CHECK_NETWORK_SAFE (modules/io/common/builtinCommon.h): no default netif → "no network".
      if (wifiState <= 0) throw new Error('no network');
      if (has(options, 'format')) {
        const format = options.format;
        if (format && format !== 'buffer' && format !== 'number') throw new RangeError('unimplemented');
        if (format === 'number') throw new RangeError('model: format "number" is not used by the project');
      }
      this.#onReadable = callbackOf(options, 'onReadable');
      this.#onWritable = callbackOf(options, 'onWritable');
      this.#onError = callbackOf(options, 'onError');
      if (has(options, 'from')) throw new Error('model: `from` is not used by the project');
      const address = String(options.address);
      if (!ipaddrAton(address)) throw new Error('invalid address');
      const port = getSignedInteger(options.port);
      if (port < 0 || port > 65535) throw new RangeError('invalid port');
      // tcp_connect → ip_route finds no netif without an IP address: ERR_RTE → "connect error".
      if (!ip) throw new Error('connect error');
      const socket = air.reachable.has(address) ? open('127.0.0.1', port) : undefined;
      if (!socket) {
        // No host at that address: lwIP's SYN retries run out (tcpError) — shortened here.
        device.later(() => this.#fail(), 50);
        return;
      }
      this.#socket = socket;
      socket.setNoDelay(true);
      sockets.add(this.#link);
      socket.on('data', (chunk: Buffer) => {
        if (this.#closed) return;
        this.#buffers.push(new Uint8Array(chunk));
        this.#available += chunk.length;
        const count = this.#available;
        if (this.#onReadable) device.callback(() => this.#onReadable!.call(this.#self, count));
      });
      socket.on('error', () => this.#fail());
      socket.on('close', () => this.#fail());
    }

    readonly #link = { drop: () => this.#fail() };

    connected(): void {
      if (this.#closed) return;
      this.#ready = true;
      if (this.#onWritable) device.callback(() => this.#onWritable!.call(this.#self, TCP_SND_BUF));
    }

    #fail(): void {
      if (this.#error || this.#closed) return;
      this.#error = true;
      sockets.delete(this.#link);
      this.#socket?.destroy();
      // tcpError → kTCPError is delivered once the buffered data has been read (tcp.c: xs_tcp_read).
      if (this.#available === 0 && this.#onError) device.callback(() => this.#onError!.call(this.#self));
    }

    /** xs_tcp_read: nothing buffered → undefined; a count or buffer of 1..available, else "invalid". */
    read(target?: number | ArrayBufferView | ArrayBuffer): ArrayBuffer | number | undefined {
      if (this.#closed) throw new Error('closed');
      if (this.#available === 0) return undefined;
      let requested: number;
      let out: Uint8Array;
      let allocate = true;
      if (target === undefined) requested = this.#available;
      else if (typeof target === 'object') {
        out = bytesOf(target);
        requested = out.length;
        allocate = false;
      } else requested = Number(target) | 0;
      if (requested <= 0 || requested > this.#available) throw new Error('invalid');
      if (allocate) out = new Uint8Array(requested);
      let at = 0;
      while (at < requested) {
        const head = this.#buffers[0]!;
        const use = Math.min(head.length, requested - at);
        out!.set(head.subarray(0, use), at);
        at += use;
        if (use === head.length) this.#buffers.shift();
        else this.#buffers[0] = head.subarray(use);
      }
      this.#available -= requested;
      if (this.#available === 0 && this.#error && this.#onError) device.callback(() => this.#onError!.call(this.#self));
      return allocate ? (out!.buffer as ArrayBuffer) : requested;
    }

    /** xs_tcp_write: "not ready" before connect; silently nothing after an error; "would block" above tcp_sndbuf. */
    write(buffer: unknown): number | undefined {
      if (this.#closed) throw new Error('closed');
      if (!this.#ready) throw new Error('not ready');
      if (this.#error || !this.#socket) return undefined;
      const bytes = bytesOf(buffer);
      const free = TCP_SND_BUF - this.#pending;
      if (bytes.length > free) throw new Error('would block');
      this.#pending += bytes.length;
      const copy = Buffer.from(bytes);
      this.#socket.write(copy, () => {
        this.#pending -= copy.length;
        if (!this.#closed && !this.#error && this.#onWritable) device.callback(() => this.#onWritable!.call(this.#self, TCP_SND_BUF - this.#pending));
      });
      return TCP_SND_BUF - this.#pending;
    }

    close(): void {
      if (this.#closed) return;
      this.#closed = true;
      sockets.delete(this.#link);
      this.#socket?.destroy();
      this.#socket = undefined;
    }
  }

  function refusing<T>(make: () => T): T {
    try {
      return make();
    } catch (error) {
      stats.refused.push((error as Error).message);
      throw error;
    }
  }

  class TCP {
    readonly #core: TCPCore;
    constructor(options: Options) {
      stats.sockets++;
      let core: TCPCore | undefined;
      this.#core = core = refusing(() => new TCPCore(this, options, (host, port) => {
        const socket = netConnect({ host, port });
        socket.once('connect', () => core!.connected());
        return socket;
      }));
    }
    read(target?: number | ArrayBuffer | ArrayBufferView): ArrayBuffer | number | undefined {
      return this.#core.read(target);
    }
    write(buffer: unknown): number | undefined {
      return this.#core.write(buffer);
    }
    close(): void {
      this.#core.close();
    }
  }

  /**
   * modules/io/socket/lwip/udp.c (+ udp.js), as the ESP32 build maps `embedded:io/socket/udp`:
   * - constructor: CHECK_NETWORK_SAFE ("no network" before Wi-Fi brings up lwIP); `port`, when
   *   present, xsmcToInteger'd and 0..65535 ("invalid port", RangeError); `timeToLive` 1..255
   *   ("invalid timeToLive"); `format` only "buffer" ("invalid format"); `onReadable` through
   *   builtinGetCallback; bound to IP_ADDR_ANY (a second bind of a port in use: "bind failed");
   * - write(buffer, address, port): ipaddr_aton on `address` (a name: "invalid IP address",
   *   RangeError); udp_sendto without an interface address finds no route: "UDP send failed";
   * - read(): the oldest datagram as an ArrayBuffer with `port` and `address`, or undefined;
   * - onReadable(count): posted once while undelivered (readablePending), with the count then;
   * - after close() every call fails host-data validation.
   * Datagrams to 224.0.0.251:5353 go to `air.mdnsPort` on loopback; to a reachable address, to
   * that port on loopback; others are sent nowhere (no host there).
   */
  const boundPorts = new Set<number>();
  /** Open UDP sockets: closed when the device halts (lwIP keeps them over a Wi-Fi loss). */
  const udpSockets = new Set<{ drop(): void }>();
  class UDP {
    #socket: DgramSocket | undefined;
    #port = 0;
    readonly #waiting: ArrayBuffer[] = [];
    #pending = false;
    readonly #onReadable: ((count: number) => void) | undefined;
    /** A device halt closes the socket. */
    readonly #link = { drop: () => this.close() };

    constructor(options: Options) {
      stats.udpSockets++;
      this.#onReadable = refusing(() => callbackOf(options, 'onReadable'));
      refusing(() => {
        if (wifiState <= 0) throw new Error('no network');
        if (has(options, 'port')) {
          const port = getSignedInteger(options.port);
          if (port < 0 || port > 65535) throw new RangeError('invalid port');
          this.#port = port;
        }
        if (has(options, 'timeToLive')) {
          const ttl = getSignedInteger(options.timeToLive);
          if (ttl <= 0 || ttl > 255) throw new RangeError('invalid timeToLive');
        }
        if (has(options, 'format') && options.format !== 'buffer') throw new RangeError('invalid format');
        if (this.#port !== 0 && boundPorts.has(this.#port)) throw new Error('bind failed');
      });
      if (this.#port !== 0) boundPorts.add(this.#port);
      const socket = udpSocket('udp4');
      this.#socket = socket;
      socket.on('error', () => {});
      socket.on('message', (message, from) => {
        if (!this.#socket) return;
        const datagram = message.buffer.slice(message.byteOffset, message.byteOffset + message.byteLength) as ArrayBuffer & { port?: number; address?: string };
        const responder = from.port === air.mdnsPort;
        datagram.port = responder ? MDNS_PORT : from.port;
        datagram.address = responder ? '192.168.4.1' : from.address;
        this.#waiting.push(datagram);
        if (this.#pending || !this.#onReadable) return;
        this.#pending = true;
        device.callback(() => {
          this.#pending = false;
          if (!this.#socket || this.#waiting.length === 0) return;
          this.#onReadable!.call(this, this.#waiting.length);
        });
      });
      socket.bind(0, '127.0.0.1');
      udpSockets.add(this.#link);
    }

    #valid(): DgramSocket {
      if (!this.#socket) throw new Error('model: UDP call after close (xsmcGetHostDataValidate fails)');
      return this.#socket;
    }

    read(): ArrayBuffer | undefined {
      this.#valid();
      return this.#waiting.shift();
    }

    write(buffer: unknown, address: unknown, port: unknown): void {
      const socket = this.#valid();
      const text = String(address);
      if (!ipaddrAton(text)) throw new RangeError('invalid IP address');
      const to = getSignedInteger(port) & 0xffff;
      const bytes = bytesOf(buffer);
      if (!ip) throw new Error('UDP send failed');
      stats.datagrams++;
      let target: number | undefined;
      if (text === MDNS_GROUP && to === MDNS_PORT) target = air.mdnsPort;
      else if (air.reachable.has(text)) target = to;
      if (target !== undefined) socket.send(Buffer.from(bytes), target, '127.0.0.1');
    }

    close(): void {
      const socket = this.#socket;
      if (!socket) return;
      this.#socket = undefined;
      udpSockets.delete(this.#link);
      if (this.#port !== 0) boundPorts.delete(this.#port);
      this.#waiting.length = 0;
      socket.close();
    }
  }

  /**
   * examples/io/tcp/tlssocket/tlssocket.js over modules/crypt/ssl (session_419.js, ssl_cert.js):
   * - needs `TCP.io` (it constructs the TCP socket through it) and `host`;
   * - the session options are `{serverName: host, ...secure, protocolVersion: 0x303}` (TLS 1.2);
   *   the session reads `serverName`, `certificate` (one DER root), `clientCertificates` (DER
   *   array), `clientKey` (PKCS#8 DER), `verify` (default true), `trace`, `cache`,
   *   `applicationLayerProtocolNegotiation`; other keys are ignored (the model records them);
   * - CertificateManager.verify: no serverName → fails; the server certificate must name it in
   *   its subjectAltName (DNS or IPv4); every certificate's validity is checked against
   *   Date.now() — the device's clock; the chain must end at `certificate` or at a root of the
   *   build's `ca.ski` + `caN.der` resources.
   */
  class TLSSocket {
    readonly #core: TCPCore;
    constructor(options: Options) {
      stats.tlsSockets++;
      try {
        this.#core = this.#build(options);
      } catch (error) {
        stats.refused.push((error as Error).message);
        throw error;
      }
    }
    #build(options: Options): TCPCore {
      const io = (options.TCP as { io?: unknown } | undefined)?.io;
      if (typeof io !== 'function') throw new TypeError('cannot read property "io" of TCP');
      const session: Options = { serverName: options.host, ...((options.secure as Options) ?? {}), protocolVersion: 0x303 };
      const known = ['serverName', 'certificate', 'clientCertificates', 'clientKey', 'verify', 'trace', 'cache', 'protocolVersion', 'applicationLayerProtocolNegotiation'];
      for (const key of Object.keys(session)) if (!known.includes(key)) stats.ignoredTlsKeys.push(key);
      const verify = session.verify ?? true;
      const serverName = session.serverName === undefined ? undefined : String(session.serverName);
      const trusted: X509Certificate[] = [];
      if (session.certificate) trusted.push(new X509Certificate(Buffer.from(bytesOf(session.certificate))));
      // ssl_cert.js findCert: the build's roots are `ca${index}.der` resources found through `ca.ski`.
      for (const [name, der] of device.resources) if (/^ca\d+\.der$/.test(name) && der.length > 0) trusted.push(new X509Certificate(Buffer.from(der)));
      let cert: string | undefined;
      let key: string | undefined;
      if (session.clientCertificates !== undefined) {
        const list = session.clientCertificates as unknown[];
        if (!Array.isArray(list)) throw new TypeError('clientCertificates: array of DER');
        if (list[0]) cert = new X509Certificate(Buffer.from(bytesOf(list[0]))).toString();
        if (session.clientKey === undefined) throw new TypeError('clientKey required with clientCertificates');
        key = derToPem(bytesOf(session.clientKey), 'PRIVATE KEY');
      }
      let core: TCPCore | undefined;
      return (core = new TCPCore(this, options, (host, port) => {
        const socket: NodeTLSSocket = tlsConnect({
          host,
          port,
          servername: serverName && !ipaddrAton(serverName) ? serverName : undefined,
          maxVersion: 'TLSv1.2',
          minVersion: 'TLSv1.2',
          rejectUnauthorized: false,
          cert,
          key,
        });
        socket.once('secureConnect', () => {
          if (device.wallNow() < 1_577_836_800_000) stats.tlsUnsetClock++;
          if (verify && !verifyChain(socket.getPeerCertificate(true), serverName, trusted, device.wallNow())) {
            stats.tlsVerifyFailures++;
            device.trace('model TLS: certificate verification failed (SDK: ssl_cert.js CertificateManager.verify)');
            socket.destroy();
            return;
          }
          core!.connected();
        });
        return socket;
      }));
    }
    read(target?: number | ArrayBuffer | ArrayBufferView): ArrayBuffer | number | undefined {
      return this.#core.read(target);
    }
    write(buffer: unknown): number | undefined {
      return this.#core.write(buffer);
    }
    close(): void {
      this.#core.close();
    }
  }

  return {
    WiFi,
    Net,
    SNTP,
    TCP,
    UDP,
    TLSSocket,
    stats,
    wifiRunning: () => wifiState > 0,
    /** The node's own access point, while it is up. */
    accessPoint: () => softAp,
    /** The access point goes away: the station disconnects, lwIP drops every connection. */
    apDown(): void {
      air.ap = undefined;
      dropLink(200); // WIFI_REASON_BEACON_TIMEOUT
    },
    apUp(ap: { ssid: string; password: string }): void {
      air.ap = ap;
    },
    get ip(): string | undefined {
      return ip;
    },
  };
}

function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
}

/** ssl_cert.js CertificateManager.verify, over Node's parsed chain. */
function verifyChain(peer: PeerCertificate & { issuerCertificate?: PeerCertificate }, serverName: string | undefined, trusted: X509Certificate[], nowMs: number): boolean {
  if (!serverName) return false;
  const chain: X509Certificate[] = [];
  let at: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer;
  const seen = new Set<string>();
  while (at && at.raw && !seen.has(at.fingerprint256)) {
    seen.add(at.fingerprint256);
    chain.push(new X509Certificate(at.raw));
    at = at.issuerCertificate as typeof at;
  }
  if (chain.length === 0) return false;
  for (const c of chain) {
    if (!(Date.parse(c.validFrom) < nowMs && nowMs < Date.parse(c.validTo))) {
      return false;
    }
  }
  const leaf = chain[0]!;
  const name = serverName.toLowerCase();
  const matches = ipaddrAton(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined;
  if (!matches) return false;
  for (const c of chain) for (const root of trusted) if (c.verify(root.publicKey) || c.fingerprint256 === root.fingerprint256) return true;
  return false;
}
