#!/usr/bin/env node
// The body of the `drover` command (bin/drover.cjs is the entry, which sizes the thread pool
// first). It runs the JavaScript bundle in dist/ that `npm ci` / `npm run build` make
// (scripts/build.mjs) while that bundle is the code of the sources as they are now (bin/bundle.js
// checks), else the TypeScript sources through tsx, so an edit under src/ runs at once with no
// build step. DROVER_BUNDLE=off always takes the sources. `drover version` says which ran.
// docs/architecture/026-bundle.md.
import { fileURLToPath } from 'node:url';
import { bundleStaleness } from './bundle.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const staleness = process.env.DROVER_BUNDLE === 'off' ? 'DROVER_BUNDLE=off' : bundleStaleness(root);
let main;
if (staleness === undefined) {
  // Stack traces name the .ts files and lines (the bundle's source maps).
  process.setSourceMapsEnabled(true);
  // Read where Drover starts its own threads and processes (the DNS thread, the fetcher child).
  globalThis.droverBundle = new URL('../dist/', import.meta.url).href;
  ({ main } = await import('../dist/drover.mjs'));
} else {
  globalThis.droverSources = staleness;
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
