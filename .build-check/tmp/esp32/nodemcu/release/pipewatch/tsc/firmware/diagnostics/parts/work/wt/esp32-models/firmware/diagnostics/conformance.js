import { SensorErrorCode } from '../sensors/errors';
/** `wait` on the host's timers (the device and the Node host). */
export function timerWait(timers) {
    return (ms) => new Promise((resolve) => void timers.set(resolve, ms));
}
const LABEL_WIDTH = 46;
function unitOf(kind) {
    return kind === 'milliCelsius' ? '°C' : kind === 'milliPercentRH' ? '%RH' : 'Pa';
}
function scaleOf(kind) {
    return kind === 'pascal' ? 1 : 1000;
}
/** Largest spread over the samples that still counts as stable, in the channel's unit. */
function spreadLimitOf(kind) {
    return kind === 'pascal' ? 100 : kind === 'milliPercentRH' ? 3000 : 1000;
}
/** Runs the check; resolves true when every check passed. Never throws for a sensor fault. */
export async function runConformance(o) {
    const channels = o.Driver.channels;
    const out = new Int32Array(Math.max(4, channels.length));
    const mins = new Array(channels.length).fill(0);
    const maxs = new Array(channels.length).fill(0);
    const counts = new Array(channels.length).fill(0);
    let checks = 0;
    let failed = 0;
    /** The first error other than NOT_READY since the last `readOne` began. */
    let fresh;
    /** Every code other than NOT_READY reported while sampling, for the samples line. */
    let sampleCodes = '';
    const report = (ok, label, detail) => {
        checks++;
        if (!ok)
            failed++;
        o.print(`  ${(label + ' ').padEnd(LABEL_WIDTH, '.')} ${ok ? 'ok  ' : 'FAIL'}  ${detail}`);
    };
    const onError = (e) => {
        if (e.code !== SensorErrorCode.NOT_READY && fresh === undefined)
            fresh = e.code;
    };
    const open = (sensor) => new o.Driver({ sensor, now: o.now, onError, ...o.options });
    /**
     * After `pauseMs`, reads until a value or an error other than NOT_READY, within `tries`
     * intervals.
     */
    const readOne = async (driver, tries, pauseMs) => {
        for (let i = 0; i < tries; i++) {
            if (pauseMs > 0)
                await o.wait(pauseMs);
            pauseMs = o.intervalMs;
            fresh = undefined;
            const mask = driver.read(out);
            if (fresh !== undefined)
                return { mask, code: fresh };
            if (mask)
                return { mask, code: undefined };
        }
        if (tries > 0)
            await o.wait(o.intervalMs);
        return { mask: 0, code: SensorErrorCode.NOT_READY };
    };
    const address = o.sensor.address;
    o.print(`pipewatch drivers check: ${o.part} on ${o.where}${typeof address === 'number' ? `, address 0x${address.toString(16)}` : ''}`);
    let driver;
    if (o.powerUpMs)
        await o.wait(o.powerUpMs);
    try {
        driver = open(o.sensor);
        report(true, 'open and identify', o.identity);
    }
    catch (error) {
        report(false, 'open and identify', `${error.code ?? ''} ${error.message}`.trim());
    }
    if (driver) {
        let invalid = 0;
        for (let n = 0; n < o.samples; n++) {
            const r = await readOne(driver, 12, o.intervalMs);
            if (r.mask & 1) {
                for (let c = 0; c < channels.length; c++) {
                    if (!((r.mask >> c) & 1))
                        continue;
                    const v = out[c];
                    if (counts[c] === 0 || v < mins[c])
                        mins[c] = v;
                    if (counts[c] === 0 || v > maxs[c])
                        maxs[c] = v;
                    counts[c]++;
                }
            }
            else {
                invalid++;
                const code = r.code ?? 'no value';
                if (sampleCodes.indexOf(code) < 0)
                    sampleCodes += (sampleCodes ? ', ' : '') + code;
            }
        }
        // one more conversion period before the first fault
        if (o.faults && o.faults.length > 0)
            await o.wait(o.intervalMs);
        const valid = counts[0];
        report(invalid === 0, 'samples', `${valid}/${o.samples} valid${invalid ? ` (${sampleCodes})` : ''}`);
        for (let c = 0; c < channels.length; c++) {
            if (!counts[c])
                continue;
            const { kind, name } = channels[c];
            const scale = scaleOf(kind);
            const unit = unitOf(kind);
            const range = o.ranges[c];
            const lo = range ? range[0] : -Infinity;
            const hi = range ? range[1] : Infinity;
            const min = mins[c];
            const max = maxs[c];
            report(min >= lo && max <= hi, `range ${name}`, `${min / scale}..${max / scale} ${unit} within ${lo / scale}..${hi / scale}`);
            const limit = spreadLimitOf(kind);
            report(max - min <= limit, `stability ${name}`, `spread ${(max - min) / scale} ${unit} (limit ${limit / scale})`);
        }
        if (o.expected && valid) {
            const worst = Math.max(Math.abs(mins[0] - o.expected.value), Math.abs(maxs[0] - o.expected.value));
            report(worst <= o.expected.tolerance, `accuracy ${channels[0].name}`, `within ${worst / 1000} °C of the simulated ${o.expected.value / 1000} °C (limit ${o.expected.tolerance / 1000})`);
        }
        for (const fault of o.faults ?? []) {
            fault.on();
            // One value may still come from a conversion that completed before the fault (the
            // parts latch their last result); after that, only error codes.
            // The faults are those of the first channel (the sensing element); a part may keep its
            // other channels meanwhile (a MAX31855 cold junction during a thermocouple fault).
            let r = await readOne(driver, 12, o.intervalMs);
            const latched = (r.mask & 1) !== 0;
            if (latched)
                r = await readOne(driver, 12, o.intervalMs);
            fault.off();
            const gave = r.mask & 1 ? `a number (${out[0] / 1000})` : (r.code ?? 'nothing');
            const ok = !(r.mask & 1) && r.code !== undefined && r.code !== SensorErrorCode.NOT_READY;
            report(ok, `fault: ${fault.name}`, latched ? `${gave} (after 1 value latched before the fault)` : gave);
            // let the driver recover before the next fault
            for (let i = 0; i < 4 && !((await readOne(driver, 6, 0)).mask & 1); i++)
                ;
        }
        driver.close();
        driver.close();
    }
    // Wrong address: an error code, never a number.
    let wrongDriver;
    let wrongResult = '';
    let wrongOk = false;
    try {
        wrongDriver = open(o.wrong);
    }
    catch (error) {
        wrongResult = `constructor: ${error.code ?? error.message}`;
        wrongOk = error.code !== undefined;
    }
    if (wrongDriver) {
        const r = await readOne(wrongDriver, 12, o.intervalMs);
        wrongResult = r.mask ? `a number (${out[0] / 1000})` : `read: ${r.code}`;
        wrongOk = !r.mask && r.code !== undefined && r.code !== SensorErrorCode.NOT_READY;
        wrongDriver.close();
    }
    report(wrongOk, `wrong ${o.wrongLabel}`, wrongResult);
    o.print(failed ? `FAIL (${failed} of ${checks} checks)` : `PASS (${checks} checks)`);
    return failed === 0;
}
//# sourceMappingURL=conformance.js.map