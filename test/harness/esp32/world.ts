/*
 * Test fixtures around the ESP32 models: a live environment for the simulated sensors, the
 * boards' wiring (the pins of manifests/esp32/boards/*.json), and a subscriber that decodes what
 * reaches the broker with the firmware's own decoder.
 */
import mqtt from 'mqtt';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { SimI2CBus } from '../../../simulator/devices/i2c-bus';
import { SimSPIBus } from '../../../simulator/devices/spi-bus';
import { SimOneWireBus } from '../../../simulator/devices/onewire-bus';
import { SimAdc, SimNtcDivider } from '../../../simulator/devices/analog';
import { SimTMP117 } from '../../../simulator/devices/tmp117';
import { SimMax31855 } from '../../../simulator/devices/max31855';
import { SimMax31865 } from '../../../simulator/devices/max31865';
import { SimDs18b20 } from '../../../simulator/devices/ds18b20';
import { SimNtc } from '../../../simulator/devices/ntc';
import type { SimEnv } from '../../../simulator/devices/env';
import { decodeMessage } from '../../../firmware/uplink/decode';
import type { Wiring } from './io';
import type { Board } from './harness';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A steady pipe at `celsius`, on the real clock (the models run in real time). */
export class LiveEnv implements SimEnv {
  readonly #start = performance.now();
  constructor(public celsius = 61.5) {}
  now(): number {
    return performance.now() - this.#start;
  }
  temperature(): number {
    return this.celsius;
  }
  humidity(): number {
    return 40;
  }
  pressure(): number {
    return 101325;
  }
  ambient(): number {
    return 24;
  }
}

export interface BoardPins {
  i2c: { port: number; data: number; clock: number; hz: number };
  spi: { port: number; clock: number; out: number; in: number; select: number };
  onewire: { pin: number };
  led: { kind: string; pin: number; on: number };
}

export function boardPins(board: Board): BoardPins {
  const manifest = JSON.parse(readFileSync(join(root, `manifests/esp32/boards/${board}.json`), 'utf8'));
  return manifest.config.board as BoardPins;
}

export type Part = 'tmp117' | 'max31855' | 'max31865' | 'ds18b20' | 'ntc';

/** An ADC1 pin per chip for the NTC divider (modules/io/analog/esp32/_analog.c gADCMap). */
export const NTC_PIN: Record<Board, number> = { nodemcu: 34, esp32s3: 7, esp32c3: 0 };

/** Wires one part to the board's bus for it, as a person would solder it. */
export function wirePart(board: Board, part: Part, env: SimEnv): (wiring: Wiring) => void {
  const pins = boardPins(board);
  return (wiring) => {
    if (part === 'tmp117') {
      const bus = new SimI2CBus();
      bus.attach(0x48, new SimTMP117(env));
      wiring.i2c = { data: pins.i2c.data, clock: pins.i2c.clock, bus };
    } else if (part === 'max31855' || part === 'max31865') {
      const bus = new SimSPIBus();
      bus.attach(pins.spi.select, part === 'max31855' ? new SimMax31855(env) : new SimMax31865(env));
      wiring.spi = { clock: pins.spi.clock, out: pins.spi.out, in: pins.spi.in, bus };
    } else if (part === 'ds18b20') {
      const bus = new SimOneWireBus();
      bus.attach(new SimDs18b20(env, 0x1234));
      wiring.oneWire.set(pins.onewire.pin, bus);
    } else {
      const adc = new SimAdc(3.3, 12);
      adc.attach(NTC_PIN[board], new SimNtcDivider(new SimNtc(env), 10_000, 3.3));
      wiring.adc = adc;
    }
  };
}

export interface Received {
  dev: string;
  channel: number;
  value: number;
  seq: number;
}

/** Subscribes to every pipewatch topic; decodes each message strictly (errors are kept). */
export async function subscribe(url: string, options: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...options });
  const readings: Received[] = [];
  const errors: string[] = [];
  client.on('message', (topic, payload) => {
    if (!topic.startsWith('pipewatch/') || topic.includes('/status')) return;
    const decoded = decodeMessage(topic, new Uint8Array(payload));
    if (decoded.error !== undefined) {
      if (!topic.endsWith('/readings') && !topic.endsWith('/bin') && !topic.endsWith('/alerts')) return;
      errors.push(`${topic}: ${decoded.error}`);
      return;
    }
    for (const r of decoded.readings) readings.push({ dev: decoded.dev, channel: r.channel, value: r.value, seq: r.seq });
  });
  await client.subscribeAsync('pipewatch/#', { qos: 1 });
  return { client, readings, errors, close: () => client.endAsync() };
}
