import { portable } from './harness/portable';
await portable('sensors-mcp9808', new URL('./portable/sensors-mcp9808.ts', import.meta.url));
