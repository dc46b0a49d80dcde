import { copyReading, newReading } from '../store';
import { CLOSE_NOTES, FORMAT_MAGIC, FORMAT_VERSION, Header, MAX_KIND, MAX_SEQ, Record, RecordFlags, roundUp, } from './layout';
const TWO_POW_32 = 4294967296;
export class Ring {
    #flash;
    #layout;
    #crc;
    first;
    count;
    id;
    #hdr;
    #hdrView;
    #slot;
    #slotView;
    #bitmap;
    #iterBitmap;
    /** Scratch reading for lookups (acknowledge), so iteration's `current` is never clobbered. */
    #probe = newReading();
    /** The record the iterator stands on. */
    current = newReading();
    // Last parsed header.
    #hEpoch = 0;
    #hSeqFirst = 0;
    #hDropped = 0;
    #hEraseCount = 0;
    #hClose = 0 /* Close.erased */;
    #hCloseValue = 0;
    #hIntactSeq = -1;
    /** First erased close note, or -1 when all were used. */
    #hFreeNote = 0;
    usable = false;
    formatted = false;
    #headIndex = 0;
    #tailIndex = 0;
    #chainLength = 0;
    #writeSlot = 0;
    #headEpoch = 0;
    #headEraseCount = 0;
    #headClose = 0 /* Close.erased */;
    #headFreeNote = 0;
    #headDroppedAtOpen = 0;
    /** Highest sequence number this ring holds or reserved (header seqFirst - 1 at least). */
    lastSeq = -1;
    pending = 0;
    dropped = 0;
    corruptSkipped = 0;
    lostBlocks = 0;
    maxEpochSeen = 0;
    maxSeqSeen = -1;
    eraseMin = 0;
    eraseMax = 0;
    eraseTotal = 0;
    blocksOpened = 0;
    /** Chain distance (from the tail) of the first block that may hold an unacknowledged record. */
    #cursor = 0;
    /** Bumped by every erase, header write and close-note write of this instance. */
    #gen = 0;
    /** Header memo, two entries of [block, generation, seqFirst or -1 for an invalid header]. */
    #memo = new Float64Array(6);
    #memoNext = 0;
    /** The last record appended (its write completed) and where: block #appendedBlock (-1: none). */
    #appended = newReading();
    #appendedBlock = -1;
    #appendedSlot = 0;
    /** Slots [0, #ackedBelow) of block #ackedBlock are known acknowledged (-1: no block). */
    #ackedBlock = -1;
    #ackedBelow = 0;
    #iterD = 0;
    #iterSlot = 0;
    #iterUsed = 0;
    #iterLoaded = false;
    #iterLower = 0;
    #iterUpper = 0;
    #iterAlertsOnly = false;
    constructor(flash, layout, crc, id, first, count) {
        this.#flash = flash;
        this.#layout = layout;
        this.#crc = crc;
        this.id = id;
        this.first = first;
        this.count = count;
        this.#hdr = new Uint8Array(layout.closeOffset + layout.closeLength);
        this.#hdrView = new DataView(this.#hdr.buffer);
        this.#slot = new Uint8Array(layout.slotLength);
        this.#slotView = new DataView(this.#slot.buffer);
        this.#bitmap = new Uint8Array(layout.bitmapLength);
        this.#iterBitmap = new Uint8Array(layout.bitmapLength);
        this.#memo.fill(-1);
    }
    get capacity() {
        return (this.count - 1) * this.#layout.slotsPerBlock;
    }
    get chainLength() {
        return this.#chainLength;
    }
    get headBlock() {
        return this.first + this.#headIndex;
    }
    get tailBlock() {
        return this.first + this.#tailIndex;
    }
    get writeSlot() {
        return this.#writeSlot;
    }
    // ---------------------------------------------------------------- mount
    /** Finds head and tail (O(blocks) header reads + one scan of the head block). */
    mount() {
        const L = this.#layout;
        let best = -1;
        let bestEpoch = 0;
        let bestSeq = 0;
        let valid = 0;
        for (let i = 0; i < this.count; i++) {
            if (!this.#parseHeader(this.first + i)) {
                if (this.#hIntactSeq - 1 > this.maxSeqSeen)
                    this.maxSeqSeen = this.#hIntactSeq - 1;
                continue;
            }
            valid++;
            if (this.#hEpoch > this.maxEpochSeen)
                this.maxEpochSeen = this.#hEpoch;
            if (this.#hSeqFirst - 1 > this.maxSeqSeen)
                this.maxSeqSeen = this.#hSeqFirst - 1;
            if (best < 0 || this.#hEpoch > bestEpoch || (this.#hEpoch === bestEpoch && this.#hSeqFirst > bestSeq)) {
                best = i;
                bestEpoch = this.#hEpoch;
                bestSeq = this.#hSeqFirst;
            }
        }
        this.#rescanWear();
        if (best < 0) {
            this.usable = false;
            return;
        }
        // Walk back from the head while epochs are consecutive and seqFirst does not grow.
        let index = best;
        let epoch = bestEpoch;
        let seqFirst = bestSeq;
        let length = 1;
        while (length < this.count) {
            const previous = (index + this.count - 1) % this.count;
            if (!this.#parseHeader(this.first + previous))
                break;
            if (this.#hEpoch !== epoch - 1 || this.#hSeqFirst > seqFirst)
                break;
            index = previous;
            epoch = this.#hEpoch;
            seqFirst = this.#hSeqFirst;
            length++;
        }
        this.lostBlocks = valid - length;
        this.#tailIndex = index;
        this.#headIndex = best;
        this.#chainLength = length;
        this.#parseHeader(this.first + best);
        this.#headEpoch = this.#hEpoch;
        this.#headEraseCount = this.#hEraseCount;
        this.#headClose = this.#hClose;
        this.#headFreeNote = this.#hFreeNote;
        this.#headDroppedAtOpen = this.#hDropped;
        this.dropped = this.#hClose === 1 /* Close.valid */ ? this.#hCloseValue : this.#hDropped;
        if (this.#hClose === 2 /* Close.invalid */ && length < this.count) {
            // Every close note was torn and the victim is gone: its count is unknown, count a full block.
            this.dropped = (this.#hDropped + L.slotsPerBlock) >>> 0;
        }
        const headSeqFirst = this.#hSeqFirst;
        // Write position: one past the last slot that is not blank.
        const abs = this.first + best;
        let w = 0;
        for (let s = L.slotsPerBlock - 1; s >= 0; s--) {
            this.#readSlot(abs, s);
            if (!this.#isBlank()) {
                w = s + 1;
                break;
            }
        }
        this.#writeSlot = w;
        // Torn or corrupt slots before it are marked dead (their bit programmed) so counts stay exact.
        this.#flash.read(this.#bitmap, abs * L.blockLength + L.bitmapOffset);
        let lower = headSeqFirst;
        let last = headSeqFirst - 1;
        // A bad slot after the last good one may have carried the newest number: reserve one per slot.
        let badSinceLast = 0;
        for (let s = 0; s < w; s++) {
            this.#readSlot(abs, s);
            if (this.#decode(this.#probe, lower, MAX_SEQ) === 0 /* Slot.valid */) {
                lower = this.#probe.seq + 1;
                last = this.#probe.seq;
                badSinceLast = 0;
                continue;
            }
            badSinceLast++;
            if (!this.#isAcked(this.#bitmap, s)) {
                this.#ackSlots(abs, s, s + 1);
                this.corruptSkipped++;
            }
        }
        last += badSinceLast;
        this.lastSeq = last;
        if (last > this.maxSeqSeen)
            this.maxSeqSeen = last;
        // Pending count and the cursor: one bitmap read per chain block.
        let pending = 0;
        let cursor = -1;
        for (let d = 0; d < length; d++) {
            const block = this.#abs(d);
            this.#flash.read(this.#bitmap, block * L.blockLength + L.bitmapOffset);
            const used = d === length - 1 ? w : L.slotsPerBlock;
            const unacked = used - this.#ackedCount(this.#bitmap, used);
            pending += unacked;
            if (unacked > 0 && cursor < 0)
                cursor = d;
        }
        this.pending = pending;
        this.#cursor = cursor < 0 ? length - 1 : cursor;
        this.usable = true;
    }
    /** Makes an unusable ring usable again: one erased block with a fresh header. */
    format(nextSeq) {
        const epoch = this.maxEpochSeen + 1;
        this.#erase(this.first);
        this.#writeHeader(this.first, epoch, nextSeq, 0, 1);
        this.#headIndex = 0;
        this.#tailIndex = 0;
        this.#chainLength = 1;
        this.#writeSlot = 0;
        this.#headEpoch = epoch;
        this.#headEraseCount = 1;
        this.#headClose = 0 /* Close.erased */;
        this.#headFreeNote = 0;
        this.#headDroppedAtOpen = 0;
        this.#cursor = 0;
        this.pending = 0;
        this.dropped = 0;
        this.lastSeq = nextSeq - 1;
        this.usable = true;
        this.formatted = true;
        this.#rescanWear();
    }
    // ---------------------------------------------------------------- append
    /** Stores one record; durable when this returns (the record's single write completed). */
    append(reading, seq, nextSeq) {
        if (this.#writeSlot >= this.#layout.slotsPerBlock)
            this.#openNext(nextSeq);
        const L = this.#layout;
        this.#encode(reading, seq);
        const block = this.first + this.#headIndex;
        this.#appendedBlock = -1;
        this.#flash.write(this.#slot, block * L.blockLength + L.recordsOffset + this.#writeSlot * L.slotLength);
        copyReading(this.#appended, reading);
        this.#appended.seq = seq;
        this.#appendedBlock = block;
        this.#appendedSlot = this.#writeSlot;
        this.#writeSlot++;
        this.pending++;
        this.lastSeq = seq;
    }
    #openNext(nextSeq) {
        const L = this.#layout;
        const victimIndex = (this.#headIndex + 1) % this.count;
        const victim = this.first + victimIndex;
        const head = this.first + this.#headIndex;
        const full = this.#chainLength === this.count;
        if (full) {
            this.#flash.read(this.#bitmap, victim * L.blockLength + L.bitmapOffset);
            const unacked = L.slotsPerBlock - this.#ackedCount(this.#bitmap, L.slotsPerBlock);
            // While a block is the head, `dropped` is its droppedAtOpen (or its close note, after a reboot).
            const total = (this.#headDroppedAtOpen + unacked) >>> 0;
            if (this.#headClose !== 1 /* Close.valid */ && this.#headFreeNote >= 0) {
                // Close note first: the drop count is durable before the records go.
                const at = L.closeOffset + this.#headFreeNote * L.noteLength;
                const note = this.#hdr.subarray(at, at + L.noteLength);
                note.fill(L.eraseValue);
                this.#hdrView.setUint32(at, total, true);
                this.#hdrView.setUint32(at + 4, ~total >>> 0, true);
                this.#gen++;
                this.#flash.write(note, head * L.blockLength + L.closeOffset + this.#headFreeNote * L.noteLength);
                this.#headClose = 1 /* Close.valid */;
            }
            // A note from before a reboot may count records acknowledged since: recount, the new header persists it.
            this.dropped = total;
            this.pending -= unacked;
            if (this.pending < 0)
                this.pending = 0;
        }
        const eraseCount = this.#parseHeader(victim) ? this.#hEraseCount + 1 : Math.max(1, this.#headEraseCount);
        this.#erase(victim);
        this.#writeHeader(victim, this.#headEpoch + 1, nextSeq, this.dropped, eraseCount);
        if (full) {
            this.#tailIndex = (this.#tailIndex + 1) % this.count;
            if (this.#cursor > 0)
                this.#cursor--;
        }
        else {
            this.#chainLength++;
        }
        this.#headIndex = victimIndex;
        this.#headEpoch++;
        this.#headEraseCount = eraseCount;
        this.#headClose = 0 /* Close.erased */;
        this.#headFreeNote = 0;
        this.#headDroppedAtOpen = this.dropped;
        this.#writeSlot = 0;
        this.blocksOpened++;
        this.#rescanWear();
    }
    // ---------------------------------------------------------------- iteration (peek)
    /** Positions on the oldest unacknowledged record; false when there is none. */
    iterStart(alertsOnly) {
        this.#iterD = this.#cursor;
        this.#iterLoaded = false;
        this.#iterAlertsOnly = alertsOnly;
        return this.usable && this.#iterFind();
    }
    /** Moves past `current`; false at the end. */
    iterNext() {
        this.#iterSlot++;
        return this.#iterFind();
    }
    #iterFind() {
        const L = this.#layout;
        while (this.#iterD < this.#chainLength) {
            const block = this.#abs(this.#iterD);
            if (!this.#iterLoaded) {
                const seqFirst = this.#seqFirst(block);
                if (seqFirst < 0) {
                    this.#iterD++;
                    continue;
                }
                const isHead = this.#iterD === this.#chainLength - 1;
                this.#iterLower = seqFirst;
                const used = isHead ? this.#writeSlot : L.slotsPerBlock;
                this.#iterUsed = used;
                const next = isHead ? -1 : this.#seqFirst(this.#abs(this.#iterD + 1));
                this.#iterUpper = next >= 0 ? next - 1 : MAX_SEQ;
                // The acknowledged prefix: known from the memo, else read off the bitmap (and memoized).
                let first = this.#knownAcked(block, used);
                if (first < used) {
                    this.#flash.read(this.#iterBitmap, block * L.blockLength + L.bitmapOffset);
                    first = this.#firstUnacked(this.#iterBitmap, first, used);
                    this.#remember(block, first);
                }
                this.#iterSlot = first;
                this.#iterLoaded = true;
                if (!isHead && this.#iterD === this.#cursor && first >= used)
                    this.#cursor++;
            }
            const bitmap = this.#iterBitmap;
            const erase = L.eraseValue;
            while (this.#iterSlot < this.#iterUsed) {
                const s = this.#iterSlot;
                if ((((bitmap[s >> 3] ^ erase) >> (s & 7)) & 1) === 1) {
                    this.#iterSlot++;
                    continue;
                }
                if (this.#load(this.current, block, s, this.#iterLower, this.#iterUpper) !== 0 /* Slot.valid */) {
                    this.#markDead(block, s);
                    this.#iterSlot++;
                    continue;
                }
                this.#iterLower = this.current.seq + 1;
                if (this.#iterAlertsOnly && !this.current.alert) {
                    this.#iterSlot++;
                    continue;
                }
                return true;
            }
            this.#iterLoaded = false;
            this.#iterD++;
        }
        return false;
    }
    // ---------------------------------------------------------------- acknowledgements
    /** Marks the record with this seq delivered; false when this ring does not hold it unacknowledged. */
    acknowledge(seq) {
        if (!this.usable)
            return false;
        const L = this.#layout;
        let found = -1;
        let lower = 0;
        for (let d = this.#cursor; d < this.#chainLength; d++) {
            const seqFirst = this.#seqFirst(this.#abs(d));
            if (seqFirst < 0)
                continue;
            if (seqFirst > seq)
                break;
            found = d;
            lower = seqFirst;
        }
        if (found < 0)
            return false;
        const block = this.#abs(found);
        const used = found === this.#chainLength - 1 ? this.#writeSlot : L.slotsPerBlock;
        // Acknowledged slots never move the lower bound: starting after the known prefix changes nothing.
        let start = this.#knownAcked(block, used);
        if (start >= used)
            return false;
        this.#flash.read(this.#bitmap, block * L.blockLength + L.bitmapOffset);
        start = this.#firstUnacked(this.#bitmap, start, used);
        this.#remember(block, start);
        for (let s = start; s < used; s++) {
            if (this.#isAcked(this.#bitmap, s))
                continue;
            if (this.#load(this.#probe, block, s, lower, MAX_SEQ) !== 0 /* Slot.valid */)
                continue;
            if (this.#probe.seq === seq) {
                this.pending -= this.#ackSlots(block, s, s + 1);
                return true;
            }
            if (this.#probe.seq > seq)
                return false;
            lower = this.#probe.seq + 1;
        }
        return false;
    }
    /** Marks every record with seq <= `seq` delivered. */
    acknowledgeThrough(seq) {
        if (!this.usable)
            return;
        const L = this.#layout;
        for (let d = this.#cursor; d < this.#chainLength; d++) {
            const block = this.#abs(d);
            const seqFirst = this.#seqFirst(block);
            if (seqFirst < 0)
                continue;
            if (seqFirst > seq)
                return;
            let lower = seqFirst;
            const isHead = d === this.#chainLength - 1;
            const used = isHead ? this.#writeSlot : L.slotsPerBlock;
            const next = isHead ? -1 : this.#seqFirst(this.#abs(d + 1));
            if (next >= 0 && next - 1 <= seq) {
                this.pending -= this.#ackSlots(block, 0, used);
                continue;
            }
            // The block holding the boundary: skip the acknowledged prefix, then find the first seq > target.
            let start = this.#knownAcked(block, used);
            if (start >= used)
                return;
            this.#flash.read(this.#bitmap, block * L.blockLength + L.bitmapOffset);
            start = this.#firstUnacked(this.#bitmap, start, used);
            this.#remember(block, start);
            let end = start;
            for (let s = start; s < used; s++) {
                if (this.#load(this.#probe, block, s, lower, MAX_SEQ) === 0 /* Slot.valid */) {
                    if (this.#probe.seq > seq)
                        break;
                    lower = this.#probe.seq + 1;
                }
                end = s + 1;
            }
            if (end > start)
                this.pending -= this.#ackSlots(block, start, end);
            return;
        }
    }
    // ---------------------------------------------------------------- flash helpers
    #abs(distance) {
        return this.first + ((this.#tailIndex + distance) % this.count);
    }
    #readSlot(block, slot) {
        const L = this.#layout;
        this.#flash.read(this.#slot, block * L.blockLength + L.recordsOffset + slot * L.slotLength);
    }
    /**
     * Reads a slot and validates it into `into` (see #decode). The slot this instance appended last
     * is taken as written when its seq is within the bounds: reading it back would give the same.
     */
    #load(into, block, slot, lower, upper) {
        const appended = this.#appended;
        if (block === this.#appendedBlock && slot === this.#appendedSlot && appended.seq >= lower && appended.seq <= upper) {
            copyReading(into, appended);
            return 0 /* Slot.valid */;
        }
        this.#readSlot(block, slot);
        return this.#decode(into, lower, upper);
    }
    #isBlank() {
        const erase = this.#layout.eraseValue;
        const slot = this.#slot;
        for (let i = 0; i < slot.length; i++)
            if (slot[i] !== erase)
                return false;
        return true;
    }
    #isAcked(bitmap, slot) {
        return (((bitmap[slot >> 3] ^ this.#layout.eraseValue) >> (slot & 7)) & 1) === 1;
    }
    /** First slot in [from, used) whose bit is not programmed, or `used`; whole bytes at a time. */
    #firstUnacked(bitmap, from, used) {
        const erase = this.#layout.eraseValue;
        const full = erase ^ 0xff;
        let s = from;
        while (s < used) {
            if ((s & 7) === 0 && s + 8 <= used && bitmap[s >> 3] === full) {
                s += 8;
                continue;
            }
            if ((((bitmap[s >> 3] ^ erase) >> (s & 7)) & 1) === 0)
                return s;
            s++;
        }
        return used;
    }
    /** How many leading slots of `block` are known acknowledged (at most `used`). */
    #knownAcked(block, used) {
        if (block !== this.#ackedBlock)
            return 0;
        return this.#ackedBelow < used ? this.#ackedBelow : used;
    }
    /** Slots [0, below) of `block` were seen acknowledged in a bitmap just read or written. */
    #remember(block, below) {
        if (block !== this.#ackedBlock || below > this.#ackedBelow) {
            this.#ackedBlock = block;
            this.#ackedBelow = below;
        }
    }
    /** Erases a block, first forgetting every memo about it. */
    #erase(block) {
        this.#gen++;
        if (block === this.#ackedBlock)
            this.#ackedBlock = -1;
        if (block === this.#appendedBlock)
            this.#appendedBlock = -1;
        this.#flash.eraseBlock(block);
    }
    /** The header's seqFirst (-1 when invalid), parsed on a memo miss only. */
    #seqFirst(block) {
        const memo = this.#memo;
        const gen = this.#gen;
        if (memo[0] === block && memo[1] === gen)
            return memo[2];
        if (memo[3] === block && memo[4] === gen)
            return memo[5];
        return this.#memoize(block, this.#parseHeader(block) ? this.#hSeqFirst : -1);
    }
    #memoize(block, seqFirst) {
        const at = this.#memoNext;
        this.#memoNext = at === 0 ? 3 : 0;
        this.#memo[at] = block;
        this.#memo[at + 1] = this.#gen;
        this.#memo[at + 2] = seqFirst;
        return seqFirst;
    }
    #ackedCount(bitmap, used) {
        let n = 0;
        for (let s = 0; s < used; s++)
            if (this.#isAcked(bitmap, s))
                n++;
        return n;
    }
    /** Programs the acknowledge bits of slots [from, to) (read-modify-write of the changed words). */
    #ackSlots(block, from, to) {
        const L = this.#layout;
        const bitmap = this.#bitmap;
        const at = block * L.blockLength + L.bitmapOffset;
        this.#flash.read(bitmap, at);
        let firstByte = -1;
        let lastByte = -1;
        let newly = 0;
        for (let s = from; s < to; s++) {
            if (this.#isAcked(bitmap, s))
                continue;
            const i = s >> 3;
            bitmap[i] = bitmap[i] ^ (1 << (s & 7));
            newly++;
            if (firstByte < 0)
                firstByte = i;
            lastByte = i;
        }
        if (newly > 0) {
            const align = L.writeAlign;
            const start = Math.floor(firstByte / align) * align;
            const end = roundUp(lastByte + 1, align);
            this.#flash.write(bitmap.subarray(start, end), at + start);
        }
        if (block === this.#ackedBlock && this.#ackedBelow >= from && this.#ackedBelow < to) {
            this.#ackedBelow = this.#firstUnacked(bitmap, this.#ackedBelow, L.slotsPerBlock);
        }
        return newly;
    }
    #markDead(block, slot) {
        const newly = this.#ackSlots(block, slot, slot + 1);
        this.pending -= newly;
        if (this.pending < 0)
            this.pending = 0;
        this.corruptSkipped++;
    }
    /**
     * Reads and validates a block's header (the first intact copy of two) and its close notes;
     * false (nothing trusted) when neither copy is valid for this ring. `#hIntactSeq` keeps the
     * seqFirst of an intact header of another layout (a re-format keeps the high-water mark).
     */
    #parseHeader(block) {
        const L = this.#layout;
        const hdr = this.#hdr;
        const view = this.#hdrView;
        this.#flash.read(hdr, block * L.blockLength);
        this.#hIntactSeq = -1;
        let at = -1;
        for (let copy = 0; copy < 2 && at < 0; copy++) {
            const c = copy * L.headerLength;
            if (view.getUint32(c + Header.magic, true) !== FORMAT_MAGIC)
                continue;
            if (view.getUint32(c + Header.crc, true) !== this.#crc.of(hdr, c, Header.crc))
                continue;
            this.#hIntactSeq = view.getUint32(c + Header.seqFirst, true);
            if (hdr[c + Header.version] === FORMAT_VERSION &&
                hdr[c + Header.ringId] === this.id &&
                view.getUint16(c + Header.ringBlocks, true) === this.count &&
                view.getUint16(c + Header.slotLength, true) === L.slotLength &&
                view.getUint16(c + Header.slotsPerBlock, true) === L.slotsPerBlock) {
                at = c;
            }
        }
        if (at < 0)
            return false;
        this.#hEpoch = view.getUint32(at + Header.epoch, true);
        this.#hSeqFirst = view.getUint32(at + Header.seqFirst, true);
        this.#hDropped = view.getUint32(at + Header.droppedAtOpen, true);
        this.#hEraseCount = view.getUint32(at + Header.eraseCount, true);
        // Close notes: the first valid one counts; a torn one is skipped and the next erased one used.
        this.#hClose = 0 /* Close.erased */;
        this.#hFreeNote = -1;
        for (let n = CLOSE_NOTES - 1; n >= 0; n--) {
            const at = L.closeOffset + n * L.noteLength;
            let erased = true;
            for (let i = at; i < at + L.noteLength; i++)
                if (hdr[i] !== L.eraseValue)
                    erased = false;
            if (erased) {
                this.#hFreeNote = n;
                continue;
            }
            const value = view.getUint32(at, true);
            if ((value ^ view.getUint32(at + 4, true)) >>> 0 === 0xffffffff) {
                this.#hClose = 1 /* Close.valid */;
                this.#hCloseValue = value;
            }
            else if (this.#hClose !== 1 /* Close.valid */) {
                this.#hClose = 2 /* Close.invalid */;
            }
        }
        return true;
    }
    /** Writes both header copies in one write (a torn write leaves at least copy A or nothing valid). */
    #writeHeader(block, epoch, seqFirst, dropped, eraseCount) {
        const L = this.#layout;
        const hdr = this.#hdr.subarray(0, L.closeOffset);
        const view = this.#hdrView;
        hdr.fill(L.eraseValue);
        view.setUint32(Header.magic, FORMAT_MAGIC, true);
        hdr[Header.version] = FORMAT_VERSION;
        hdr[Header.ringId] = this.id;
        view.setUint16(Header.ringBlocks, this.count, true);
        view.setUint32(Header.epoch, epoch >>> 0, true);
        view.setUint32(Header.seqFirst, seqFirst >>> 0, true);
        view.setUint32(Header.droppedAtOpen, dropped >>> 0, true);
        view.setUint32(Header.eraseCount, eraseCount >>> 0, true);
        view.setUint16(Header.slotLength, L.slotLength, true);
        view.setUint16(Header.slotsPerBlock, L.slotsPerBlock, true);
        view.setUint32(Header.crc, this.#crc.of(hdr, 0, Header.crc), true);
        hdr.copyWithin(L.headerLength, 0, L.headerLength);
        this.#gen++;
        this.#flash.write(hdr, block * L.blockLength);
        // Written and returned: the header is on flash as written.
        this.#memoize(block, seqFirst >>> 0);
    }
    /** Erase counts from the headers (blocks without a valid header count as 0: unknown). */
    #rescanWear() {
        let min = Infinity;
        let max = 0;
        let total = 0;
        for (let i = 0; i < this.count; i++) {
            const count = this.#parseHeader(this.first + i) ? this.#hEraseCount : 0;
            if (count < min)
                min = count;
            if (count > max)
                max = count;
            total += count;
        }
        this.eraseMin = min === Infinity ? 0 : min;
        this.eraseMax = max;
        this.eraseTotal = total;
    }
    #encode(reading, seq) {
        const slot = this.#slot;
        const view = this.#slotView;
        slot.fill(this.#layout.eraseValue);
        slot[Record.flags] =
            (reading.synced ? RecordFlags.synced : 0) |
                (reading.alert ? RecordFlags.alert : 0) |
                RecordFlags.marker |
                (reading.kind << RecordFlags.kindShift);
        slot[Record.channel] = reading.channel;
        const high = Math.floor(reading.timeMs / TWO_POW_32);
        view.setUint16(Record.timeHigh, high, true);
        view.setUint32(Record.timeLow, reading.timeMs - high * TWO_POW_32, true);
        view.setUint32(Record.seq, seq, true);
        view.setInt32(Record.value, reading.value, true);
        view.setUint32(Record.crc, this.#crc.of(slot, 0, Record.crc), true);
    }
    /** Validates the slot buffer and decodes it into `into` (only when valid). */
    #decode(into, lower, upper) {
        if (this.#isBlank())
            return 1 /* Slot.blank */;
        const slot = this.#slot;
        const view = this.#slotView;
        const flags = slot[Record.flags];
        if ((flags & RecordFlags.markerMask) !== RecordFlags.marker)
            return 2 /* Slot.corrupt */;
        const kind = flags >> RecordFlags.kindShift;
        if (kind > MAX_KIND)
            return 2 /* Slot.corrupt */;
        if (view.getUint32(Record.crc, true) !== this.#crc.of(slot, 0, Record.crc))
            return 2 /* Slot.corrupt */;
        const seq = view.getUint32(Record.seq, true);
        if (seq < lower || seq > upper)
            return 2 /* Slot.corrupt */;
        into.seq = seq;
        into.timeMs = view.getUint16(Record.timeHigh, true) * TWO_POW_32 + view.getUint32(Record.timeLow, true);
        into.synced = (flags & RecordFlags.synced) !== 0;
        into.alert = (flags & RecordFlags.alert) !== 0;
        into.channel = slot[Record.channel];
        into.kind = kind;
        into.value = view.getInt32(Record.value, true);
        return 0 /* Slot.valid */;
    }
}
//# sourceMappingURL=ring.js.map