import { portable } from './harness/portable';
await portable('sensors-onewire-bus', new URL('./portable/sensors-onewire-bus.ts', import.meta.url));
