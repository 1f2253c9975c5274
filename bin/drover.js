#!/usr/bin/env node
// The body of the `drover` command (bin/drover.cjs is the entry, which sizes the thread pool
// first). Sources are TypeScript run through tsx, so there is no build step between a checkout
// and a running cluster.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
