import { portable } from './harness/portable';
await portable('sensors-mlx90614', new URL('./portable/sensors-mlx90614.ts', import.meta.url));
