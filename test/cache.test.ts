import { portable } from './harness/portable';

await portable('cache', new URL('./portable/cache.ts', import.meta.url));
