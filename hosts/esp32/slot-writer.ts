/*
 * The slot-format adapter of hosts/esp32/ota.ts, apart so it runs (and is tested) off the device:
 * image bytes of the firmware's slot layout go to an ESP-IDF app slot writer at their offset
 * minus SLOT_IMAGE_OFFSET; the slot header is checked for size and dropped.
 *
 * Bounds: embedded:update in "w" mode opens esp_ota_begin(partition, imageBytes), which erases
 * imageBytes rounded up to 4 KiB sectors (components/app_update/esp_ota_ops.c); writes
 * (esp_ota_write_with_offset) take any length. A write may therefore run past imageBytes (the
 * 0xff padding of the last write) up to the end of the erased range, and no further: past it
 * ESP-IDF would program unerased flash without an error.
 */
import type { Bytes, Update as HostUpdate } from '../../firmware/host';
import { SLOT_HEADER_BYTES, SLOT_IMAGE_OFFSET } from '../../firmware/ota/slot';

/** SPI_FLASH_SEC_SIZE: esp_ota_begin erases whole sectors. */
export const ESP_FLASH_SECTOR_BYTES = 4096;

export interface NativeUpdate {
  write(buffer: Bytes, byteOffset: number): void;
  complete(): void;
  close(): void;
}

export class SlotWriter implements HostUpdate {
  #native: NativeUpdate | undefined;
  readonly #imageBytes: number;
  readonly #erasedBytes: number;
  #headerSeen = false;

  constructor(byteLength: number | undefined, open: (imageBytes: number | undefined) => NativeUpdate) {
    if (byteLength !== undefined && (!Number.isInteger(byteLength) || byteLength <= SLOT_IMAGE_OFFSET)) {
      throw new RangeError(`E_OTA_SIZE: ${byteLength} bytes is no slot (header ${SLOT_IMAGE_OFFSET} + image)`);
    }
    this.#imageBytes = byteLength === undefined ? -1 : byteLength - SLOT_IMAGE_OFFSET;
    this.#erasedBytes = this.#imageBytes < 0 ? -1 : Math.ceil(this.#imageBytes / ESP_FLASH_SECTOR_BYTES) * ESP_FLASH_SECTOR_BYTES;
    this.#native = open(byteLength === undefined ? undefined : this.#imageBytes);
  }

  write(buffer: Bytes, byteOffset = 0): void {
    const native = this.#open();
    const length = buffer.byteLength;
    if (byteOffset === 0) {
      if (length !== SLOT_HEADER_BYTES) throw new RangeError(`E_OTA_HEADER: slot header is ${SLOT_HEADER_BYTES} bytes, got ${length}`);
      this.#headerSeen = true;
      return;
    }
    if (byteOffset < SLOT_IMAGE_OFFSET) throw new RangeError(`E_OTA_OFFSET: ${byteOffset} is inside the slot header`);
    const imageOffset = byteOffset - SLOT_IMAGE_OFFSET;
    if (this.#erasedBytes >= 0 && imageOffset + length > this.#erasedBytes) {
      throw new RangeError(`E_OTA_SIZE: write beyond the ${this.#erasedBytes} bytes erased for the ${this.#imageBytes}-byte image`);
    }
    native.write(buffer, imageOffset);
  }

  complete(): void {
    const native = this.#open();
    if (!this.#headerSeen) throw new Error('E_OTA_HEADER: complete() before the slot header was written');
    this.#native = undefined;
    native.complete();
  }

  cancel(): void {
    const native = this.#native;
    this.#native = undefined;
    native?.close();
  }

  #open(): NativeUpdate {
    if (!this.#native) throw new Error('OTA update closed');
    return this.#native;
  }
}

