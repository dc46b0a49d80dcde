/*
 * Flash cache figures, all measured:
 * - flash bytes written per reading and write amplification against the 20-byte record, erases
 *   per 10,000 readings, projected lifetime at one reading per second on 100,000-cycle NOR:
 *   a 256 KB partition (64 x 4 KB blocks) with the uplink acknowledging every 10 readings, and
 *   offline (nothing acknowledged, the ring wraps and drops);
 * - boot recovery on a full partition, in XS computrons (the real engine, @agoric/xsnap);
 * - RAM of a mounted cache in XS (heap slots x slot size + chunk bytes), for 64 and 16 blocks;
 * - per-operation cost in XS computrons in the steady state of the node (80 x 4 KB blocks, one
 *   reading appended, peeked and acknowledged at a time): append, peek of the oldest record,
 *   alerts-only peek, acknowledge; each the mean over enough readings to cross block boundaries.
 * The same figures for an encrypted partition (ESP32 flash encryption: the cache's encrypted
 * mode on the flash model's 16-byte write-once units), as `cache.encrypted.*`, beside the plain
 * mode's; and both with every reading acknowledged on its own (what the uplink does per PUBACK).
 */
import { fileURLToPath } from 'node:url';
import { computeLayout, FlashCache } from '../../firmware/cache/index';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XS_SLOT_BYTES, XsWorker } from '../../hosts/xs/worker';
import { SimFlash } from '../../simulator/flash/index';

const root = fileURLToPath(new URL('../../', import.meta.url));
const GEOMETRY = { blockLength: 4096, blocks: 64, writeAlign: 4 };
const ENCRYPTED = { blockLength: 4096, blocks: 64, encrypted: true };
const READINGS = 50_000;
const CYCLES = 100_000;

function reading(i: number) {
  return { timeMs: 1_700_000_000_000 + i * 1000, synced: true, channel: 0, kind: 0 as const, value: 20_000 + (i % 100), alert: false };
}

/** `ackEvery` > 0: acknowledgeThrough every that many readings; -1: each reading acknowledged on its own. */
function steady(ackEvery: number, geometry: typeof GEOMETRY | typeof ENCRYPTED = GEOMETRY): { bytesPerReading: number; erasesPer10k: number; lifetimeYears: number } {
  const flash = new SimFlash(geometry);
  const cache = new FlashCache(flash);
  const start = flash.counters;
  for (let i = 0; i < READINGS; i++) {
    const seq = cache.append(reading(i));
    if (ackEvery > 0 && i % ackEvery === ackEvery - 1) cache.acknowledgeThrough(seq);
    if (ackEvery < 0) cache.acknowledge(seq);
  }
  const end = flash.counters;
  if (end.unitRewrites !== 0 || cache.stats.faults !== 0) throw new Error(`bench: ${end.unitRewrites} units written twice, ${cache.stats.faults} faults`);
  const erasesPerReading = (end.erases - start.erases) / READINGS;
  const blocks = GEOMETRY.blocks - Math.max(2, Math.floor(GEOMETRY.blocks / 16));
  // At 1 reading/s each of the main ring's blocks is erased erasesPerReading / blocks times a second.
  const seconds = CYCLES / (erasesPerReading / blocks);
  return {
    bytesPerReading: (end.bytesWritten - start.bytesWritten) / READINGS,
    erasesPer10k: erasesPerReading * 10_000,
    lifetimeYears: seconds / (365.25 * 24 * 3600),
  };
}

const xsSource = `
import { FlashCache } from './firmware/cache/index';
import { SimFlash } from './simulator/flash/index';
let flash;
let keep;
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes);
  if (c[0] === 1) {
    flash = new SimFlash(c[2] === 1 ? { blockLength: 4096, blocks: c[1], encrypted: true } : { blockLength: 4096, blocks: c[1], writeAlign: 4 });
    const cache = new FlashCache(flash);
    const n = cache.capacity + 3000;
    for (let i = 0; i < n; i++) cache.append({ timeMs: 1700000000000 + i * 1000, synced: true, channel: 0, kind: 0, value: i, alert: i % 97 === 0 });
    flash = flash.reboot();
  }
  if (c[0] === 5) {
    const one = new FlashCache(flash);
    return new Uint8Array([one.pending > 0 ? 1 : 0]).buffer;
  }
  if (c[0] === 2) {
    keep = [];
    for (let i = 0; i < 20; i++) keep.push(new FlashCache(flash));
  }
  if (c[0] === 3) keep = undefined;
  if (c[0] === 4) return new Uint8Array([typeof globalThis.gc === 'function' ? 1 : 0]).buffer;
  if (typeof globalThis.gc === 'function') globalThis.gc();
  return new Uint8Array([keep ? keep.length : 0]).buffer;
};
`;

const xsOpsSource = `
import { FlashCache } from './firmware/cache/index';
import { newReading } from './firmware/store';
import { SimFlash } from './simulator/flash/index';
let cache;
let seq = -1;
let i = 0;
const out = [newReading()];
globalThis.handleCommand = (bytes) => {
  const c = new Uint8Array(bytes);
  if (c[0] === 1) cache = new FlashCache(new SimFlash(c[1] === 1 ? { blockLength: 4096, blocks: 80, encrypted: true } : { blockLength: 4096, blocks: 80, writeAlign: 4 }));
  else if (c[0] === 2) { seq = cache.append({ timeMs: 1700000000000 + i * 60000, synced: true, channel: 0, kind: 0, value: 20000 + (i % 100), alert: false }); i++; }
  else if (c[0] === 3) { if (cache.peek(out, 1) !== 1 || out[0].seq !== seq) throw new Error('peek'); }
  else if (c[0] === 4) { if (cache.peek(out, 1, true) !== 0) throw new Error('alerts peek'); }
  else if (c[0] === 5) { cache.acknowledge(seq); if (cache.pending !== 0) throw new Error('ack'); }
  return new ArrayBuffer(0);
};
`;

/** Mean computrons of append, peek of the oldest, alerts-only peek and acknowledge, one reading at a time. */
async function xsOperations(encrypted = false): Promise<Record<string, number>> {
  const code = await bundleForXs({ contents: xsOpsSource, resolveDir: root });
  const worker = new XsWorker();
  const slotsPerBlock = computeLayout({ blockLength: 4096, blocks: 80, writeAlign: 4, eraseValue: 0xff, encrypted })!.slotsPerBlock;
  // Warm-up laps the first block; the measured readings then cross two block boundaries.
  const warm = slotsPerBlock + 17;
  const measured = 2 * slotsPerBlock;
  const sums = [0, 0, 0, 0, 0];
  try {
    await worker.evaluate(code);
    await worker.deliver(new Uint8Array([1, encrypted ? 1 : 0]));
    for (let r = 0; r < warm + measured; r++) {
      for (let op = 0; op <= 4; op++) {
        const { meter } = await worker.deliver(new Uint8Array([op === 0 ? 0 : op + 1]));
        if (r >= warm) sums[op]! += meter.compute;
      }
    }
  } finally {
    worker.close();
  }
  // An empty crank (command 0) is the dispatch overhead, subtracted from every figure.
  const empty = sums[0]! / measured;
  const mean = (op: number) => sums[op]! / measured - empty;
  const prefix = encrypted ? 'cache.encrypted.xs.' : 'cache.xs.';
  return {
    [`${prefix}appendComputrons`]: mean(1),
    [`${prefix}peekOldestComputrons`]: mean(2),
    [`${prefix}peekAlertsOnlyComputrons`]: mean(3),
    [`${prefix}acknowledgeComputrons`]: mean(4),
  };
}

async function xsFigures(encrypted = false): Promise<Record<string, number>> {
  const code = await bundleForXs({ contents: xsSource, resolveDir: root });
  const figures: Record<string, number> = {};
  for (const blocks of [64, 16]) {
    const worker = new XsWorker();
    try {
      await worker.evaluate(code);
      await worker.deliver(new Uint8Array([1, blocks, encrypted ? 1 : 0]));
      if ((await worker.deliver(new Uint8Array([4]))).result[0] !== 1) throw new Error('xsnap has no gc()');
      await worker.deliver(new Uint8Array([3]));
      const before = worker.lastMeter;
      const mount = await worker.deliver(new Uint8Array([2]));
      // Twenty caches are mounted and kept, so the per-cache figure rises above the noise.
      const heapSlots = (mount.meter.currentHeapCount - before.currentHeapCount) / 20;
      const chunkBytes = Math.max(0, mount.meter.allocate - before.allocate) / 20;
      await worker.deliver(new Uint8Array([3]));
      const one = await worker.deliver(new Uint8Array([5]));
      if (one.result[0] !== 1) throw new Error('the full partition mounted empty');
      const prefix = encrypted ? 'cache.encrypted.' : 'cache.';
      figures[`${prefix}bootRecoveryComputronsFull${blocks * 4}KB`] = one.meter.compute;
      figures[`${prefix}ramSlots${blocks}Blocks`] = heapSlots;
      figures[`${prefix}ramBytes${blocks}Blocks`] = heapSlots * XS_SLOT_BYTES + chunkBytes;
    } finally {
      worker.close();
    }
  }
  return figures;
}

export async function bench(): Promise<Record<string, number>> {
  const online = steady(10);
  const offline = steady(0);
  const each = steady(-1);
  const cache = new FlashCache(new SimFlash(GEOMETRY));
  const encOnline = steady(10, ENCRYPTED);
  const encOffline = steady(0, ENCRYPTED);
  const encEach = steady(-1, ENCRYPTED);
  const enc = new FlashCache(new SimFlash(ENCRYPTED));
  return {
    'cache.recordBytes': cache.layout.slotLength,
    'cache.capacityReadings256KB': cache.capacity,
    'cache.flashBytesPerReading': online.bytesPerReading,
    'cache.writeAmplification': online.bytesPerReading / cache.layout.slotLength,
    'cache.flashBytesPerReadingOffline': offline.bytesPerReading,
    'cache.flashBytesPerReadingAckEach': each.bytesPerReading,
    'cache.erasesPer10kReadings': online.erasesPer10k,
    'cache.erasesPer10kReadingsAckEach': each.erasesPer10k,
    'cache.lifetimeYearsAt1Hz100kCycles': online.lifetimeYears,
    'cache.encrypted.recordBytes': enc.layout.slotLength,
    'cache.encrypted.capacityReadings256KB': enc.capacity,
    'cache.encrypted.flashBytesPerReading': encOnline.bytesPerReading,
    'cache.encrypted.flashBytesPerReadingOffline': encOffline.bytesPerReading,
    'cache.encrypted.flashBytesPerReadingAckEach': encEach.bytesPerReading,
    'cache.encrypted.erasesPer10kReadings': encOnline.erasesPer10k,
    'cache.encrypted.erasesPer10kReadingsAckEach': encEach.erasesPer10k,
    'cache.encrypted.lifetimeYearsAt1Hz100kCycles': encOnline.lifetimeYears,
    ...(await xsFigures()),
    ...(await xsOperations()),
    ...(await xsFigures(true)),
    ...(await xsOperations(true)),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  (process.argv.includes('--ops') ? xsOperations() : bench()).then((figures) => process.stdout.write(JSON.stringify(figures, null, 2) + '\n'));
}
