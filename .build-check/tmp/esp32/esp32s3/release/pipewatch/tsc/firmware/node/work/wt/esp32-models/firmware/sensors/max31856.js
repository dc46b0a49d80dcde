import { SensorErrorCode } from './errors';
import { FaultReporter, messageOf } from './fault';
import { openSPI, spiHz, SPIRegisters } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';
const PART = 'MAX31856';
/** Table 6 "Register Memory Map and Descriptions" (read addresses; write = address | 80h). */
export const Register = {
    CR0: 0x00,
    CR1: 0x01,
    MASK: 0x02,
    CJTO: 0x09,
    CJTH: 0x0a,
    CJTL: 0x0b,
    LTCBH: 0x0c,
    LTCBM: 0x0d,
    LTCBL: 0x0e,
    SR: 0x0f,
    WRITE: 0x80,
    COUNT: 16,
};
/** CR0 bits (Table 6, 00h). */
export const CR0 = {
    CMODE: 0x80,
    ONE_SHOT: 0x40,
    OCFAULT_01: 0x10,
    CJ_DISABLE: 0x08,
    FAULT_INTERRUPT: 0x04,
    FAULTCLR: 0x02,
    FILTER_50HZ: 0x01,
};
/** CR1 fields (Table 6, 01h). */
export const CR1 = {
    RESERVED: 0x80,
    AVGSEL_SHIFT: 4,
    TC_TYPE_MASK: 0x0f,
    POWER_ON: 0x03,
};
/** MASK: bits 7:6 reserved (read 1). Masks only the FAULT pin; all masked (FFh) here. */
export const MASK_ALL = 0xff;
/** Fault Status Register (Table 6, 0Fh). */
export const SR = {
    CJ_RANGE: 0x80,
    TC_RANGE: 0x40,
    OVUV: 0x02,
    OPEN: 0x01,
};
/** TC TYPE codes (CR1[3:0]). */
export const TC_TYPES = { B: 0, E: 1, J: 2, K: 3, N: 4, R: 5, S: 6, T: 7 };
/** Electrical Characteristics: one-shot conversion time, 1 sample, ms (60 Hz, 50 Hz). */
export const CONVERSION_MS_60HZ = 155;
export const CONVERSION_MS_50HZ = 185;
/** Added per additional averaged sample, ms (60 Hz, 50 Hz). */
export const AVERAGE_MS_60HZ = 33.33;
export const AVERAGE_MS_50HZ = 40;
/** Margin before a conversion that never finishes is E_STUCK, ms. */
export const STUCK_MARGIN_MS = 100;
export const MAX_HZ = 5_000_000;
const AVERAGES = [1, 2, 4, 8, 16];
export default class MAX31856 {
    static channels = [
        { kind: 'milliCelsius', name: 'temperature' },
        { kind: 'milliCelsius', name: 'coldJunction' },
    ];
    faults;
    lastError;
    #fault;
    #io;
    #now;
    #stuck = new StuckDetector();
    /** Address byte + 16 registers. */
    #regs = new SPIRegisters(Register.COUNT, Register.WRITE);
    /** Write CR0, CR1, MASK in one transaction. */
    #setup = new Uint8Array(4);
    #out = new Int32Array(2);
    #sample = { temperature: 0, coldJunction: 0 };
    #cr0 = CR0.OCFAULT_01;
    #cr1 = (0 << CR1.AVGSEL_SHIFT) | TC_TYPES.K;
    #pending = false;
    #startedAt = 0;
    constructor(options) {
        const sensor = options?.sensor;
        if (!sensor || typeof sensor.io !== 'function')
            throw new TypeError(`${PART}: options.sensor.io required`);
        this.#fault = new FaultReporter(PART, options.onError);
        this.faults = this.#fault.counts;
        this.#now = options.now;
        const hz = spiHz(PART, sensor, MAX_HZ);
        this.#apply(options);
        this.#io = openSPI(PART, sensor, hz, 1);
        const code = this.#configurePart();
        if (code) {
            this.close();
            throw this.#fault.error(code, 'configuration did not read back: no MAX31856 on this chip select?');
        }
    }
    /** Changes type, averaging, filter or stuck time; rewrites the part (throws SensorError on failure). */
    configure(options = {}) {
        if (!this.#io)
            throw new Error(`${PART}: closed`);
        this.#apply(options);
        const code = this.#configurePart();
        if (code)
            throw this.#fault.error(code, 'configuration did not read back');
    }
    read(out) {
        const io = this.#io;
        if (!io)
            throw new Error(`${PART}: closed`);
        const now = this.#now ? this.#now() : 0;
        if (!this.#pending) {
            this.#startConversion(io, now);
            return this.#pending ? this.#fault.notReady('conversion started') : 0;
        }
        const regs = this.#regs;
        try {
            regs.readBlock(io, Register.CR0);
        }
        catch (error) {
            this.#pending = false;
            return this.#fail(SensorErrorCode.BUS, messageOf(error));
        }
        const fill = regs.blockFill();
        if (fill >= 0) {
            this.#pending = false;
            return this.#fail(SensorErrorCode.FRAME, `all-${fill ? 'ones' : 'zero'} register block`);
        }
        const b = regs.block;
        const cr0 = b[1 + Register.CR0];
        const cr1 = b[1 + Register.CR1];
        if (cr1 & CR1.RESERVED) {
            this.#pending = false;
            return this.#fail(SensorErrorCode.FRAME, 'reserved CR1 bit 7 set');
        }
        if ((cr0 & ~CR0.ONE_SHOT) !== this.#cr0 || cr1 !== this.#cr1) {
            this.#pending = false;
            this.#configurePart();
            return this.#fail(SensorErrorCode.POWER_ON_VALUE, `CR0 ${cr0} CR1 ${cr1}: the part reset; reconfigured`);
        }
        if (cr0 & CR0.ONE_SHOT) {
            if (this.#now && now - this.#startedAt > this.#conversionMs() + STUCK_MARGIN_MS) {
                this.#pending = false;
                return this.#fail(SensorErrorCode.STUCK, `conversion not done after ${now - this.#startedAt} ms`);
            }
            this.lastError = SensorErrorCode.NOT_READY;
            return this.#fault.notReady('conversion under way');
        }
        const result = this.#decode(out, now);
        this.#startConversion(io, now);
        if (result)
            this.lastError = undefined;
        return result;
    }
    sample() {
        if (!this.read(this.#out))
            return undefined;
        this.#sample.temperature = this.#out[0] / 1000;
        this.#sample.coldJunction = this.#out[1] / 1000;
        return this.#sample;
    }
    /** Releases the bus; safe to call again. */
    close() {
        const io = this.#io;
        if (!io)
            return;
        this.#io = undefined;
        io.close();
    }
    #decode(out, now) {
        const b = this.#regs.block;
        const sr = b[1 + Register.SR];
        if (sr & SR.OPEN)
            return this.#fail(SensorErrorCode.OPEN, 'thermocouple open (SR OPEN)');
        if (sr & SR.OVUV)
            return this.#fail(SensorErrorCode.TC_FAULT, 'input over/under-voltage (SR OVUV): shorted to GND or VCC');
        if (sr & SR.TC_RANGE)
            return this.#fail(SensorErrorCode.RANGE, 'thermocouple outside its type range (SR TC Range)');
        if (sr & SR.CJ_RANGE)
            return this.#fail(SensorErrorCode.RANGE, 'cold junction outside −55..+125 °C (SR CJ Range)');
        // Table 5: 19-bit two's complement, 2^-7 °C, LTCBL[4:0] unused.
        const tcRaw = ((b[1 + Register.LTCBH] << 24) | (b[1 + Register.LTCBM] << 16) | (b[1 + Register.LTCBL] << 8)) >> 13;
        // Table 4: 14-bit two's complement, 2^-6 °C, CJTL[1:0] unused.
        const cjRaw = ((b[1 + Register.CJTH] << 24) | (b[1 + Register.CJTL] << 16)) >> 18;
        const unchangedMs = this.#stuck.update(now, tcRaw);
        if (unchangedMs)
            return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
        out[0] = Math.floor((tcRaw * 125) / 16);
        out[1] = Math.floor((cjRaw * 125) / 8);
        return 0b11;
    }
    /** Sets 1SHOT for the next conversion; on a bus error reports E_BUS and nothing is pending. */
    #startConversion(io, now) {
        try {
            this.#regs.write(io, Register.CR0, this.#cr0 | CR0.ONE_SHOT);
        }
        catch (error) {
            this.#pending = false;
            this.#fail(SensorErrorCode.BUS, messageOf(error));
            return;
        }
        this.#pending = true;
        this.#startedAt = now;
        if (this.lastError === undefined || this.lastError === SensorErrorCode.NOT_READY)
            this.lastError = SensorErrorCode.NOT_READY;
    }
    /** Writes CR0/CR1/MASK and reads them back; returns an error code, or undefined. */
    #configurePart() {
        const io = this.#io;
        const s = this.#setup;
        s[0] = Register.WRITE | Register.CR0;
        s[1] = this.#cr0 | CR0.FAULTCLR;
        s[2] = this.#cr1;
        s[3] = MASK_ALL;
        try {
            io.write(s);
            this.#regs.readBlock(io, Register.CR0);
        }
        catch (error) {
            this.#fail(SensorErrorCode.BUS, messageOf(error));
            return SensorErrorCode.BUS;
        }
        this.#pending = false;
        const b = this.#regs.block;
        if (b[1] !== this.#cr0 || b[2] !== this.#cr1 || b[3] !== MASK_ALL) {
            this.#fail(SensorErrorCode.CHIP_ID, `read back CR0 ${b[1]} CR1 ${b[2]} MASK ${b[3]}`);
            return SensorErrorCode.CHIP_ID;
        }
        return undefined;
    }
    #conversionMs() {
        const samples = AVERAGES[(this.#cr1 >> CR1.AVGSEL_SHIFT) & 7];
        return this.#cr0 & CR0.FILTER_50HZ
            ? CONVERSION_MS_50HZ + (samples - 1) * AVERAGE_MS_50HZ
            : CONVERSION_MS_60HZ + (samples - 1) * AVERAGE_MS_60HZ;
    }
    #apply(options) {
        const { type, averaging, filterHz, stuckMs } = options;
        let cr0 = this.#cr0;
        let cr1 = this.#cr1;
        if (type !== undefined) {
            if (!Object.prototype.hasOwnProperty.call(TC_TYPES, type))
                this.#fault.invalid(`thermocouple type ${type}`);
            cr1 = (cr1 & ~CR1.TC_TYPE_MASK) | TC_TYPES[type];
        }
        if (averaging !== undefined) {
            const i = AVERAGES.indexOf(averaging);
            if (i < 0)
                this.#fault.invalid(`averaging ${averaging}`);
            cr1 = (cr1 & CR1.TC_TYPE_MASK) | (i << CR1.AVGSEL_SHIFT);
        }
        if (filterHz !== undefined) {
            if (filterHz !== 50 && filterHz !== 60)
                this.#fault.invalid(`filterHz ${filterHz}`);
            cr0 = filterHz === 50 ? cr0 | CR0.FILTER_50HZ : cr0 & ~CR0.FILTER_50HZ;
        }
        if (stuckMs !== undefined)
            this.#stuck.stuckMs = checkStuckMs(this.#fault, stuckMs, !!this.#now);
        this.#cr0 = cr0;
        this.#cr1 = cr1;
    }
    #fail(code, message) {
        this.lastError = code;
        return this.#fault.fail(code, message);
    }
}
//# sourceMappingURL=max31856.js.map