import { portable } from './harness/portable';
await portable('setup-ap', new URL('./portable/setup-ap.ts', import.meta.url));
