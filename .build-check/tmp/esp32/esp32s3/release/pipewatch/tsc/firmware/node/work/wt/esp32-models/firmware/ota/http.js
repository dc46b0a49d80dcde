/** Reasons that a retry may fix; the others mean the server is not fit to serve an image. */
export function isTransient(reason) {
    return reason === 'connectFailed' || reason === 'timeout' || reason === 'truncated';
}
/** Parses "http[s]://host[:port][/path]"; undefined when malformed (no userinfo, no fragment). */
export function parseUrl(url) {
    let secure;
    let rest;
    if (url.startsWith('http://')) {
        secure = false;
        rest = url.slice(7);
    }
    else if (url.startsWith('https://')) {
        secure = true;
        rest = url.slice(8);
    }
    else
        return undefined;
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '/' : rest.slice(slash);
    if (authority.length === 0 || authority.indexOf('@') >= 0 || path.indexOf('#') >= 0)
        return undefined;
    for (let i = 0; i < path.length; i++) {
        const c = path.charCodeAt(i);
        if (c <= 0x20 || c >= 0x7f)
            return undefined;
    }
    let host = authority;
    let port = secure ? 443 : 80;
    const colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.indexOf(']') < colon) {
        host = authority.slice(0, colon);
        const digits = authority.slice(colon + 1);
        if (digits.length < 1 || digits.length > 5)
            return undefined;
        port = 0;
        for (let i = 0; i < digits.length; i++) {
            const d = digits.charCodeAt(i) - 0x30;
            if (d < 0 || d > 9)
                return undefined;
            port = port * 10 + d;
        }
        if (port < 1 || port > 65535)
            return undefined;
    }
    if (host.startsWith('[') && host.endsWith(']'))
        host = host.slice(1, -1);
    if (host.length === 0)
        return undefined;
    for (let i = 0; i < host.length; i++) {
        const c = host.charCodeAt(i);
        const okChar = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2e || c === 0x2d || c === 0x3a;
        if (!okChar)
            return undefined;
    }
    return { secure, host, port, path };
}
const CR = 13;
const LF = 10;
function toBytes(text) {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++)
        out[i] = text.charCodeAt(i) & 0xff;
    return out;
}
/** Strict non-negative decimal (no sign, no spaces, at most 15 digits); -1 otherwise. */
function decimal(text) {
    if (text.length < 1 || text.length > 15)
        return -1;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
        const d = text.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9)
            return -1;
        n = n * 10 + d;
    }
    return n;
}
export class RangeGet {
    o;
    socket;
    timer;
    done = false;
    headLength = 0;
    inBody = false;
    expected = 0;
    received = 0;
    sawAnything = false;
    constructor(o) {
        this.o = o;
        const t = o.target;
        if (!(o.first >= 0 && o.last >= o.first && o.last < o.total)) {
            this.later({ ok: false, reason: 'badUrl' });
            return;
        }
        const Socket = t.secure ? o.TLSSocket : o.TCP;
        if (!Socket) {
            this.later({ ok: false, reason: 'noTls' });
            return;
        }
        const request = `GET ${t.path} HTTP/1.1\r\nHost: ${t.host}${t.port === (t.secure ? 443 : 80) ? '' : ':' + t.port}\r\n` +
            `Range: bytes=${o.first}-${o.last}\r\nAccept-Encoding: identity\r\nConnection: close\r\n` +
            `User-Agent: pipewatch-ota\r\n\r\n`;
        let sent = false;
        try {
            const options = {
                address: t.host,
                port: t.port,
                onWritable: () => {
                    if (sent || this.done)
                        return;
                    sent = true;
                    try {
                        this.socket.write(toBytes(request));
                    }
                    catch {
                        this.finish({ ok: false, reason: 'connectFailed' });
                    }
                },
                onReadable: (count) => this.readable(count),
                onError: () => this.ended(),
            };
            this.socket = t.secure
                ? new Socket({ ...options, secure: { serverName: t.host } })
                : new Socket(options);
            this.arm();
        }
        catch {
            this.later({ ok: false, reason: 'connectFailed' });
        }
    }
    close() {
        this.done = true;
        this.stop();
    }
    stop() {
        this.o.timers.clear(this.timer);
        this.timer = undefined;
        const s = this.socket;
        this.socket = undefined;
        if (s) {
            try {
                s.close();
            }
            catch {
                // closing a socket the host already tore down
            }
        }
    }
    later(result) {
        this.timer = this.o.timers.set(() => this.finish(result), 0);
    }
    arm() {
        this.o.timers.clear(this.timer);
        this.timer = this.o.timers.set(() => this.finish({ ok: false, reason: 'timeout' }), this.o.timeoutMs);
    }
    finish(result) {
        if (this.done)
            return;
        this.done = true;
        this.stop();
        this.o.onEnd(result);
    }
    ended() {
        if (this.done)
            return;
        if (this.inBody && this.received === this.expected)
            this.finish({ ok: true });
        else
            this.finish({ ok: false, reason: this.sawAnything ? 'truncated' : 'connectFailed' });
    }
    readable(count) {
        if (this.done || !this.socket)
            return;
        const buffer = this.socket.read(count);
        if (!buffer || buffer.byteLength === 0)
            return;
        this.sawAnything = true;
        this.arm();
        const bytes = new Uint8Array(buffer);
        let i = 0;
        if (!this.inBody) {
            const head = this.o.headBuffer;
            for (; i < bytes.length && !this.inBody; i++) {
                if (this.headLength >= head.length) {
                    this.finish({ ok: false, reason: 'headerTooLong' });
                    return;
                }
                head[this.headLength++] = bytes[i];
                const n = this.headLength;
                if (n >= 4 && head[n - 4] === CR && head[n - 3] === LF && head[n - 2] === CR && head[n - 1] === LF) {
                    const verdict = this.parseHead();
                    if (!verdict.ok) {
                        this.finish(verdict);
                        return;
                    }
                    this.inBody = true;
                }
            }
        }
        if (this.inBody && i < bytes.length)
            this.body(bytes.subarray(i));
    }
    body(bytes) {
        const room = this.expected - this.received;
        if (bytes.length > room) {
            this.finish({ ok: false, reason: 'bodyTooLong' });
            return;
        }
        this.received += bytes.length;
        this.o.onBody(bytes);
        if (!this.done && this.received === this.expected)
            this.finish({ ok: true });
    }
    parseHead() {
        let text = '';
        const head = this.o.headBuffer;
        for (let i = 0; i < this.headLength - 4; i++)
            text += String.fromCharCode(head[i]);
        const lines = text.split('\r\n');
        const status = lines[0];
        if (!(status.startsWith('HTTP/1.1 ') || status.startsWith('HTTP/1.0 ')) || status.length < 12 || (status.length > 12 && status[12] !== ' ')) {
            return { ok: false, reason: 'badResponse' };
        }
        const code = decimal(status.slice(9, 12));
        if (code === 200)
            return { ok: false, reason: 'rangeIgnored', status: code };
        if (code === 416)
            return { ok: false, reason: 'rangeNotSatisfiable', status: code };
        if (code !== 206)
            return { ok: false, reason: 'httpStatus', status: code };
        let contentRange;
        let contentLength;
        for (let l = 1; l < lines.length; l++) {
            const line = lines[l];
            const colon = line.indexOf(':');
            if (colon <= 0)
                return { ok: false, reason: 'badResponse' };
            const name = line.slice(0, colon).toLowerCase();
            const value = line.slice(colon + 1).trim();
            if (name === 'content-range') {
                if (contentRange !== undefined)
                    return { ok: false, reason: 'badContentRange' };
                contentRange = value;
            }
            else if (name === 'content-length') {
                if (contentLength !== undefined)
                    return { ok: false, reason: 'badContentLength' };
                contentLength = value;
            }
            else if (name === 'transfer-encoding')
                return { ok: false, reason: 'chunkedRefused' };
        }
        const o = this.o;
        const wanted = `bytes ${o.first}-${o.last}/${o.total}`;
        if (contentRange !== wanted)
            return { ok: false, reason: 'badContentRange' };
        if (contentLength === undefined || decimal(contentLength) !== o.last - o.first + 1) {
            return { ok: false, reason: 'badContentLength' };
        }
        this.expected = o.last - o.first + 1;
        return { ok: true };
    }
}
//# sourceMappingURL=http.js.map