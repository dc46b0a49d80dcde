import { portable } from './harness/portable';

await portable('fleet', new URL('./portable/fleet.ts', import.meta.url));
