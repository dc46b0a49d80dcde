import test from 'ava';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashCache } from '../firmware/cache/index';
import { FileFlash } from '../simulator/flash/file';

test('flash-file › a file-backed partition keeps the cache across runs [node]', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pipewatch-flash-'));
  try {
    const path = join(dir, 'cache.bin');
    const geometry = { path, fs, blockLength: 4096, blocks: 8 };
    let flash = new FileFlash(geometry);
    let cache = new FlashCache(flash);
    t.true(cache.stats.formatted);
    for (let i = 0; i < 500; i++) cache.append({ timeMs: i, synced: false, channel: 1, kind: 0, value: i * 10, alert: false });
    cache.acknowledgeThrough(100);
    flash.close();
    flash.close();
    t.is(statSync(path).size, 4096 * 8);
    flash = new FileFlash(geometry);
    cache = new FlashCache(flash);
    t.false(cache.stats.formatted);
    t.is(cache.pending, 400);
    t.is(cache.nextSeq, 501);
    t.true(flash.eraseCount(0) >= 1, 'erase counters persist too');
    flash.close();
    const other = new FileFlash({ ...geometry, blocks: 4 });
    t.true(new FlashCache(other).stats.formatted, 'a file of another size starts as a new chip');
    other.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
