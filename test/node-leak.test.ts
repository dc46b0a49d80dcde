import { portable } from './harness/portable';

await portable('node-leak', new URL('./portable/node-leak.ts', import.meta.url));
