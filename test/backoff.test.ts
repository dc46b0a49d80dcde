import { portable } from './harness/portable';

await portable('backoff', new URL('./portable/backoff.ts', import.meta.url));
