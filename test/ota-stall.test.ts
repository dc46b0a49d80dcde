import { portable } from './harness/portable';

await portable('ota-stall', new URL('./portable/ota-stall.ts', import.meta.url));
