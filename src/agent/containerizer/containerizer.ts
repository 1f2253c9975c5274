/**
 * The Containerizer contract: how the agent starts, watches, stops and re-finds the processes of
 * its tasks. ProcessContainerizer (`posix`: plain processes) and LinuxContainerizer (`linux`:
 * namespaces and cgroups, linux/) implement it; both run the one contract suite in
 * test/agent-containerizer.test.ts.
 *
 * Rules every implementation keeps:
 * - A container outlives the agent. `detach()` (agent stop or crash) must leave every process
 *   running; only `kill` ends a container early.
 * - `launch` resolves once the process exists, with a ContainerRecord the agent checkpoints; from
 *   that record alone, a new containerizer instance (after an agent restart) can `recover` it.
 * - `wait` resolves exactly once per container with how it ended; `{}` means "ended, status
 *   unknown" (it died while no agent was watching and left no record of its exit).
 * - `kill` signals the whole container (every process of the task, not just the first), gives it
 *   `gracePeriodMs` to exit after SIGTERM, then SIGKILLs it; it resolves once the container ended.
 */
import type { ContainerRecord } from '../checkpoint/checkpoint-store.ts';
import type { DockerConfig } from '../../images/auth.ts';
import type { ContainerVolume } from './container-volumes.ts';
import type { PortMapping } from '../network/cni-bridge.ts';
import type { AttachedNetwork } from '../network/cni.ts';

export type { ContainerRecord };

export interface ContainerLaunchSpec {
  containerId: string;
  /** Directory that already exists; becomes the cwd, and receives `stdout` and `stderr`. */
  sandbox: string;
  /** Shell form (`shell` unset or true): `/bin/sh -c value`. Exec form: `value` with `arguments[1..]`. */
  command: { value?: string; shell?: boolean; arguments?: string[] };
  /** The complete environment (see task-env.ts); nothing is inherited besides it. */
  env: Record<string, string>;
  /**
   * Who the task runs as (CommandInfo.user, else FrameworkInfo.user). Containerizers that cannot
   * switch users (ProcessContainerizer) run every task as the agent's user.
   */
  user?: string;
  /** The task's scalar resources, for containerizers that enforce limits. */
  resources?: { cpus?: number; memMb?: number };
  /** CNI networks by name (ContainerInfo.network_infos); only the linux containerizer joins them. */
  networks?: string[];
  /** Host port → container port forwards on those networks (NetworkInfo.port_mappings; network/cni-bridge.ts). */
  portMappings?: PortMapping[];
  /**
   * A network namespace made before for several containers (a task group's, attachGroupNetworks):
   * the task starts in it; it outlives the task. Not with `networks`.
   */
  sharedNetns?: string;
  /**
   * ContainerInfo.docker.privileged: the task keeps root's capabilities, has no seccomp filter and
   * sees the kernel files unmasked. The linux containerizer refuses it unless its agent was
   * started with --allow-privileged; the posix containerizer confines nothing in the first place.
   */
  privileged?: boolean;
  /**
   * ContainerInfo.mesos.image (or a DOCKER container's docker.image): the task runs in that image's
   * root filesystem, pulled into the agent's layer store first (linux containerizer only). Its
   * command then follows the image's Entrypoint/Cmd by Mesos' rules (src/images/runtime.ts), and
   * `env` is the task's own (the image's Env goes under it).
   */
  image?: ContainerImage;
  /**
   * FrameworkInfo.user, for an image task, where `user` is CommandInfo.user alone: the image's own
   * non-root User comes between the two (docs/architecture/000-map.md, "images").
   */
  frameworkUser?: string;
  /** Called while the image is pulled: compressed bytes done of its total (TASK_STARTING's message). */
  onPullProgress?: (progress: { done: number; total: number }) => void;
  /** Host and sandbox volumes (ContainerInfo.volumes; container-volumes.ts), already allowed by the agent's --host-volume-paths. */
  volumes?: ContainerVolume[];
}

export interface ContainerImage {
  /** `[host[:port]/]name[:tag][@digest]`. */
  reference: string;
  /** Ask the registry even when the image is stored (Image.cached false, forcePullImage). */
  force?: boolean;
  /** A pull secret: a Docker config.json (Image.docker.config, Marathon's pullConfig). */
  pullSecret?: DockerConfig;
}

export interface ExitStatus {
  /** Set when the task exited normally. */
  exitCode?: number;
  /** Set when the task was ended by a signal, e.g. 'SIGSEGV'. */
  signal?: string;
  /** Set when the container ended because it hit a limit the containerizer enforces. */
  limitation?: 'memory';
}

export type RecoveredContainer = { containerId: string; alive: true } | { containerId: string; alive: false; status: ExitStatus };

export interface Containerizer {
  /** Short name for logs and /state ('process', 'linux'). */
  readonly name: string;
  /** Starts the task; rejects (and leaves nothing running) if it could not be started. */
  launch(spec: ContainerLaunchSpec): Promise<ContainerRecord>;
  /** How the container ended; the same promise for every caller. Rejects for an unknown id. */
  wait(containerId: string): Promise<ExitStatus>;
  /** SIGTERM the whole container, SIGKILL after the grace period; resolves when it has ended. */
  kill(containerId: string, gracePeriodMs: number): Promise<void>;
  /** Re-finds containers from their records after an agent restart. */
  recover(records: readonly ContainerRecord[]): Promise<RecoveredContainer[]>;
  /** Stops watching every container and leaves them running (the agent is stopping). */
  detach(): Promise<void>;
  /**
   * The command line that runs `argv` inside a live container (`task exec`): in its namespaces
   * and cgroups where the containerizer has them, as the task's user. The caller spawns it with
   * the task's environment and the sandbox as working directory. Rejects when the container is
   * not running.
   */
  execArgv(record: ContainerRecord, options: { user?: string; argv: readonly string[] }): Promise<string[]>;
  /**
   * A network namespace of its own (`drover-<id>`) on these CNI networks, for several containers
   * to join (ContainerLaunchSpec.sharedNetns); containerizers without CNI networks lack it.
   */
  attachGroupNetworks?(id: string, networks: readonly string[], portMappings: readonly PortMapping[]): Promise<{ netns: string; networks: AttachedNetwork[] }>;
  /** Undoes attachGroupNetworks (once no container is in the namespace). */
  detachGroupNetworks?(id: string, networks: readonly AttachedNetwork[]): Promise<void>;
}
