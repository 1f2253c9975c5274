/**
 * Shared plumbing for client commands: resolve the master, run, and turn failures into a message
 * on stderr and a non-zero exit.
 */
import { Client, CliError, resolveMaster } from './client.ts';

export interface ClientArgs {
  master?: string;
  json?: boolean;
}

export async function withClient(args: ClientArgs, setExit: (code: number) => void, run: (client: Client) => Promise<void>): Promise<void> {
  try {
    await run(new Client(await resolveMaster(args.master)));
  } catch (e) {
    process.stderr.write(`drover: ${failure(e)}\n`);
    setExit(e instanceof CliError ? e.exitCode : 1);
  }
}

/** The message of a failure, with its cause when fetch's own says only "fetch failed" (an untrusted certificate, a refused connection). */
function failure(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? e.cause.message : undefined;
  return cause === undefined || e.message.includes(cause) ? e.message : `${e.message}: ${cause}`;
}

export function appPath(id: string): string {
  const trimmed = id.replace(/^\/+/, '');
  if (trimmed === '') throw new CliError('an app id is required', 2);
  return `/${trimmed.split('/').map(encodeURIComponent).join('/')}`;
}

/** `key=value` pairs to an object; values are JSON when they parse (`instances=3`, `env={"A":"1"}`). */
export function parseAssignments(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`'${pair}' is not key=value`, 2);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // plain strings stay strings (cmd="sleep 10")
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

export async function readJsonInput(file: string | undefined): Promise<unknown> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  if (file === undefined || file === '-' || file === '') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, 2);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`${file || 'stdin'} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, 2);
  }
}
