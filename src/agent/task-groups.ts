/**
 * Task groups (Mesos LAUNCH_GROUP run by the default executor), the layer above the containerizer:
 *
 * - Every task of a group is its own container (own cgroup, own sandbox) started by the
 *   supervisor as any task is; what makes them a group is recorded in each task's checkpoint
 *   (`taskGroup`), so a restarted agent recovers the group whole.
 * - One network namespace: the default executor's. Without CNI networks that is the host's, so
 *   the tasks reach each other on localhost and share one port space (Mesos' host networking).
 *   With networks in `executor.container.network_infos` it is one CNI namespace of the group's
 *   own, `drover-group-<networkId>`: attached when the first task starts (with the executor's
 *   port mappings), joined by every task of the group (one IP, localhost between them), and
 *   detached when the last one has ended. Its tasks name no networks of their own.
 * - One shared sandbox: the executor's directory (Mesos' executor sandbox). A task volume
 *   `{source: {type: SANDBOX_PATH, sandbox_path: {type: PARENT, path}}, container_path}` puts
 *   `<executor sandbox>/<path>` at `<task sandbox>/<container_path>`; a HOST_PATH volume puts a
 *   host directory there. Each is a bind mount made on the host before the task starts (the
 *   linux launcher binds the sandbox recursively, so the task sees it; a symbolic link would
 *   lead out of the only writable, visible part of its mount namespace) and unmounted when the
 *   task ends. Without an image, read-only volumes and absolute container paths are refused (they
 *   need a root filesystem of the task's own); a task in an image gets its shared volumes bound a
 *   second time by the containerizer, at any path of its root filesystem, read-only if asked
 *   (groupImageVolumes), and its host volumes from the containerizer alone.
 * - Persistent volumes in the executor's resources (a pod's, Mesos' default executor's) are
 *   bind-mounted at `<executor sandbox>/<container_path>` once for the group, before its first task
 *   starts, so its SANDBOX_PATH volumes reach them; they are unmounted when its last task has ended
 *   (the data stays in the volume's directory, persistent-volumes.ts).
 * - Fate sharing: a task that ends in any terminal state but TASK_FINISHED (exit 0) kills the
 *   others (they report TASK_KILLED), as the default executor does.
 */
import { execFile } from 'node:child_process';
import { mkdir, chown, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isAbsolute, join, normalize } from 'node:path';
import type { TaskInfo } from '../protocol/mesos/scheduler.ts';
import { isTerminalState, type TaskState } from '../protocol/mesos/enums.ts';
import type { StatusFields } from './task-status.ts';
import { requestedImage } from './containerizer/container-image.ts';
import { type ContainerVolume, volumePathProblem } from './containerizer/container-volumes.ts';
import type { TaskGroupCheckpoint } from './checkpoint/task-group-checkpoint.ts';
import { portMappingsProblem, requestedPortMappings } from './network/cni-bridge.ts';
import { requestedNetworks } from './network/cni.ts';
import { volumesOf } from './persistent-volumes.ts';
import type { ResourceJson } from '../protocol/mesos/scheduler.ts';

export type { TaskGroupCheckpoint };

export interface GroupExecutor {
  executor_id: { value: string };
  container?: Record<string, unknown>;
  resources?: unknown;
}

const MAX_PATH = 4096;

/** `networkId` names the group's network namespace (a fresh UUID per group). */
export function groupCheckpoint(executor: GroupExecutor, tasks: readonly TaskInfo[], executorSandbox: string, networkId: string): TaskGroupCheckpoint {
  const networks = requestedNetworks(executor.container);
  const volumes = volumesOf(Array.isArray(executor.resources) ? (executor.resources as ResourceJson[]) : []);
  const base = { executorId: executor.executor_id.value, taskIds: tasks.map((t) => t.task_id.value), executorSandbox, ...(volumes.length === 0 ? {} : { volumes }) };
  if (networks.length === 0) return base;
  // The group's host ports are those of all its tasks (each endpoint's port is in its container's resources).
  const requested = requestedPortMappings(executor.container);
  const problem =
    'error' in requested
      ? requested.error
      : portMappingsProblem(
          requested.mappings,
          tasks.flatMap((t) => (Array.isArray(t.resources) ? t.resources : [])),
          networks,
        );
  const mappings = 'error' in requested ? [] : requested.mappings;
  return {
    ...base,
    networks,
    networkId,
    ...(mappings.length === 0 ? {} : { portMappings: mappings }),
    ...(problem === undefined ? {} : { networkProblem: `the executor's ${problem}` }),
  };
}

/** A task volume as the links below need it. */
export interface LinkVolume {
  /** Relative to the task's sandbox. */
  containerPath: string;
  /** Absolute: where the link leads. */
  target: string;
  /** SANDBOX_PATH volumes: the shared directory is created if missing. */
  create: boolean;
  /**
   * A task in an image: the shared directory is bound at a hidden place in its sandbox
   * (containerPath above), and from there by the containerizer at the path the task asked for,
   * inside its root filesystem (absolute, or relative to /mnt/mesos/sandbox), read-only if asked.
   */
  inImage?: { containerPath: string; readOnly: boolean };
}

/** Where an image task's shared volume i is bound in its sandbox before the containerizer takes it. */
const HIDDEN_VOLUMES = '.volumes';

/** A relative path that stays inside its base, or why not. */
function relativeProblem(path: unknown, what: string): string | undefined {
  if (typeof path !== 'string' || path === '') return `${what} must be a non-empty string`;
  if (path.length > MAX_PATH) return `${what} is longer than ${MAX_PATH} characters`;
  if (path.includes('\0')) return `${what} contains a NUL character`;
  if (isAbsolute(path)) return `${what} '${path}' is absolute: only paths relative to the sandbox are supported without a container image`;
  if (normalize(path).split('/').includes('..')) return `${what} '${path}' leaves the sandbox`;
  return undefined;
}

/**
 * The task's volumes as links, or why the group cannot run them. Only group tasks use this (single
 * tasks' volumes are not supported by this agent yet).
 */
export function groupVolumes(task: TaskInfo, group: TaskGroupCheckpoint): LinkVolume[] | string {
  const volumes = (task.container as { volumes?: unknown } | undefined)?.volumes;
  if (volumes === undefined) return [];
  if (!Array.isArray(volumes)) return 'ContainerInfo.volumes must be an array';
  if (volumes.length > 256) return 'ContainerInfo.volumes has more than 256 volumes';
  const requested = requestedImage(task.container);
  const image = !('error' in requested) && requested.image !== undefined;
  const out: LinkVolume[] = [];
  for (const [i, raw] of volumes.entries()) {
    const v = raw as { container_path?: unknown; mode?: unknown; host_path?: unknown; source?: { type?: unknown; sandbox_path?: { type?: unknown; path?: unknown }; host_path?: { path?: unknown } } };
    const where = `volume ${i}`;
    if (image) {
      // In its own root filesystem: any path but '/' (checked again by the containerizer), read-only
      // if asked. Host volumes are the containerizer's alone there (container-volumes.ts, under the
      // agent's --host-volume-paths); only the shared sandbox volumes are the group's.
      const problem = volumePathProblem(v.container_path, `${where}: container_path`);
      if (problem !== undefined) return problem;
      if (v.mode !== undefined && v.mode !== 'RO' && v.mode !== 'RW') return `${where}: mode must be RO or RW`;
      if (v.source?.type !== 'SANDBOX_PATH') continue;
      if (v.source.sandbox_path?.type !== 'PARENT') continue;
      const p = relativeProblem(v.source.sandbox_path.path, `${where}: sandbox_path.path`);
      if (p !== undefined) return p;
      out.push({
        containerPath: `${HIDDEN_VOLUMES}/${i}`,
        target: join(group.executorSandbox, normalize(v.source.sandbox_path.path as string)),
        create: true,
        inImage: { containerPath: v.container_path as string, readOnly: v.mode === 'RO' },
      });
      continue;
    }
    const cp = relativeProblem(v.container_path, `${where}: container_path`);
    if (cp !== undefined) return cp;
    if (v.mode === 'RO') return `${where}: read-only volumes need a container image (a bind mount)`;
    const containerPath = normalize(v.container_path as string);
    if (v.source?.type === 'SANDBOX_PATH') {
      if (v.source.sandbox_path?.type !== 'PARENT') return `${where}: only SANDBOX_PATH volumes of type PARENT are supported`;
      const p = relativeProblem(v.source.sandbox_path.path, `${where}: sandbox_path.path`);
      if (p !== undefined) return p;
      out.push({ containerPath, target: join(group.executorSandbox, normalize(v.source.sandbox_path.path as string)), create: true });
      continue;
    }
    const host = v.source?.type === 'HOST_PATH' ? v.source.host_path?.path : v.source === undefined ? v.host_path : undefined;
    if (host === undefined) return `${where}: unsupported volume source ${String(v.source?.type ?? 'none')}`;
    if (typeof host !== 'string' || !isAbsolute(host) || host.length > MAX_PATH || host.includes('\0')) return `${where}: host path must be an absolute path`;
    out.push({ containerPath, target: normalize(host), create: false });
  }
  return out;
}

/**
 * The shared volumes of a group task in an image, as the containerizer's sandbox volumes: from
 * their hidden place in the sandbox (prepareGroupSandbox binds them there) to their container path.
 */
export function groupImageVolumes(task: TaskInfo, group: TaskGroupCheckpoint): ContainerVolume[] {
  const volumes = groupVolumes(task, group);
  if (typeof volumes === 'string') return [];
  return volumes.flatMap((v) => (v.inImage === undefined ? [] : [{ kind: 'sandbox' as const, source: v.containerPath, containerPath: v.inImage.containerPath, readOnly: v.inImage.readOnly }]));
}

/** Why this agent cannot run the group task at all (the supervisor answers with it). */
export function groupLaunchProblem(task: TaskInfo, group: TaskGroupCheckpoint): StatusFields | undefined {
  if (group.networkProblem !== undefined) return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: group.networkProblem };
  if (group.networks !== undefined && group.networks.length > 0 && requestedNetworks(task.container).length > 0) {
    return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: "A task of a group on networks joins its executor's: it names no networks of its own" };
  }
  const volumes = groupVolumes(task, group);
  if (typeof volumes === 'string') return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: volumes };
  return undefined;
}

const run = promisify(execFile);

/** The mount points under `dir` (from /proc/self/mountinfo; octal escapes decoded). */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const path = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path.startsWith(`${dir}/`)) out.push(path);
  }
  return out;
}

/**
 * Creates the shared directory and bind-mounts the task's volumes into its sandbox. Idempotent:
 * a relaunch after a crash finds its mounts in place.
 */
export async function prepareGroupSandbox(task: TaskInfo, group: TaskGroupCheckpoint, sandbox: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  await mkdir(group.executorSandbox, { recursive: true });
  const volumes = groupVolumes(task, group);
  if (typeof volumes === 'string') throw new Error(volumes);
  const mounted = new Set(await mountsUnder(sandbox));
  for (const v of volumes) {
    if (v.create) {
      await mkdir(v.target, { recursive: true });
      if (owner !== undefined) await chown(v.target, owner.uid, owner.gid);
    }
    const at = join(sandbox, v.containerPath);
    if (mounted.has(at)) continue;
    await mkdir(at, { recursive: true });
    await run('mount', ['--bind', v.target, at]);
  }
}

/** Unmounts what prepareGroupSandbox mounted (the task ended): the sandbox can then be deleted safely. */
export async function releaseGroupSandbox(sandbox: string): Promise<void> {
  // Deepest first: a volume mounted inside another volume goes before it.
  for (const mp of (await mountsUnder(sandbox)).sort((a, b) => b.length - a.length)) {
    await run('umount', ['-l', mp]).catch(() => undefined);
  }
}

/** The default executor's rule: which states of one task take its group down (any end but exit 0). */
export function killsGroup(state: TaskState): boolean {
  return isTerminalState(state) && state !== 'TASK_FINISHED';
}
