#!/usr/bin/env node
// The single entry point for Drover's servers and CLI. Sources are TypeScript run through tsx,
// so there is no build step between a checkout and a running cluster.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
