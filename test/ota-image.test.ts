import { portable } from './harness/portable';

await portable('ota-image', new URL('./portable/ota-image.ts', import.meta.url));
