import { portable } from './harness/portable';
await portable('improv', new URL('./portable/improv.ts', import.meta.url));
