import { portable } from './harness/portable';

await portable('cache-memo', new URL('./portable/cache-memo.ts', import.meta.url));
