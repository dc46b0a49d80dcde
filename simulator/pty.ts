/*
 * A pseudo-terminal per simulated node: its slave side (/dev/pts/N) is what `pipewatch provision
 * --port` or any other serial client (ESP Web Tools' Improv library through a serial bridge,
 * a short pyserial script) opens; its master side carries the bytes of the node's simulated UART.
 *
 * Node has no pty API. A tiny Python helper does the pty part with the standard library
 * (`pty.openpty`, `tty.setraw`: no echo, no line editing, no CR/LF translation) and relays bytes
 * between the master and its own stdin/stdout; python3 comes from Debian (CI installs it,
 * .ci/run), nothing is compiled or downloaded, unlike the npm `node-pty` (a node-gyp build) or
 * socat (another package for the same job). The helper keeps the slave open itself, so a client
 * may open and close the port any number of times, and it exits when this process closes its
 * stdin (or dies).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const HELPER = `
import os, pty, select, sys, tty
m, s = pty.openpty()
tty.setraw(s)
sys.stdout.buffer.write((os.ttyname(s) + "\\n").encode())
sys.stdout.flush()
out, inp = sys.stdout.fileno(), sys.stdin.fileno()
while True:
    r, _, _ = select.select([m, inp], [], [])
    if m in r:
        try:
            d = os.read(m, 4096)
        except OSError:
            d = b""
        if d:
            os.write(out, d)
    if inp in r:
        d = os.read(inp, 4096)
        if not d:
            break
        os.write(m, d)
`;

export class Pty {
  /** The slave's path, e.g. /dev/pts/7. */
  readonly path: string;
  /** Bytes a client wrote to the slave side. */
  onData: ((bytes: Uint8Array) => void) | undefined;
  readonly #child: ChildProcess;
  #closed = false;

  private constructor(child: ChildProcess, path: string, rest: Buffer) {
    this.#child = child;
    this.path = path;
    child.stdout!.on('data', (data: Buffer) => this.onData?.(new Uint8Array(data)));
    if (rest.length) queueMicrotask(() => this.onData?.(new Uint8Array(rest)));
  }

  /** Opens a pseudo-terminal; rejects when python3 is missing or the helper fails. */
  static open(): Promise<Pty> {
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn('python3', ['-c', HELPER], { stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (error) {
        reject(error as Error);
        return;
      }
      let head = Buffer.alloc(0);
      let errors = '';
      const onData = (data: Buffer) => {
        head = Buffer.concat([head, data]);
        const nl = head.indexOf(0x0a);
        if (nl < 0) return;
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve(new Pty(child, head.subarray(0, nl).toString('utf8'), head.subarray(nl + 1)));
      };
      const onExit = (code: number | null) => reject(new Error(`the pty helper (python3) exited (${code}): ${errors.trim().split('\n').pop() ?? ''}`));
      child.on('error', (error) => reject(new Error(`cannot start python3 for the pseudo-terminal: ${error.message}`)));
      child.stderr!.on('data', (data: Buffer) => (errors += data.toString()));
      child.stdout!.on('data', onData);
      child.on('exit', onExit);
    });
  }

  /** Bytes the node transmitted: the client reads them from the slave. */
  write(bytes: Uint8Array): void {
    if (!this.#closed) this.#child.stdin!.write(bytes);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#child.stdin!.end();
    this.#child.stdout!.destroy();
    // The helper exits on end of input; if it is stuck, end it by its own pid.
    const timer = setTimeout(() => this.#child.kill('SIGTERM'), 1000);
    timer.unref();
    this.#child.once('exit', () => clearTimeout(timer));
  }
}
