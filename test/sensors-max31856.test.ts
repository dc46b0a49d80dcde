import { portable } from './harness/portable';
await portable('sensors-max31856', new URL('./portable/sensors-max31856.ts', import.meta.url));
