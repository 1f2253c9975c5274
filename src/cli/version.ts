/**
 * `drover version`: the version, and which code this process runs — the JavaScript bundle in
 * dist/, or the TypeScript sources through tsx and why (bin/drover.js decides; 026-bundle.md).
 * `--version` prints the version alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';

type VersionArgs = { json?: boolean };

/** What bin/drover.js chose, as it left it on globalThis (nothing: imported in-process, through tsx). */
export function runtime(): { code: 'bundle' | 'sources'; why?: string } {
  const g = globalThis as { droverBundle?: string; droverSources?: string };
  if (g.droverBundle !== undefined) return { code: 'bundle' };
  return { code: 'sources', why: g.droverSources ?? 'not started by bin/drover' };
}

export function versionCommand(): CommandModule<VersionArgs, VersionArgs> {
  return {
    command: 'version',
    describe: 'Print the version and what runs: the bundle in dist/ or the sources through tsx',
    handler: (args) => {
      const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
      const r = runtime();
      if (args.json) process.stdout.write(`${JSON.stringify({ version, ...r })}\n`);
      else process.stdout.write(`drover ${version}\n${r.code === 'bundle' ? 'runs the bundle in dist/' : `runs the sources through tsx: ${r.why}`}\n`);
    },
  };
}
