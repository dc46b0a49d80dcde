/*
 * Broker discovery by mDNS (issue 16 item 4). Portable rules on Node and XS (test/portable/mdns.ts);
 * here the packets against `dns-packet` (multicast-dns's codec) as the oracle, and the station's
 * advertiser (tools/mdns-advertise.ts, multicast-dns) answering the firmware's BrokerFinder over
 * loopback UDP. Linux's `lo` has no MULTICAST flag, so the test uses the advertiser's unicast
 * socket on a free loopback port: the same query and response bytes as on the mDNS group, not
 * the group membership itself.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { decode, encode } from 'dns-packet';
import { portable } from './harness/portable';
import { BrokerFinder, parseMqttAnswer, writeMqttQuery, type FoundBroker } from '../firmware/provision/mdns';
import { advertiseBroker } from '../tools/mdns-advertise';

await portable('mdns', new URL('./portable/mdns.ts', import.meta.url));

test('the query decodes with dns-packet as one PTR question; dns-packet responses parse', (t) => {
  const out = new Uint8Array(64);
  const q = decode(Buffer.from(out.subarray(0, writeMqttQuery(out))));
  t.like(q, { type: 'query', questions: [{ name: '_mqtt._tcp.local', type: 'PTR', class: 'IN' }] });
  const response = encode({
    type: 'response',
    flags: 0x400,
    answers: [{ name: '_mqtt._tcp.local', type: 'PTR', data: 'plant-station._mqtt._tcp.local' }],
    additionals: [
      { name: 'plant-station._mqtt._tcp.local', type: 'TXT', data: ['v=1'] },
      { name: 'plant-station._mqtt._tcp.local', type: 'SRV', data: { port: 11883, target: 'station.local' } },
      { name: 'station.local', type: 'AAAA', data: '::1' },
      { name: 'station.local', type: 'A', data: '10.1.2.3' },
    ],
  });
  t.deepEqual(parseMqttAnswer(response), { instance: 'plant-station._mqtt._tcp.local', address: '10.1.2.3', port: 11883, target: 'station.local' });
});

test('the advertiser answers the firmware\'s BrokerFinder over loopback UDP', async (t) => {
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
  const port = probe.address().port;
  probe.close();
  const ad = advertiseBroker({ instance: 'pipewatch-station', host: 'station', address: '127.0.0.1', port: 1883, socket: { multicast: false, port, bind: '127.0.0.1', ip: '127.0.0.1' } });
  await ad.ready;
  const node = createSocket('udp4');
  await new Promise<void>((resolve) => node.bind(0, '127.0.0.1', () => resolve()));
  try {
    const found = await new Promise<FoundBroker | undefined>((resolve) => {
      const timers = { set: (cb: () => void, ms: number) => setTimeout(cb, ms) as unknown as number, clear: (id: number | undefined) => clearTimeout(id as never) };
      const finder = new BrokerFinder({ host: { timers, random: { next: () => 0 } }, send: (q) => node.send(q, port, '127.0.0.1'), done: resolve });
      node.on('message', (m) => finder.receive(new Uint8Array(m)));
    });
    t.deepEqual(found, { instance: 'pipewatch-station._mqtt._tcp.local', address: '127.0.0.1', port: 1883, target: 'station.local' });
    t.true(ad.answered >= 1);
  } finally {
    node.close();
    await ad.close();
  }
});

test('pipewatch station --advertise: the station announces its broker; a finder gets it (loopback socket); bad --broker refused', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { parseStationOptions, startStation } = await import('../tools/station/main');
  const { startAedes } = await import('./harness/aedes');
  t.throws(() => parseStationOptions(['--broker', 'mqtt://broker.local:1883', '--advertise']), { message: /--advertise needs --broker with the IPv4 address/ });
  t.like(parseStationOptions(['--broker', 'mqtts://10.0.0.5', '--advertise']).advertise, { host: '10.0.0.5', port: 8883 });
  t.like(parseStationOptions(['--broker', 'mqtts://10.0.0.5', '--advertise', '--advertise-host', 'broker7.local']).advertise, { host: '10.0.0.5', name: 'broker7' });
  t.throws(() => parseStationOptions(['--broker', 'mqtts://10.0.0.5', '--advertise', '--advertise-host', 'bad_name']), { message: /--advertise-host: a host name/ });
  t.throws(() => parseStationOptions(['--broker', 'mqtts://10.0.0.5', '--advertise-host', 'broker7']), { message: /--advertise-host needs --advertise/ });
  const aedes = await startAedes();
  const dir = mkdtempSync(join(tmpdir(), 'station-mdns-'));
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
  const port = probe.address().port;
  probe.close();
  const options = parseStationOptions(['--broker', `mqtt://127.0.0.1:${aedes.port}`, '--db', join(dir, 's.db'), '--client-id', 'plant.station', '--advertise']);
  const station = await startStation({ ...options, advertise: { ...options.advertise!, socket: { multicast: false, port, bind: '127.0.0.1', ip: '127.0.0.1' } } });
  const node = createSocket('udp4');
  await new Promise<void>((resolve) => node.bind(0, '127.0.0.1', () => resolve()));
  try {
    const found = await new Promise<FoundBroker | undefined>((resolve) => {
      const timers = { set: (cb: () => void, ms: number) => setTimeout(cb, ms) as unknown as number, clear: (id: number | undefined) => clearTimeout(id as never) };
      const finder = new BrokerFinder({ host: { timers, random: { next: () => 0 } }, send: (q) => node.send(q, port, '127.0.0.1'), done: resolve });
      node.on('message', (m) => finder.receive(new Uint8Array(m)));
    });
    t.deepEqual(found, { instance: 'plant.station._mqtt._tcp.local', address: '127.0.0.1', port: aedes.port, target: 'plant-station.local' });
  } finally {
    node.close();
    await station.close();
    await aedes.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
