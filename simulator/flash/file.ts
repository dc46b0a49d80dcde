/*
 * A SimFlash backed by a file (Node host only), so a simulated node keeps its cache across runs.
 * The file system is injected (pass `node:fs`): this folder also type-checks as portable code.
 * The file holds the raw partition bytes; `<path>.erase.json` holds the erase counters. Every
 * write and erase is written through (the changed range, at its offset) before the call returns,
 * so a killed simulator process loses nothing that returned. A file of another size is ignored
 * (the partition starts erased, as a new chip).
 */
import { SimFlash, type SimFlashGeometry } from './index';

/** The part of `node:fs` this needs. */
export interface FileSystem {
  existsSync(path: string): boolean;
  statSync(path: string): { size: number };
  readFileSync(path: string): Uint8Array;
  readFileSync(path: string, encoding: 'utf8'): string;
  writeFileSync(path: string, data: Uint8Array | string): void;
  openSync(path: string, flags: string): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
}

export class FileFlash extends SimFlash {
  readonly path: string;
  #fd: number | undefined;

  readonly #fs: FileSystem;

  constructor(options: SimFlashGeometry & { path: string; fs: FileSystem }) {
    super(options);
    this.path = options.path;
    const { existsSync, statSync, readFileSync, writeFileSync, openSync, writeSync } = options.fs;
    this.#fs = options.fs;
    const g = this.geometry;
    const size = g.blockLength * g.blocks;
    if (existsSync(this.path) && statSync(this.path).size === size) {
      const counts = new Uint32Array(g.blocks);
      const countsPath = `${this.path}.erase.json`;
      if (existsSync(countsPath)) {
        try {
          const list = JSON.parse(readFileSync(countsPath, 'utf8')) as unknown;
          if (Array.isArray(list)) list.slice(0, g.blocks).forEach((n, i) => (counts[i] = Number(n) >>> 0));
        } catch {
          // A damaged counter file only loses the statistics, never the partition.
        }
      }
      this.loadState(new Uint8Array(readFileSync(this.path)), counts);
    } else {
      writeFileSync(this.path, this.peekBytes(0, size));
    }
    this.#fd = openSync(this.path, 'r+');
    this.setPersistence(
      (bytes, offset, length) => {
        if (this.#fd !== undefined) writeSync(this.#fd, bytes, offset, length, offset);
      },
      () => writeFileSync(`${this.path}.erase.json`, JSON.stringify(Array.from(this.eraseCounts()))),
    );
  }

  override close(): void {
    super.close();
    if (this.#fd !== undefined) this.#fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}
