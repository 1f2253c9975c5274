/**
 * Who a task runs as. The name comes from CommandInfo.user, else FrameworkInfo.user (Mesos'
 * order); it is resolved through `getent passwd`, so NSS sources (LDAP, sssd) work as they do
 * for every other program on the machine. An unknown user is a launch failure the framework sees.
 */
import { execFile } from 'node:child_process';
import { DroverError } from '../../../errors/errors.ts';

export interface TaskUser {
  name: string;
  uid: number;
  gid: number;
  /** Every group the user is in (`id -G`: primary and supplementary), when it was looked up. */
  groups?: number[];
}

/** Pure: one `getent passwd` line (name:x:uid:gid:gecos:home:shell) as a TaskUser. */
export function parsePasswdLine(line: string): TaskUser | undefined {
  const [name, , uid, gid] = line.trim().split(':');
  if (name === undefined || name === '' || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) return undefined;
  return { name, uid: Number(uid), gid: Number(gid) };
}

/**
 * Found users are remembered for a while: a `getent` process per launch cost ~4 ms of the agent's
 * event loop (spawn is synchronous until the child execs), a third of a launch. Unknown users are
 * not cached, so a user created on the machine works at its next launch.
 */
const USER_CACHE_MS = 60_000;
const found = new Map<string, { user: TaskUser; until: number }>();
/** Lookups in flight: 300 launches arriving together wait for one lookup, not start 300. */
const inFlight = new Map<string, Promise<TaskUser>>();

export async function resolveTaskUser(name: string, now: () => number = Date.now): Promise<TaskUser> {
  const cached = found.get(name);
  if (cached !== undefined && cached.until > now()) return cached.user;
  let lookup = inFlight.get(name);
  if (lookup === undefined) {
    lookup = lookUpUser(name).finally(() => inFlight.delete(name));
    inFlight.set(name, lookup);
  }
  const user = await lookup;
  if (found.size > 1000) found.clear();
  found.set(name, { user, until: now() + USER_CACHE_MS });
  return user;
}

async function lookUpUser(name: string): Promise<TaskUser> {
  const user = await lookUpPasswd(name);
  const groups = await lookUpGroups(name);
  return groups === undefined ? user : { ...user, groups };
}

/** `id -G`: the groups initgroups(3) would give the user (NSS included); undefined if it fails. */
function lookUpGroups(name: string): Promise<number[] | undefined> {
  return new Promise((resolve) => {
    execFile('id', ['-G', '--', name], { timeout: 5000 }, (err, stdout) => {
      const groups = err === null ? stdout.trim().split(/\s+/).map(Number) : [];
      resolve(groups.length > 0 && groups.every((g) => Number.isSafeInteger(g) && g >= 0) ? groups : undefined);
    });
  });
}

function lookUpPasswd(name: string): Promise<TaskUser> {
  return new Promise((resolve, reject) => {
    execFile('getent', ['passwd', name], { timeout: 5000 }, (err, stdout) => {
      const user = err === null ? parsePasswdLine(stdout.split('\n')[0] ?? '') : undefined;
      if (user !== undefined) return resolve(user);
      // getent exits 2 for "no such entry"; anything else is a lookup failure worth its message.
      const why = err !== null && (err as { code?: unknown }).code !== 2 ? `: ${err.message}` : '';
      reject(new DroverError('VALIDATION', `unknown user '${name}' on this agent${why}`));
    });
  });
}
