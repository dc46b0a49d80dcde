import { portable } from './harness/portable';
await portable('sensors-sht3x', new URL('./portable/sensors-sht3x.ts', import.meta.url));
