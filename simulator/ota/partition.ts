/*
 * A partition: a window of whole erase blocks over one flash chip, itself a `Flash`. All
 * partitions of a simulated node share one SimFlash, so one armed power cut hits whichever
 * region the next write or erase touches, as on the real part.
 */
import type { Bytes, Flash, FlashProvider, FlashStatus } from '../../firmware/host';

export class Partition implements Flash {
  private readonly base: number;
  private readonly length: number;

  constructor(
    private readonly chip: Flash,
    private readonly firstBlock: number,
    private readonly blockCount: number,
  ) {
    const s = chip.status();
    if (firstBlock < 0 || blockCount < 1 || firstBlock + blockCount > s.blocks) {
      throw new RangeError(`partition ${firstBlock}+${blockCount} outside the chip's ${s.blocks} blocks`);
    }
    this.base = firstBlock * s.blockLength;
    this.length = blockCount * s.blockLength;
  }

  status(): FlashStatus {
    const s = this.chip.status();
    return { blockLength: s.blockLength, blocks: this.blockCount, writeAlign: s.writeAlign, eraseValue: s.eraseValue };
  }

  private check(byteOffset: number, byteLength: number): void {
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + byteLength > this.length) {
      throw new RangeError(`E_FLASH_RANGE: ${byteLength} bytes at ${byteOffset} outside the partition (${this.length})`);
    }
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer;
  read(buffer: Bytes, byteOffset: number): void;
  read(target: number | Bytes, byteOffset: number): ArrayBuffer | void {
    if (typeof target === 'number') {
      this.check(byteOffset, target);
      return this.chip.read(target, this.base + byteOffset);
    }
    this.check(byteOffset, target.byteLength);
    this.chip.read(target, this.base + byteOffset);
  }

  write(buffer: Bytes, byteOffset: number): void {
    this.check(byteOffset, buffer.byteLength);
    this.chip.write(buffer, this.base + byteOffset);
  }

  eraseBlock(block: number): void {
    if (!Number.isInteger(block) || block < 0 || block >= this.blockCount) {
      throw new RangeError(`E_FLASH_RANGE: block ${block} outside the partition (${this.blockCount})`);
    }
    this.chip.eraseBlock(this.firstBlock + block);
  }

  close(): void {}
}

export interface PartitionSpec {
  name: string;
  blocks: number;
}

/** Lays `specs` out in order on `chip`; returns the partitions and a FlashProvider over them. */
export function partitionChip(chip: Flash, specs: PartitionSpec[]): { partitions: Map<string, Partition>; provider: FlashProvider } {
  const partitions = new Map<string, Partition>();
  let next = 0;
  for (const spec of specs) {
    partitions.set(spec.name, new Partition(chip, next, spec.blocks));
    next += spec.blocks;
  }
  return {
    partitions,
    provider: {
      open(options: { path: string }): Flash {
        const p = partitions.get(options.path);
        if (!p) throw new Error(`no flash partition "${options.path}"`);
        return p;
      },
    },
  };
}
