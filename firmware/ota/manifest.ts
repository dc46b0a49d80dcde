/*
 * The signed OTA manifest: what a node is offered before it downloads anything.
 *
 * Byte layout (format version 1). All integers are unsigned big-endian.
 *
 *   offset       size  field
 *   0            4     magic: "PWOT" (0x50 0x57 0x4f 0x54)
 *   4            1     format version: 1
 *   5            1     reserved: 0
 *   6            1     board id length B: 1..32
 *   7            1     reserved: 0
 *   8            2     URL length U: 0..400 (0: the image comes from the URL in the offer)
 *   10           2     reserved: 0
 *   12           4     firmware version, semver packed: major (1 byte), minor (1 byte),
 *                      patch (2 bytes); 0.0.0 is invalid
 *   16           4     security counter: 0..2^32-1; a node never accepts an image whose counter
 *                      is below the counter of the image it has confirmed (anti-rollback)
 *   20           4     image size in bytes: 1..16 MiB (MAX_IMAGE_BYTES)
 *   24           32    SHA-256 of the image
 *   56           B     board id: ASCII [a-z0-9._-], e.g. "esp32-c3-tmp117"
 *   56+B         U     image URL: ASCII 0x21..0x7e, starting "http://" or "https://"
 *   56+B+U       64    Ed25519 signature (RFC 8032) over bytes [0, 56+B+U)
 *
 *   total: 120 + B + U bytes (121..552); any other length is refused.
 *
 * Contract
 * - `parseManifest(bytes)` checks every field and returns `{ ok: true, manifest }` or
 *   `{ ok: false, reason }`; it never throws and never checks the signature.
 * - `verifySignedManifest(bytes, publicKey)` parses, then checks the signature; it starts from
 *   failure and has one exit.
 * - `checkOffer(manifest, running)` decides whether this node may install it: board, version,
 *   security counter, size.
 * - `encodeUnsignedManifest(fields)` / `attachSignature(unsigned, signature)` build one (tools
 *   and tests); they throw on fields out of range, since they run on the signing side.
 */
import { verify, SIGNATURE_BYTES } from '../crypto/ed25519';

export const MANIFEST_MAGIC = Object.freeze([0x50, 0x57, 0x4f, 0x54] as const);
export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_HEADER_BYTES = 56;
export const MAX_BOARD_BYTES = 32;
export const MAX_URL_BYTES = 400;
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
export const MIN_MANIFEST_BYTES = MANIFEST_HEADER_BYTES + 1 + SIGNATURE_BYTES;
export const MAX_MANIFEST_BYTES = MANIFEST_HEADER_BYTES + MAX_BOARD_BYTES + MAX_URL_BYTES + SIGNATURE_BYTES;

/** Why a manifest or an offer was refused. Each has its own test. */
export type ManifestReason =
  | 'notBytes'
  | 'tooShort'
  | 'tooLong'
  | 'badMagic'
  | 'unsupportedFormat'
  | 'reservedNotZero'
  | 'badBoardLength'
  | 'badUrlLength'
  | 'lengthMismatch'
  | 'badVersion'
  | 'badImageSize'
  | 'badBoard'
  | 'badUrl'
  | 'badSignature';

export type OfferReason = 'wrongBoard' | 'downgrade' | 'sameVersion' | 'counterRollback' | 'oversized';

export interface Manifest {
  formatVersion: number;
  /** Packed semver: major << 24 | minor << 16 | patch. */
  version: number;
  securityCounter: number;
  board: string;
  imageBytes: number;
  imageSha256: Uint8Array;
  /** Empty when the offer carries the URL. */
  url: string;
  /** Bytes covered by the signature: [0, signedBytes). */
  signedBytes: number;
  signature: Uint8Array;
}

export interface ManifestFields {
  version: number | string;
  securityCounter: number;
  board: string;
  imageBytes: number;
  imageSha256: Uint8Array;
  url?: string;
}

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; reason: ManifestReason };
export type OfferResult = { ok: true } | { ok: false; reason: OfferReason };

/** What the node runs now, as checkOffer needs it. */
export interface RunningImage {
  board: string;
  /** Packed semver, or "major.minor.patch". */
  version: number | string;
  securityCounter: number;
  /** Largest image the inactive slot takes; unlimited when omitted. */
  maxImageBytes?: number;
}

/** "1.2.3" -> packed semver; -1 when the text is not three integers in range. */
export function packVersion(text: string): number {
  if (typeof text !== 'string' || text.length > 17) return -1;
  const parts = [0, 0, 0];
  let part = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part === 2) return -1;
      part++;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && parts[part] === 0) return -1;
      parts[part] = parts[part]! * 10 + (c - 0x30);
      digits++;
    } else return -1;
  }
  if (part !== 2 || digits === 0) return -1;
  const [major, minor, patch] = parts as [number, number, number];
  if (major > 255 || minor > 255 || patch > 65535) return -1;
  return ((major << 24) | (minor << 16) | patch) >>> 0;
}

export function versionText(packed: number): string {
  return `${packed >>> 24}.${(packed >>> 16) & 0xff}.${packed & 0xffff}`;
}

function readUint16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function readUint32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function writeUint32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function isBoardChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
}

function ascii(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function isUrl(text: string): boolean {
  if (text.length === 0) return true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  const rest = text.startsWith('http://') ? 7 : text.startsWith('https://') ? 8 : -1;
  return rest > 0 && text.length > rest && text.charCodeAt(rest) !== 0x2f;
}

/** Strict structural and range check of every field; the signature is not checked here. */
export function parseManifest(bytes: Uint8Array): ManifestResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, reason: 'notBytes' };
  if (bytes.length < MIN_MANIFEST_BYTES) return { ok: false, reason: 'tooShort' };
  if (bytes.length > MAX_MANIFEST_BYTES) return { ok: false, reason: 'tooLong' };
  for (let i = 0; i < 4; i++) if (bytes[i] !== MANIFEST_MAGIC[i]) return { ok: false, reason: 'badMagic' };
  if (bytes[4] !== MANIFEST_FORMAT_VERSION) return { ok: false, reason: 'unsupportedFormat' };
  if (bytes[5] !== 0 || bytes[7] !== 0 || bytes[10] !== 0 || bytes[11] !== 0) {
    return { ok: false, reason: 'reservedNotZero' };
  }
  const boardLength = bytes[6]!;
  if (boardLength < 1 || boardLength > MAX_BOARD_BYTES) return { ok: false, reason: 'badBoardLength' };
  const urlLength = readUint16(bytes, 8);
  if (urlLength > MAX_URL_BYTES) return { ok: false, reason: 'badUrlLength' };
  const signedBytes = MANIFEST_HEADER_BYTES + boardLength + urlLength;
  if (bytes.length !== signedBytes + SIGNATURE_BYTES) return { ok: false, reason: 'lengthMismatch' };
  const version = readUint32(bytes, 12);
  if (version === 0) return { ok: false, reason: 'badVersion' };
  const imageBytes = readUint32(bytes, 20);
  if (imageBytes < 1 || imageBytes > MAX_IMAGE_BYTES) return { ok: false, reason: 'badImageSize' };
  for (let i = 0; i < boardLength; i++) {
    if (!isBoardChar(bytes[MANIFEST_HEADER_BYTES + i]!)) return { ok: false, reason: 'badBoard' };
  }
  const board = ascii(bytes, MANIFEST_HEADER_BYTES, MANIFEST_HEADER_BYTES + boardLength);
  const url = ascii(bytes, MANIFEST_HEADER_BYTES + boardLength, signedBytes);
  if (!isUrl(url)) return { ok: false, reason: 'badUrl' };
  return {
    ok: true,
    manifest: {
      formatVersion: MANIFEST_FORMAT_VERSION,
      version,
      securityCounter: readUint32(bytes, 16),
      board,
      imageBytes,
      imageSha256: bytes.slice(24, 56),
      url,
      signedBytes,
      signature: bytes.slice(signedBytes),
    },
  };
}

/** Parses and checks the Ed25519 signature with `publicKey`. Starts from failure; one exit. */
export function verifySignedManifest(bytes: Uint8Array, publicKey: Uint8Array): ManifestResult {
  let result: ManifestResult = { ok: false, reason: 'badSignature' };
  const parsed = parseManifest(bytes);
  if (!parsed.ok) result = parsed;
  else if (verify(parsed.manifest.signature, bytes.subarray(0, parsed.manifest.signedBytes), publicKey)) {
    result = parsed;
  }
  return result;
}

/** Whether this node may install `manifest`: checked before any byte is downloaded. */
export function checkOffer(manifest: Manifest, running: RunningImage): OfferResult {
  const runningVersion = typeof running.version === 'number' ? running.version : packVersion(running.version);
  if (manifest.board !== running.board) return { ok: false, reason: 'wrongBoard' };
  if (manifest.securityCounter < running.securityCounter) return { ok: false, reason: 'counterRollback' };
  if (runningVersion >= 0 && manifest.version < runningVersion) return { ok: false, reason: 'downgrade' };
  if (manifest.version === runningVersion) return { ok: false, reason: 'sameVersion' };
  if (running.maxImageBytes !== undefined && manifest.imageBytes > running.maxImageBytes) {
    return { ok: false, reason: 'oversized' };
  }
  return { ok: true };
}

/** Builds the signed part of a manifest. Throws on any field out of range (signing side). */
export function encodeUnsignedManifest(fields: ManifestFields): Uint8Array {
  const version = typeof fields.version === 'string' ? packVersion(fields.version) : fields.version;
  if (!Number.isInteger(version) || version <= 0 || version > 0xffffffff) throw new Error('manifest: bad version');
  const counter = fields.securityCounter;
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) throw new Error('manifest: bad security counter');
  const size = fields.imageBytes;
  if (!Number.isInteger(size) || size < 1 || size > MAX_IMAGE_BYTES) throw new Error('manifest: bad image size');
  if (!(fields.imageSha256 instanceof Uint8Array) || fields.imageSha256.length !== 32) {
    throw new Error('manifest: the image digest must be 32 bytes');
  }
  const board = fields.board;
  if (typeof board !== 'string' || board.length < 1 || board.length > MAX_BOARD_BYTES) throw new Error('manifest: bad board id length');
  for (let i = 0; i < board.length; i++) if (!isBoardChar(board.charCodeAt(i))) throw new Error('manifest: bad board id');
  const url = fields.url ?? '';
  if (url.length > MAX_URL_BYTES || !isUrl(url)) throw new Error('manifest: bad URL');
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + board.length + url.length);
  out.set(MANIFEST_MAGIC, 0);
  out[4] = MANIFEST_FORMAT_VERSION;
  out[6] = board.length;
  out[8] = url.length >> 8;
  out[9] = url.length & 0xff;
  writeUint32(out, 12, version);
  writeUint32(out, 16, counter);
  writeUint32(out, 20, size);
  out.set(fields.imageSha256, 24);
  for (let i = 0; i < board.length; i++) out[MANIFEST_HEADER_BYTES + i] = board.charCodeAt(i);
  for (let i = 0; i < url.length; i++) out[MANIFEST_HEADER_BYTES + board.length + i] = url.charCodeAt(i);
  return out;
}

export function attachSignature(unsigned: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES) throw new Error('manifest: the signature must be 64 bytes');
  const out = new Uint8Array(unsigned.length + SIGNATURE_BYTES);
  out.set(unsigned, 0);
  out.set(signature, unsigned.length);
  return out;
}
