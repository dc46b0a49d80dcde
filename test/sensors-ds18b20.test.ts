import { portable } from './harness/portable';
await portable('sensors-ds18b20', new URL('./portable/sensors-ds18b20.ts', import.meta.url));
