/*
 * The board budget lane's logic (tools/budget.ts, tools/mcsim.ts), without the SDK: each
 * board's `creation` is fixed and self-consistent, what mcsim prints is read right, readings
 * in batches count, a node still disconnected at the end fails the run, and a peak at 75 % of a
 * budget fails the lane.
 */
import test from 'ava';
import { BOARDS, boardCreation, creationProblems, headroomProblems, ownNotFrozen } from '../tools/budget';
import { DeliveryCounter, SimOutput, verdict, type SimRun } from '../tools/mcsim';
import { deepFreeze } from '../firmware/util/freeze';

for (const board of BOARDS) {
  test(`${board}: creation is fixed and its static block holds chunk + slots + stack`, (t) => {
    t.deepEqual(creationProblems(boardCreation(board)), []);
  });
}

test('creationProblems: a static block smaller than chunk + slots + stack, and growing budgets', (t) => {
  const c = { static: 98304, chunk: { initial: 65536, incremental: 0 }, heap: { initial: 4096, incremental: 0 }, stack: 384, keys: { initial: 64, incremental: 0 } };
  t.regex(creationProblems(c).join('\n'), /static is 98304 bytes, smaller than chunk \+ slots \+ stack \(137216 bytes/);
  t.is(creationProblems({ ...c, static: 0, heap: { initial: 4096, incremental: 64 } }).length, 1);
});

const bytes = (s: string) => new TextEncoder().encode(s);

test('DeliveryCounter counts every reading of a JSON batch, with the strict decoder', (t) => {
  const d = new DeliveryCounter('n1');
  d.take('pipewatch/n1/status', bytes('online'));
  d.take('pipewatch/n1/readings', bytes('{"dev":"n1","seq":1,"ts":5,"sync":false,"ch":0,"mC":21000}'));
  d.take('pipewatch/n1/readings', bytes('{"dev":"n1","r":[[2,6,0,0,"mC",21001],[3,7,0,0,"mC",21002]]}'));
  d.take('pipewatch/n1/readings', bytes('{"dev":"n1","r":[[4,6,0,0,"mC",1],[4,7,0,0,"mC",2]]}'));
  t.is(d.readings, 3);
  t.is(d.seqs.size, 3);
  t.deepEqual(d.shapes, { single: 1, batch: 1, binary: 0, alert: 0 });
  t.is(d.malformed.length, 1);
  t.regex(d.malformed[0]!, /batch order/);
});

test('SimOutput: stats, live memory peaks, instrumentation stack and collections, aborts', (t) => {
  const o = new SimOutput();
  o.line('pipewatch-memory {"slots":3000,"chunk":20000,"slotBytes":32}');
  o.line('pipewatch-memory {"slots":3100,"chunk":19000,"slotBytes":32}');
  o.line('instruments key: Pixels drawn,Chunk used,Stack used,Garbage collections');
  o.line('instruments: 0,1,3200,4');
  o.line('instruments: 0,1,640,1');
  o.line('pipewatch-stats {"samples":3,"connected":true}');
  t.deepEqual(o.peaks, { samples: 2, slots: 3100, chunk: 20000, slotBytes: 32, stack: 100, collectionsPerSecond: 3 });
  t.is(o.lastStats?.connected, true);
  t.is(o.line('# Slot allocation: failed in fixed size heap'), 'other');
  t.is(o.line('XS abort: memory full'), 'abort');
  t.is(o.line('pipewatch-abort memory full: undefined'), 'abort');
  t.is(o.aborts.length, 2);
});

function run(connected: boolean | undefined, readings: number): SimRun {
  const output = new SimOutput();
  if (connected !== undefined) output.line(`pipewatch-stats {"samples":9,"connected":${connected}}`);
  const delivery = new DeliveryCounter('n1');
  for (let i = 1; i <= readings; i++) delivery.take('pipewatch/n1/readings', bytes(`{"dev":"n1","r":[[${i},6,0,0,"mC",1]]}`));
  return { ranMs: 10_000, exitCode: null, output, delivery };
}

test('verdict: passes with readings delivered (batches count) and connected at the end', (t) => {
  t.deepEqual(verdict(run(true, 2), 10_000), []);
});

test('verdict: fails when the node is still disconnected at the end, or printed no stats', (t) => {
  t.regex(verdict(run(false, 2), 10_000).join('\n'), /not connected/);
  t.regex(verdict(run(undefined, 2), 10_000).join('\n'), /no stats/);
});

test('verdict: fails on no delivery and on a run cut short', (t) => {
  t.regex(verdict(run(true, 0), 10_000).join('\n'), /no readings/);
  t.regex(verdict({ ...run(true, 1), ranMs: 2000 }, 10_000).join('\n'), /exited after 2000 ms/);
});

test('headroomProblems: a peak at 75 % of a budget fails, below passes, a missing one fails', (t) => {
  const budget = { slots: 4000, chunk: 80000, stack: 512 };
  t.deepEqual(headroomProblems({ board: 'b', budget, peaks: { samples: 9, slots: 2999, chunk: 59999, stack: 383 } }), []);
  const over = headroomProblems({ board: 'b', budget, peaks: { samples: 9, slots: 3000, chunk: 60000, stack: 384 } });
  t.is(over.length, 3);
  t.regex(over[0]!, /slots: peak 3000 slots is 75\.0 %/);
  t.deepEqual(headroomProblems({ board: 'b', budget, peaks: { samples: 0 } }), ['slots: no measurement', 'chunk: no measurement', 'stack: no measurement']);
});

test('ownNotFrozen: xsl warnings about pipewatch modules, not the SDK', (t) => {
  t.true(ownNotFrozen('  ### warning: firmware/sensors/registry: partNames() parts: not frozen'));
  t.true(ownNotFrozen('### warning: hosts/esp32/settings: validateSettings() KEYS: not frozen'));
  t.false(ownNotFrozen('### warning: wifi: default.scan() scanning: no const'));
  t.false(ownNotFrozen('### warning: embedded:io/i2c: x: not frozen'));
});

test('deepFreeze freezes nested tables and leaves functions alone', (t) => {
  class Driver {
    static channels = [{ kind: 'milliCelsius' }];
  }
  const table = deepFreeze({ a: { bus: 'i2c', driver: Driver }, list: [[1, 2], [3]] });
  t.true(Object.isFrozen(table) && Object.isFrozen(table.a) && Object.isFrozen(table.list) && Object.isFrozen(table.list[0]));
  t.false(Object.isFrozen(Driver));
});

test('the build log passes whole lines, also when a line arrives in two chunks (an xsl warning is counted whole)', async (t) => {
  const { run } = await import('../tools/moddable');
  const lines: string[] = [];
  const script = "process.stdout.write('### warning: firmware/x: '); setTimeout(() => process.stdout.write('T: not frozen\\nlast'), 100)";
  const result = await run(process.execPath, ['-e', script], process.env, (line) => lines.push(line));
  t.is(result.code, 0);
  t.deepEqual(lines, ['  ### warning: firmware/x: T: not frozen', '  last']);
  t.true(ownNotFrozen(lines[0]!));
});
