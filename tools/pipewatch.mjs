#!/usr/bin/env node
// The `pipewatch` command. The sources are TypeScript; tsx compiles them on load.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Nothing left over (a socket of a failed start, a child) may keep the command from ending.
setTimeout(() => process.exit(code), 1000).unref();
