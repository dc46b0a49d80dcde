import { equal, throws } from '../harness/assert';

export const tests = {
  'integer math is exact'() {
    equal((0x7fffffff + 1) | 0, -0x80000000);
  },
  'throws is checked'() {
    throws(() => {
      throw new Error('boom E_X');
    }, /E_X/);
  },
};
