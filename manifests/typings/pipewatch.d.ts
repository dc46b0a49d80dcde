/*
 * Typings the Moddable SDK does not ship (or does not put on the TypeScript path) for the
 * modules the pipewatch hosts import.
 */
declare module 'onewire' {
  export default class OneWire {
    constructor(options: { pin: number });
    close(): void;
    read(): number;
    read(count: number): ArrayBuffer;
    write(value: number | ArrayBuffer | ArrayBufferView): void;
    select(id: ArrayBuffer): void;
    search(): ArrayBuffer[];
    isPresent(id: ArrayBuffer): boolean;
    reset(): number;
    static crc(buffer: ArrayBuffer, count?: number): number;
  }
}
