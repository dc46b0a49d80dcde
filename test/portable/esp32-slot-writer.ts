import { equal, ok, throws } from '../harness/assert';
import type { Bytes } from '../../firmware/host';
import { SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from '../../firmware/ota/slot';
import { SlotWriter, type NativeUpdate } from '../../hosts/esp32/slot-writer';

/** An ESP-IDF app slot writer as Moddable's embedded:update in "w" mode: writes at offsets, then end. */
class FakeAppSlot implements NativeUpdate {
  readonly bytes: Uint8Array;
  completed = false;
  closed = false;
  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }
  write(buffer: Bytes, byteOffset: number): void {
    if (this.completed || this.closed) throw new Error('already complete');
    const data = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer as ArrayBuffer);
    if (byteOffset + data.length > this.size) throw new Error('write failed');
    this.bytes.set(data, byteOffset);
  }
  complete(): void {
    if (this.completed) throw new Error('already complete');
    this.completed = true;
  }
  close(): void {
    this.closed = true;
  }
}

function open(size: number): { writer: SlotWriter; slot: () => FakeAppSlot } {
  let slot: FakeAppSlot | undefined;
  const writer = new SlotWriter(SLOT_IMAGE_OFFSET + size, (imageBytes) => {
    equal(imageBytes, size);
    slot = new FakeAppSlot(size);
    return slot;
  });
  return { writer, slot: () => slot! };
}

export const tests = {
  'image bytes land at their offset in the app slot; the header is dropped'() {
    const { writer, slot } = open(8192);
    const block = new Uint8Array(4096);
    for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
    writer.write(block, SLOT_IMAGE_OFFSET);
    writer.write(block.subarray(0, 100), SLOT_IMAGE_OFFSET + 4096);
    writer.write(new Uint8Array(SLOT_HEADER_BYTES).fill(0x5a), 0);
    writer.complete();
    ok(slot().completed);
    equal(slot().bytes[0], 0);
    equal(slot().bytes[255], 255);
    equal(slot().bytes[4096 + 99], 99);
    equal(slot().bytes[4096 + 100], 0xff);
  },
  'complete() before the header is refused'() {
    const { writer, slot } = open(4096);
    writer.write(new Uint8Array(16), SLOT_IMAGE_OFFSET);
    throws(() => writer.complete(), /E_OTA_HEADER/);
    equal(slot().completed, false);
  },
  'writes inside the header area, beyond the image, or a short header are refused'() {
    const { writer } = open(4096);
    throws(() => writer.write(new Uint8Array(16), 16), /E_OTA_OFFSET/);
    throws(() => writer.write(new Uint8Array(32), SLOT_IMAGE_OFFSET + 4080), /E_OTA_SIZE/);
    throws(() => writer.write(new Uint8Array(100), 0), /E_OTA_HEADER/);
  },
  'a slot smaller than the header is no slot'() {
    throws(() => new SlotWriter(SLOT_IMAGE_OFFSET, () => new FakeAppSlot(1)), /E_OTA_SIZE/);
  },
  'cancel() aborts once; a cancelled or completed writer refuses further writes'() {
    const { writer, slot } = open(4096);
    writer.cancel();
    writer.cancel();
    ok(slot().closed);
    throws(() => writer.write(new Uint8Array(4), SLOT_IMAGE_OFFSET), /closed/);
    const second = open(4096);
    second.writer.write(new Uint8Array(SLOT_HEADER_BYTES), 0);
    second.writer.complete();
    throws(() => second.writer.complete(), /closed/);
  },
};
