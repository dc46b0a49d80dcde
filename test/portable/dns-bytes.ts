/*
 * DNS message pieces for the portable mDNS tests (test/portable/mdns.ts, uplink-discover.ts),
 * written out byte by byte so the tests do not trust the parser they test.
 */

/** A name as uncompressed labels ("station.local" → 7 station 5 local 0). */
export function name(text: string): number[] {
  const out: number[] = [];
  for (const label of text.split('.')) {
    out.push(label.length);
    for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i));
  }
  out.push(0);
  return out;
}

export const u16 = (n: number): number[] => [n >> 8, n & 0xff];

/** A resource record of class IN with a TTL of 120 s. */
export function record(owner: number[], type: number, data: number[]): number[] {
  return [...owner, ...u16(type), 0, 1, 0, 0, 0, 120, ...u16(data.length), ...data];
}
