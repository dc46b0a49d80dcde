import { portable } from './harness/portable';
await portable('sensors-i2c-bus', new URL('./portable/sensors-i2c-bus.ts', import.meta.url));
