/*
 * The firmware is portable ECMAScript: it type-checks with no Node or DOM types, and its sources
 * use no Node API, wall clock, uninjected timer or random source, nor module features the
 * Moddable toolchain cannot compile.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test('firmware type-checks against ES2022 alone (no Node, no DOM types)', (t) => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'firmware', 'tsconfig.json')], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
});

const forbidden: Array<[RegExp, string]> = [
  [/\bBuffer\b/, 'Buffer'],
  [/\bprocess\./, 'process'],
  [/\brequire\(/, 'require'],
  [/from\s+['"](node:|fs|net|os|path|child_process|events|stream|crypto|tls|http|https)['"/]/, 'a Node module'],
  [/(^|[^.\w])setTimeout\(|(^|[^.\w])setInterval\(/, 'a bare timer'],
  [/\bDate\.now\(/, 'the wall clock'],
  [/Math\.random\(/, 'Math.random'],
  [/\bimport\(/, 'dynamic import'],
  [/\beval\(|new Function\(|new Proxy\(/, 'eval/Function/Proxy'],
];

/** `await` outside any function (top-level await), found with the TypeScript parser. */
function topLevelAwait(file: string, text: string): boolean {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  let found = false;
  const visit = (node: ts.Node, inFunction: boolean): void => {
    if (found) return;
    if ((ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier)) && !inFunction) {
      found = true;
      return;
    }
    const fn = ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node);
    ts.forEachChild(node, (child) => visit(child, inFunction || fn));
  };
  visit(source, false);
  return found;
}

// Portable code outside firmware/: the simulated plant (runs in XS with the firmware) and the
// fleet incidents module of the receiving side (shared by the tools, the simulator and XS tests).
const portableDirs = ['firmware', join('simulator', 'plant'), join('tools', 'fleet')];
for (const file of portableDirs.flatMap((dir) => sources(join(root, dir)))) {
  const rel = file.slice(root.length);
  test(`portable: ${rel}`, (t) => {
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const [pattern, what] of forbidden) t.false(pattern.test(text), `${rel} uses ${what}`);
    t.false(topLevelAwait(file, readFileSync(file, 'utf8')), `${rel} uses top-level await`);
  });
}
