/**
 * Host and sandbox volumes of a task (Mesos ContainerInfo.volumes; Marathon's and Metronome's
 * `{containerPath, hostPath, mode}`), as the agent reads them:
 *
 *   { container_path, mode, source: { type: HOST_PATH, host_path: { path: "/abs" } } }   host
 *   { container_path, mode, source: { type: SANDBOX_PATH, sandbox_path: { type: SELF, path } } }   sandbox
 *   { container_path, mode, host_path: "/abs" | "rel" }   Mesos' older form: a relative host_path is in the sandbox
 *
 * `container_path` is absolute inside an image's root (a task without an image may only name a
 * path relative to its sandbox), or relative to the sandbox (/mnt/mesos/sandbox in an image).
 * Secret volumes (secret-files.ts) and a task group's PARENT sandbox volumes (task-groups.ts) are
 * someone else's and skipped here.
 *
 * A host path reaches a task only under one of the agent's `--host-volume-paths` (default none):
 * a default install never lets a task touch the host. The check is on the path as given (a
 * TASK_ERROR the framework sees at once) and again on its real path at launch (a symbolic link
 * cannot lead out of the allowed directories).
 */
import { mkdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { DroverError } from '../../errors/errors.ts';

export const MAX_VOLUMES = 64;
const MAX_PATH = 4096;

export interface ContainerVolume {
  kind: 'host' | 'sandbox';
  /** host: an absolute host path; sandbox: a path relative to the task's sandbox. */
  source: string;
  /** Absolute (inside the image) or relative to the sandbox. */
  containerPath: string;
  readOnly: boolean;
}

/** A volume ready for the launcher: a real host path and where it goes. */
export interface ResolvedVolume {
  source: string;
  /** image: absolute inside the rootfs; no image: absolute host path inside the sandbox. */
  target: string;
  readOnly: boolean;
}

type Loose = Record<string, unknown> | undefined;
const object = (value: unknown): Loose => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);

/** Why a path is unusable: too long, NUL, a `..` segment (pure). */
export function volumePathProblem(path: unknown, what: string): string | undefined {
  if (typeof path !== 'string' || path === '') return `${what} must be a non-empty path`;
  if (path.length > MAX_PATH) return `${what} is longer than ${MAX_PATH} characters`;
  if (path.includes('\0')) return `${what} contains a NUL character`;
  if (path.split('/').includes('..')) return `${what} must not contain '..'`;
  return undefined;
}

/** The host and sandbox volumes of a TaskInfo.container, or why they cannot run (pure). */
export function requestedVolumes(container: unknown): { volumes: ContainerVolume[] } | { error: string } {
  const raw = object(container)?.['volumes'];
  if (raw === undefined) return { volumes: [] };
  if (!Array.isArray(raw)) return { error: 'container.volumes must be an array' };
  const volumes: ContainerVolume[] = [];
  for (const [i, entry] of raw.entries()) {
    const at = `container.volumes[${i}]`;
    const v = object(entry);
    if (v === undefined) return { error: `${at} must be an object` };
    const source = object(v['source']);
    const type = source?.['type'];
    if (type === 'SECRET') continue;
    if (type === 'SANDBOX_PATH' && object(source?.['sandbox_path'])?.['type'] === 'PARENT') continue;
    const containerPath = v['container_path'];
    const problem = volumePathProblem(containerPath, `${at}.container_path`);
    if (problem !== undefined) return { error: problem };
    const mode = v['mode'] ?? 'RW';
    if (mode !== 'RO' && mode !== 'RW') return { error: `${at}.mode must be RO or RW` };
    let kind: ContainerVolume['kind'];
    let path: unknown;
    if (type === 'HOST_PATH') {
      kind = 'host';
      path = object(source?.['host_path'])?.['path'];
      if (typeof path === 'string' && !isAbsolute(path)) return { error: `${at}.source.host_path.path must be absolute` };
    } else if (type === 'SANDBOX_PATH') {
      kind = 'sandbox';
      path = object(source?.['sandbox_path'])?.['path'];
      if (typeof path === 'string' && isAbsolute(path)) return { error: `${at}.source.sandbox_path.path must be relative to the sandbox` };
    } else if (type === undefined && v['host_path'] !== undefined) {
      path = v['host_path'];
      kind = typeof path === 'string' && isAbsolute(path) ? 'host' : 'sandbox';
    } else {
      return { error: `${at}: volumes of source type ${String(type ?? 'none').slice(0, 30)} are not supported by this agent (HOST_PATH, SANDBOX_PATH and SECRET are)` };
    }
    const pathProblem = volumePathProblem(path, `${at} host path`);
    if (pathProblem !== undefined) return { error: pathProblem };
    volumes.push({ kind, source: path as string, containerPath: containerPath as string, readOnly: mode === 'RO' });
    if (volumes.length > MAX_VOLUMES) return { error: `container.volumes: at most ${MAX_VOLUMES} host and sandbox volumes` };
  }
  return { volumes };
}

/** `path` is `dir` or inside it (both normalized, absolute). */
export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return path === dir || path.startsWith(d) || dir === '/';
}

/** Why the agent will not run these volumes at all (pure; a TASK_ERROR), or undefined. */
export function volumesProblem(volumes: readonly ContainerVolume[], options: { allowedHostPaths: readonly string[]; image: boolean }): string | undefined {
  for (const v of volumes) {
    if (!options.image && isAbsolute(v.containerPath))
      return `the volume at ${v.containerPath.slice(0, 200)} needs a container image: without one a volume's container path must be relative to the sandbox`;
    if (v.kind !== 'host') continue;
    const normalized = posix.normalize(v.source);
    if (!options.allowedHostPaths.some((dir) => isUnder(normalized, posix.normalize(dir)))) {
      return options.allowedHostPaths.length === 0
        ? `the host volume ${normalized.slice(0, 200)} is refused: this agent lets no task mount host paths (start it with --host-volume-paths DIR,… to allow some)`
        : `the host volume ${normalized.slice(0, 200)} is refused: it is not under this agent's --host-volume-paths (${options.allowedHostPaths.join(', ').slice(0, 300)})`;
    }
  }
  return undefined;
}

/**
 * The volumes' real sources and their targets, at launch: a host path must still be under an
 * allowed directory once its links are resolved, and must exist (Mesos does not create host
 * paths); a sandbox path is created as a directory when missing and must stay in the sandbox.
 */
export async function resolveVolumes(
  volumes: readonly ContainerVolume[],
  options: { sandbox: string; allowedHostPaths: readonly string[]; image: boolean; sandboxInContainer: string },
): Promise<ResolvedVolume[]> {
  const out: ResolvedVolume[] = [];
  const sandboxReal = await realpath(options.sandbox);
  for (const v of volumes) {
    let source: string;
    if (v.kind === 'host') {
      source = await realpath(v.source).catch((err: NodeJS.ErrnoException) => {
        throw new DroverError('NOT_FOUND', `the host volume ${v.source.slice(0, 200)} cannot be used: ${err.code ?? err.message}`);
      });
      const allowed = await Promise.all(options.allowedHostPaths.map((d) => realpath(d).catch(() => undefined)));
      if (!allowed.some((d) => d !== undefined && isUnder(source, d)))
        throw new DroverError('FORBIDDEN', `the host volume ${v.source.slice(0, 200)} resolves to ${source.slice(0, 200)}, outside this agent's --host-volume-paths`);
    } else {
      const wanted = join(sandboxReal, v.source);
      // A missing one is made a directory; an existing file (a secret file, secret-files.ts) is bound as a file.
      if (
        !(await stat(wanted)
          .then((s) => s.isFile())
          .catch(() => false))
      )
        await mkdir(wanted, { recursive: true });
      source = await realpath(wanted);
      if (!isUnder(source, sandboxReal)) throw new DroverError('FORBIDDEN', `the sandbox volume ${v.source.slice(0, 200)} leads out of the sandbox`);
    }
    await stat(source);
    const target = isAbsolute(v.containerPath)
      ? posix.normalize(v.containerPath)
      : options.image
        ? posix.join(options.sandboxInContainer, v.containerPath)
        : posix.join(options.sandbox, v.containerPath);
    if (target === '/' || (!isAbsolute(v.containerPath) && target === (options.image ? options.sandboxInContainer : options.sandbox)))
      throw new DroverError('MALFORMED', `a volume cannot be mounted at ${v.containerPath.slice(0, 200)}`);
    out.push({ source, target, readOnly: v.readOnly });
  }
  return out;
}
