/*
 * The OTA update target on an ESP32: Moddable's embedded:update writing the inactive app slot
 * ("nextota"), plus the two things the SDK does not expose to scripts, in ota-state.c:
 * which slot runs and whether it runs on trial (ESP-IDF app rollback), and confirming it.
 *
 * Contract (firmware/host.ts `UpdateProvider`): `open()` starts a fresh image in the inactive
 * slot; `write()` appends (the ESP-IDF OTA writer is sequential; a byteOffset other than the
 * next byte throws); `complete()` validates the image (ESP-IDF checks its SHA-256) and makes it
 * the boot slot on trial; `cancel()` aborts. With CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE the
 * bootloader returns to the previous slot if the new image restarts before `confirm()`.
 */
import Flash from 'embedded:storage/flash';
import Update from 'embedded:update';
import type { Bytes, Update as HostUpdate, UpdateProvider } from '../../firmware/host';

const running = native('xs_pipewatch_ota_running') as () => { slot: number; version: string; trial: boolean };
const confirm = native('xs_pipewatch_ota_confirm') as () => void;

class SlotWriter implements HostUpdate {
  #update: any;
  #written = 0;

  constructor(byteLength: number | undefined) {
    const partition = Flash.open({ path: 'nextota' });
    this.#update = new (Update as any)({ partition, mode: 'w', ...(byteLength === undefined ? {} : { byteLength }) });
  }

  write(buffer: Bytes, byteOffset?: number): void {
    const update = this.#open();
    if (byteOffset !== undefined && byteOffset !== this.#written) {
      throw new RangeError(`OTA writes are sequential: expected offset ${this.#written}, got ${byteOffset}`);
    }
    update.write(buffer);
    this.#written += buffer.byteLength;
  }

  complete(): void {
    const update = this.#open();
    this.#update = undefined;
    update.complete();
  }

  cancel(): void {
    const update = this.#update;
    this.#update = undefined;
    update?.close();
  }

  #open(): any {
    if (!this.#update) throw new Error('OTA update closed');
    return this.#update;
  }
}

export const esp32Update: UpdateProvider = {
  open(options?: { byteLength?: number }) {
    return new SlotWriter(options?.byteLength);
  },
  running() {
    return running();
  },
  confirm() {
    confirm();
  },
};
