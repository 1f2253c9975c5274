/**
 * `npm run fuzz -- --cases N [--seed S] [--route 'POST /v2/apps']`: the API fuzz for long runs.
 * Prints one JSON line (cases, statuses per route, violations) and exits 1 on any violation.
 */
import { runApiFuzz, startFuzzServer } from './api-fuzz.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const cases = Number(arg('cases') ?? 1000);
const seed = arg('seed') === undefined ? undefined : Number(arg('seed'));
const route = arg('route');
const fuzz = await startFuzzServer();
const started = Date.now();
const { violations, statuses } = await runApiFuzz(fuzz.app, { cases, ...(seed === undefined ? {} : { seed }), ...(route === undefined ? {} : { routes: [route] }) });
await fuzz.close();
process.stdout.write(JSON.stringify({ fuzz: 'api', cases, seconds: (Date.now() - started) / 1000, statuses, violations }) + '\n');
process.exit(violations.length > 0 ? 1 : 0);
