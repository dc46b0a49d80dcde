import { portable } from './harness/portable';

await portable('power', new URL('./portable/power.ts', import.meta.url));
