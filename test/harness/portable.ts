/*
 * Runs a portable test module on Node and inside the real XS engine.
 *
 * A portable module (test/portable/*.ts) has no Node APIs and exports
 *   export const tests: Record<string, () => void | Promise<void>>
 * Each function throws (see ./assert.ts) on failure. `portable('name', url)` registers, for each
 * entry, an ava test "name › entry [node]" and "name › entry [xs]". In XS each entry runs in its
 * own crank of one shared worker, so its computrons are measured too (see `runPortableInXs`).
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { bundleForXs } from '../../hosts/xs/bundle';
import { XsWorker } from '../../hosts/xs/worker';

export type PortableTests = Record<string, () => void | Promise<void>>;

export interface XsTestResult {
  name: string;
  ok: boolean;
  error?: string;
  computrons: number;
}

const runnerSource = (modulePath: string) => `
import { tests } from ${JSON.stringify(modulePath)};
const encoder = new TextEncoder();
const decoder = new TextDecoder();
let last = { ok: false, error: 'not run' };
globalThis.handleCommand = (bytes) => {
  const request = decoder.decode(bytes);
  if (request === '\\u0000names') return encoder.encode(JSON.stringify(Object.keys(tests))).buffer;
  if (request === '\\u0000last') return encoder.encode(JSON.stringify(last)).buffer;
  last = { ok: false, error: 'did not settle' };
  try {
    const out = tests[request]();
    if (out && typeof out.then === 'function') {
      out.then(() => { last = { ok: true }; }, (e) => { last = { ok: false, error: String(e && e.stack || e) }; });
    } else last = { ok: true };
  } catch (e) {
    last = { ok: false, error: String((e && e.message) || e) + '\\n' + String(e && e.stack || '') };
  }
  return new ArrayBuffer(0);
};
`;

/** Runs every test of a portable module in one XS worker; resolves with a result per test. */
export async function runPortableInXs(moduleUrl: URL): Promise<XsTestResult[]> {
  const modulePath = fileURLToPath(moduleUrl);
  const code = await bundleForXs({ contents: runnerSource(modulePath), resolveDir: '/' });
  const worker = new XsWorker();
  const decoder = new TextDecoder();
  const ask = async (request: string) =>
    worker.deliver(new TextEncoder().encode(request));
  try {
    await worker.evaluate(code);
    const names = JSON.parse(decoder.decode((await ask('\0names')).result)) as string[];
    const results: XsTestResult[] = [];
    for (const name of names) {
      const run = await ask(name);
      const last = JSON.parse(decoder.decode((await ask('\0last')).result)) as { ok: boolean; error?: string };
      results.push({ name, ...last, computrons: run.meter.compute });
    }
    return results;
  } finally {
    worker.close();
  }
}

export async function portable(suite: string, moduleUrl: URL): Promise<void> {
  const mod = (await import(moduleUrl.href)) as { tests: PortableTests };
  const names = Object.keys(mod.tests);
  for (const name of names) {
    test(`${suite} › ${name} [node]`, async (t) => {
      await mod.tests[name]!();
      t.pass();
    });
  }
  let xsResults: Promise<XsTestResult[]> | undefined;
  for (const name of names) {
    test(`${suite} › ${name} [xs]`, async (t) => {
      xsResults ??= runPortableInXs(moduleUrl);
      const result = (await xsResults).find((r) => r.name === name);
      t.truthy(result, 'the XS run reported this test');
      if (!result!.ok) t.fail(result!.error);
      else t.pass();
    });
  }
}
