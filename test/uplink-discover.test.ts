import test from 'ava';
import { createSocket } from 'node:dgram';
import { Scheduler } from '../hosts/node/scheduler';
import { udpClass } from '../hosts/node/udp';
import { portable } from './harness/portable';
await portable('uplink-discover', new URL('./portable/uplink-discover.ts', import.meta.url));


test('Node host UDP: lwIP\'s rules (port range, IPv4 literal destinations), the redirect, one datagram per read with its sender', async (t) => {
  const echo = createSocket('udp4');
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', () => resolve()));
  echo.on('message', (m, from) => echo.send(Buffer.concat([Buffer.from('re:'), m]), from.port, from.address));
  const scheduler = new Scheduler({ virtual: false });
  const UDP = udpClass(scheduler, new Map([['224.0.0.251:5353', { address: '127.0.0.1', port: echo.address().port }]]));
  t.throws(() => new UDP({ port: 70000 }), { instanceOf: RangeError, message: 'invalid port' });
  t.throws(() => new UDP({ port: 1.5 }), { instanceOf: RangeError });
  let readable = 0;
  const socket = new UDP({ onReadable: (n) => (readable = n) });
  try {
    t.throws(() => socket.write(Uint8Array.of(1), 'station.local', 5353), { instanceOf: RangeError, message: 'invalid IP address' });
    t.is(socket.read(), undefined);
    socket.write(new TextEncoder().encode('q'), '224.0.0.251', 5353);
    const deadline = Date.now() + 2000;
    while (readable === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const d = socket.read()!;
    t.is(new TextDecoder().decode(d), 're:q');
    t.is(d.address, '127.0.0.1');
    t.is(d.port, echo.address().port);
    t.is(socket.read(), undefined);
  } finally {
    socket.close();
    t.throws(() => socket.write(Uint8Array.of(1), '224.0.0.251', 5353), { message: 'closed' });
    scheduler.stop();
    echo.close();
  }
});
