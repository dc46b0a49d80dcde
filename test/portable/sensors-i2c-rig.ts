/*
 * Shared helpers of the I2C sensor tests (not a test module itself): an I2C class that counts
 * open handles, and a check that a read fails with one given code through onError.
 */
import type { I2C, I2CConstructor, I2COptions } from '../../firmware/host';
import { SensorError, type SensorErrorCodeValue } from '../../firmware/sensors/errors';
import { equal, ok } from '../harness/assert';

/** Wraps an I2C class so `open.count` is the number of handles not yet closed. */
export function counting(base: I2CConstructor, open: { count: number }): I2CConstructor {
  return class {
    #io: I2C;
    #closed = false;
    constructor(options: I2COptions) {
      this.#io = new base(options);
      open.count++;
    }
    read(x: any, stop?: boolean): any {
      return this.#io.read(x, stop);
    }
    write(x: any, stop?: boolean): void {
      this.#io.write(x, stop);
    }
    close(): void {
      if (!this.#closed) open.count--;
      this.#closed = true;
      this.#io.close();
    }
  } as unknown as I2CConstructor;
}

export interface Faulty {
  read(out: Int32Array): number;
}

/** Expects `sensor.read(out)` to return 0 and report exactly one SensorError with `code`. */
export function expectFault(
  sensor: Faulty,
  errors: SensorError[],
  out: Int32Array,
  part: string,
  code: SensorErrorCodeValue,
): void {
  const before = errors.length;
  equal(sensor.read(out), 0, `read() with ${code}`);
  equal(errors.length, before + 1, `onError called once for ${code}`);
  const error = errors[errors.length - 1]!;
  ok(error instanceof SensorError, 'a SensorError');
  equal(error.code, code);
  equal(error.part, part);
}
