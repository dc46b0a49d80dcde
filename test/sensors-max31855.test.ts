import { portable } from './harness/portable';
await portable('sensors-max31855', new URL('./portable/sensors-max31855.ts', import.meta.url));
