import { portable } from './harness/portable';

await portable('cache-faults', new URL('./portable/cache-faults.ts', import.meta.url));
