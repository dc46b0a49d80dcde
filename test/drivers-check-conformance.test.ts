import { portable } from './harness/portable';
await portable('conformance', new URL('./portable/conformance.ts', import.meta.url));
