import { portable } from './harness/portable';
await portable('sensors-sht4x', new URL('./portable/sensors-sht4x.ts', import.meta.url));
