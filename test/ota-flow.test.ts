import { portable } from './harness/portable';

await portable('ota-flow', new URL('./portable/ota-flow.ts', import.meta.url));
