import { portable } from './harness/portable';

await portable('ota-journal', new URL('./portable/ota-journal.ts', import.meta.url));
