import { portable } from './harness/portable';

await portable('esp32-settings', new URL('./portable/esp32-settings.ts', import.meta.url));
