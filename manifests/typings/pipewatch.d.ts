/*
 * Globals the pipewatch hosts use that the Moddable SDK's typings do not declare.
 */
declare global {
  /**
   * XS abort hook (manifest define `xs.abortHook`): called with the reason and the exception
   * before the engine aborts; returning false lets execution continue (not used by pipewatch).
   */
  var abort: ((why: string, exception?: unknown) => boolean | void) | undefined;
}
export {};
