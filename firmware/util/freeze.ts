/*
 * Constant tables of preloaded modules: `xsl` keeps a frozen object in flash; an object it finds
 * unfrozen it warns about ("not frozen") and must be able to copy into RAM when written.
 */

/**
 * Freezes `value` and every object and array reachable from it through own enumerable
 * properties; functions and classes are left as they are. Returns `value`.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
