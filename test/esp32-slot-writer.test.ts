import { portable } from './harness/portable';

await portable('esp32-slot-writer', new URL('./portable/esp32-slot-writer.ts', import.meta.url));
