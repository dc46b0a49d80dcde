/*
 * A strict pipewatch consumer for tests and benches (portable): decodes every message with
 * firmware/uplink/decode.ts, de-duplicates by (dev, seq), and counts what a consumer would
 * notice: duplicates, first deliveries that arrive below a sequence number already seen
 * (order; `batchOutOfOrder` looks only at backlog batches, which live readings and alerts may
 * overtake by design), and messages that do not decode.
 */
import { decodeMessage } from '../../firmware/uplink/decode';

export interface DeviceView {
  seen: Set<number>;
  maxSeq: number;
  /** Highest seq first delivered by a message carrying several readings (a backlog batch). */
  maxBatchSeq: number;
  duplicates: number;
  outOfOrder: number;
}

export class Consumer {
  readonly devices = new Map<string, DeviceView>();
  delivered = 0;
  duplicates = 0;
  outOfOrder = 0;
  batchOutOfOrder = 0;
  malformed = 0;
  messages = 0;
  payloadBytes = 0;
  readonly errors: string[] = [];

  ingest(topic: string, payload: Uint8Array): void {
    this.messages++;
    this.payloadBytes += payload.length;
    const decoded = decodeMessage(topic, payload);
    if (decoded.error !== undefined) {
      this.malformed++;
      if (this.errors.length < 10) this.errors.push(`${topic}: ${decoded.error}`);
      return;
    }
    let device = this.devices.get(decoded.dev);
    if (!device) this.devices.set(decoded.dev, (device = { seen: new Set(), maxSeq: -1, maxBatchSeq: -1, duplicates: 0, outOfOrder: 0 }));
    for (const r of decoded.readings) {
      if (device.seen.has(r.seq)) {
        device.duplicates++;
        this.duplicates++;
        continue;
      }
      device.seen.add(r.seq);
      this.delivered++;
      if (decoded.readings.length > 1) {
        if (r.seq < device.maxBatchSeq) this.batchOutOfOrder++;
        else device.maxBatchSeq = r.seq;
      }
      if (r.seq < device.maxSeq) {
        device.outOfOrder++;
        this.outOfOrder++;
      } else device.maxSeq = r.seq;
    }
  }

  /** Sequence numbers missing between the lowest and highest seen, per device, summed. */
  gaps(): number {
    let gaps = 0;
    for (const d of this.devices.values()) {
      if (d.seen.size === 0) continue;
      let min = Infinity;
      for (const s of d.seen) if (s < min) min = s;
      gaps += d.maxSeq - min + 1 - d.seen.size;
    }
    return gaps;
  }
}
