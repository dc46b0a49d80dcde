/*
 * Status LED on a GPIO (manifest `config.board.led`, kind "digital"); mapped as
 * `hosts/esp32/led` by the boards that have one (manifests/esp32/boards).
 */
import Digital from 'embedded:io/digital';
import type { BoardConfig } from './host';

export interface StatusLed {
  set(on: boolean): void;
  close(): void;
}

export function createStatusLed(board: BoardConfig): StatusLed {
  const on = board.led.on;
  const led = new Digital({ pin: board.led.pin, mode: Digital.Output });
  return {
    set(value: boolean) {
      led.write(value ? on : on === 1 ? 0 : 1);
    },
    close() {
      led.close();
    },
  };
}
