import { portable } from './harness/portable';

await portable('flash', new URL('./portable/flash.ts', import.meta.url));
