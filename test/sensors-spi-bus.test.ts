import { portable } from './harness/portable';
await portable('sensors-spi-bus', new URL('./portable/sensors-spi-bus.ts', import.meta.url));
