/*
 * The portable mDNS broker search (firmware/provision/mdns.ts): the query's bytes, the answer
 * parser's rules (compression, loops, bounds, not a response), and the finder's tries and end.
 */
import { BrokerFinder, parseMqttAnswer, writeMqttQuery } from '../../firmware/provision/mdns';
import { deepEqual, equal, ok } from '../harness/assert';
import { name, record, u16 } from './dns-bytes';


/** A response: PTR _mqtt._tcp.local → station._mqtt._tcp.local (pointer to offset 12), SRV, A. */
function response(options: { port?: number; withA?: boolean } = {}): Uint8Array {
  const header = [0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, options.withA === false ? 1 : 2];
  const service = name('_mqtt._tcp.local'); // at offset 12
  const ptr = [...service, ...u16(12), 0, 1, 0, 0, 0, 120];
  const instance = [7, ...'station'.split('').map((c) => c.charCodeAt(0)), 0xc0, 12];
  const ptrRecord = [...ptr, ...u16(instance.length), ...instance];
  const instanceAt = 12 + service.length + 10; // the instance name inside the PTR data
  const srv = record([0xc0, instanceAt], 33, [0, 0, 0, 0, ...u16(options.port ?? 1883), ...name('station.local')]);
  const a = record(name('station.local'), 1, [192, 168, 1, 20]);
  return Uint8Array.from([...header, ...ptrRecord, ...srv, ...(options.withA === false ? [] : a)]);
}

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
}

export const tests = {
  'query: one PTR question for _mqtt._tcp.local, class IN, id 0 (RFC 6762 §18.1)'() {
    const out = new Uint8Array(64);
    const n = writeMqttQuery(out);
    deepEqual(Array.from(out.subarray(0, n)), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...name('_mqtt._tcp.local'), 0, 12, 0, 1]);
  },
  'answer: PTR, SRV and A with compressed names give address and port'() {
    deepEqual(parseMqttAnswer(response()), { instance: 'station._mqtt._tcp.local', address: '192.168.1.20', port: 1883, target: 'station.local' });
    deepEqual(parseMqttAnswer(response({ withA: false, port: 8883 })), { instance: 'station._mqtt._tcp.local', address: 'station.local', port: 8883, target: 'station.local' });
  },
  'answer: no PTR for the service, or an SRV with port 0, is none'() {
    const other = Uint8Array.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, ...record(name('_http._tcp.local'), 12, name('x.local'))]);
    equal(parseMqttAnswer(other), 'none');
    equal(parseMqttAnswer(response({ port: 0 })), 'none');
  },
  'answer: a query, a truncated message, a pointer loop, an over-long label are malformed'() {
    const r = response();
    const query = r.slice();
    query[2] = 0;
    equal(parseMqttAnswer(query), 'malformed');
    for (const cut of [5, 20, 40, r.length - 1]) equal(parseMqttAnswer(r.subarray(0, cut)), 'malformed', `cut at ${cut}`);
    const loop = Uint8Array.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 1, 0, 2, 0xc0, 12]);
    equal(parseMqttAnswer(loop), 'malformed');
    const long = Uint8Array.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 64, ...new Array(64).fill(0x61), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
    equal(parseMqttAnswer(long), 'malformed');
    const badA = Uint8Array.from([0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, ...record(name('a.local'), 1, [1, 2, 3])]);
    equal(parseMqttAnswer(badA), 'malformed');
  },
  'finder: queries at d, d + 1 s and d + 3 s, d from 20 to 119 ms; the first good answer ends it; malformed ones are counted'() {
    const timers = new Timers();
    const sent: number[] = [];
    const found: unknown[] = [];
    const finder = new BrokerFinder({ host: { timers, random: { next: () => 0 } }, send: () => sent.push(timers.now), done: (f) => found.push(f) });
    timers.advance(1500);
    deepEqual(sent, [20, 1020]);
    finder.receive(Uint8Array.from([1, 2, 3]));
    equal(finder.stats.malformed, 1);
    finder.receive(response());
    deepEqual(found, [{ instance: 'station._mqtt._tcp.local', address: '192.168.1.20', port: 1883, target: 'station.local' }]);
    timers.advance(10_000);
    deepEqual(sent, [20, 1020], 'no query after the answer');
    equal(found.length, 1);
    ok(finder.finished);
  },
  'finder: nodes powered on together spread their first queries over 20 to 119 ms'() {
    const firsts = new Set<number>();
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const timers = new Timers();
      const sent: number[] = [];
      new BrokerFinder({ host: { timers, random: { next: () => r } }, send: () => sent.push(timers.now), done: () => {} });
      timers.advance(5000);
      equal(sent.length, 3);
      equal(sent[1]! - sent[0]!, 1000);
      equal(sent[2]! - sent[0]!, 3000);
      firsts.add(sent[0]!);
    }
    deepEqual([...firsts], [20, 45, 70, 119]);
  },
  'finder: no answer within 5 s is undefined (the build default is used); a throwing send is counted'() {
    const timers = new Timers();
    const found: unknown[] = [];
    const finder = new BrokerFinder({ host: { timers, random: { next: () => 0.999 } }, send: () => { throw new Error('no route'); }, done: (f) => found.push(f) });
    timers.advance(4999);
    equal(found.length, 0);
    timers.advance(1);
    deepEqual(found, [undefined]);
    equal(finder.stats.sendErrors, 3);
  },
};
