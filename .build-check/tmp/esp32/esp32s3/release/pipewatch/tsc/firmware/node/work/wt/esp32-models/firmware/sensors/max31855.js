import { SensorErrorCode } from './errors';
import { FaultReporter, messageOf } from './fault';
import { openSPI, spiHz } from './spi-registers';
import { checkStuckMs, StuckDetector } from './stuck';
const PART = 'MAX31855';
/** Table 2 "Memory Map—Bit Weights and Functions". */
export const Frame = {
    TC_SHIFT: 18,
    RESERVED_17: 1 << 17,
    FAULT: 1 << 16,
    CJ_SHIFT: 4,
    CJ_MASK: 0xfff0,
    RESERVED_3: 1 << 3,
    SCV: 1 << 2,
    SCG: 1 << 1,
    OC: 1 << 0,
    FAULT_BITS: 0x7,
};
/** Electrical Characteristics: temperature conversion time, maximum. */
export const CONVERSION_MS = 100;
/** Electrical Characteristics: SCK frequency, maximum. */
export const MAX_HZ = 5_000_000;
/** Cold-junction operating range (Electrical Characteristics), milli-°C. */
export const CJ_MIN_MILLI_C = -55_000;
export const CJ_MAX_MILLI_C = 125_000;
/** Channel indexes (bits of the `read` result), as in `MAX31855.channels`. */
const CHANNEL_THERMOCOUPLE = 0;
export default class MAX31855 {
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
    #rx = new Uint8Array(4);
    #out = new Int32Array(2);
    #sample = { temperature: 0, coldJunction: 0 };
    #openedAt;
    #ready = false;
    #minMilliC = -200_000;
    #maxMilliC = 1_350_000;
    constructor(options) {
        const sensor = options?.sensor;
        if (!sensor || typeof sensor.io !== 'function')
            throw new TypeError(`${PART}: options.sensor.io required`);
        this.#fault = new FaultReporter(PART, options.onError);
        this.faults = this.#fault.counts;
        this.#now = options.now;
        this.#check(options);
        this.#io = openSPI(PART, sensor, spiHz(PART, sensor, MAX_HZ), 0);
        this.#openedAt = this.#now ? this.#now() : 0;
        this.#ready = !this.#now;
        this.configure(options);
    }
    configure(options = {}) {
        this.#check(options);
        if (options.minMilliCelsius !== undefined)
            this.#minMilliC = options.minMilliCelsius;
        if (options.maxMilliCelsius !== undefined)
            this.#maxMilliC = options.maxMilliCelsius;
        if (options.stuckMs !== undefined)
            this.#stuck.stuckMs = options.stuckMs;
    }
    /**
     * out[0] thermocouple, out[1] cold junction, milli-°C; returns 0b11, 0b10 (a thermocouple
     * fault or range: the cold junction kept), or 0 (see the header).
     */
    read(out) {
        const io = this.#io;
        if (!io)
            throw new Error(`${PART}: closed`);
        const now = this.#now ? this.#now() : 0;
        if (!this.#ready) {
            if (now - this.#openedAt < CONVERSION_MS) {
                this.lastError = SensorErrorCode.NOT_READY;
                return this.#fault.notReady('first conversion not complete');
            }
            this.#ready = true;
        }
        const rx = this.#rx;
        try {
            io.read(rx);
        }
        catch (error) {
            return this.#fail(SensorErrorCode.BUS, messageOf(error));
        }
        const frame = ((rx[0] << 24) | (rx[1] << 16) | (rx[2] << 8) | rx[3]) | 0;
        if (frame === 0 || frame === -1)
            return this.#fail(SensorErrorCode.FRAME, `all-${frame ? 'ones' : 'zero'} frame`);
        if (frame & (Frame.RESERVED_17 | Frame.RESERVED_3))
            return this.#fail(SensorErrorCode.FRAME, 'reserved bit set');
        const faultBits = frame & Frame.FAULT_BITS;
        if (((frame & Frame.FAULT) !== 0) !== (faultBits !== 0)) {
            return this.#fail(SensorErrorCode.FRAME, 'fault bit D16 disagrees with D2..D0');
        }
        const cjRaw = ((frame & Frame.CJ_MASK) << 16) >> 20; // 12-bit two's complement, 0.0625 °C
        const cjMilliC = (cjRaw * 125) >> 1;
        if (cjMilliC < CJ_MIN_MILLI_C || cjMilliC > CJ_MAX_MILLI_C) {
            return this.#fail(SensorErrorCode.RANGE, `cold junction ${cjMilliC / 1000} °C`);
        }
        if (faultBits) {
            const code = faultBits & Frame.OC ? SensorErrorCode.OPEN : faultBits & Frame.SCG ? SensorErrorCode.SHORT_GND : SensorErrorCode.SHORT_VCC;
            const what = faultBits & Frame.OC ? 'open (OC)' : faultBits & Frame.SCG ? 'shorted to GND (SCG)' : 'shorted to VCC (SCV)';
            return this.#coldJunctionOnly(out, cjMilliC, code, `thermocouple ${what}; cold junction kept`);
        }
        const tcRaw = frame >> Frame.TC_SHIFT; // 14-bit two's complement, 0.25 °C
        const tcMilliC = tcRaw * 250;
        if (tcMilliC < this.#minMilliC || tcMilliC > this.#maxMilliC) {
            return this.#coldJunctionOnly(out, cjMilliC, SensorErrorCode.RANGE, `thermocouple ${tcMilliC / 1000} °C; cold junction kept`);
        }
        const unchangedMs = this.#stuck.update(now, tcRaw);
        if (unchangedMs)
            return this.#fail(SensorErrorCode.STUCK, `unchanged for ${unchangedMs} ms`);
        out[0] = tcMilliC;
        out[1] = cjMilliC;
        this.lastError = undefined;
        return 0b11;
    }
    /** `{ temperature, coldJunction }` in °C; a channel `read()` did not validate is undefined. */
    sample() {
        const valid = this.read(this.#out);
        if (!valid)
            return undefined;
        this.#sample.temperature = valid & 0b01 ? this.#out[0] / 1000 : undefined;
        this.#sample.coldJunction = valid & 0b10 ? this.#out[1] / 1000 : undefined;
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
    #fail(code, message) {
        this.lastError = code;
        return this.#fault.fail(code, message);
    }
    /** The thermocouple channel failed (reported with its channel); the cold junction is kept. */
    #coldJunctionOnly(out, cjMilliC, code, message) {
        this.lastError = code;
        this.#fault.fail(code, message, CHANNEL_THERMOCOUPLE);
        out[1] = cjMilliC;
        return 0b10;
    }
    #check(options) {
        const { minMilliCelsius: min, maxMilliCelsius: max, stuckMs } = options;
        if (min !== undefined && !Number.isInteger(min))
            this.#fault.invalid(`minMilliCelsius ${min}`);
        if (max !== undefined && !Number.isInteger(max))
            this.#fault.invalid(`maxMilliCelsius ${max}`);
        if ((min ?? this.#minMilliC) >= (max ?? this.#maxMilliC))
            this.#fault.invalid('empty range');
        if (stuckMs !== undefined)
            checkStuckMs(this.#fault, stuckMs, !!this.#now);
    }
}
//# sourceMappingURL=max31855.js.map