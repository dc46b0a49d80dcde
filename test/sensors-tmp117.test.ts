import { portable } from './harness/portable';
await portable('sensors-tmp117', new URL('./portable/sensors-tmp117.ts', import.meta.url));
