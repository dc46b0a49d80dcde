import { portable } from './harness/portable';

await portable('fleet-metrics', new URL('./portable/fleet-metrics.ts', import.meta.url));
