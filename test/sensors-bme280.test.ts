import { portable } from './harness/portable';
await portable('sensors-bme280', new URL('./portable/sensors-bme280.ts', import.meta.url));
