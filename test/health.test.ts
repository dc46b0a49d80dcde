import test from 'ava';
import { bundleForXs } from '../hosts/xs/bundle';
import { XsWorker } from '../hosts/xs/worker';
import { XS_SLOT_BYTES } from '../hosts/xs/worker';
import { fileURLToPath } from 'node:url';
import { portable } from './harness/portable';

await portable('health', new URL('./portable/health.ts', import.meta.url));

test('health › heartbeats allocate nothing that stays: XS heap after 200 more heartbeats is what it was after 20 [xs]', async (t) => {
  const path = fileURLToPath(new URL('./portable/health.ts', import.meta.url));
  const code = await bundleForXs({
    contents: `import { heapProbe } from ${JSON.stringify(path)};
globalThis.handleCommand = (bytes) => {
  const n = new Uint8Array(bytes)[0];
  if (n === 0) heapProbe.setup();
  const acked = n === 0 ? 0 : heapProbe.run(n);
  gc();
  return new Uint8Array([acked & 0xff, acked >> 8]).buffer;
};`,
    resolveDir: '/',
  });
  const worker = new XsWorker();
  try {
    await worker.evaluate(code);
    await worker.deliver(new Uint8Array([0]));
    const warm = await worker.deliver(new Uint8Array([20]));
    const after = await worker.deliver(new Uint8Array([200]));
    const acked = after.result[0]! | (after.result[1]! << 8);
    t.true(acked >= 220, `heartbeats acknowledged: ${acked}`);
    const grown = (after.meter.currentHeapCount - warm.meter.currentHeapCount) * XS_SLOT_BYTES + (after.meter.allocate - warm.meter.allocate);
    t.true(grown <= 0, `heap grew by ${grown} bytes over 200 heartbeats`);
  } finally {
    worker.close?.();
  }
});
