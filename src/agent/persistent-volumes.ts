/**
 * Persistent volumes on the agent (Mesos' persistent-volume.md):
 *
 *   <workDir>/meta/resources.json                       the reserved resources and volumes the
 *                                                       master checkpointed here (CHECKPOINT_RESOURCES)
 *   <workDir>/volumes/roles/<role>/<persistence id>/    a volume's data
 *
 * A volume is a directory that outlives its tasks. It is created when the master checkpoints it
 * (CREATE) and deleted only when a later checkpoint no longer lists it (DESTROY) — never by a
 * task's end or the sandbox GC. A task that names the volume in its resources
 * (`disk.persistence.id`, `disk.volume.container_path`) gets it bind-mounted at
 * `<sandbox>/<container_path>` before it starts; the mount goes when the task ends (the task
 * groups' mount handling: task-groups.ts), before anything may delete the sandbox.
 *
 * The agent reports its checkpoint when it registers, so a master that lost its store learns the
 * reservations back from the agents (src/master/reservation-hooks.ts).
 */
import { execFile } from 'node:child_process';
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/index.ts';
import type { ResourceJson, TaskInfo } from '../protocol/mesos/scheduler.ts';
import type { AtomicJsonWriter } from './checkpoint/atomic-json.ts';
import { pathSegment } from './work-dir.ts';

const run = promisify(execFile);

export interface TaskVolume {
  role: string;
  id: string;
  /** Relative to the sandbox. */
  containerPath: string;
}

/** The role of a reserved resource, in either JSON form. */
function roleOf(r: ResourceJson): string | undefined {
  const stack = r.reservations;
  return stack !== undefined && stack.length > 0 ? stack[stack.length - 1]!.role : r.role;
}

/** The persistent volumes a list of resources names; ones without a safe relative path are left out (the master refuses them). */
export function volumesOf(resources: readonly ResourceJson[] | undefined): TaskVolume[] {
  const out: TaskVolume[] = [];
  for (const r of resources ?? []) {
    const id = r.disk?.persistence?.id;
    const containerPath = r.disk?.volume?.container_path;
    const role = roleOf(r);
    if (id === undefined || containerPath === undefined || role === undefined || role === '*') continue;
    if (containerPath.startsWith('/') || containerPath.split('/').some((s) => s === '..' || s === '.' || s === '')) continue;
    out.push({ role, id, containerPath });
  }
  return out;
}

export function taskVolumes(task: TaskInfo): TaskVolume[] {
  return volumesOf(task.resources);
}

export function volumeDir(workDir: string, role: string, id: string): string {
  return join(workDir, 'volumes', 'roles', pathSegment(role), pathSegment(id));
}

/** The mount points under `dir` (from /proc/self/mountinfo; octal escapes decoded). */
async function mountPoints(): Promise<Set<string>> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined) out.add(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  }
  return out;
}

/**
 * Bind-mounts the task's volumes into its sandbox (idempotent: a relaunch after an agent crash
 * finds them in place). The volume's top directory is given to the task's user.
 */
export async function mountTaskVolumes(task: TaskInfo, workDir: string, sandbox: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  await mountVolumes(taskVolumes(task), workDir, sandbox, owner);
}

/** Bind-mounts these volumes at `<dir>/<containerPath>` (idempotent), as mountTaskVolumes. */
export async function mountVolumes(volumes: readonly TaskVolume[], workDir: string, sandbox: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  if (volumes.length === 0) return;
  const mounted = await mountPoints();
  for (const v of volumes) {
    const source = volumeDir(workDir, v.role, v.id);
    await mkdir(source, { recursive: true });
    if (owner !== undefined) await chown(source, owner.uid, owner.gid);
    const at = join(sandbox, v.containerPath);
    if (mounted.has(at)) continue;
    await mkdir(at, { recursive: true });
    await run('mount', ['--bind', source, at]);
  }
}

/** The agent's checkpointed resources: kept in meta/resources.json, applied to the volume directories. */
export class CheckpointedResources {
  private current: ResourceJson[] = [];

  constructor(
    private readonly workDir: string,
    private readonly writer: AtomicJsonWriter,
    private readonly logger: Logger,
  ) {}

  private get file(): string {
    return join(this.workDir, 'meta', 'resources.json');
  }

  /** What the last checkpoint said (empty before any). */
  get resources(): ResourceJson[] {
    return this.current;
  }

  async load(): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as unknown;
      this.current = Array.isArray(parsed) ? (parsed as ResourceJson[]) : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err, file: this.file }, 'checkpointed-resources-unreadable');
      this.current = [];
    }
  }

  /**
   * The master's new list: on disk first, then new volumes get their directories and volumes no
   * longer listed (destroyed) lose theirs with all their data.
   */
  async apply(resources: ResourceJson[]): Promise<void> {
    const before = volumesOf(this.current);
    const after = volumesOf(resources);
    await this.writer.write(this.file, resources);
    this.current = resources;
    const key = (v: TaskVolume): string => `${v.role}\u0000${v.id}`;
    const kept = new Set(after.map(key));
    for (const v of after) await mkdir(volumeDir(this.workDir, v.role, v.id), { recursive: true });
    for (const v of before) {
      if (kept.has(key(v))) continue;
      await rm(volumeDir(this.workDir, v.role, v.id), { recursive: true, force: true });
      this.logger.info({ role: v.role, persistenceId: v.id }, 'persistent-volume-destroyed');
    }
    const created = after.filter((v) => !before.some((b) => key(b) === key(v)));
    for (const v of created) this.logger.info({ role: v.role, persistenceId: v.id }, 'persistent-volume-created');
  }
}
