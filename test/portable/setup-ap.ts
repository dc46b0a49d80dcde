/*
 * The setup access point's portal (firmware/provision/setup-ap.ts): captive DNS, the page, the
 * form's rules, the 3-minute close and the close after a saved form, on a manual clock.
 */
import { decodeComponent, escapeHtml, parseSetupForm, setupApName, SetupPortal, SETUP_AP_TIMEOUT_MS, type SetupForm } from '../../firmware/provision/setup-ap';
import { deepEqual, equal, ok } from '../harness/assert';

class Timers {
  now = 0;
  #id = 1;
  readonly #t = new Map<number, { due: number; cb: () => void }>();
  set(cb: () => void, ms: number): number {
    const id = this.#id++;
    this.#t.set(id, { due: this.now + ms, cb });
    return id;
  }
  clear(id: number | undefined): void {
    if (id !== undefined) this.#t.delete(id);
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { due: number; cb: () => void }] | undefined;
      for (const e of this.#t) if (e[1].due <= end && (!next || e[1].due < next[1].due)) next = e;
      if (!next) break;
      this.#t.delete(next[0]);
      this.now = next[1].due;
      next[1].cb();
    }
    this.now = end;
  }
  get pending(): number {
    return this.#t.size;
  }
}

function rig(save: (f: SetupForm) => string | undefined = () => undefined) {
  const timers = new Timers();
  const saved: SetupForm[] = [];
  const closed: string[] = [];
  const portal = new SetupPortal({
    name: 'pw-246f28a1b2c3',
    address: '192.168.4.1',
    networks: [
      { ssid: 'guest', rssi: -77, secure: false },
      { ssid: 'plant <floor>', rssi: -48, secure: true },
      { ssid: 'guest', rssi: -70, secure: false },
      { ssid: '', rssi: -40, secure: false },
    ],
    save(f) {
      const problem = save(f);
      if (problem === undefined) saved.push(f);
      return problem;
    },
    host: { timers },
    onClose: (reason) => closed.push(reason),
  });
  return { timers, saved, closed, portal };
}

export const tests = {
  'access point name: pipewatch- and the last 6 characters of the id'() {
    equal(setupApName('pw-246f28a1b2c3'), 'pipewatch-a1b2c3');
    equal(setupApName('n1'), 'pipewatch-n1');
  },
  'DNS: every name is the node (captive), none once closed'() {
    const r = rig();
    equal(r.portal.dnsAnswer('connectivitycheck.gstatic.com'), '192.168.4.1');
    equal(r.portal.dnsAnswer('captive.apple.com'), '192.168.4.1');
    r.portal.close();
    equal(r.portal.dnsAnswer('x'), undefined);
    equal(r.portal.stats.dnsAnswers, 2);
  },
  'page: scanned networks strongest first, once each, escaped; password and optional broker fields'() {
    const r = rig();
    const page = r.portal.handle('GET', '/', undefined);
    equal(page.status, 200);
    ok(page.body.indexOf('plant &lt;floor&gt;') >= 0, 'SSID escaped');
    ok(page.body.indexOf('<floor>') < 0, 'no raw markup from an SSID');
    ok(page.body.indexOf('plant &lt;floor&gt;') < page.body.indexOf('value="guest"'), 'strongest first');
    equal(page.body.split('value="guest"').length, 2, 'guest listed once');
    ok(page.body.indexOf('name="password"') > 0 && page.body.indexOf('name="broker"') > 0);
    equal(r.portal.handle('GET', '/index.html?x=1', undefined).status, 200);
  },
  'captive checks are redirected to the page; other methods 405'() {
    const r = rig();
    for (const path of ['/generate_204', '/hotspot-detect.html', '/connecttest.txt']) {
      const res = r.portal.handle('GET', path, undefined);
      equal(res.status, 302);
      deepEqual(res.headers[0], ['Location', 'http://192.168.4.1/']);
    }
    equal(r.portal.handle('PUT', '/save', 'ssid=x').status, 405);
    equal(r.portal.stats.redirects, 3);
  },
  'form: percent escapes and + decode; bad escapes, bad UTF-8, unknown or repeated fields refused'() {
    equal(decodeComponent('a+b%20c%C3%A9'), 'a b cé');
    equal(decodeComponent('%zz'), undefined);
    equal(decodeComponent('%C3'), undefined);
    equal(decodeComponent('%4'), undefined);
    deepEqual(parseSetupForm('ssid=plant&password=steam-pipes&broker='), { ssid: 'plant', password: 'steam-pipes', broker: '' });
    deepEqual(parseSetupForm('ssid=guest&other=Typed+In&password='), { ssid: 'Typed In', password: '', broker: '' });
    equal(typeof parseSetupForm('ssid=a&ssid=b'), 'string');
    equal(typeof parseSetupForm('ssid=a&admin=1'), 'string');
    equal(typeof parseSetupForm('ssid=%FF'), 'string');
    equal(typeof parseSetupForm('password=12345678'), 'string', 'no network');
    equal(typeof parseSetupForm(`ssid=${'x'.repeat(33)}`), 'string', '33 bytes');
    equal(typeof parseSetupForm('ssid=a&password=short'), 'string', 'WPA2 needs 8');
    equal(typeof parseSetupForm(`ssid=a&password=${'p'.repeat(64)}`), 'string', 'WPA2 takes 63');
    equal(typeof parseSetupForm('ssid=a&broker=http%3A%2F%2Fx'), 'string');
    deepEqual(parseSetupForm('ssid=a&broker=mqtt%3A%2F%2Fstation.local%3A1883'), { ssid: 'a', password: '', broker: 'mqtt://station.local:1883' });
    equal(typeof parseSetupForm(`ssid=a&x=${'y'.repeat(600)}`), 'string', 'longer than 512 bytes');
  },
  'a refused form shows the page again with the reason (400), nothing saved, still open'() {
    const r = rig();
    const res = r.portal.handle('POST', '/save', 'ssid=a&password=short');
    equal(res.status, 400);
    ok(res.body.indexOf('8 to 63') > 0);
    const host = rig(() => 'ssid: printable ASCII');
    equal(host.portal.handle('POST', '/save', 'ssid=%C3%A9').status, 400, 'the host refused it');
    equal(host.saved.length, 0);
    equal(r.portal.closed, false);
  },
  'a saved form: the answer page, closed 1 s later (configured), later requests 503'() {
    const r = rig();
    const res = r.portal.handle('POST', '/save', 'ssid=plant+%3Cfloor%3E&password=steam-pipes');
    equal(res.status, 200);
    ok(res.body.indexOf('plant &lt;floor&gt;') > 0);
    deepEqual(r.saved, [{ ssid: 'plant <floor>', password: 'steam-pipes', broker: '' }]);
    equal(r.portal.handle('GET', '/', undefined).status, 503);
    r.timers.advance(999);
    deepEqual(r.closed, []);
    r.timers.advance(1);
    deepEqual(r.closed, ['configured']);
    r.timers.advance(SETUP_AP_TIMEOUT_MS);
    deepEqual(r.closed, ['configured'], 'no time-out after it');
  },
  'closes after 3 minutes without a saved form; a throwing onClose is contained'() {
    const r = rig();
    r.timers.advance(SETUP_AP_TIMEOUT_MS - 1);
    deepEqual(r.closed, []);
    r.timers.advance(1);
    deepEqual(r.closed, ['timeout']);
    equal(r.portal.handle('GET', '/', undefined).status, 503);
    equal(r.timers.pending, 0);
    const timers = new Timers();
    const p = new SetupPortal({ name: 'n', address: '192.168.4.1', networks: [], save: () => undefined, host: { timers }, onClose: () => { throw new Error('host bug'); } });
    timers.advance(SETUP_AP_TIMEOUT_MS);
    equal(p.closed, true);
  },
  'no scanned network: the page asks for one typed in'() {
    const timers = new Timers();
    const p = new SetupPortal({ name: 'n', address: '192.168.4.1', networks: [], save: () => undefined, host: { timers }, onClose: () => {} });
    ok(p.handle('GET', '/', undefined).body.indexOf('name="other" maxlength="32" required') > 0);
    equal(escapeHtml(`"'&`), '&quot;&#39;&amp;');
    p.close();
    p.close();
  },
};
