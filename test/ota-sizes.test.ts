import { portable } from './harness/portable';

await portable('ota-sizes', new URL('./portable/ota-sizes.ts', import.meta.url));
