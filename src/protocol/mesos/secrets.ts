/**
 * Secrets in Mesos messages: a task names a secret by its path in the cluster's secret store
 * (Mesos `Secret` of type REFERENCE), never by value, so a TaskInfo can be kept, checkpointed and
 * shown without leaking it. The agent resolves the references when it launches the task.
 *
 *   environment variable  {name, type: 'SECRET', secret: {type: 'REFERENCE', reference: {name: PATH}}}
 *   file (secret volume)  container.volumes[] {container_path, mode: 'RO', source: {type: 'SECRET', secret: {…}}}
 *
 * Also the one rule for secret paths (DC/OS': `/dev/db-password`), used by the store, the API and
 * the frameworks alike. Pure.
 */
import Type, { type Static } from 'typebox';

/** A secret path is at most this long (DC/OS does not say; bounded because it reaches keys and logs). */
export const MAX_SECRET_PATH = 512;
/** One path segment: letters, digits, '.', '_', '-'; never '.' or '..' alone. */
const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

export const SecretJson = Type.Object({
  // Only references: a VALUE secret would put the value into every copy of the TaskInfo.
  type: Type.Literal('REFERENCE'),
  reference: Type.Object({ name: Type.String({ minLength: 1, maxLength: MAX_SECRET_PATH }), key: Type.Optional(Type.String({ maxLength: 256 })) }),
});
export type SecretJson = Static<typeof SecretJson>;

/** Why `path` is not a secret path, or undefined. Accepts `a/b` and `/a/b` (the same secret). */
export function secretPathProblem(path: string): string | undefined {
  if (path.length === 0) return 'a secret path cannot be empty';
  if (path.length > MAX_SECRET_PATH) return `a secret path is at most ${MAX_SECRET_PATH} characters`;
  const segments = path.replace(/^\//, '').split('/');
  for (const segment of segments) {
    if (segment === '') return 'a secret path has no empty segments (no "//", no trailing "/")';
    if (segment === '.' || segment === '..') return `'${segment}' is not allowed in a secret path`;
    if (!SEGMENT.test(segment)) return "a secret path's segments are letters, digits, '.', '_' and '-' (at most 128 each)";
  }
  return undefined;
}

/** The canonical form of a valid secret path: a leading slash (`db/pw` → `/db/pw`). */
export function canonicalSecretPath(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

export function secretReference(path: string): SecretJson {
  return { type: 'REFERENCE', reference: { name: canonicalSecretPath(path) } };
}

export function secretEnvVariable(name: string, path: string): { name: string; type: 'SECRET'; secret: SecretJson } {
  return { name, type: 'SECRET', secret: secretReference(path) };
}

export function secretVolume(containerPath: string, path: string): Record<string, unknown> {
  return { container_path: containerPath, mode: 'RO', source: { type: 'SECRET', secret: secretReference(path) } };
}

/**
 * A file a secret is written to: relative to the sandbox, or — in a container image only — an
 * absolute path inside the image's root (Mesos' secret volumes of a task with an image; the agent
 * binds the file there from a tmpfs, agent/secret-files.ts).
 */
export const MAX_SECRET_FILE_PATH = 1024;
export function secretFilePathProblem(containerPath: string, options: { image?: boolean } = {}): string | undefined {
  if (containerPath.length === 0 || containerPath.length > MAX_SECRET_FILE_PATH) return `must be 1 to ${MAX_SECRET_FILE_PATH} characters`;
  // Without a container image there is no container root to mount into: the file lives in the
  // sandbox, as Mesos requires of secret volumes of tasks without an image.
  const absolute = containerPath.startsWith('/');
  if (absolute && options.image !== true) return 'must be relative to the sandbox: an absolute path needs a container image (docker.image or ucr.image)';
  const segments = (absolute ? containerPath.slice(1) : containerPath).split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') return "must not contain empty, '.' or '..' segments";
    if (segment.includes('\0')) return 'must not contain a NUL byte';
  }
  if (!absolute && segments[0] === '.secrets') return "'.secrets' in the sandbox is the agent's (secret files of tasks in images)";
  if (absolute && (segments[0] === 'proc' || segments[0] === 'dev' || containerPath === '/mnt/mesos/sandbox' || containerPath.startsWith('/mnt/mesos/sandbox/')))
    return 'must not be under /proc, /dev or /mnt/mesos/sandbox (the container runtime mounts those; name a path relative to the sandbox instead)';
  return undefined;
}

export interface TaskSecretRefs {
  env: Array<{ name: string; path: string }>;
  files: Array<{ containerPath: string; path: string }>;
  /** The pull secret of the task's image (ContainerInfo.mesos.image.docker.config by reference). */
  pullConfig?: string;
}

interface LooseTaskInfo {
  command?: { environment?: { variables?: ReadonlyArray<{ name: string; type?: string; secret?: { reference?: { name?: string } } }> } };
  container?: Record<string, unknown>;
}

/** The secret references of a TaskInfo: environment variables and secret volumes. */
export function taskSecretRefs(task: LooseTaskInfo): TaskSecretRefs {
  const env: TaskSecretRefs['env'] = [];
  for (const v of task.command?.environment?.variables ?? []) {
    const path = v.secret?.reference?.name;
    if (v.type === 'SECRET' && typeof path === 'string') env.push({ name: v.name, path });
  }
  const files: TaskSecretRefs['files'] = [];
  const volumes = task.container?.['volumes'];
  if (Array.isArray(volumes)) {
    for (const volume of volumes as Array<Record<string, unknown>>) {
      const source = volume?.['source'] as { type?: unknown; secret?: { reference?: { name?: unknown } } } | undefined;
      const path = source?.secret?.reference?.name;
      if (source?.type === 'SECRET' && typeof path === 'string' && typeof volume['container_path'] === 'string') files.push({ containerPath: volume['container_path'], path });
    }
  }
  const config = (task.container?.['mesos'] as { image?: { docker?: { config?: { type?: unknown; reference?: { name?: unknown } } } } } | undefined)?.image?.docker?.config;
  const pullConfig = config?.type === 'REFERENCE' && typeof config.reference?.name === 'string' ? config.reference.name : undefined;
  return { env, files, ...(pullConfig === undefined ? {} : { pullConfig }) };
}

/** Every secret path a task names, once each. */
export function taskSecretPaths(task: LooseTaskInfo): string[] {
  const refs = taskSecretRefs(task);
  return [...new Set([...refs.env.map((e) => e.path), ...refs.files.map((f) => f.path), ...(refs.pullConfig === undefined ? [] : [refs.pullConfig])])];
}
