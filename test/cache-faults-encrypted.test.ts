import { portable } from './harness/portable';

await portable('cache-faults', new URL('./portable/cache-faults-encrypted.ts', import.meta.url));
