import { portable } from './harness/portable';

await portable('ota-manifest', new URL('./portable/ota-manifest.ts', import.meta.url));
