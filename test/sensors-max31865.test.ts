import { portable } from './harness/portable';
await portable('sensors-max31865', new URL('./portable/sensors-max31865.ts', import.meta.url));
