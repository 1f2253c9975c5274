/**
 * The CLI's credential, looked for once per command, first found wins (as Nomad takes NOMAD_TOKEN):
 *   1. DROVER_TOKEN
 *   2. the saved login (`drover login`): ~/.config/drover/token.json `{master, token}`, used only
 *      for the master it was issued by
 *   3. on this machine, the bootstrap admin token `drover dev` keeps in its data dir
 *      (DROVER_DATA_DIR, default ./.drover): `<data-dir>/admin-token`, sent only to loopback
 *      masters — so the Quick start's `drover dev` then `drover app …` just work.
 * Every CLI request goes through `cliFetch`/`authHeaders`, which add `Authorization: token=…`.
 *
 * HTTPS: the master's certificate is the cluster CA's own, so the CLI trusts that CA — the file
 * DROVER_CA_CERT names, else `<data-dir>/ca.crt` that `drover dev|master` write — besides nothing
 * else for an https:// master (with neither, the system's roots: an operator's own certificate).
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fetchFollowing } from '../http/follow-redirects.ts';

export interface Credential {
  token: string;
  source: 'env' | 'login' | 'dev-data-dir';
  /** The master the token is for (saved logins), or undefined: any. */
  master?: string;
}

let credential: Credential | undefined;
/** A fetch trusting the cluster CA, where the CLI found its certificate. */
let caFetch: typeof fetch | undefined;
let caPem: string | undefined;

/** The cluster CA's certificate the CLI trusts (loadCaCert), for clients that are not fetch (node:https). */
export function trustedCaPem(): string | undefined {
  return caPem;
}

/** The cluster CA's certificate the CLI trusts: DROVER_CA_CERT, else `<data-dir>/ca.crt` if there. */
export async function loadCaCert(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  caFetch = undefined;
  caPem = undefined;
  const named = env['DROVER_CA_CERT'] || undefined;
  const pem = named !== undefined ? await readFile(named, 'utf8') : await readText(join(env['DROVER_DATA_DIR'] ?? './.drover', 'ca.crt'));
  if (pem !== undefined) {
    // Loaded at the first https:// request: most commands talk plain HTTP to loopback, and
    // loading undici (tls-client.ts) costs a CLI call ~0.2 s of CPU (026-bundle.md).
    let made: Promise<typeof fetch> | undefined;
    caFetch = async (input, init) => {
      made ??= import('../iam/tls-client.ts').then(({ tlsFetch }) => tlsFetch({ caPem: pem }));
      return (await made)(input, init);
    };
    caPem = pem;
  }
  return pem;
}

export function loginFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CONFIG_HOME'] ?? join(env['HOME'] ?? homedir(), '.config'), 'drover', 'token.json');
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function loadCredential(env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  credential = undefined;
  if (env['DROVER_TOKEN']) credential = { token: env['DROVER_TOKEN'], source: 'env' };
  else {
    const saved = await readText(loginFile(env));
    try {
      const parsed = saved === undefined ? undefined : (JSON.parse(saved) as { master?: unknown; token?: unknown });
      if (typeof parsed?.token === 'string') credential = { token: parsed.token, source: 'login', ...(typeof parsed.master === 'string' ? { master: parsed.master } : {}) };
    } catch {
      // a damaged login file: as if there were none
    }
    if (credential === undefined) {
      const dev = await readText(join(env['DROVER_DATA_DIR'] ?? './.drover', 'admin-token'));
      if (dev !== undefined) credential = { token: dev, source: 'dev-data-dir' };
    }
  }
  return credential;
}

function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || url.hostname === '::1' || /^127\./.test(url.hostname);
}

/** The Authorization header for a request to `url`, if the CLI has a credential meant for it. */
export function authHeaders(url: string): Record<string, string> {
  if (credential === undefined) return {};
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return {};
  }
  if (credential.source === 'dev-data-dir' && !isLoopback(target)) return {};
  return { authorization: `token=${credential.token}` };
}

/** The token the CLI sends to `url`, if any (for clients that take a token, like the SDK's transport). */
export function tokenFor(url: string): string | undefined {
  return authHeaders(url).authorization?.slice('token='.length);
}

/** fetch without the CLI's credential, trusting the cluster CA for https:// (for clients that add their own token). */
export function caAwareFetch(input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return caFetch !== undefined && url.startsWith('https:') ? caFetch(input, init) : fetch(input, init);
}

/** fetch with the CLI's credential. */
export function cliFetch(url: string, init: RequestInit = {}): Promise<Response> {
  // A standby master redirects to the leader; plain fetch would drop the token on the way.
  const via = caFetch !== undefined && url.startsWith('https:') ? caFetch : fetch;
  return fetchFollowing(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...authHeaders(url) } }, via);
}

/** `drover login` keeps the token here (mode 600). */
export async function saveLogin(master: string, token: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = loginFile(env);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ master, token })}\n`);
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  credential = { token, source: 'login', master };
  return file;
}
