/*
 * Status LED as one WS2812 pixel (manifest `config.board.led`, kind "neopixel"); mapped as
 * `hosts/esp32/led` by the boards that have one (manifests/esp32/boards).
 */
import NeoPixel from 'neopixel';
import type { BoardConfig } from './host';
import type { StatusLed } from './led-digital';

export function createStatusLed(board: BoardConfig): StatusLed {
  const pixel = new NeoPixel({ pin: board.led.pin, length: 1, order: 'GRB' });
  const lit = pixel.makeRGB(0, 24, 0);
  const dark = pixel.makeRGB(0, 0, 0);
  return {
    set(value: boolean) {
      pixel.setPixel(0, value ? lit : dark);
      pixel.update();
    },
    close() {
      pixel.close();
    },
  };
}
