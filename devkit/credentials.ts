/**
 * The credentials of clusters started by tests, the simulator and the benchmarks: auth is on in
 * all of them, as on a default install, with one bootstrap admin token and one agent bootstrap
 * token per process (random), which every Drover they start is given:
 *
 * - in the environment, so spawned `drover dev|master` take them as their bootstrap tokens
 *   (DROVER_ADMIN_TOKEN, DROVER_AGENT_TOKEN), spawned `drover agent`s join with the agent token,
 *   and spawned CLI commands use the admin token (DROVER_TOKEN);
 * - `testAuth()` for clusters started in-process (startMasterServer, startDev);
 * - `fetch` of this process sends the admin token to this machine (loopback, its hostname) when a request names no
 *   Authorization of its own, so the existing tests' plain fetch calls act as the admin. Tests
 *   about auth itself use `rawFetch` (no credential added) or pass their own header.
 *
 * Importing this module does all of it (devkit/process.ts imports it).
 */
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { fetchFollowing } from '../src/http/follow-redirects.ts';

const secret = (prefix: string): string => `${prefix}.${randomBytes(24).toString('base64url')}`;

process.env['DROVER_ADMIN_TOKEN'] ||= secret('drover-admin');
process.env['DROVER_AGENT_TOKEN'] ||= secret('drover-agent');
process.env['DROVER_TOKEN'] ||= process.env['DROVER_ADMIN_TOKEN'];

export const TEST_ADMIN_TOKEN: string = process.env['DROVER_ADMIN_TOKEN'];
export const TEST_AGENT_TOKEN: string = process.env['DROVER_AGENT_TOKEN'];

/** startMasterServer / startDev options for a cluster that takes this process's tokens. */
export function testAuth(): { mode: 'on'; adminToken: string; agentToken: string } {
  return { mode: 'on', adminToken: TEST_ADMIN_TOKEN, agentToken: TEST_AGENT_TOKEN };
}

const INSTALLED = Symbol.for('drover.devkit.fetch');
type Fetch = typeof fetch;
const global = globalThis as typeof globalThis & { [INSTALLED]?: Fetch };

/** fetch without the harness's credential. */
export const rawFetch: Fetch = global[INSTALLED] ?? globalThis.fetch.bind(globalThis);

function isLocalAddress(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === bare));
}

function isLoopback(input: Parameters<Fetch>[0]): boolean {
  try {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    // This machine: loopback, its own hostname (agents register under it by default), or an address
    // of one of its interfaces (the fault tests' masters listen on a bridge they create).
    return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname) || url.hostname === hostname() || isLocalAddress(url.hostname);
  } catch {
    return false;
  }
}

if (global[INSTALLED] === undefined) {
  global[INSTALLED] = rawFetch;
  globalThis.fetch = ((input: Parameters<Fetch>[0], init?: RequestInit) => {
    if (!isLoopback(input)) return rawFetch(input, init);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (headers.has('authorization')) return rawFetch(input, init);
    headers.set('authorization', `token=${TEST_ADMIN_TOKEN}`);
    // A standby's redirect is followed here, keeping the token (fetch drops it across origins);
    // a caller that handles redirects itself gets them unfollowed, as it asked.
    if (init?.redirect === 'manual' || input instanceof Request || (init?.body !== undefined && init.body !== null && typeof init.body !== 'string')) return rawFetch(input, { ...init, headers });
    return fetchFollowing(typeof input === 'string' ? input : input.href, { ...init, headers }, rawFetch);
  }) as Fetch;
}
