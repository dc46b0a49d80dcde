import { portable } from './harness/portable';

await portable('esp32-onewire', new URL('./portable/esp32-onewire.ts', import.meta.url));
