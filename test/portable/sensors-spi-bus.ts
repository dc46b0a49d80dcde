/*
 * The simulated SPI bus itself: chip selects, floating MISO, clock/mode limits, fault injection.
 */
import { FixedEnv } from '../../simulator/devices/env';
import { SimMax31856 } from '../../simulator/devices/max31856';
import { SimSPIBus } from '../../simulator/devices/spi-bus';
import { deepEqual, equal, ok, throws } from '../harness/assert';

function rig() {
  const bus = new SimSPIBus();
  bus.attach(1, new SimMax31856(new FixedEnv()));
  return { bus, ...bus.classes() };
}

export const tests = {
  'a register read in one CS-framed transfer (MAX31856 CR0, CR1 power-on 00h 03h)'() {
    const { SPI } = rig();
    const spi = new SPI({ select: 1, mode: 1, hz: 1_000_000 });
    const b = new Uint8Array([0x00, 0, 0]);
    spi.transfer(b);
    deepEqual(b, new Uint8Array([0, 0x00, 0x03]));
  },
  'an empty chip select reads the floating MISO (FFh), or 00h with a pull-down'() {
    const { bus, SPI } = rig();
    const spi = new SPI({ select: 2 });
    const b = new Uint8Array(3);
    spi.read(b);
    deepEqual(b, new Uint8Array([0xff, 0xff, 0xff]));
    bus.floating = 0;
    spi.read(b);
    deepEqual(b, new Uint8Array([0, 0, 0]));
  },
  'a clock above the part maximum, or a mode it does not support, garbles the data'() {
    const { SPI } = rig();
    for (const options of [{ select: 1, mode: 1 as const, hz: 10_000_000 }, { select: 1, mode: 0 as const }]) {
      const spi = new SPI(options);
      const b = new Uint8Array([0x00, 0, 0]);
      spi.transfer(b);
      ok(b[2] !== 0x03 || b[1] !== 0x00, JSON.stringify(options));
    }
  },
  'fault injection: MISO stuck low/high, transaction errors'() {
    const { bus, SPI } = rig();
    const spi = new SPI({ select: 1, mode: 3 });
    const b = new Uint8Array(2);
    bus.inject(1, 'ones');
    spi.transfer(b);
    deepEqual(b, new Uint8Array([0xff, 0xff]));
    bus.inject(1, 'zeros');
    b[0] = 1;
    spi.transfer(b);
    deepEqual(b, new Uint8Array([0, 0]));
    bus.inject(1, 'error');
    throws(() => spi.transfer(b), /failed/);
    throws(() => bus.inject(9, 'error'), /no device/);
  },
  'options are validated; close twice is safe'() {
    const { SPI } = rig();
    throws(() => new SPI({ select: -1 }), /chip select/);
    throws(() => new SPI({ mode: 4 as 0 }), /mode/);
    const spi = new SPI({ select: 1 });
    spi.close();
    spi.close();
    throws(() => spi.read(new Uint8Array(1)), /closed/);
    equal(typeof spi.flush, 'function');
  },
};
