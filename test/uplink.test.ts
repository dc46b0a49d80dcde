import { portable } from './harness/portable';
await portable('uplink', new URL('./portable/uplink.ts', import.meta.url));
