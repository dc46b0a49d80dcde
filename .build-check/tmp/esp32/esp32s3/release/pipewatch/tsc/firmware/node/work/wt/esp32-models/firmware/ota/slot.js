/*
 * What the updater writes into the inactive slot through the host's `Update` target, and how a
 * bootloader checks it (MCUboot style: header first, image after, verified before every boot).
 *
 *   slot offset    size          content
 *   0              2             manifest length M, uint16 big-endian (121..552)
 *   2              M             the signed manifest (manifest.ts), byte for byte
 *   2+M            ..4096        0xff
 *   4096           image size    the image, exactly as hashed by the manifest's SHA-256
 *
 * The header block is written last, after every image block, and only once the digest and
 * signature have checked out, so a slot whose header verifies holds the whole image.
 *
 * `verifySlot(read, ...)` re-checks a slot from its bytes: manifest signature, board, security
 * counter floor, and the SHA-256 of the image, streamed through one 4 KiB buffer.
 */
import { Sha256 } from '../crypto/sha256';
import { MAX_MANIFEST_BYTES, MIN_MANIFEST_BYTES, verifySignedManifest } from './manifest';
export const SLOT_HEADER_BYTES = 4096;
export const SLOT_IMAGE_OFFSET = SLOT_HEADER_BYTES;
/** Writes the header block (4096 bytes, 0xff-padded) for `manifest` into `out`. */
export function encodeSlotHeader(manifest, out) {
    if (out.length !== SLOT_HEADER_BYTES || manifest.length < MIN_MANIFEST_BYTES || manifest.length > MAX_MANIFEST_BYTES) {
        throw new RangeError('slot header: bad sizes');
    }
    out.fill(0xff);
    out[0] = manifest.length >> 8;
    out[1] = manifest.length & 0xff;
    out.set(manifest, 2);
}
/** Starts from failure; one exit. `scratch` is a caller-owned buffer of 4096 bytes. */
export function verifySlot(read, slotBytes, publicKey, board, counterFloor, scratch) {
    let result = { ok: false, reason: 'noHeader' };
    read(scratch.subarray(0, 2), 0);
    const length = (scratch[0] << 8) | scratch[1];
    if (length >= MIN_MANIFEST_BYTES && length <= MAX_MANIFEST_BYTES) {
        const manifestBytes = new Uint8Array(length);
        read(manifestBytes, 2);
        const checked = verifySignedManifest(manifestBytes, publicKey);
        if (!checked.ok)
            result = { ok: false, reason: 'badManifest' };
        else if (checked.manifest.board !== board)
            result = { ok: false, reason: 'wrongBoard' };
        else if (checked.manifest.securityCounter < counterFloor)
            result = { ok: false, reason: 'counterBelowFloor' };
        else if (SLOT_IMAGE_OFFSET + checked.manifest.imageBytes > slotBytes)
            result = { ok: false, reason: 'doesNotFit' };
        else {
            const hash = new Sha256();
            const total = checked.manifest.imageBytes;
            for (let done = 0; done < total;) {
                const n = Math.min(scratch.length, total - done);
                const view = scratch.subarray(0, n);
                read(view, SLOT_IMAGE_OFFSET + done);
                hash.update(view);
                done += n;
            }
            const digest = hash.digest();
            let same = 0;
            for (let i = 0; i < 32; i++)
                same |= digest[i] ^ checked.manifest.imageSha256[i];
            result = same === 0 ? { ok: true, manifest: checked.manifest, manifestBytes } : { ok: false, reason: 'digestMismatch' };
        }
    }
    return result;
}
//# sourceMappingURL=slot.js.map