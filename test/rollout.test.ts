import { portable } from './harness/portable';

await portable('rollout', new URL('./portable/rollout.ts', import.meta.url));
