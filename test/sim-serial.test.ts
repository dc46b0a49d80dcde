/*
 * The simulated UART link (simulator/devices/serial.ts) on a clock whose timers run late, as real
 * timers do on a loaded machine: a packet of 160 bytes sent at once must reach a node that reads
 * in its onReadable callback whole. Before, every slice was timed from the send: the overdue ones
 * all landed before the node's read callback and overflowed the 128-byte FIFO (an Improv packet
 * became error 0x01 on a loaded CI machine).
 */
import test from 'ava';
import { SimSerialLink, type SimSerialClock } from '../simulator/devices/serial';

/** A clock that is told to jump: every timer due by then runs, in order of due time, with `now` the late time. */
function lateClock() {
  let now = 0;
  let next = 1;
  const timers = new Map<number, { at: number; seq: number; fn: () => void }>();
  let seq = 0;
  const clock: SimSerialClock = {
    now: () => now,
    set(fn, ms) {
      const id = next++;
      timers.set(id, { at: now + Math.max(0, ms), seq: seq++, fn });
      return id;
    },
    clear(id) {
      if (id !== undefined) timers.delete(id);
    },
  };
  const jump = (to: number) => {
    now = to;
    for (;;) {
      const due = [...timers].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at || a[1].seq - b[1].seq)[0];
      if (!due) break;
      timers.delete(due[0]);
      due[1].fn();
    }
  };
  return { clock, jump };
}

/** The node's end of the link, reading everything in its onReadable callback, as the firmware does. */
function reader(link: SimSerialLink) {
  const { Serial } = link.classes();
  const got: number[] = [];
  const port = new Serial({
    receive: 3,
    transmit: 1,
    baud: 115200,
    onReadable(this: { read(): ArrayBuffer | undefined }) {
      const bytes = this.read();
      if (bytes) got.push(...new Uint8Array(bytes));
    },
  } as never) as unknown as { close(): void };
  return { port, got };
}

test('a late event loop delays the bytes towards the node; it does not overflow the FIFO ahead of the read callback', (t) => {
  const { clock, jump } = lateClock();
  const link = new SimSerialLink(clock, { baud: 115200 });
  const { port, got } = reader(link);
  const sent = Array.from({ length: 160 }, (_, i) => i);
  link.send(sent);
  // Each time the loop wakes, it is 50 ms late.
  for (let at = 50; at <= 2000 && got.length < sent.length; at += 50) jump(at);
  t.is(link.stats.rxLost, 0);
  t.deepEqual(got, sent);
  port.close();
});

test('on time, the bytes arrive at their wire time: 160 bytes at 115200 baud in 13.9 ms (within a millisecond when the loop wakes every 0.1 ms)', (t) => {
  const { clock, jump } = lateClock();
  const link = new SimSerialLink(clock, { baud: 115200 });
  const { got } = reader(link);
  link.send(Array.from({ length: 160 }, (_, i) => i));
  for (let at = 0.1; at < 13.8; at += 0.1) jump(at);
  t.true(got.length < 160 && got.length >= 128, `${got.length} bytes by 13.8 ms`);
  // Woken every 0.1 ms, each slice is up to 0.1 ms late: ten slices, within 1 ms of 13.9.
  jump(14.9);
  t.is(got.length, 160);
});
