/**
 * The life of every task on this agent: launch into a fresh sandbox, watch, kill, recover after an
 * agent restart, and forget once the master has acknowledged its end. Every change of a task's
 * state is checkpointed and becomes a status update (task-status.ts) in the same step.
 *
 * Operations on one task run one after another (a per-task promise chain), so a KILL that arrives
 * while the task is still being launched waits for the launch instead of racing it, and two
 * checkpoint writes of a task never interleave. Different tasks proceed in parallel.
 */
import { join } from 'node:path';
import { canonicalSecretPath, secretFilePathProblem, taskSecretRefs } from '../protocol/mesos/secrets.ts';
import { IMAGE_SECRETS_DIR, removeImageSecretFiles, removeSecretFiles, writeImageSecretFiles, writeSecretFiles, type ImageSecretVolume } from './secret-files.ts';
import { networkInfosStatus, requestedNetworks } from './network/cni.ts';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../log/index.ts';
import type { AgentTask } from '../protocol/mesos/agent-link.ts';
import { isTerminalState } from '../protocol/mesos/enums.ts';
import type { FrameworkInfo, TaskInfo } from '../protocol/mesos/scheduler.ts';
import type { CheckpointStore, RecoveredTask, TaskCheckpoint } from './checkpoint/checkpoint-store.ts';
import type { Containerizer, ExitStatus } from './containerizer/containerizer.ts';
import type { UriFetcher } from './fetcher/fetcher.ts';
import { parseHealthCheck } from './health/health-check-spec.ts';
import { TaskHealthChecks } from './health/task-health-checks.ts';
import type { Clock } from '../clock/clock.ts';
import { declaresVips } from '../protocol/vip-labels.ts';
import { healthLabels } from '../protocol/health-labels.ts';
import type { StatusUpdateManager } from './status-updates/status-update-manager.ts';
import { buildTaskEnv, containerResources } from './task-env.ts';
import { statusUpdate, terminalFields, type StatusFields } from './task-status.ts';
import type { WorkDirLayout } from './work-dir.ts';
import { DroverError } from '../errors/errors.ts';
import { mountTaskVolumes, mountVolumes, taskVolumes } from './persistent-volumes.ts';
import { groupCheckpoint, groupImageVolumes, groupLaunchProblem, killsGroup, prepareGroupSandbox, releaseGroupSandbox, type GroupExecutor, type TaskGroupCheckpoint } from './task-groups.ts';
import { requestedImage } from './containerizer/container-image.ts';
import { requestedVolumes, volumesProblem } from './containerizer/container-volumes.ts';
import { portMappingsProblem, requestedPortMappings, type PortMapping } from './network/cni-bridge.ts';
import type { ContainerImage } from './containerizer/containerizer.ts';
import { parseDockerConfig } from '../images/auth.ts';
import { SANDBOX_IN_CONTAINER } from '../images/runtime.ts';

/** Mesos' default grace between SIGTERM and SIGKILL. */
export const DEFAULT_KILL_GRACE_MS = 3000;
/** Finished tasks kept in memory for /state after their checkpoint is gone. */
const COMPLETED_KEPT = 200;

export interface TaskSupervisorOptions {
  layout: WorkDirLayout;
  checkpoints: CheckpointStore;
  containerizer: Containerizer;
  updates: StatusUpdateManager;
  /** The id the master gave this agent (known before any LAUNCH can arrive). */
  agentId(): string | undefined;
  clock: Clock;
  baseEnv: Readonly<Record<string, string | undefined>>;
  killGracePeriodMs?: number;
  /**
   * How long a task that declares VIPs stays up between TASK_KILLING and its SIGTERM, so every
   * agent's VIP process takes it out of the VIP first (docs/architecture/011-vips.md); default 0.
   */
  vipDrainMs?: number;
  /** Downloads CommandInfo.uris into the sandbox before the task starts (fetcher/). */
  fetcher?: UriFetcher;
  /** The values of a launching task's secret references, from the master (master-link.ts). */
  resolveSecrets?: (frameworkId: string, taskId: string) => Promise<{ values: Map<string, Buffer>; missing: string[] } | { error: string }>;
  /** Who owns a task's secret files: the user it runs as (undefined: the agent's own user). */
  secretFileOwner?: (user: string | undefined) => Promise<{ uid: number; gid: number } | undefined>;
  /** `--host-volume-paths`: the host directories a task's volumes may come from; default none (container-volumes.ts). */
  hostVolumePaths?: readonly string[];
  logger: Logger;
}

export interface SupervisedTask {
  checkpoint: TaskCheckpoint;
  chain: Promise<void>;
}

export class TaskSupervisor {
  private readonly tasks = new Map<string, SupervisedTask>();
  private readonly completedTasks: TaskCheckpoint[] = [];
  private readonly health: TaskHealthChecks;
  private detached = false;
  /** Task groups' network namespaces by networkId: attached (or being attached), and those already released. */
  private readonly groupNets = new Map<string, Promise<NonNullable<TaskGroupCheckpoint['attached']>>>();
  private readonly groupNetsReleased = new Set<string>();
  /** Task groups' persistent volume mounts in their executor sandbox, by that sandbox. */
  private readonly groupMounts = new Map<string, Promise<void>>();

  constructor(private readonly options: TaskSupervisorOptions) {
    this.health = new TaskHealthChecks(options.clock);
  }

  /** Live and not-yet-acknowledged tasks. */
  list(): SupervisedTask[] {
    return [...this.tasks.values()];
  }

  completed(): readonly TaskCheckpoint[] {
    return this.completedTasks;
  }

  /**
   * What `task exec` needs to run a command in a running task: the container (for its
   * namespaces and cgroups), the task's environment, its sandbox and its user. A task id that
   * two frameworks use needs the framework id to tell them apart.
   */
  execTarget(taskId: string, frameworkId?: string): { container: NonNullable<TaskCheckpoint['container']>; env: Record<string, string>; sandbox: string; user?: string } {
    const matches = [...this.tasks.values()].filter((t) => t.checkpoint.taskInfo.task_id.value === taskId && (frameworkId === undefined || t.checkpoint.frameworkId === frameworkId));
    if (matches.length === 0) throw new DroverError('NOT_FOUND', `No task ${taskId} runs on this agent`);
    if (matches.length > 1) throw new DroverError('CONFLICT', `Task id ${taskId} is used by several frameworks: give framework_id`);
    const c = matches[0]!.checkpoint;
    if (c.state !== 'TASK_RUNNING' || c.container === undefined) throw new DroverError('CONFLICT', `Task ${taskId} is ${c.state}, not running`);
    const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
    return { container: c.container, env: this.taskEnv(c), sandbox: c.sandbox, ...(user === undefined || user === '' ? {} : { user }) };
  }

  /** Tasks and frameworks as REGISTER reports them. */
  registration(): { tasks: AgentTask[]; frameworks: FrameworkInfo[] } {
    const tasks: AgentTask[] = [];
    const frameworks = new Map<string, FrameworkInfo>();
    for (const { checkpoint: c } of this.tasks.values()) {
      const task: AgentTask = { framework_id: { value: c.frameworkId }, task_info: c.taskInfo, state: c.state, directory: c.sandbox };
      if (c.latestStatus !== undefined) task.status = c.latestStatus;
      tasks.push(task);
      frameworks.set(c.frameworkId, { ...c.frameworkInfo, id: { value: c.frameworkId } });
    }
    return { tasks, frameworks: [...frameworks.values()] };
  }

  /** Reattaches to the tasks of a previous run of this agent; call before connecting. */
  async recover(recovered: readonly RecoveredTask[]): Promise<void> {
    const withContainer: SupervisedTask[] = [];
    for (const { task, updates } of recovered) {
      this.options.updates.recover(task.frameworkId, task.taskInfo.task_id.value, updates);
      const supervised = this.track(task);
      if (isTerminalState(task.state)) {
        if (updates.length === 0) this.enqueue(supervised, () => this.complete(supervised));
      } else if (task.container === undefined) {
        // The agent died between checkpointing the task and spawning it: the task never ran.
        // Mesos' agent says TASK_DROPPED (TASK_LOST to frameworks that are not PARTITION_AWARE:
        // the master maps it), REASON_AGENT_RESTARTED — not a failure of the task.
        this.enqueue(supervised, () =>
          this.transition(supervised, { state: 'TASK_DROPPED', source: 'SOURCE_AGENT', reason: 'REASON_AGENT_RESTARTED', message: 'Task launched during agent restart: it was never started' }),
        );
      } else {
        withContainer.push(supervised);
      }
    }
    const records = withContainer.map((s) => s.checkpoint.container!);
    const results = new Map((await this.options.containerizer.recover(records)).map((r) => [r.containerId, r]));
    for (const supervised of withContainer) {
      const c = supervised.checkpoint;
      const result = results.get(c.container!.containerId);
      this.options.logger.info({ taskId: c.taskInfo.task_id.value, alive: result?.alive ?? false }, 'task-recovered');
      if (result?.alive) {
        this.watchExit(supervised);
        this.startHealthChecks(supervised);
        // Spawned, but the agent died before it could say so.
        if (c.state === 'TASK_STAGING' || c.state === 'TASK_STARTING') {
          this.enqueue(supervised, () => this.transition(supervised, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', containerId: c.containerId }));
        }
        // Killed while the agent was going down: finish the job.
        if (c.killRequested === true) this.kill(c.frameworkId, c.taskInfo.task_id.value);
      } else {
        const status = result !== undefined && !result.alive ? result.status : {};
        this.enqueue(supervised, () => this.onExit(supervised, status));
      }
    }
    // A group whose tasks all ended while the agent was down: its namespace goes now.
    for (const { task } of recovered) {
      const group = task.taskGroup;
      if ((group?.attached !== undefined || (group?.volumes?.length ?? 0) > 0) && isTerminalState(task.state)) void this.groupEnded(task.frameworkId, group!);
    }
  }

  /** `executor` set: the tasks are one task group (task-groups.ts). */
  launch(frameworkId: string, frameworkInfo: FrameworkInfo, taskInfos: readonly TaskInfo[], executor?: GroupExecutor): void {
    let group: TaskGroupCheckpoint | undefined;
    if (executor !== undefined) {
      const agentId = this.options.agentId() ?? taskInfos[0]?.agent_id.value ?? 'unknown';
      group = groupCheckpoint(executor, taskInfos, this.options.layout.sandbox(agentId, frameworkId, executor.executor_id.value, randomUUID()), randomUUID());
    }
    for (const taskInfo of taskInfos) {
      const taskId = taskInfo.task_id.value;
      if (this.tasks.has(key(frameworkId, taskId))) {
        this.options.logger.warn({ frameworkId, taskId }, 'duplicate-launch-ignored');
        continue;
      }
      const containerId = randomUUID();
      const agentId = this.options.agentId() ?? taskInfo.agent_id.value;
      const supervised = this.track({
        version: 1,
        frameworkId,
        frameworkInfo,
        taskInfo,
        containerId,
        sandbox: this.options.layout.sandbox(agentId, frameworkId, taskId, containerId),
        state: 'TASK_STAGING',
        launchedAtMs: this.options.clock.now(),
        ...(group === undefined ? {} : { taskGroup: group }),
      });
      this.enqueue(supervised, () => this.start(supervised));
    }
  }

  /** KILL from the master. An unknown task is answered TASK_LOST, as the Mesos agent does. */
  kill(frameworkId: string, taskId: string, gracePeriodNs?: number): void {
    const supervised = this.tasks.get(key(frameworkId, taskId));
    if (supervised === undefined) {
      this.options.logger.info({ frameworkId, taskId }, 'kill-of-unknown-task');
      const update = statusUpdate(this.context(frameworkId, taskId), {
        state: 'TASK_LOST',
        source: 'SOURCE_AGENT',
        reason: 'REASON_TASK_UNKNOWN',
        message: 'The agent does not know this task',
      });
      void this.options.updates.add(update, { transient: true });
      return;
    }
    // Marked now, not when this step's turn comes: a launch still queued must not start at all.
    if (supervised.checkpoint.container === undefined) supervised.checkpoint.killRequested = true;
    this.enqueue(supervised, () => this.stop(supervised, gracePeriodNs));
  }

  shutdownFramework(frameworkId: string): void {
    for (const { checkpoint: c } of this.tasks.values()) {
      if (c.frameworkId === frameworkId && !isTerminalState(c.state)) this.kill(frameworkId, c.taskInfo.task_id.value);
    }
  }

  /** Every update of the task was acknowledged: a terminal task's checkpoint can go. */
  onDrained(frameworkId: string, taskId: string): void {
    const supervised = this.tasks.get(key(frameworkId, taskId));
    if (supervised === undefined) return;
    this.enqueue(supervised, async () => {
      if (isTerminalState(supervised.checkpoint.state) && this.options.updates.pending(frameworkId, taskId).length === 0) {
        await this.complete(supervised);
      }
    });
  }

  /** Kills every task and waits until each has reported its end (agent shutdown). */
  async killAll(): Promise<void> {
    for (const { checkpoint: c } of [...this.tasks.values()]) {
      if (!isTerminalState(c.state)) this.kill(c.frameworkId, c.taskInfo.task_id.value);
    }
    await this.idle();
  }

  /** Resolves when no operation on any task is pending. */
  async idle(): Promise<void> {
    // A step may enqueue further steps (an exit after a kill), so wait until a pass finds none.
    for (;;) {
      const chains = [...this.tasks.values()].map((t) => t.chain);
      await Promise.all(chains);
      const after = [...this.tasks.values()].map((t) => t.chain);
      if (after.length === chains.length && after.every((chain, i) => chain === chains[i])) return;
    }
  }

  /** Stops reacting to task exits; the tasks keep running (agent stop). */
  detach(): void {
    this.detached = true;
    this.health.stopAll();
  }

  private track(checkpoint: TaskCheckpoint): SupervisedTask {
    const supervised: SupervisedTask = { checkpoint, chain: Promise.resolve() };
    this.tasks.set(key(checkpoint.frameworkId, checkpoint.taskInfo.task_id.value), supervised);
    return supervised;
  }

  private enqueue(supervised: SupervisedTask, step: () => Promise<void>): void {
    supervised.chain = supervised.chain.then(async () => {
      if (this.detached) return;
      try {
        await step();
      } catch (err) {
        this.options.logger.error({ taskId: supervised.checkpoint.taskInfo.task_id.value, err }, 'task-step-failed');
      }
    });
  }

  private async start(supervised: SupervisedTask): Promise<void> {
    const c = supervised.checkpoint;
    const taskId = c.taskInfo.task_id.value;
    this.options.logger.info({ taskId, frameworkId: c.frameworkId, containerId: c.containerId }, 'launching-task');
    // Checkpoint first: once a process may exist, a restarted agent must know about it.
    await this.options.checkpoints.writeTask(c);
    if (c.killRequested === true) {
      return this.transition(supervised, { state: 'TASK_KILLED', source: 'SOURCE_AGENT', reason: 'REASON_TASK_KILLED_DURING_LAUNCH', message: 'Task killed before it was started' });
    }
    const problem = launchProblem(c.taskInfo, { hostVolumePaths: this.options.hostVolumePaths ?? [] }) ?? (c.taskGroup === undefined ? undefined : groupLaunchProblem(c.taskInfo, c.taskGroup));
    if (problem !== undefined) return this.transition(supervised, problem);
    try {
      await mkdir(c.sandbox, { recursive: true });
    } catch (err) {
      return this.launchFailed(supervised, `Failed to create the sandbox ${c.sandbox}: ${(err as Error).message}`);
    }
    if (c.taskGroup !== undefined) {
      try {
        const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
        const owner = await this.options.secretFileOwner?.(user === '' ? undefined : user);
        if (c.taskGroup.volumes !== undefined && c.taskGroup.volumes.length > 0) await this.groupVolumes(c.taskGroup, owner);
        await prepareGroupSandbox(c.taskInfo, c.taskGroup, c.sandbox, owner);
      } catch (err) {
        return this.launchFailed(supervised, `Failed to prepare the task group's volumes: ${(err as Error).message}`);
      }
    }
    if (taskVolumes(c.taskInfo).length > 0) {
      try {
        const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
        const owner = await this.options.secretFileOwner?.(user === '' ? undefined : user);
        await mountTaskVolumes(c.taskInfo, this.options.layout.root, c.sandbox, owner);
      } catch (err) {
        return this.launchFailed(supervised, `Failed to mount the task's persistent volumes: ${(err as Error).message}`);
      }
    }
    // The group's one network namespace: the first task to get here attaches it, the others join.
    let shared: NonNullable<TaskGroupCheckpoint['attached']> | undefined;
    if (c.taskGroup?.networks !== undefined && c.taskGroup.networks.length > 0) {
      try {
        shared = await this.groupNetworks(c.taskGroup);
      } catch (err) {
        return this.launchFailed(supervised, `Failed to attach the task group's networks (${c.taskGroup.networks.join(', ')}): ${(err as Error).message}`);
      }
      // On disk before any process may be in it: a restarted agent must be able to DEL it.
      await this.options.checkpoints.writeTask(c);
    }
    // Secrets before the fetch: the sandbox is still the agent's alone. Values stay in memory (the
    // launch's environment, the hidden secret files); the checkpoint keeps the references only.
    const secrets = await this.taskSecrets(c);
    if ('error' in secrets) return this.launchFailed(supervised, secrets.error);
    const uris = c.taskInfo.command?.uris ?? [];
    if (uris.length > 0) {
      // Before TASK_STARTING, as in Mesos: the fetch is part of getting the container ready, and
      // runs as the task's user.
      if (this.options.fetcher === undefined) return this.launchFailed(supervised, "This agent has no fetcher for the task's URIs");
      try {
        const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
        await this.options.fetcher.fetch(uris, c.sandbox, user === '' ? undefined : user);
      } catch (err) {
        return this.launchFailed(supervised, (err as Error).message);
      }
      // A KILL that arrived during a long download waited for it; honour it before spawning.
      // (Read through `supervised`: `c.killRequested` is narrowed by the check above, but kill() set it meanwhile.)
      if (supervised.checkpoint.killRequested === true) {
        return this.transition(supervised, { state: 'TASK_KILLED', source: 'SOURCE_AGENT', reason: 'REASON_TASK_KILLED_DURING_LAUNCH', message: 'Task killed before it was started' });
      }
    }
    const requested = requestedImage(c.taskInfo.container);
    if ('error' in requested) return this.launchFailed(supervised, requested.error);
    let image: ContainerImage | undefined = requested.image;
    if (image !== undefined && secrets.pullConfig !== undefined) {
      try {
        image = { ...image, pullSecret: parseDockerConfig(secrets.pullConfig.toString('utf8')) };
      } catch (err) {
        return this.launchFailed(supervised, `The pull secret of the image ${image.reference}: ${(err as Error).message}`);
      }
    }
    const volumes = requestedVolumes(c.taskInfo.container);
    // A group task in an image also gets the group's shared volumes inside its root filesystem.
    const containerVolumes = [
      ...('error' in volumes ? [] : volumes.volumes),
      ...(c.taskGroup === undefined || image === undefined ? [] : groupImageVolumes(c.taskInfo, c.taskGroup)),
      ...secrets.volumes,
    ];
    if (containerVolumes.length > 0 && this.options.containerizer.name !== 'linux')
      return this.launchFailed(supervised, `Volumes need the linux containerizer; this agent runs ${this.options.containerizer.name}`);
    const networks = requestedNetworks(c.taskInfo.container);
    if (networks.length > 0 && this.options.containerizer.name !== 'linux') {
      // Running it on the host network would silently break what the task was promised.
      return this.launchFailed(supervised, `CNI networks (${networks.join(', ')}) need the linux containerizer; this agent runs ${this.options.containerizer.name}`);
    }
    // STARTING is checkpointed while the container starts, not before: the writes to the task's
    // files then coalesce with RUNNING's when they overlap (see AtomicJsonWriter). Its update is
    // queued first, so the order holds.
    const starting = this.transition(supervised, {
      state: 'TASK_STARTING',
      source: 'SOURCE_EXECUTOR',
      containerId: c.containerId,
      ...(image === undefined ? {} : { message: `Provisioning the image ${image.reference}` }),
    });
    const pullProgress = this.pullProgressUpdates(supervised, image?.reference ?? '', starting);
    try {
      const env = this.taskEnv(c, secrets.env);
      // An image task's user is CommandInfo.user alone; the image's User comes before the framework's.
      const user = image === undefined ? (c.taskInfo.command?.user ?? c.frameworkInfo.user) : c.taskInfo.command?.user;
      c.container = await this.options.containerizer.launch({
        containerId: c.containerId,
        sandbox: c.sandbox,
        command: c.taskInfo.command ?? {},
        env,
        ...(user === undefined || user === '' ? {} : { user }),
        ...(image === undefined ? {} : { image, frameworkUser: c.frameworkInfo.user }),
        resources: containerResources(c.taskInfo.resources),
        ...(networks.length === 0 ? {} : { networks }),
        ...(shared === undefined ? {} : { sharedNetns: shared.netns }),
        ...(containerVolumes.length === 0 ? {} : { volumes: containerVolumes }),
        ...portMappingsOf(c.taskInfo.container),
        ...(image === undefined ? {} : { onPullProgress: pullProgress.report }),
        ...(requestsPrivileged(c.taskInfo.container) ? { privileged: true } : {}),
      });
    } catch (err) {
      await pullProgress.settled();
      return this.launchFailed(supervised, `Failed to launch the task: ${(err as Error).message}`);
    }
    await pullProgress.settled();
    this.watchExit(supervised);
    const attached = c.container.networks ?? shared?.networks;
    await this.transition(supervised, {
      state: 'TASK_RUNNING',
      source: 'SOURCE_EXECUTOR',
      containerId: c.containerId,
      ...(attached === undefined ? {} : { networkInfos: networkInfosStatus(attached) }),
    });
    this.startHealthChecks(supervised);
    this.options.logger.info({ taskId, pid: c.container.pid }, 'launched-task');
  }

  /**
   * TASK_STARTING updates while an image is pulled, at most one a second (and the last one when
   * the pull is done), saying `Pulling the image R: D of T MB (P%)`; each after the one before, all
   * before whatever comes next (`settled`).
   */
  private pullProgressUpdates(supervised: SupervisedTask, reference: string, first: Promise<void>): { report: (p: { done: number; total: number }) => void; settled: () => Promise<void> } {
    const c = supervised.checkpoint;
    let chain = first;
    let lastSentMs = Number.NEGATIVE_INFINITY;
    const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
    const report = (p: { done: number; total: number }): void => {
      const now = this.options.clock.now();
      const finished = p.done >= p.total;
      if (!finished && now - lastSentMs < 1000) return;
      lastSentMs = now;
      const percent = p.total === 0 ? 100 : Math.floor((100 * p.done) / p.total);
      const message = `Pulling the image ${reference.slice(0, 300)}: ${mb(p.done)} of ${mb(p.total)} MB (${percent}%)`;
      chain = chain.then(() =>
        c.state === 'TASK_STARTING' && c.killRequested !== true ? this.transition(supervised, { state: 'TASK_STARTING', source: 'SOURCE_EXECUTOR', containerId: c.containerId, message }) : undefined,
      );
    };
    return { report, settled: () => chain };
  }

  /**
   * Resolves the task's secret references through the master and writes its secret files;
   * `{error}` names what is missing (never a value) for the task's TASK_FAILED.
   */
  private async taskSecrets(c: TaskCheckpoint): Promise<{ env: Map<string, string>; pullConfig?: Buffer; volumes: ImageSecretVolume[] } | { error: string }> {
    const refs = taskSecretRefs(c.taskInfo);
    if (refs.env.length === 0 && refs.files.length === 0 && refs.pullConfig === undefined) return { env: new Map(), volumes: [] };
    const requested = requestedImage(c.taskInfo.container);
    const inImage = 'image' in requested && requested.image !== undefined;
    for (const f of refs.files) {
      const problem = secretFilePathProblem(f.containerPath, { image: inImage });
      if (problem !== undefined) return { error: `Secret volume ${f.containerPath}: ${problem}` };
    }
    if (this.options.resolveSecrets === undefined) return { error: 'This agent cannot resolve secrets' };
    const resolved = await this.options.resolveSecrets(c.frameworkId, c.taskInfo.task_id.value);
    if ('error' in resolved) return resolved;
    if (resolved.missing.length > 0) return { error: `Secret${resolved.missing.length > 1 ? 's' : ''} ${resolved.missing.join(', ')} not found in the secret store` };
    const value = (path: string) => resolved.values.get(canonicalSecretPath(path));
    const env = new Map<string, string>();
    for (const e of refs.env) env.set(e.name, value(e.path)?.toString('utf8') ?? '');
    let volumes: ImageSecretVolume[] = [];
    try {
      const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
      const owner = await this.options.secretFileOwner?.(user === '' ? undefined : user);
      const files = refs.files.map((f) => ({ containerPath: f.containerPath, value: value(f.path) ?? Buffer.alloc(0) }));
      // Relative paths: files in the sandbox; absolute ones (in an image): a tmpfs bound into its root.
      await writeSecretFiles(
        c.sandbox,
        files.filter((f) => !f.containerPath.startsWith('/')),
        owner,
      );
      volumes = await writeImageSecretFiles(
        c.sandbox,
        files.filter((f) => f.containerPath.startsWith('/')),
        owner,
      );
    } catch (err) {
      return { error: `Failed to write the task's secret files: ${(err as Error).message}` };
    }
    const pullConfig = refs.pullConfig === undefined ? undefined : value(refs.pullConfig);
    return { env, volumes, ...(pullConfig === undefined ? {} : { pullConfig }) };
  }

  /** The secret files of live tasks, for the files API to refuse (secret-files.ts). */
  secretFiles(): string[] {
    const out: string[] = [];
    for (const { checkpoint: c } of this.tasks.values()) {
      for (const f of taskSecretRefs(c.taskInfo).files) out.push(f.containerPath.startsWith('/') ? join(c.sandbox, IMAGE_SECRETS_DIR) : join(c.sandbox, f.containerPath));
    }
    return out;
  }

  private taskEnv(c: TaskCheckpoint, secrets?: ReadonlyMap<string, string>): Record<string, string> {
    // In an image the host's environment (PATH above all) means nothing: the image's Env goes
    // under the task's own (images/runtime.ts), and the sandbox is where the task sees it.
    const requested = requestedImage(c.taskInfo.container);
    const inImage = c.container?.image !== undefined || ('image' in requested && requested.image !== undefined);
    return buildTaskEnv({
      ...(secrets === undefined ? {} : { secrets }),
      base: inImage ? {} : this.options.baseEnv,
      command: c.taskInfo.command,
      sandbox: inImage ? SANDBOX_IN_CONTAINER : c.sandbox,
      taskId: c.taskInfo.task_id.value,
      agentId: this.options.agentId() ?? c.taskInfo.agent_id.value,
      frameworkId: c.frameworkId,
      resources: c.taskInfo.resources,
    });
  }

  /**
   * Health results become TASK_RUNNING updates carrying `healthy` (and the check's record in
   * labels, src/protocol/health-labels.ts), only when health changes. The
   * agent never kills an unhealthy task: the scheduler decides.
   */
  private startHealthChecks(supervised: SupervisedTask): void {
    const c = supervised.checkpoint;
    if (this.detached) return;
    const user = c.taskInfo.command?.user ?? c.frameworkInfo.user;
    const container = c.container;
    // COMMAND checks run inside the task, as the task (its user, capabilities, seccomp filter).
    const probeHost = (container?.networks ?? c.taskGroup?.attached?.networks)?.[0]?.ipAddresses[0];
    const commandArgv = container === undefined ? undefined : (argv: string[]) => this.options.containerizer.execArgv(container, { argv, ...(user === undefined || user === '' ? {} : { user }) });
    const target = {
      key: key(c.frameworkId, c.taskInfo.task_id.value),
      healthCheck: c.taskInfo.health_check,
      sandbox: c.sandbox,
      env: this.taskEnv(c),
      ...(commandArgv === undefined ? {} : { commandArgv }),
      // A task on a CNI network is checked at its address there (its own namespace's, or its group's).
      ...(probeHost === undefined ? {} : { host: probeHost }),
    };
    this.health.start(target, (report) =>
      this.enqueue(supervised, async () => {
        if (c.state !== 'TASK_RUNNING' || c.killRequested === true) return;
        this.options.logger.info({ taskId: c.taskInfo.task_id.value, healthy: report.healthy, message: report.message }, 'task-health-changed');
        const reason = 'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED';
        const labels = healthLabels(report.record);
        await this.transition(supervised, { state: 'TASK_RUNNING', source: 'SOURCE_EXECUTOR', reason, healthy: report.healthy, message: report.message, labels, containerId: c.containerId });
      }),
    );
  }

  private launchFailed(supervised: SupervisedTask, message: string): Promise<void> {
    this.options.logger.warn({ taskId: supervised.checkpoint.taskInfo.task_id.value, message }, 'task-launch-failed');
    return this.transition(supervised, { state: 'TASK_FAILED', source: 'SOURCE_AGENT', reason: 'REASON_CONTAINER_LAUNCH_FAILED', message });
  }

  private async stop(supervised: SupervisedTask, gracePeriodNs: number | undefined): Promise<void> {
    const c = supervised.checkpoint;
    if (isTerminalState(c.state) || c.container === undefined) return;
    c.killRequested = true;
    this.health.stop(key(c.frameworkId, c.taskInfo.task_id.value));
    const killingState = c.frameworkInfo.capabilities?.some((cap) => cap.type === 'TASK_KILLING_STATE') === true;
    if (killingState && c.state !== 'TASK_KILLING') {
      await this.transition(supervised, { state: 'TASK_KILLING', source: 'SOURCE_EXECUTOR', containerId: c.containerId });
      // TASK_KILLING takes the task out of every VIP (src/agent/vip/table.ts); the signal waits
      // until that had time to reach the agents, so no new connection is sent to a closing task.
      const drainMs = this.options.vipDrainMs ?? 0;
      if (drainMs > 0 && declaresVips(c.taskInfo.discovery)) {
        this.options.logger.info({ taskId: c.taskInfo.task_id.value, drainMs }, 'draining-task-from-vips');
        await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, drainMs));
      }
    } else {
      await this.options.checkpoints.writeTask(c);
    }
    const ns = gracePeriodNs ?? c.taskInfo.kill_policy?.grace_period?.nanoseconds;
    const graceMs = ns === undefined ? (this.options.killGracePeriodMs ?? DEFAULT_KILL_GRACE_MS) : Math.round(ns / 1e6);
    this.options.logger.info({ taskId: c.taskInfo.task_id.value, graceMs }, 'killing-task');
    await this.options.containerizer.kill(c.containerId, graceMs);
  }

  private watchExit(supervised: SupervisedTask): void {
    this.options.containerizer.wait(supervised.checkpoint.containerId).then(
      (status) => this.enqueue(supervised, () => this.onExit(supervised, status)),
      (err: unknown) => this.options.logger.error({ err }, 'task-wait-failed'),
    );
  }

  private async onExit(supervised: SupervisedTask, status: ExitStatus): Promise<void> {
    const c = supervised.checkpoint;
    this.health.stop(key(c.frameworkId, c.taskInfo.task_id.value));
    if (isTerminalState(c.state)) return;
    const fields = terminalFields(status, c.killRequested === true, c.containerId);
    this.options.logger.info({ taskId: c.taskInfo.task_id.value, state: fields.state, ...status }, 'task-ended');
    await this.transition(supervised, fields);
  }

  /** Records the new state and queues its update; both are on disk when this resolves. */
  private async transition(supervised: SupervisedTask, fields: StatusFields): Promise<void> {
    const c = supervised.checkpoint;
    // A group task's volume mounts go before its end is recorded: nothing may delete a sandbox
    // (and through a mount, the shared or host directory) while they are in place.
    if (hasMounts(c) && isTerminalState(fields.state)) await this.releaseMounts(c);
    const update = statusUpdate({ ...this.context(c.frameworkId, c.taskInfo.task_id.value), directory: c.sandbox }, fields);
    c.state = fields.state;
    c.latestStatus = update.status;
    // A secret file lives as long as its task, as Mesos' secret tmpfs does.
    const secretFiles = isTerminalState(fields.state) ? taskSecretRefs(c.taskInfo).files : [];
    if (secretFiles.length > 0)
      await removeSecretFiles(
        c.sandbox,
        secretFiles.filter((f) => !f.containerPath.startsWith('/')).map((f) => f.containerPath),
      ).catch(() => undefined);
    if (secretFiles.some((f) => f.containerPath.startsWith('/'))) await removeImageSecretFiles(c.sandbox);
    // fsynced only when terminal (CheckpointStore.writeTask says why).
    await Promise.all([this.options.checkpoints.writeTask(c, isTerminalState(fields.state)), this.options.updates.add(update)]);
    if (c.taskGroup !== undefined && isTerminalState(fields.state) && killsGroup(fields.state)) this.killGroup(c);
    if (c.taskGroup !== undefined && isTerminalState(fields.state)) await this.groupEnded(c.frameworkId, c.taskGroup);
  }

  /** The executor's persistent volumes in its sandbox, mounted once for all the group's tasks (task-groups.ts). */
  private groupVolumes(group: TaskGroupCheckpoint, owner: { uid: number; gid: number } | undefined): Promise<void> {
    let mounting = this.groupMounts.get(group.executorSandbox);
    if (mounting === undefined) {
      mounting = (async () => {
        await mkdir(group.executorSandbox, { recursive: true });
        await mountVolumes(group.volumes ?? [], this.options.layout.root, group.executorSandbox, owner);
      })();
      this.groupMounts.set(group.executorSandbox, mounting);
      mounting.catch(() => this.groupMounts.delete(group.executorSandbox));
    }
    return mounting;
  }

  /** The group's namespace, attached once for all its tasks (task-groups.ts). */
  private groupNetworks(group: TaskGroupCheckpoint): Promise<NonNullable<TaskGroupCheckpoint['attached']>> {
    const id = group.networkId ?? group.executorId;
    let attaching = this.groupNets.get(id);
    if (attaching === undefined) {
      const containerizer = this.options.containerizer;
      if (containerizer.attachGroupNetworks === undefined) return Promise.reject(new Error(`CNI networks need the linux containerizer; this agent runs ${containerizer.name}`));
      attaching =
        group.attached !== undefined
          ? Promise.resolve(group.attached)
          : containerizer.attachGroupNetworks(`group-${id}`, group.networks ?? [], group.portMappings ?? []).then((a) => {
              // The tasks launched together share this object; each checkpoint carries it from now on.
              group.attached = a;
              return a;
            });
      this.groupNets.set(id, attaching);
    }
    return attaching;
  }

  /**
   * Once every task of the group has ended: its persistent volumes are unmounted from the executor
   * sandbox (their data stays), and its namespace goes (DEL on each network).
   */
  private async groupEnded(frameworkId: string, group: TaskGroupCheckpoint): Promise<void> {
    const tasks = group.taskIds.map((taskId) => this.tasks.get(key(frameworkId, taskId)));
    if (tasks.some((t) => t !== undefined && !isTerminalState(t.checkpoint.state))) return;
    if (group.volumes !== undefined && group.volumes.length > 0) {
      this.groupMounts.delete(group.executorSandbox);
      await releaseGroupSandbox(group.executorSandbox).catch((err: unknown) => this.options.logger.warn({ err, sandbox: group.executorSandbox }, 'group-volumes-unmount-failed'));
    }
    const id = group.networkId ?? group.executorId;
    if (group.networks === undefined || group.networks.length === 0 || this.groupNetsReleased.has(id)) return;
    // Any task's copy: after a restart each checkpoint has its own, and the one that attached has it.
    const attached = group.attached ?? tasks.find((t) => t?.checkpoint.taskGroup?.attached !== undefined)?.checkpoint.taskGroup?.attached;
    const attaching = this.groupNets.get(id);
    if (attached === undefined && attaching === undefined) return;
    this.groupNetsReleased.add(id);
    const networks = attached ?? (await attaching!.catch(() => undefined));
    this.groupNets.delete(id);
    if (networks === undefined) return;
    await this.options.containerizer.detachGroupNetworks?.(`group-${id}`, networks.networks).catch((err: unknown) => this.options.logger.warn({ err, id }, 'group-networks-not-detached'));
  }

  /** A task of a group failed or was killed: the others go too (the default executor's rule). */
  private killGroup(c: TaskCheckpoint): void {
    for (const taskId of c.taskGroup?.taskIds ?? []) {
      const sibling = this.tasks.get(key(c.frameworkId, taskId));
      if (sibling === undefined || sibling === this.tasks.get(key(c.frameworkId, c.taskInfo.task_id.value))) continue;
      if (isTerminalState(sibling.checkpoint.state) || sibling.checkpoint.killRequested === true) continue;
      this.options.logger.info({ taskId, cause: c.taskInfo.task_id.value, state: c.state }, 'killing-task-group-sibling');
      this.kill(c.frameworkId, taskId);
    }
  }

  private async releaseMounts(c: TaskCheckpoint): Promise<void> {
    await releaseGroupSandbox(c.sandbox).catch((err: unknown) => this.options.logger.warn({ err, sandbox: c.sandbox }, 'task-group-unmount-failed'));
  }

  private async complete(supervised: SupervisedTask): Promise<void> {
    const c = supervised.checkpoint;
    // Again here: an agent that died between a task's end and its unmount left them behind.
    if (hasMounts(c)) await this.releaseMounts(c);
    const taskId = c.taskInfo.task_id.value;
    this.tasks.delete(key(c.frameworkId, taskId));
    this.completedTasks.push(c);
    if (this.completedTasks.length > COMPLETED_KEPT) this.completedTasks.shift();
    await this.options.checkpoints.removeTask(c.frameworkId, taskId);
    this.options.logger.info({ taskId, state: c.state }, 'task-completed');
  }

  private context(frameworkId: string, taskId: string): { frameworkId: string; taskId: string; agentId: string; nowMs: number } {
    const agentId = this.options.agentId() ?? this.tasks.get(key(frameworkId, taskId))?.checkpoint.taskInfo.agent_id.value ?? 'unknown';
    return { frameworkId, taskId, agentId, nowMs: this.options.clock.now() };
  }
}

/** Why a task cannot be run by this agent at all, as the status to answer with. */
export function launchProblem(task: TaskInfo, options: { hostVolumePaths?: readonly string[] } = {}): StatusFields | undefined {
  if (task.executor !== undefined) {
    return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: 'Custom executors are not supported by this agent' };
  }
  const image = requestedImage(task.container);
  if ('error' in image) return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: image.error };
  const volumes = requestedVolumes(task.container);
  const volumeProblem = 'error' in volumes ? volumes.error : volumesProblem(volumes.volumes, { allowedHostPaths: options.hostVolumePaths ?? [], image: image.image !== undefined });
  if (volumeProblem !== undefined) return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: volumeProblem };
  const ports = requestedPortMappings(task.container);
  const portProblem = 'error' in ports ? ports.error : portMappingsProblem(ports.mappings, task.resources, requestedNetworks(task.container));
  if (portProblem !== undefined) return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: portProblem };
  // An image may say what to run (Entrypoint, Cmd); the containerizer refuses if neither does.
  if (image.image === undefined && (task.command?.value === undefined || task.command.value === '')) {
    return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: 'The task has no command to run' };
  }
  if (task.health_check !== undefined) {
    const parsed = parseHealthCheck(task.health_check);
    if (!parsed.ok) return { state: 'TASK_ERROR', source: 'SOURCE_AGENT', reason: 'REASON_TASK_INVALID', message: parsed.error };
  }
  return undefined;
}

/** NetworkInfo.port_mappings as the containerizer takes them (validated by launchProblem). */
function portMappingsOf(container: unknown): { portMappings?: PortMapping[] } {
  const ports = requestedPortMappings(container);
  return 'error' in ports || ports.mappings.length === 0 ? {} : { portMappings: ports.mappings };
}

/** ContainerInfo.docker.privileged (Mesos' field; Marathon's `container.docker.privileged`). */
export function requestsPrivileged(container: unknown): boolean {
  return (container as { docker?: { privileged?: unknown } } | undefined)?.docker?.privileged === true;
}

/** Group volumes and persistent volumes are bind mounts in the sandbox, unmounted when the task ends. */
function hasMounts(c: TaskCheckpoint): boolean {
  return c.taskGroup !== undefined || taskVolumes(c.taskInfo).length > 0;
}

function key(frameworkId: string, taskId: string): string {
  return `${frameworkId.length}:${frameworkId}/${taskId}`;
}
