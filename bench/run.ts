/**
 * Benchmark runner: `npm run bench -- NAME [NAME …]` runs bench/NAME.ts, whose default export is
 * an async function returning a plain result object with a `bench` field. The runner prints that
 * object as one JSON line (the last line of output) and writes it to bench/results/NAME.json.
 * Benchmarks are never run by the test suite: timings on a noisy 2-core machine are for people.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Bench = (args: string[]) => Promise<Record<string, unknown>>;

const here = dirname(fileURLToPath(import.meta.url));

async function available(): Promise<string[]> {
  const files = await readdir(here);
  return files
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(argv: string[]): Promise<number> {
  const names = argv.filter((a) => !a.startsWith('--'));
  const flags = argv.filter((a) => a.startsWith('--'));
  const known = await available();
  if (names.length === 0) {
    process.stderr.write(`usage: npm run bench -- NAME [--flags]\nbenchmarks: ${known.join(', ')}\n`);
    return 2;
  }
  for (const name of names) {
    if (!known.includes(name)) {
      process.stderr.write(`unknown benchmark '${name}'; known: ${known.join(', ')}\n`);
      return 2;
    }
  }
  await mkdir(join(here, 'results'), { recursive: true });
  for (const name of names) {
    const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as { default: Bench };
    const result = await mod.default(flags);
    const line = JSON.stringify(result);
    await writeFile(join(here, 'results', `${name}.json`), `${line}\n`);
    process.stdout.write(`${line}\n`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
