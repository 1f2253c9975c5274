/**
 * What the agent writes to disk so that a restarted agent knows everything that was running:
 * its own id, and for every task not yet finished with, the TaskInfo, the framework, the
 * container to reattach to, the last state, and the status updates the master has not
 * acknowledged. Every file is validated when read back (a checkpoint is an input too).
 *
 * A task's checkpoint lives until its terminal update is acknowledged; its sandbox stays after
 * that (for logs) and is garbage-collected separately.
 */
import Type, { type Static } from 'typebox';
import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log/index.ts';
import { AgentStatusUpdate, RegistryMarker } from '../../protocol/mesos/agent-link.ts';
import { TASK_STATES } from '../../protocol/mesos/enums.ts';
import { FrameworkInfo, TaskInfo, TaskStatus } from '../../protocol/mesos/scheduler.ts';
import { compileValidator } from '../../protocol/validation.ts';
import type { WorkDirLayout } from '../work-dir.ts';
import { TaskGroupCheckpoint } from './task-group-checkpoint.ts';
import { AtomicJsonWriter, readJsonFile } from './atomic-json.ts';

export const AgentMeta = Type.Object({
  version: Type.Literal(1),
  agentId: Type.String({ minLength: 1 }),
  /**
   * The machine's boot id when the id was recorded (/proc/sys/kernel/random/boot_id). A different
   * one at start means the machine rebooted: every task died with it, and the agent registers
   * anew. Absent in checkpoints written before it was recorded.
   */
  bootId: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The master store's cluster id and the revision of this agent's last registration there
   * (REGISTERED), sent back on re-registration so a master on an older or replaced store refuses
   * instead of forgetting this agent's tasks (src/master/stale-store.ts).
   */
  registry: Type.Optional(RegistryMarker),
});
export type AgentMeta = Static<typeof AgentMeta>;

/** The containerizer's handle on a launched container: enough to find the process again. */
export const ContainerRecord = Type.Object({
  containerId: Type.String({ minLength: 1 }),
  pid: Type.Integer({ minimum: 1 }),
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22): defeats pid reuse. */
  startTime: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Kernel boot id: after a reboot no recorded pid means anything. */
  bootId: Type.Optional(Type.String()),
  sandbox: Type.String({ minLength: 1 }),
  /** `pid` is the task's pid-namespace init itself (Linux task launcher), not a launcher above it. */
  pidIsInit: Type.Optional(Type.Boolean()),
  /** The task's cgroup directories (Linux containerizer), so a restarted agent can kill and remove them. */
  cgroups: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /** The task's CNI networks (network/cni.ts), so a restarted agent can DEL them at its end. */
  networks: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        ifname: Type.String(),
        ipAddresses: Type.Array(Type.String()),
        // Host port forwards (network/cni-bridge.ts), for the DEL.
        portMappings: Type.Optional(Type.Array(Type.Object({ hostPort: Type.Number(), containerPort: Type.Number(), protocol: Type.String() }))),
      }),
    ),
  ),
  /** The task runs privileged (task-privileges.ts), so `task exec` into it is too. */
  privileged: Type.Optional(Type.Boolean()),
  /** The task has its own user namespace (--user-namespaces), so `task exec` enters it too. */
  userNamespace: Type.Optional(Type.Boolean()),
  /** The image the task runs in (its rootfs is mounted until the container is destroyed). */
  image: Type.Optional(Type.String({ minLength: 1 })),
  /** Who an image task runs as (resolved in its image at launch), so `task exec` runs as the same. */
  imageUser: Type.Optional(Type.Object({ name: Type.String(), uid: Type.Integer({ minimum: 0 }), gid: Type.Integer({ minimum: 0 }) })),
});
export type ContainerRecord = Static<typeof ContainerRecord>;

export const TaskCheckpoint = Type.Object({
  version: Type.Literal(1),
  frameworkId: Type.String({ minLength: 1 }),
  frameworkInfo: FrameworkInfo,
  taskInfo: TaskInfo,
  containerId: Type.String({ minLength: 1 }),
  sandbox: Type.String({ minLength: 1 }),
  state: Type.Enum(TASK_STATES),
  latestStatus: Type.Optional(TaskStatus),
  /** Present once the process was spawned. */
  container: Type.Optional(ContainerRecord),
  /** Set before the first signal is sent, so an agent restarted mid-kill still reports KILLED. */
  killRequested: Type.Optional(Type.Boolean()),
  launchedAtMs: Type.Number(),
  /** Set for a task of a task group (LAUNCH_GROUP): its group, so a restart recovers it whole. */
  taskGroup: Type.Optional(TaskGroupCheckpoint),
});
export type TaskCheckpoint = Static<typeof TaskCheckpoint>;

const UpdatesFile = Type.Object({
  version: Type.Literal(1),
  updates: Type.Array(AgentStatusUpdate),
});

const agentMetaValidator = compileValidator(AgentMeta);
const taskValidator = compileValidator(TaskCheckpoint);
const updatesValidator = compileValidator(UpdatesFile);

export interface RecoveredTask {
  task: TaskCheckpoint;
  updates: AgentStatusUpdate[];
}

export class CheckpointStore {
  private readonly writer = new AtomicJsonWriter();

  constructor(
    private readonly layout: WorkDirLayout,
    private readonly logger: Logger,
  ) {}

  async readAgentId(): Promise<string | undefined> {
    return (await this.readAgentMeta())?.agentId;
  }

  /** The agent's identity checkpoint: its id and the boot id it was recorded under. */
  async readAgentMeta(): Promise<AgentMeta | undefined> {
    const raw = await readJsonFile(this.layout.agentMetaFile);
    if (raw === undefined) return undefined;
    return agentMetaValidator.validate(raw, `invalid agent checkpoint ${this.layout.agentMetaFile}`);
  }

  /** The credential the master issued for this agent id (auth on), if one was kept. */
  async readAgentToken(): Promise<string | undefined> {
    try {
      return (await readFile(this.layout.agentTokenFile, 'utf8')).trim() || undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Kept durably before it is used: a crash between must not leave the agent without its id's credential. */
  writeAgentToken(token: string): Promise<void> {
    return writePrivate(this.layout.agentTokenFile, token);
  }

  /** The agent's TLS key and certificate (TLS bootstrap), where kept. */
  async readAgentTls(): Promise<{ keyPem?: string; certPem?: string }> {
    const read = async (file: string): Promise<string | undefined> => {
      try {
        return (await readFile(file, 'utf8')) || undefined;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    };
    const keyPem = await read(this.layout.agentKeyFile);
    const certPem = await read(this.layout.agentCertFile);
    return { ...(keyPem === undefined ? {} : { keyPem }), ...(certPem === undefined ? {} : { certPem }) };
  }

  /** The key before its CSR is sent (mode 600): the certificate that comes back is for this key. */
  writeAgentKey(keyPem: string): Promise<void> {
    return writePrivate(this.layout.agentKeyFile, keyPem);
  }

  writeAgentCert(certPem: string): Promise<void> {
    return writePrivate(this.layout.agentCertFile, certPem);
  }

  /** The CA bundle a (verified) master told this agent to trust; undefined before any rotation. */
  async readMasterCaBundle(): Promise<string | undefined> {
    try {
      return (await readFile(this.layout.masterCaBundleFile, 'utf8')) || undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  writeMasterCaBundle(bundlePem: string): Promise<void> {
    return writePrivate(this.layout.masterCaBundleFile, bundlePem);
  }

  writeAgentId(agentId: string, bootId?: string, registry?: RegistryMarker): Promise<void> {
    const meta: AgentMeta = { version: 1, agentId, ...(bootId === undefined ? {} : { bootId }), ...(registry === undefined ? {} : { registry }) };
    return this.writer.write(this.layout.agentMetaFile, meta);
  }

  /**
   * After a reboot: the tasks of the agent that ran before died with the machine. Their
   * checkpoints (and unacknowledged updates) go, so no later start recovers them; their
   * sandboxes stay for their logs until sandbox GC takes them.
   */
  async forgetTasks(): Promise<void> {
    await rm(this.layout.frameworksMetaDir, { recursive: true, force: true });
  }

  /**
   * `durable` false: no fsync. The agent's own crash cannot lose it (the page cache outlives the
   * process); only a machine crash can, and that ends the task too — so the states on the way
   * (STARTING, RUNNING, health) need none, while the first checkpoint (the task exists) and the
   * terminal one (how it ended) are fsynced. See docs/architecture/007-launch-path.md.
   */
  writeTask(task: TaskCheckpoint, durable = true): Promise<void> {
    return this.writer.write(this.layout.taskFile(task.frameworkId, task.taskInfo.task_id.value), task, { durable });
  }

  /** `durable` false: no fsync (see writeTask and StatusUpdateManagerOptions.persist). */
  writeUpdates(frameworkId: string, taskId: string, updates: AgentStatusUpdate[], durable = true): Promise<void> {
    return this.writer.write(this.layout.updatesFile(frameworkId, taskId), { version: 1, updates }, { durable });
  }

  removeTask(frameworkId: string, taskId: string): Promise<void> {
    return this.writer.removeDir(this.layout.taskMetaDir(frameworkId, taskId));
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  /**
   * Every checkpointed task. A task whose checkpoint cannot be read is logged and skipped rather
   * than failing the agent: the other tasks must still be reattached, and the master reconciles
   * the missing one as unknown.
   */
  async loadTasks(): Promise<RecoveredTask[]> {
    const recovered: RecoveredTask[] = [];
    for (const taskDir of await this.taskDirs()) {
      try {
        const raw = await readJsonFile(join(taskDir, 'task.json'));
        if (raw === undefined) continue; // crashed before the first write completed: nothing launched
        const task = taskValidator.validate(raw, `invalid task checkpoint in ${taskDir}`);
        recovered.push({ task, updates: await this.loadUpdates(taskDir) });
      } catch (e) {
        this.logger.error({ taskDir, err: e }, 'task-checkpoint-unreadable');
      }
    }
    return recovered;
  }

  /**
   * A task's unacknowledged updates. Unreadable ones (a machine crash after a write that was not
   * fsynced, see writeUpdates) cost only those updates: the task itself is still recovered, and
   * its current state is reported from the task checkpoint.
   */
  private async loadUpdates(taskDir: string): Promise<AgentStatusUpdate[]> {
    try {
      const raw = await readJsonFile(join(taskDir, 'updates.json'));
      return raw === undefined ? [] : updatesValidator.validate(raw, `invalid update checkpoint in ${taskDir}`).updates;
    } catch (e) {
      this.logger.warn({ taskDir, err: e }, 'task-updates-checkpoint-unreadable');
      return [];
    }
  }

  private async taskDirs(): Promise<string[]> {
    const dirs: string[] = [];
    for (const fw of await listDirs(this.layout.frameworksMetaDir)) {
      const tasksDir = join(this.layout.frameworksMetaDir, fw, 'tasks');
      for (const task of await listDirs(tasksDir)) dirs.push(join(tasksDir, task));
    }
    return dirs;
  }
}

async function listDirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Written whole (temp file, fsync, rename), mode 600. */
async function writePrivate(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}
