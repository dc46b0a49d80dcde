import { portable } from './harness/portable';
await portable('sensors-ntc', new URL('./portable/sensors-ntc.ts', import.meta.url));
