/*
 * Portable assertions for tests that run both on Node and inside XS (no Node APIs here).
 * A failed assertion throws an AssertionError with a readable message.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Uint8Array) return `Uint8Array[${Array.from(value).join(',')}]`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function ok(condition: unknown, message = 'expected a truthy value'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function equal<T>(actual: T, expected: T, message = ''): void {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(`${message ? message + ': ' : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function near(actual: number, expected: number, tolerance: number, message = ''): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new AssertionError(
      `${message ? message + ': ' : ''}expected ${expected} ± ${tolerance}, got ${actual}`,
    );
  }
}

function deepEq(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEq((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export function deepEqual(actual: unknown, expected: unknown, message = ''): void {
  if (!deepEq(actual, expected)) {
    throw new AssertionError(`${message ? message + ': ' : ''}expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** Expects `fn` to throw; `match` is tested against the error's message (and `code`, if any). */
export function throws(fn: () => unknown, match?: RegExp, message = ''): void {
  try {
    fn();
  } catch (error) {
    const text = `${(error as { code?: unknown }).code ?? ''} ${(error as Error).message}`;
    if (match && !match.test(text)) {
      throw new AssertionError(`${message ? message + ': ' : ''}threw ${show(text)}, expected ${match}`);
    }
    return;
  }
  throw new AssertionError(`${message ? message + ': ' : ''}expected an exception`);
}
