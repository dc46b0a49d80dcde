/* Globals that xsnap-worker installs in the XS machine (xsnap-worker.c, xsBuildAgent). */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  decode(input?: ArrayBuffer | ArrayBufferView): string;
}
declare function issueCommand(frame: ArrayBuffer): ArrayBuffer;
declare function gc(): void;
