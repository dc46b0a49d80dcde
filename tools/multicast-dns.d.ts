/* The parts of multicast-dns@7 (no typings of its own) that tools/mdns-advertise.ts uses. */
declare module 'multicast-dns' {
  interface MulticastDns {
    on(event: 'query' | 'response', listener: (packet: any, rinfo: { address: string; port: number }) => void): void;
    once(event: 'ready' | 'error', listener: (error?: Error) => void): void;
    respond(response: Record<string, unknown>, rinfo?: { address: string; port: number }): void;
    query(query: Record<string, unknown> | string, rinfo?: { address: string; port: number }): void;
    destroy(callback?: () => void): void;
  }
  export default function makeMdns(options?: Record<string, unknown>): MulticastDns;
}
declare module 'dns-packet' {
  export function encode(packet: Record<string, unknown>): Buffer;
  export function decode(bytes: Uint8Array): any;
}
