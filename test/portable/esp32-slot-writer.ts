import { equal, ok, throws, deepEqual } from '../harness/assert';
import type { Bytes } from '../../firmware/host';
import { SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from '../../firmware/ota/slot';
import { SlotWriter, type NativeUpdate } from '../../hosts/esp32/slot-writer';
import { Updater, type OtaEvent } from '../../firmware/ota/updater';
import { makeRig, signManifest, sizedImage, vendorKey, BOARD } from './ota-fixture';

/**
 * An ESP-IDF app partition behind Moddable's embedded:update in "w" mode, as strict as the C
 * code: esp_ota_begin(partition, byteLength) erases byteLength rounded up to 4 KiB sectors
 * (xs_update_open refuses a byteLength above the partition); esp_ota_write_with_offset writes
 * any length anywhere in the partition (ESP_ERR_INVALID_SIZE past its end) and, like NOR
 * flash, only clears bits: a write outside the erased range corrupts silently (counted here).
 */
class FakeAppSlot implements NativeUpdate {
  readonly bytes: Uint8Array;
  completed = false;
  closed = false;
  unerasedWrites = 0;
  readonly erasedBytes: number;
  constructor(readonly size: number, byteLength = size) {
    if (byteLength > size) throw new RangeError('invalid byteLength');
    this.bytes = new Uint8Array(size).fill(0x00);
    this.erasedBytes = Math.ceil(byteLength / 4096) * 4096;
    this.bytes.fill(0xff, 0, this.erasedBytes);
  }
  write(buffer: Bytes, byteOffset: number): void {
    if (this.completed || this.closed) throw new Error('already complete');
    const data = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer as ArrayBuffer);
    if (byteOffset + data.length > this.size) throw new Error('write failed');
    if (byteOffset + data.length > this.erasedBytes) this.unerasedWrites++;
    for (let i = 0; i < data.length; i++) this.bytes[byteOffset + i]! &= data[i]!;
  }
  complete(): void {
    if (this.completed) throw new Error('already complete');
    this.completed = true;
  }
  close(): void {
    this.closed = true;
  }
}

function open(size: number, partition = 65536): { writer: SlotWriter; slot: () => FakeAppSlot } {
  let slot: FakeAppSlot | undefined;
  const writer = new SlotWriter(SLOT_IMAGE_OFFSET + size, (imageBytes) => {
    equal(imageBytes, size);
    slot = new FakeAppSlot(partition, imageBytes);
    return slot;
  });
  return { writer, slot: () => slot! };
}

/** The firmware's Updater writing through the slot writer into a fake app partition. */
function updaterInstalls(bytes: number): void {
  const rig = makeRig();
  const img = sizedImage(bytes, '1.1.0');
  rig.server.images.set('/fw/pipewatch.bin', img);
  rig.updater!.close();
  let slot: FakeAppSlot | undefined;
  const events: OtaEvent[] = [];
  const updater = new Updater({
    io: { TCP: rig.server.tcp() },
    timers: rig.loop,
    clock: rig.loop,
    update: {
      open: (options) =>
        new SlotWriter(options?.byteLength, (imageBytes) => {
          slot = new FakeAppSlot(16 * 4096, imageBytes);
          return slot;
        }),
      running: () => ({ slot: 0, version: '1.0.0', trial: false }),
      confirm: () => undefined,
    },
    flash: rig.partitions.get('ota')!,
    publicKey: vendorKey().publicKey,
    board: BOARD,
    securityCounter: 1,
    maxImageBytes: 15 * 4096,
    restart: () => undefined,
    onEvent: (event) => events.push(event),
  });
  equal(updater.offer(signManifest({ version: '1.1.0', securityCounter: 2, image: img })), undefined);
  rig.loop.run(60_000, () => events.some((e) => e.type === 'rebooting' || e.type === 'failed'));
  updater.close();
  deepEqual(events.map((e) => ('reason' in e ? `${e.type}:${e.reason}` : e.type)), ['progress', 'verified', 'rebooting'], `${bytes} bytes`);
  ok(slot && slot.completed, 'esp_ota_end ran');
  equal(slot!.unerasedWrites, 0, 'no write outside the erased range');
  let same = true;
  for (let i = 0; i < bytes; i++) if (slot!.bytes[i] !== img[i]) same = false;
  ok(same, 'the app partition holds the image');
  equal(slot!.bytes[bytes], 0xff, 'padding is 0xff');
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
  'the 0xff-padded last write of an image of 4n+1, 4n+2, 4n+3 bytes is accepted'() {
    for (const size of [4097, 4098, 4099]) {
      const { writer, slot } = open(size);
      writer.write(new Uint8Array(4096), SLOT_IMAGE_OFFSET);
      writer.write(new Uint8Array(16), SLOT_IMAGE_OFFSET + 4096);
      writer.write(new Uint8Array(SLOT_HEADER_BYTES), 0);
      writer.complete();
      ok(slot().completed, `${size} bytes`);
    }
  },
  'a write past the sectors esp_ota_begin erased is refused'() {
    const { writer } = open(4097);
    writer.write(new Uint8Array(16), SLOT_IMAGE_OFFSET + 8176);
    throws(() => writer.write(new Uint8Array(32), SLOT_IMAGE_OFFSET + 8176), /E_OTA_SIZE/);
  },
  'the Updater installs images of 4n+1, 4n+2, 4n+3 bytes through the slot writer'() {
    updaterInstalls(21_001);
    updaterInstalls(21_002);
    updaterInstalls(21_003);
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
