import { portable } from './harness/portable';
await portable('uplink-discover', new URL('./portable/uplink-discover.ts', import.meta.url));
