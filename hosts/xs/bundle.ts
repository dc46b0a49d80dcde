/*
 * Bundles TypeScript sources into one plain script for XS (no module loader in the worker):
 * esbuild resolves the imports and strips the types; nothing else is transformed (ES2022).
 */
import { build } from 'esbuild';

const cache = new Map<string, Promise<string>>();

/** Bundles `entry` (a file path) or `contents` (source resolved against `resolveDir`). */
export function bundleForXs(
  input: { entry: string } | { contents: string; resolveDir: string },
): Promise<string> {
  const key = 'entry' in input ? input.entry : input.resolveDir + '\0' + input.contents;
  let result = cache.get(key);
  if (!result) {
    result = build({
      ...('entry' in input
        ? { entryPoints: [input.entry] }
        : { stdin: { contents: input.contents, resolveDir: input.resolveDir, loader: 'ts' as const } }),
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'neutral',
      target: 'es2022',
      legalComments: 'none',
      logLevel: 'silent',
    }).then((out) => out.outputFiles[0]!.text);
    cache.set(key, result);
  }
  return result;
}
