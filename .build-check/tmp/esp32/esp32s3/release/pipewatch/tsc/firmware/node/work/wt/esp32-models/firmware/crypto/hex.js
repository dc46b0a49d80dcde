/*
 * Lowercase hex encoding, for digests and keys in reports and tests. `fromHex` is strict:
 * an odd length or any character outside [0-9a-fA-F] gives undefined, never a partial result.
 */
const DIGITS = '0123456789abcdef';
export function toHex(bytes) {
    let out = '';
    for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        out += DIGITS[b >> 4] + DIGITS[b & 15];
    }
    return out;
}
function nibble(code) {
    if (code >= 0x30 && code <= 0x39)
        return code - 0x30;
    if (code >= 0x61 && code <= 0x66)
        return code - 0x57;
    if (code >= 0x41 && code <= 0x46)
        return code - 0x37;
    return -1;
}
export function fromHex(text) {
    if (typeof text !== 'string' || text.length % 2 !== 0)
        return undefined;
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) {
        const hi = nibble(text.charCodeAt(2 * i));
        const lo = nibble(text.charCodeAt(2 * i + 1));
        if (hi < 0 || lo < 0)
            return undefined;
        out[i] = (hi << 4) | lo;
    }
    return out;
}
//# sourceMappingURL=hex.js.map