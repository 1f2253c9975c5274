/**
 * The CLI's HTTP client: which master to talk to (`--master`, else DROVER_MASTER, else
 * ~/.drover/config.json's `master`, else http://127.0.0.1:5050), and requests whose failures carry
 * the server's own reason.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cliFetch } from './credentials.ts';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export async function resolveMaster(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (flag) return flag.replace(/\/$/, '');
  if (env['DROVER_MASTER']) return env['DROVER_MASTER'].replace(/\/$/, '');
  try {
    const config = JSON.parse(await readFile(join(env['HOME'] ?? homedir(), '.drover', 'config.json'), 'utf8')) as { master?: unknown };
    if (typeof config.master === 'string') return config.master.replace(/\/$/, '');
  } catch {
    // No config file (or not JSON): fall through to the default.
  }
  return 'http://127.0.0.1:5050';
}

export class Client {
  constructor(readonly master: string) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await cliFetch(`${this.master}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new CliError(`cannot reach the master at ${this.master}: ${e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e)}`);
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // a plain-text answer
    }
    if (response.status === 401)
      throw new CliError(`${describeError(response.status, parsed)}\n  log in with \`drover login\`, or set DROVER_TOKEN (on the machine of \`drover dev\`: its <data-dir>/admin-token)`);
    if (!response.ok) throw new CliError(describeError(response.status, parsed));
    return parsed as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
}

function describeError(status: number, body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { message?: string; details?: Array<{ path: string; errors: string[] }>; deployments?: Array<{ id: string }> };
    const lines = [`${forCli(b.message ?? 'request failed')} (HTTP ${status})`];
    for (const d of b.details ?? []) lines.push(`  ${d.path}: ${d.errors.join('; ')}`);
    if (b.deployments?.length) lines.push(`  blocking deployments: ${b.deployments.map((d) => d.id).join(', ')} (\`drover deployment watch ID\` to follow one)`);
    return lines.join('\n');
  }
  return `HTTP ${status}: ${String(body ?? '')}`;
}

/** A server message in the CLI's words: the API's `?force=true` is the CLI's `--force`. */
export function forCli(message: string): string {
  return message
    .replace(/Override with the option '\?force=true'\./, 'Add --force to override (it cancels them).')
    .replace(/\s*View details at '\/v2\/deployments\/<DEPLOYMENT_ID>'\./, '')
    .replace(/\?force=true/g, '--force');
}
