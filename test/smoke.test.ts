import { portable } from './harness/portable';

await portable('smoke', new URL('./portable/smoke.ts', import.meta.url));
