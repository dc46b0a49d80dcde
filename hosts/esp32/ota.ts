/*
 * The OTA update target on an ESP32, between the firmware's slot format and ESP-IDF's app slots.
 *
 * The firmware's Updater (firmware/ota/updater.ts) writes a slot as the simulated bootloader
 * reads it: the image at SLOT_IMAGE_OFFSET and up, in order, then the 4 KB slot header (the
 * signed manifest) at offset 0, then `complete()`. The ESP-IDF bootloader boots a raw app
 * image from `ota_0`/`ota_1`, so here:
 * - image bytes go to Moddable's embedded:update on the inactive slot ("nextota"), at their
 *   offset minus SLOT_IMAGE_OFFSET (esp_ota_write_with_offset); the Updater opens the image
 *   length rounded up to 16 bytes and pads its last write with 0xff, inside the 4 KiB sector
 *   esp_ota_begin erased (slot-writer.ts holds writes to that erased range);
 * - the Updater has already refused an image whose ESP-IDF head is for another chip or
 *   version (firmware/ota/esp-image.ts) before its first byte reached this target;
 * - the header is checked for the slot magic and dropped: the Updater has verified the
 *   manifest signature and the image digest over the stream before it writes the header;
 * - `complete()` runs esp_ota_end (ESP-IDF validates the app image and its SHA-256) and makes
 *   the slot the boot slot on trial; CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE rolls it back
 *   unless `confirm()` (ota-state.c) marks it valid;
 * - `cancel()` aborts. A download resumed after a reboot restarts esp_ota (which erases the
 *   slot), so the resumed image fails ESP-IDF's validation at `complete()`: the update is
 *   refused, never booted half-written.
 */
import Flash from 'embedded:storage/flash';
import Update from 'embedded:update';
import type { UpdateProvider } from '../../firmware/host';
import { SlotWriter, type NativeUpdate } from './slot-writer';

function openNextSlot(imageBytes: number | undefined): NativeUpdate {
  const partition = Flash.open({ path: 'nextota' } as never);
  const options: Record<string, unknown> = { partition, mode: 'w' };
  if (imageBytes !== undefined) options.byteLength = imageBytes;
  return (Update as unknown as { open(o: Record<string, unknown>): NativeUpdate }).open(options);
}

export const esp32Update: UpdateProvider = {
  open(options?: { byteLength?: number }) {
    return new SlotWriter(options?.byteLength, openNextSlot);
  },
  running() {
    return native('xs_pipewatch_ota_running').call(this) as { slot: number; version: string; trial: boolean };
  },
  confirm() {
    native('xs_pipewatch_ota_confirm').call(this);
  },
};
