import { portable } from './harness/portable';

await portable('plant', new URL('./portable/plant.ts', import.meta.url));
