/*
 * The XS host's bridge protocol between the Node parent and the firmware inside XS.
 * Shared by both sides (portable).
 *
 * Guest -> parent, synchronous `issueCommand(frame)`; frame: op u8, node u16, id u32, payload.
 * Parent -> guest, `handleCommand(frame)`; frame: event u8, node u16, id u32,
 *   monotonic now f64, wall now f64 (-1 = unsynced), payload.
 */
export const Op = {
  timerSet: 1, // payload: ms f64, repeat f64
  timerClear: 2,
  tcpOpen: 3, // payload: port u16, secure u8, address utf8; reply: empty, or an error message
  tcpWrite: 4, // payload: bytes; reply: empty, or an error message
  tcpClose: 5,
  log: 6, // payload: level u8, message utf8
  restart: 7,
  flash: 8, // payload: FlashOp u8, a u32, b u32, path length u8, path, data; reply: status u8, then bytes or message
  // The node's UpdateProvider (firmware/host.ts), served by the parent's simulated bootloader.
  // Every reply: status u8 (0 ok, else 1 and an error message in utf8), then the result.
  updateRunning: 9, // reply: ok, JSON { slot, version, trial, securityCounter }
  updateConfirm: 10,
  updateOpen: 11, // payload: byteLength f64 (-1: none given); one open target per node
  updateWrite: 12, // payload: byteOffset f64 (-1: none given), bytes
  updateComplete: 13,
  updateCancel: 14,
  // First run (simulator/first-run.ts): bytes the node's simulated UART sent; its Improv events.
  serialOut: 15, // payload: bytes
  firstRunJoin: 16,
  firstRunProvisioned: 17, // payload: ssid utf8
  // UDP (the mDNS broker search): one socket per id; replies empty, or an error message.
  udpOpen: 18, // payload: port u16
  udpWrite: 19, // payload: port u16, address length u8, address utf8, bytes
  udpClose: 20,
} as const;

/** Flash requests: read (a = offset, b = length), write (a = offset, data), erase (a = block), status. */
export const FlashOp = { status: 0, read: 1, write: 2, erase: 3 } as const;
/** Reply status byte: 0 ok (then data; for status: blockLength, blocks, writeAlign u32, eraseValue u8). */
export const FLASH_OK = 0;
export const FLASH_HEADER = 10;

export const Event = {
  timer: 1,
  tcpWritable: 2, // payload: count u32
  tcpData: 3, // payload: bytes
  tcpError: 4, // payload: message utf8
  createNode: 10, // payload: JSON GuestNodeConfig
  stats: 11, // reply: JSON array of node stats
  stopSampling: 12,
  stopNode: 13,
  measure: 14, // runs gc(); reply: empty (the meter says the heap)
  dropNode: 15, // power cut: forget the node at once (no stop(), no DISCONNECT)
  serialIn: 16, // payload: bytes from the computer to the node's simulated UART
  reserve: 17, // payload: slots u32, chunk bytes u32: grow the heap by that much free space (see guest.ts)
  udpData: 18, // payload: port u16, address length u8, address utf8, bytes (one datagram)
} as const;

export const OP_HEADER = 7;
export const EVENT_HEADER = 23;

export function writeHeader(frame: Uint8Array, code: number, node: number, id: number): DataView {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  view.setUint8(0, code);
  view.setUint16(1, node);
  view.setUint32(3, id);
  return view;
}
