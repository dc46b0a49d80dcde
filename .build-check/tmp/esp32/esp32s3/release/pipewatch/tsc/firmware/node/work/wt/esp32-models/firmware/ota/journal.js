export function crc32(bytes, start, end) {
    let crc = 0xffffffff;
    for (let i = start; i < end; i++) {
        crc ^= bytes[i];
        for (let k = 0; k < 8; k++)
            crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    }
    return (crc ^ 0xffffffff) >>> 0;
}
function readUint32(b, o) {
    return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function writeUint32(b, o, v) {
    b[o] = v >>> 24;
    b[o + 1] = v >>> 16;
    b[o + 2] = v >>> 8;
    b[o + 3] = v;
}
export class RecordLog {
    flash;
    firstBlock;
    payloadBytes;
    recordBytes;
    slotsPerBlock;
    blockLength;
    eraseValue;
    record;
    /** Where the next append goes: block (0/1) and slot, and the next sequence number. */
    block = 0;
    slot = 0;
    sequence = 1;
    scanned = false;
    constructor(flash, 
    /** First of the two erase blocks the log owns. */
    firstBlock, payloadBytes) {
        this.flash = flash;
        this.firstBlock = firstBlock;
        this.payloadBytes = payloadBytes;
        const status = flash.status();
        if (firstBlock < 0 || firstBlock + 2 > status.blocks)
            throw new RangeError('RecordLog: needs two blocks inside the partition');
        const align = Math.max(4, status.writeAlign);
        this.recordBytes = Math.ceil((payloadBytes + 8) / align) * align;
        this.blockLength = status.blockLength;
        this.eraseValue = status.eraseValue;
        this.slotsPerBlock = Math.floor(status.blockLength / this.recordBytes);
        if (this.slotsPerBlock < 2)
            throw new RangeError('RecordLog: record larger than half a block');
        this.record = new Uint8Array(this.recordBytes);
    }
    offsetOf(block, slot) {
        return (this.firstBlock + block) * this.blockLength + slot * this.recordBytes;
    }
    isBlank() {
        for (let i = 0; i < this.recordBytes; i++)
            if (this.record[i] !== this.eraseValue)
                return false;
        return true;
    }
    isValid() {
        const n = this.recordBytes;
        return readUint32(this.record, n - 4) === crc32(this.record, 0, n - 4);
    }
    /** Finds the newest valid record; leaves it in `this.record` and returns its sequence (0: none). */
    scan() {
        let bestSeq = 0;
        let bestBlock = -1;
        let bestSlot = -1;
        for (let block = 0; block < 2; block++) {
            for (let slot = 0; slot < this.slotsPerBlock; slot++) {
                this.flash.read(this.record, this.offsetOf(block, slot));
                if (this.isBlank() || !this.isValid())
                    continue;
                const seq = readUint32(this.record, 0);
                if (seq > bestSeq) {
                    bestSeq = seq;
                    bestBlock = block;
                    bestSlot = slot;
                }
            }
        }
        if (bestBlock < 0) {
            this.block = 0;
            this.slot = this.slotsPerBlock;
            this.sequence = 1;
        }
        else {
            this.block = bestBlock;
            this.sequence = bestSeq + 1;
            let next = bestSlot + 1;
            for (let slot = bestSlot + 1; slot < this.slotsPerBlock; slot++) {
                this.flash.read(this.record, this.offsetOf(bestBlock, slot));
                if (!this.isBlank())
                    next = slot + 1;
            }
            this.slot = next;
            this.flash.read(this.record, this.offsetOf(bestBlock, bestSlot));
        }
        this.scanned = true;
        return bestSeq;
    }
    read(out) {
        const found = this.scan() > 0;
        if (found)
            out.set(this.record.subarray(4, 4 + Math.min(out.length, this.payloadBytes)));
        return found;
    }
    append(payload) {
        if (!this.scanned)
            this.scan();
        if (this.slot >= this.slotsPerBlock) {
            this.block = this.sequence === 1 ? 0 : 1 - this.block;
            this.flash.eraseBlock(this.firstBlock + this.block);
            this.slot = 0;
        }
        const r = this.record;
        r.fill(0);
        writeUint32(r, 0, this.sequence);
        r.set(payload.subarray(0, this.payloadBytes), 4);
        writeUint32(r, this.recordBytes - 4, crc32(r, 0, this.recordBytes - 4));
        const at = this.offsetOf(this.block, this.slot);
        this.slot++;
        this.sequence++;
        this.flash.write(r, at);
    }
    /** Forgets the in-memory position; the next call rescans the flash (after a reboot). */
    invalidate() {
        this.scanned = false;
    }
}
//# sourceMappingURL=journal.js.map