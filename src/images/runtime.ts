/**
 * What a container of an image runs: the task's command combined with the image's Entrypoint,
 * Cmd, Env and WorkingDir by Mesos' docker/runtime isolator rules (docs/docker-runtime.md there):
 *
 *   shell + value          /bin/sh -c value            (Entrypoint and Cmd ignored)
 *   shell, no value        refused
 *   value (no shell)       value argv…                 (Entrypoint and Cmd ignored)
 *   no value, Entrypoint   Entrypoint… argv… (or Entrypoint… Cmd… when there is no argv)
 *   no value, Cmd only     Cmd[0] argv… (or Cmd… when there is no argv)
 *   nothing at all         refused
 *
 * Env: the image's first, the task's over it. WorkingDir: the image's, else the sandbox
 * (`/mnt/mesos/sandbox`, MESOS_SANDBOX), as Mesos does. User: `user[:group]` of the image config,
 * names looked up in the image's own /etc/passwd and /etc/group (`resolveImageUser`). Pure but for
 * that lookup, which reads files under the container's root without following symlinks out.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DroverError } from '../errors/errors.ts';
import type { RuntimeConfig } from './manifest.ts';

export const SANDBOX_IN_CONTAINER = '/mnt/mesos/sandbox';

export interface TaskCommand {
  /** Mesos CommandInfo.shell (default true there): run `value` with /bin/sh -c. */
  shell: boolean;
  value?: string;
  arguments?: readonly string[];
  env?: Readonly<Record<string, string>>;
}

export interface LaunchPlan {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  /** The image's `User`, if it names one; the task's own user wins where the caller has one. */
  imageUser?: string;
}

function refuse(reason: string): DroverError {
  return new DroverError('VALIDATION', `cannot start the image: ${reason}`, { details: [{ path: '/command', errors: [reason] }] });
}

export function launchPlan(image: RuntimeConfig, command: TaskCommand): LaunchPlan {
  const args = [...(command.arguments ?? [])];
  let argv: string[];
  if (command.shell) {
    if (command.value === undefined || command.value === '') throw refuse('a shell command needs a value');
    argv = ['/bin/sh', '-c', command.value];
  } else if (command.value !== undefined && command.value !== '') {
    argv = [command.value, ...args];
  } else if (image.entrypoint !== undefined && image.entrypoint.length > 0) {
    argv = [...image.entrypoint, ...(args.length > 0 ? args : (image.cmd ?? []))];
  } else if (image.cmd !== undefined && image.cmd.length > 0) {
    argv = args.length > 0 ? [image.cmd[0]!, ...args] : [...image.cmd];
  } else {
    throw refuse('neither the task nor the image (Entrypoint, Cmd) says what to run');
  }
  const env: Record<string, string> = {};
  for (const pair of image.env) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  Object.assign(env, command.env ?? {});
  env['MESOS_SANDBOX'] = SANDBOX_IN_CONTAINER;
  return {
    argv,
    env,
    workingDir: image.workingDir ?? SANDBOX_IN_CONTAINER,
    ...(image.user === undefined ? {} : { imageUser: image.user }),
  };
}

const MAX_ACCOUNT_FILE = 1024 * 1024;

/** A file of the container's root, read only if no part of its path is a symlink (which could point at the host). */
async function readInRoot(root: string, path: string): Promise<string | undefined> {
  let at = root;
  for (const part of path.split('/').filter((p) => p !== '')) {
    at = join(at, part);
    const stat = await lstat(at).catch(() => undefined);
    if (stat === undefined || stat.isSymbolicLink()) return undefined;
  }
  const stat = await lstat(at);
  if (!stat.isFile() || stat.size > MAX_ACCOUNT_FILE) return undefined;
  return readFile(at, 'utf8');
}

function lookup(text: string | undefined, name: string): string[] | undefined {
  for (const line of (text ?? '').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return fields;
  }
  return undefined;
}

const numeric = (s: string): boolean => s.length > 0 && s.length <= 10 && [...s].every((c) => c >= '0' && c <= '9');

/** `user`, `uid`, `user:group`, `uid:gid`… of an image config to numbers, names resolved inside the image. */
export async function resolveImageUser(root: string, spec: string): Promise<{ uid: number; gid: number }> {
  if (spec.length > 256) throw refuse('the image User is too long');
  const [user = '', group] = spec.split(':', 2);
  let uid: number;
  let gid: number | undefined;
  if (numeric(user)) {
    uid = Number(user);
    const entry = (await readInRoot(root, 'etc/passwd'))?.split('\n').find((l) => l.split(':')[2] === user);
    gid = entry === undefined ? undefined : Number(entry.split(':')[3]);
  } else {
    const entry = lookup(await readInRoot(root, 'etc/passwd'), user);
    if (entry === undefined || !numeric(entry[2] ?? '') || !numeric(entry[3] ?? '')) throw refuse(`the image's User '${user.slice(0, 64)}' is not in its /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (group !== undefined && group !== '') {
    if (numeric(group)) gid = Number(group);
    else {
      const entry = lookup(await readInRoot(root, 'etc/group'), group);
      if (entry === undefined || !numeric(entry[2] ?? '')) throw refuse(`the image's group '${group.slice(0, 64)}' is not in its /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}
