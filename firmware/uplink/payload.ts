/*
 * Reading payloads (JSON, one reading per PUBLISH), documented in README.md "Payload format":
 *
 *   topic   pipewatch/<deviceId>/readings          (alerts: pipewatch/<deviceId>/alerts)
 *   payload {"dev":"<deviceId>","seq":<n>,"ts":<ms>,"sync":<true|false>,"ch":<channel>,"<unit>":<int>[,"alert":true]}
 *
 * `seq` never repeats for a device; `ts` is wall-clock ms since the Unix epoch when `sync` is
 * true, else ms since the node booted; the value is a fixed-point integer whose key names the
 * unit: "mC" milli-degrees Celsius, "mRH" milli-percent relative humidity, "Pa" pascal.
 */
import { ReadingKind, type Reading } from '../store';
import { AsciiWriter, asciiBytes } from './ascii';

const unitKey: Record<number, string> = {
  [ReadingKind.milliCelsius]: 'mC',
  [ReadingKind.milliPercentRH]: 'mRH',
  [ReadingKind.pascal]: 'Pa',
};

export class ReadingEncoder {
  readonly #prefix: Uint8Array;
  readonly out: AsciiWriter;
  readonly readingsTopic: Uint8Array;
  readonly alertsTopic: Uint8Array;

  constructor(deviceId: string, capacity = 160) {
    this.#prefix = asciiBytes(`{"dev":"${deviceId}","seq":`);
    this.out = new AsciiWriter(capacity);
    this.readingsTopic = asciiBytes(`pipewatch/${deviceId}/readings`);
    this.alertsTopic = asciiBytes(`pipewatch/${deviceId}/alerts`);
  }

  /** Encodes one reading into `out`; returns its length, or 0 if it did not fit. */
  encode(r: Reading): number {
    const w = this.out.reset();
    w.raw(this.#prefix).int(r.seq).text(',"ts":').int(r.timeMs);
    w.text(r.synced ? ',"sync":true,"ch":' : ',"sync":false,"ch":').int(r.channel);
    w.text(',"').text(unitKey[r.kind] ?? 'v').text('":').int(r.value);
    w.text(r.alert ? ',"alert":true}' : '}');
    return w.overflow ? 0 : w.length;
  }
}
