/*
 * The command line's conventions, shared by every verb of `pipewatch` (and by the npm scripts
 * of tools/moddable.ts):
 *
 * - `--help` / `-h` print the verb's usage on stdout and exit 0; `--version` prints the version.
 * - A usage error (unknown option or verb, a value not in the expected form) is one line on
 *   stderr, `pipewatch <verb>: <message>`, naming the option and the form it takes; exit 2.
 * - A failed operation (verification failed, a node refused an update, a file could not be
 *   read) is one line on stderr as well; exit 1.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad options or arguments: exit code 2. */
export class UsageError extends Error {}

/** The operation was attempted and failed: exit code 1. */
export class Failure extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * node:util parseArgs with errors in the conventional form. A string option followed by a
 * negative number (`--seed -1`) takes it as its value, so the option's own check can say what
 * form it expects (parseArgs would call the value ambiguous). `see` names the help to read.
 */
export function parseOptions(
  argv: string[],
  options: Options,
  see: string,
  positionals = false,
): { values: Record<string, any>; positionals: string[] } {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true }) as { values: Record<string, any>; positionals: string[] };
  } catch (error) {
    throw usageError(error, see);
  }
}

/** node:util parseArgs's errors (ERR_PARSE_ARGS_*) as one conventional line; other errors as they are. */
export function usageError(error: unknown, see: string): Error {
  const e = error as Error & { code?: string };
  if (!e.code?.startsWith('ERR_PARSE_ARGS_')) return e;
  const option = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown option ${option ?? ''} (see ${see} --help)`);
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/argument missing|ambiguous/.test(e.message)) return new UsageError(`${option} needs a value (see ${see} --help)`);
    return new UsageError(`${option} takes no value (see ${see} --help)`);
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return new UsageError(`unexpected argument "${/'([^']*)'/.exec(e.message)?.[1] ?? ''}" (see ${see} --help)`);
  }
  return new UsageError(e.message.split('\n')[0]!);
}

/** Parses 500ms, 30s, 10m, 24h, 2d (a bare number is seconds). */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} takes a duration like 30s, 10m or 24h, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? 's']!;
  const ms = Math.round(Number(match[1]) * unit);
  if (ms <= 0) throw new UsageError(`${flag} takes a positive duration like 30s, 10m or 24h, got "${text}"`);
  return ms;
}

/** A whole number in min..max (decimal). */
export function parseInteger(text: string, flag: string, min: number, max: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`${flag} takes a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

/**
 * Runs a verb under the conventions: help, usage errors (exit 2) and failures (exit 1) become
 * one line on stderr prefixed with `prefix` (e.g. "pipewatch ota sign").
 */
export async function runVerb(prefix: string, usage: string, argv: string[], body: () => Promise<number> | number): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
    return 0;
  }
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${prefix}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof Failure) {
      process.stderr.write(`${prefix}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** One line from an error whose message may span several (e.g. OpenSSL's). */
export function oneLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0]!;
}
