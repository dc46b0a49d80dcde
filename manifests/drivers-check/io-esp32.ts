/*
 * The check's IO on an ESP32: the same host as the node's (hosts/esp32/host.ts: the SDK's
 * ECMA-419 buses with the board's pins from `config.board`, Moddable timers, Time.ticks).
 */
import config from 'mc/config';
import type { Host } from '../../firmware/host';
import { type BoardConfig, createEsp32Host } from '../../hosts/esp32/host';
import type { CheckBoard } from './target';

export interface CheckIo {
  host: Host;
  board: CheckBoard;
  /** Board and bus for the report header. */
  where(bus: string): string;
}

export function checkIo(): CheckIo {
  const board = config.board as BoardConfig;
  const host = createEsp32Host({ board, restart: () => globalThis.System.restart() });
  return {
    host,
    board,
    where(bus: string) {
      if (bus === 'i2c' || bus === 'smbus') return `${board.id} I2C port ${board.i2c.port} (SDA ${board.i2c.data}, SCL ${board.i2c.clock})`;
      if (bus === 'spi') return `${board.id} SPI port ${board.spi.port} (SCK ${board.spi.clock}, MOSI ${board.spi.out}, MISO ${board.spi.in})`;
      return `${board.id} ${bus === 'onewire' ? '1-Wire' : 'ADC'}`;
    },
  };
}
