/**
 * Marathon's and Metronome's secrets, shared by both frameworks (pure):
 *
 *   "secrets": {"s1": {"source": "/dev/db-password"}}          declarations: a name → a store path
 *   "env": {"DB_PW": {"secret": "s1"}}                          an environment variable from one
 *   volumes: [{"containerPath": "pw", "secret": "s1"}]          a file (in the sandbox) from one
 *   volumes: [{"containerPath": "/mnt/pw", "secret": "s1"}]     with an image: a file in its root
 *
 * Definitions keep these references only; the TaskInfo carries Mesos secret references
 * (src/protocol/mesos/secrets.ts) and the agent resolves them at launch. Validation follows
 * Marathon's (`references an undefined secret`, at the env entry's path). A source that names no
 * secret in the store is accepted, as Marathon on DC/OS does — Marathon does not read the store:
 * the task fails at launch with "Secret /x not found", is retried with backoff, and the
 * deployment finishes once the secret is created.
 */
import type { ErrorDetail } from '../../errors/errors.ts';
import { secretEnvVariable, secretFilePathProblem, secretPathProblem, secretVolume } from '../../protocol/mesos/secrets.ts';
import { isHostVolume } from './host-volumes.ts';

export type EnvValue = string | { secret: string };
export type SecretDecls = Record<string, { source: string }>;
/** The secret volumes among an app's or job's volumes (host volumes are host-volumes.ts'). */
export function secretVolumesOf(volumes: readonly unknown[]): SecretVolume[] {
  return volumes.filter((v): v is SecretVolume => typeof v === 'object' && v !== null && typeof (v as { secret?: unknown }).secret === 'string');
}

export interface SecretVolume {
  containerPath: string;
  secret: string;
}

const MAX_SECRETS = 256;
const NAME = /^[A-Za-z0-9._-]{1,256}$/;

/** Errors of a `secrets` map; `base` is where it sits ('' for an app, '/run' for a job). */
export function secretDeclarationErrors(secrets: unknown, base: string): ErrorDetail[] {
  if (secrets === undefined) return [];
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets)) return [{ path: `${base}/secrets`, errors: ['must be an object of name → {"source": path}'] }];
  const entries = Object.entries(secrets as Record<string, unknown>);
  if (entries.length > MAX_SECRETS) return [{ path: `${base}/secrets`, errors: [`at most ${MAX_SECRETS} secrets`] }];
  const out: ErrorDetail[] = [];
  for (const [name, decl] of entries) {
    const at = `${base}/secrets/${name}`;
    if (!NAME.test(name)) out.push({ path: at, errors: ["a secret's name is 1 to 256 letters, digits, '.', '_' or '-'"] });
    const source = decl && typeof decl === 'object' && !Array.isArray(decl) ? (decl as Record<string, unknown>)['source'] : undefined;
    if (typeof source !== 'string') {
      out.push({ path: `${at}/source`, errors: ['is required: the path of a secret in the store, e.g. /dev/db-password'] });
      continue;
    }
    const unknown = Object.keys(decl as object).filter((k) => k !== 'source');
    if (unknown.length > 0) out.push({ path: `${at}/${unknown[0]}`, errors: ['unknown property'] });
    const problem = secretPathProblem(source);
    if (problem !== undefined) out.push({ path: `${at}/source`, errors: [problem] });
  }
  return out;
}

/** Env entries that reference an undeclared secret (Marathon: `/env/NAME/secret`). */
export function envSecretErrors(env: Record<string, EnvValue> | undefined, secrets: SecretDecls | undefined, base: string): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  for (const [name, value] of Object.entries(env ?? {})) {
    if (typeof value === 'string') continue;
    if (!Object.hasOwn(secrets ?? {}, value.secret)) out.push({ path: `${base}/env/${name}/secret`, errors: [`references an undefined secret named '${value.secret}'`] });
  }
  return out;
}

/**
 * Volumes: only secret volumes (`{containerPath, secret}`) are run today; `at` is the volumes'
 * path (`/container/volumes`, `/run/volumes`); `image`: the app or job runs in a container image
 * (an absolute containerPath is then a path in its root).
 */
export function secretVolumeErrors(volumes: unknown, secrets: SecretDecls | undefined, at: string, options: { image?: boolean } = {}): ErrorDetail[] {
  if (volumes === undefined || volumes === null) return [];
  if (!Array.isArray(volumes)) return [{ path: at, errors: ['must be an array'] }];
  if (volumes.length > MAX_SECRETS) return [{ path: at, errors: [`at most ${MAX_SECRETS} volumes`] }];
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const [i, volume] of volumes.entries()) {
    const v = (volume && typeof volume === 'object' && !Array.isArray(volume) ? volume : {}) as Record<string, unknown>;
    if (isHostVolume(v)) continue; // host-volumes.ts
    if (v['secret'] === undefined) {
      out.push({
        path: `${at}/${i}`,
        errors: ['this volume kind is not supported yet (persistent and external volumes); secret ({"containerPath", "secret"}) and host ({"containerPath", "hostPath", "mode"}) volumes are'],
      });
      continue;
    }
    const unknown = Object.keys(v).filter((k) => k !== 'containerPath' && k !== 'secret');
    if (unknown.length > 0) out.push({ path: `${at}/${i}/${unknown[0]}`, errors: ['unknown property of a secret volume'] });
    const secret = v['secret'];
    if (typeof secret !== 'string') out.push({ path: `${at}/${i}/secret`, errors: ['must be the name of a secret'] });
    else if (!Object.hasOwn(secrets ?? {}, secret)) out.push({ path: `${at}/${i}/secret`, errors: [`references an undefined secret named '${secret}'`] });
    const containerPath = v['containerPath'];
    if (typeof containerPath !== 'string') {
      out.push({ path: `${at}/${i}/containerPath`, errors: ['is required'] });
      continue;
    }
    const problem = secretFilePathProblem(containerPath, options);
    if (problem !== undefined) out.push({ path: `${at}/${i}/containerPath`, errors: [problem] });
    else if (seen.has(containerPath)) out.push({ path: `${at}/${i}/containerPath`, errors: ['another volume has this containerPath'] });
    seen.add(containerPath);
  }
  return out;
}

/** The TaskInfo parts: SECRET environment variables and Mesos secret volumes (references only). */
export function secretTaskParts(
  env: Record<string, EnvValue>,
  secrets: SecretDecls,
  volumes: readonly SecretVolume[],
): { variables: Array<ReturnType<typeof secretEnvVariable>>; volumes: Array<Record<string, unknown>> } {
  const variables: Array<ReturnType<typeof secretEnvVariable>> = [];
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === 'string') continue;
    const decl = secrets[value.secret];
    if (decl !== undefined) variables.push(secretEnvVariable(name, decl.source));
  }
  const mesosVolumes = volumes.flatMap((v) => {
    const decl = secrets[v.secret];
    return decl === undefined ? [] : [secretVolume(v.containerPath, decl.source)];
  });
  return { variables, volumes: mesosVolumes };
}

/** The plain (non-secret) entries of an env map. */
export function plainEnv(env: Record<string, EnvValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (typeof value === 'string') out[name] = value;
  return out;
}
