/**
 * Host and sandbox volumes in the frameworks' APIs (pure): Marathon's and Metronome's
 * `{containerPath, hostPath, mode: RO|RW}` and Chronos' `container.volumes`. An absolute hostPath
 * is a host volume (Mesos HOST_PATH; each agent allows only the directories of its
 * `--host-volume-paths`, and refuses the task otherwise); a relative one is a directory in the
 * task's sandbox (SANDBOX_PATH SELF). An absolute containerPath is inside the task's image, so it
 * needs one; a relative one is in the sandbox.
 */
import type { ErrorDetail } from '../../errors/errors.ts';

export interface HostVolume {
  containerPath: string;
  hostPath: string;
  mode: 'RO' | 'RW';
}

const MAX_PATH = 4096;

/** A host (or sandbox) volume by its shape: hostPath, and none of the other kinds' keys. */
export function isHostVolume(volume: unknown): boolean {
  if (typeof volume !== 'object' || volume === null || Array.isArray(volume)) return false;
  const v = volume as Record<string, unknown>;
  return v['hostPath'] !== undefined && v['secret'] === undefined && v['persistent'] === undefined && v['external'] === undefined;
}

function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'must be a non-empty path';
  if (path.length > MAX_PATH) return `must be at most ${MAX_PATH} characters`;
  if (path.includes('\0')) return 'must not contain a NUL character';
  if (path.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}

/** 422 details for the host volumes among `volumes` (the others are someone else's); `at` is their path. */
export function hostVolumeErrors(volumes: unknown, at: string, hasImage: boolean): ErrorDetail[] {
  if (!Array.isArray(volumes)) return [];
  const out: ErrorDetail[] = [];
  for (const [i, volume] of volumes.entries()) {
    if (!isHostVolume(volume)) continue;
    const v = volume as Record<string, unknown>;
    const unknown = Object.keys(v).filter((k) => k !== 'containerPath' && k !== 'hostPath' && k !== 'mode');
    if (unknown.length > 0) out.push({ path: `${at}/${i}/${unknown[0]}`, errors: ['unknown property of a host volume'] });
    const hostProblem = pathProblem(v['hostPath']);
    if (hostProblem !== undefined) out.push({ path: `${at}/${i}/hostPath`, errors: [hostProblem] });
    const containerPath = v['containerPath'];
    const containerProblem = pathProblem(containerPath);
    if (containerProblem !== undefined) out.push({ path: `${at}/${i}/containerPath`, errors: [containerProblem] });
    else if (!hasImage && (containerPath as string).startsWith('/'))
      out.push({ path: `${at}/${i}/containerPath`, errors: ['an absolute containerPath is inside a container image: give the container an image, or make the path relative to the sandbox'] });
    else if (containerPath === '/' || containerPath === '.') out.push({ path: `${at}/${i}/containerPath`, errors: ['cannot mount a volume over the root or the sandbox itself'] });
    if (v['mode'] !== 'RO' && v['mode'] !== 'RW') out.push({ path: `${at}/${i}/mode`, errors: ['must be RO or RW'] });
  }
  return out;
}

/** The host volumes among `volumes` (validated before). */
export function hostVolumesOf(volumes: unknown): HostVolume[] {
  if (!Array.isArray(volumes)) return [];
  return volumes.filter(isHostVolume).map((v) => {
    const h = v as HostVolume;
    return { containerPath: h.containerPath, hostPath: h.hostPath, mode: h.mode };
  });
}

/** Mesos Volumes: HOST_PATH for an absolute hostPath, SANDBOX_PATH SELF for a relative one. */
export function mesosHostVolumes(volumes: readonly HostVolume[]): Array<Record<string, unknown>> {
  return volumes.map((v) => ({
    container_path: v.containerPath,
    mode: v.mode,
    source: v.hostPath.startsWith('/') ? { type: 'HOST_PATH', host_path: { path: v.hostPath } } : { type: 'SANDBOX_PATH', sandbox_path: { type: 'SELF', path: v.hostPath } },
  }));
}
