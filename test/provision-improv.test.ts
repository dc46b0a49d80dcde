/*
 * `pipewatch provision --port` (tools/improv.ts) against the firmware's Improv service
 * (firmware/provision/improv.ts) on a simulated UART, through the `serialport` package's stream
 * with its mock binding: what the tool writes goes over the simulated wire at 115200 baud to the
 * node, what the node sends comes back as the port's data.
 */
import test from 'ava';
import { SerialPortMock } from 'serialport';
import { Improv } from '../firmware/provision/improv';
import { SimSerialLink } from '../simulator/devices/serial';
import { realClock } from '../simulator/net/clock';
import { Failure, UsageError } from '../tools/args';
import { provisionCommand, streamTransport, type ProvisionIo } from '../tools/improv';

const NETWORKS: Array<[string, number, boolean]> = [
  ['guest', -71, false],
  ['Plant-Floor', -52, true],
];

function simulatedNode(options: { provisioned?: boolean } = {}) {
  const clock = realClock();
  const link = new SimSerialLink(clock, { baud: 115200 });
  const saved: Array<[string, string]> = [];
  const improv = new Improv({
    serial: { io: link.classes().Serial, baud: 115200, receive: 3, transmit: 1 },
    host: { clock: { monotonic: clock, wall: { now: () => undefined } }, timers: clock },
    info: { firmware: 'pipewatch', version: '0.9.0', chip: 'ESP32', name: 'node-007' },
    provisioned: options.provisioned,
    connect(ssid, password, done) {
      const ok = (ssid === 'Plant-Floor' && password === 'correct horse') || (ssid === 'guest' && password === '');
      clock.set(() => done(ok), 300);
    },
    save(ssid, password) {
      saved.push([ssid, password]);
      return true;
    },
    scan(onNetwork, onDone) {
      clock.set(() => {
        for (const n of NETWORKS) onNetwork(...n);
        onDone();
      }, 200);
    },
    url: () => 'http://10.0.0.5/nodes/node-007',
  });
  let path = 0;
  /** Opens a mock serial port wired to the simulated node. */
  const open: ProvisionIo['open'] = async (_path, baud) => {
    const name = `/dev/ttyIMPROV${path++}`;
    SerialPortMock.binding.createPort(name);
    const port = await new Promise<SerialPortMock>((resolve, reject) => {
      const p: SerialPortMock = new SerialPortMock({ path: name, baudRate: baud }, (e) => (e ? reject(e) : resolve(p)));
    });
    const binding = port.port!;
    const write = binding.write.bind(binding);
    binding.write = async (buffer: Buffer) => {
      await write(buffer);
      link.send(buffer);
    };
    link.onData = (bytes) => {
      if (port.isOpen) binding.emitData(Buffer.from(bytes));
    };
    return streamTransport(port);
  };
  return { improv, link, saved, open };
}

function io(node: ReturnType<typeof simulatedNode>, answers: string[] = []) {
  const lines: string[] = [];
  const asked: string[] = [];
  const value: ProvisionIo = {
    out: (line) => lines.push(line),
    open: node.open,
    timeouts: { stateMs: 3000, joinMs: 5000, scanMs: 3000 },
  };
  if (answers.length) {
    value.ask = async (question) => {
      asked.push(question);
      return answers.shift()!;
    };
  }
  return { io: value, lines, asked };
}

test.afterEach(() => SerialPortMock.binding.reset());

test.serial('with --ssid and --password: the node joins, saves, and the tool prints its id and URL', async (t) => {
  const node = simulatedNode();
  const r = io(node);
  const code = await provisionCommand(['--port', '/dev/ttyUSB0', '--ssid', 'Plant-Floor', '--password', 'correct horse'], r.io);
  node.improv.close();
  t.is(code, 0, r.lines.join('\n'));
  t.deepEqual(node.saved, [['Plant-Floor', 'correct horse']]);
  t.is(r.lines[0], 'node node-007: pipewatch 0.9.0 on ESP32');
  t.is(r.lines.at(-1), 'OK node-007 provisioned on "Plant-Floor": http://10.0.0.5/nodes/node-007');
});

test.serial('interactive: lists the scanned networks strongest first, takes a number, asks the password', async (t) => {
  const node = simulatedNode();
  const r = io(node, ['1', 'correct horse']);
  const code = await provisionCommand(['--port', '/dev/ttyUSB0'], r.io);
  node.improv.close();
  t.is(code, 0, r.lines.join('\n'));
  t.deepEqual(r.lines.slice(1, 4), ['networks the node sees:', '   1. Plant-Floor  -52 dBm', '   2. guest  -71 dBm  (open)']);
  t.deepEqual(r.asked, ['Wi-Fi network (number or name): ', 'password for "Plant-Floor": ']);
  t.deepEqual(node.saved, [['Plant-Floor', 'correct horse']]);
});

test.serial('an open network picked from the list needs no password', async (t) => {
  const node = simulatedNode();
  const r = io(node, ['guest']);
  const code = await provisionCommand(['--port', '/dev/ttyUSB0'], r.io);
  node.improv.close();
  t.is(code, 0, r.lines.join('\n'));
  t.deepEqual(node.saved, [['guest', '']]);
  t.is(r.asked.length, 1);
});

test.serial('no terminal and no --ssid: a usage error after the node was asked, nothing sent', async (t) => {
  const node = simulatedNode();
  const r = io(node);
  await t.throwsAsync(provisionCommand(['--port', '/dev/ttyUSB0'], r.io), { instanceOf: UsageError, message: /--ssid is needed/ });
  node.improv.close();
  t.deepEqual(node.saved, []);
});

test.serial('a wrong password: the node reports error 0x03, the tool exits 1 and says why', async (t) => {
  const node = simulatedNode();
  const r = io(node);
  await t.throwsAsync(provisionCommand(['--port', '/dev/ttyUSB0', '--ssid', 'Plant-Floor', '--password', 'wrong'], r.io), {
    instanceOf: Failure,
    message: /error 0x03 \(unable to connect to the network\)/,
  });
  node.improv.close();
  t.deepEqual(node.saved, []);
});

test.serial('an already provisioned node: prints its URL and changes nothing without --ssid', async (t) => {
  const node = simulatedNode({ provisioned: true });
  const r = io(node);
  const code = await provisionCommand(['--port', '/dev/ttyUSB0'], r.io);
  node.improv.close();
  t.is(code, 0);
  t.regex(r.lines.at(-1)!, /already provisioned: http:\/\/10\.0\.0\.5\/nodes\/node-007/);
});

test.serial('no node on the port (nothing answers): exit 1 with a hint, not a hang', async (t) => {
  const node = simulatedNode();
  node.improv.close();
  const r = io(node);
  r.io.timeouts = { stateMs: 1500 };
  await t.throwsAsync(provisionCommand(['--port', '/dev/ttyUSB0', '--ssid', 'x', '--password', 'y'], r.io), {
    instanceOf: Failure,
    message: /no Improv answer from the node within 1\.5 s/,
  });
});

test('usage: --port is needed, a bad --baud, a too long --ssid; a port that cannot be opened exits 1', async (t) => {
  const node = simulatedNode();
  await t.throwsAsync(provisionCommand([], { out: () => {} }), { instanceOf: UsageError, message: /--port is needed/ });
  await t.throwsAsync(provisionCommand(['--port', 'p', '--baud', 'fast'], { out: () => {} }), { instanceOf: UsageError });
  await t.throwsAsync(provisionCommand(['--port', 'p', '--ssid', 'x'.repeat(33)], { out: () => {} }), { message: /1 to 32 bytes/ });
  const opening = provisionCommand(['--port', '/dev/ttyNONE', '--ssid', 'x', '--password', 'y'], {
    out: () => {},
    open: async () => {
      throw new Error('no such port');
    },
  });
  await t.throwsAsync(opening, { instanceOf: Failure, message: 'cannot open /dev/ttyNONE: no such port' });
  node.improv.close();
});

test("the client's parser: packets between log lines, split at every byte boundary; a corrupted packet skipped", async (t) => {
  const { ImprovStreamParser, improvRpc } = await import('../tools/improv');
  const H = [0x49, 0x4d, 0x50, 0x52, 0x4f, 0x56, 0x01];
  const ready = [...H, 0x01, 0x01, 0x02, 0xe2, 0x0a];
  const bad = [...H, 0x02, 0x01, 0x03, 0xe5, 0x0a];
  const url = [...H, 0x04, 0x07, 0x01, 0x05, 0x04, 0x68, 0x74, 0x74, 0x70, 0xb3, 0x0a];
  const log = [...Buffer.from('I (312) wifi: IMPROV? no\r\n')];
  const stream = [...log, ...ready, ...bad, ...log, ...url];
  for (let cut = 0; cut <= stream.length; cut++) {
    const parser = new ImprovStreamParser();
    const events: unknown[] = [];
    parser.push(Uint8Array.from(stream.slice(0, cut)), (e) => events.push(e));
    parser.push(Uint8Array.from(stream.slice(cut)), (e) => events.push(e));
    t.deepEqual(events, [{ type: 'state', state: 2 }, { type: 'result', command: 1, strings: ['http'] }], `cut at ${cut}`);
  }
  t.deepEqual([...improvRpc(0x02)], [...H, 0x03, 0x02, 0x02, 0x00, 0xe5]);
});
