/**
 * LinuxContainerizer (`--containerizer linux`): each task in its own cgroup (memory, cpu, pids
 * limits; freezer or cgroup.kill to end it whole), its own pid, mount, ipc and uts namespaces, a
 * read-only view of the host filesystem with a writable sandbox and a private /tmp, running as
 * the task's user (default `nobody`) with Docker's default capability set at most, a seccomp
 * filter, no_new_privs and the kernel's sensitive files masked — root included, unless the task
 * is privileged and the agent allows it (task-privileges.ts). See src/agent/README.md ("Linux
 * containerizer") and docs/architecture/009-task-privileges.md.
 *
 * It is ProcessContainerizer with three hooks filled in, so spawning detached, the exit file,
 * pid identity and recovery are the same code the contract suite already holds to its promises:
 * - prepare: resolve the user, chown the sandbox, create the cgroup, build the launch command
 *   (launch-command.ts);
 * - signal: SIGTERM reaches every process of the cgroup (not only the process group, which a
 *   task can leave with setsid); SIGKILL kills the cgroup as a whole;
 * - finish: kill anything left, read the OOM counter (→ `limitation: 'memory'`), remove the
 *   cgroup.
 */
import { chown, lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../../log/index.ts';
import type { ContainerLaunchSpec, ContainerRecord, ExitStatus, RecoveredContainer } from '../containerizer.ts';
import { EXIT_FILE } from '../exit-status.ts';
import { ProcessContainerizer, type PreparedLaunch } from '../process-containerizer.ts';
import { applyCpuQuota, cgroupPids, createTaskCgroup, detectCgroupLayout, killCgroup, oomKills, procsFiles, removeTaskCgroup, type CgroupLayout } from './cgroups.ts';
import { findLinuxTools, linuxExecArgv, linuxLaunchArgv, type LinuxTools } from './launch-command.ts';
import { resolveTaskUser, type TaskUser } from './task-user.ts';
import { launcherUnavailable, TaskLauncher, type UserNamespaceRange } from './launcher.ts';
import { confineConfig } from './confine.ts';
import { WRAPPER_SCRIPT } from '../exit-status.ts';
import { type AttachedNetwork, CniNetworks, DEFAULT_CNI_OPTIONS, type CniOptions } from '../../network/cni.ts';
import type { PortMapping } from '../../network/cni-bridge.ts';
import { DroverError } from '../../../errors/errors.ts';
import type { LayerStore } from '../../../images/layer-store.ts';
import { RootfsProvisioner } from '../../../images/rootfs.ts';
import { SANDBOX_IN_CONTAINER } from '../../../images/runtime.ts';
import { EXIT_FILE_IN_CONTAINER, prepareImage, type PreparedImage } from './image-launch.ts';
import { resolveVolumes, type ResolvedVolume } from '../container-volumes.ts';

/** Who a task runs as when nobody says (Marathon's --mesos_user is the framework-side analogue). */
export const DEFAULT_TASK_USER = 'nobody';

/** Default pids.max: plenty for a service, a wall against a fork bomb. */
export const DEFAULT_PIDS_MAX = 4096;

export interface LinuxContainerizerOptions {
  logger: Logger;
  pollIntervalMs?: number;
  pidsMax?: number;
  /** The user when neither CommandInfo.user nor FrameworkInfo.user names one; default `nobody`. */
  defaultUser?: string;
  /**
   * `--allow-privileged`: run tasks that ask to be privileged (ContainerInfo.docker.privileged).
   * Default false: such a task fails to launch, saying why. Who may *ask* is the permission
   * check's business (Identity); this is the agent owner's say on whether it can happen at all.
   */
  allowPrivileged?: boolean;
  /**
   * `--host-volume-paths`: the host directories a task's host volumes may come from (checked
   * again here on the real path, links resolved). Default none: no task mounts a host path.
   */
  hostVolumePaths?: readonly string[];
  /** Where CNI configs and plugins are; default DEFAULT_CNI_OPTIONS. Used only by tasks asking for networks. */
  cni?: CniOptions;
  /**
   * Start tasks through the Perl task launcher (launcher.ts) when this machine can; false: the
   * util-linux command chain (launch-command.ts) from the agent's own process. Default true.
   */
  launcher?: boolean;
  /**
   * Also cap each task's CPU time at `cpus × period` with a hard CFS quota (Mesos'
   * `--cgroups_enable_cfs`). Default false: tasks get CPU shares (a weight) only, so an idle
   * machine lends its spare cycles and a task asking for 0.01 cpus still starts in milliseconds.
   * See docs/architecture/008-cpu-limits.md.
   */
  cfsQuota?: boolean;
  /**
   * `--user-namespaces`: each unprivileged task in its own user namespace, its uids and gids
   * 0…size-1 mapped to hostUid… and hostGid… on the host, so root in a task is an unprivileged
   * uid outside it (docs/architecture/009-task-privileges.md). Needs the task launcher. Default off.
   */
  userNamespaces?: UserNamespaceRange;
  /**
   * The agent's image store: tasks naming an image are pulled into it and run in an overlay
   * rootfs of its layers (image-launch.ts). Without it such a task fails to launch, saying why.
   */
  images?: LayerStore;
  /** Where rootfs mounts go (`<dir>/provisioner/<container>/rootfs`); the agent's work dir. */
  workDir?: string;
  /**
   * The agent's resolver's resolv.conf (`--dns`), bound over each task's /etc/resolv.conf (task
   * launcher only), for tasks in the host's network namespace.
   */
  resolvConf?: string;
  /**
   * For a task in CNI networks (bridge networking included): the resolv.conf of the agent's
   * resolver as reached from the task's namespace at one of its networks' gateways (the agent's
   * resolver listening there too, src/discovery/agent-dns.ts), or undefined where no gateway is an
   * address of this host (the task keeps the host's resolv.conf).
   */
  resolvConfForGateways?: (gateways: readonly string[]) => Promise<string | undefined>;
}

export class LinuxContainerizer extends ProcessContainerizer {
  override readonly name = 'linux';
  /** Containers being SIGTERMed: a pass signals the processes that appeared in their cgroup. */
  private readonly terminating = new Map<string, () => Promise<void>>();
  /** One timer walks every terminating container, one pass after another (never overlapping). */
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly cni: CniNetworks;
  private readonly launcher: TaskLauncher | undefined;
  private readonly provisioner: RootfsProvisioner | undefined;

  /** Prefer `create`, which detects the layout and tools and checks that they work here. */
  constructor(
    private readonly linux: LinuxContainerizerOptions,
    private readonly layout: CgroupLayout,
    private readonly tools: LinuxTools,
  ) {
    super(linux.pollIntervalMs === undefined ? { logger: linux.logger } : { logger: linux.logger, pollIntervalMs: linux.pollIntervalMs });
    this.cni = new CniNetworks(linux.cni ?? DEFAULT_CNI_OPTIONS);
    const unavailable = linux.launcher === false ? 'turned off' : launcherUnavailable(tools.perl);
    if (unavailable === undefined) this.launcher = new TaskLauncher(tools.perl!, linux.logger);
    else linux.logger.info({ reason: unavailable }, 'task-launcher-unavailable-using-command-chain');
    // Rootfs mounts through the launcher's system calls when it runs (no mount(8) fork per task).
    if (linux.images !== undefined && linux.workDir !== undefined) this.provisioner = new RootfsProvisioner(linux.workDir, linux.images, this.launcher);
    if (tools.perl === undefined || confineConfig() === undefined) {
      // setpriv limits capabilities, but cannot install a filter or mount anything.
      linux.logger.warn(
        { reason: tools.perl === undefined ? 'perl is not installed' : `no system call table for ${process.arch}`, missing: ['seccomp filter', 'masked kernel files'] },
        'tasks-partly-confined',
      );
    }
  }

  /** The task launcher's pid while it runs (for tests and diagnostics). */
  get launcherPid(): number | undefined {
    return this.launcher?.pid;
  }

  /** 'launcher' (launcher.pl) or 'command-chain' (launch-command.ts): how tasks are started. */
  get launchMethod(): 'launcher' | 'command-chain' {
    return this.launcher === undefined ? 'command-chain' : 'launcher';
  }

  /**
   * Checks that this machine can run it (root, util-linux tools, usable cgroups) and throws with
   * the reason if not, so the agent can fall back to the posix containerizer and say why.
   */
  static create(options: LinuxContainerizerOptions): LinuxContainerizer {
    if (process.platform !== 'linux') throw new Error(`not Linux (${process.platform})`);
    if (process.getuid?.() !== 0) throw new Error('not running as root');
    const tools = findLinuxTools();
    const layout = detectCgroupLayout();
    return new LinuxContainerizer(options, layout, tools);
  }

  get cgroupLayout(): CgroupLayout {
    return this.layout;
  }

  protected override async prepare(spec: ContainerLaunchSpec, argv: string[]): Promise<PreparedLaunch> {
    const privileged = spec.privileged === true;
    if (privileged && this.linux.allowPrivileged !== true) {
      throw new DroverError('FORBIDDEN', 'the task asks to be privileged (container.docker.privileged), and this agent does not run privileged tasks: start it with --allow-privileged to allow them');
    }
    let image: PreparedImage | undefined;
    if (spec.image !== undefined) {
      if (this.provisioner === undefined || this.linux.images === undefined)
        throw new DroverError('CONFLICT', `the task asks for the image ${spec.image.reference.slice(0, 200)}, and this agent has no image store`);
      if (this.launcher === undefined) throw new DroverError('CONFLICT', 'container images need the task launcher (perl and a kernel ≥ 5.12); it is unavailable here');
      image = await prepareImage(this.linux.images, this.provisioner, { ...spec, image: spec.image }, this.linux.defaultUser ?? DEFAULT_TASK_USER);
      this.logger.info({ containerId: spec.containerId, image: image.image.reference, user: image.user.name }, 'container-rootfs-provisioned');
    }
    try {
      let volumes: ResolvedVolume[] | undefined;
      if (spec.volumes !== undefined && spec.volumes.length > 0) {
        if (this.launcher === undefined) throw new DroverError('CONFLICT', 'volumes need the task launcher (perl and a kernel ≥ 5.12); it is unavailable here');
        volumes = await resolveVolumes(spec.volumes, {
          sandbox: spec.sandbox,
          allowedHostPaths: this.linux.hostVolumePaths ?? [],
          image: image !== undefined,
          sandboxInContainer: SANDBOX_IN_CONTAINER,
        });
      }
      return await this.prepareProcess(spec, argv, image, volumes);
    } catch (error) {
      if (image !== undefined) await this.provisioner?.destroy(spec.containerId).catch(() => undefined);
      throw error;
    }
  }

  private async prepareProcess(spec: ContainerLaunchSpec, argv: string[], image: PreparedImage | undefined, volumes: ResolvedVolume[] | undefined): Promise<PreparedLaunch> {
    const privileged = spec.privileged === true;
    const resolved = image?.user ?? (await resolveTaskUser(spec.user ?? this.linux.defaultUser ?? DEFAULT_TASK_USER));
    // A privileged task asked for root's powers on the host, which a user namespace takes away.
    const userns = privileged ? undefined : this.linux.userNamespaces;
    const user = userns === undefined ? resolved : inUserNamespace(resolved, userns);
    // The task must be able to write its sandbox: it is fresh, holding only the stdout/stderr
    // just opened and what the fetcher downloaded. In a user namespace its owner is the task's
    // user as the host sees it (root in the task included).
    if (userns !== undefined) await chownTree(spec.sandbox, { ...user, uid: userns.hostUid + user.uid, gid: userns.hostGid + user.gid });
    else if (user.uid !== 0) await chownTree(spec.sandbox, user);
    // (chownTree leaves `.rootfs`, an image's upper dir, to root: the overlay writes there as root.)
    if (userns !== undefined && this.launcher === undefined) {
      throw new DroverError('CONFLICT', 'this agent runs tasks in user namespaces (--user-namespaces), which needs the task launcher (perl and a kernel ≥ 5.12); it is unavailable here');
    }
    const limits = { pidsMax: this.linux.pidsMax ?? DEFAULT_PIDS_MAX, ...spec.resources };
    const cgroups = await createTaskCgroup(this.layout, spec.containerId, limits);
    const cpus = spec.resources?.cpus;
    this.logger.debug({ containerId: spec.containerId, user: user.name, cgroups, limits }, 'container-cgroup-created');
    // Networks only when asked for: otherwise no namespace, no nsenter, the launch as it always was.
    let attached: Awaited<ReturnType<CniNetworks['attach']>> | undefined;
    if (spec.networks !== undefined && spec.networks.length > 0) {
      try {
        if (this.tools.nsenter === undefined) throw new Error("'nsenter' (util-linux) is not installed: no CNI networks");
        attached = await this.cni.attach(spec.containerId, spec.networks, spec.portMappings ?? []);
      } catch (err) {
        await removeTaskCgroup(cgroups);
        throw err;
      }
      this.logger.info({ containerId: spec.containerId, networks: attached.networks }, 'container-networks-attached');
    }
    if (spec.sharedNetns !== undefined && this.tools.nsenter === undefined) {
      await removeTaskCgroup(cgroups);
      throw new Error("'nsenter' (util-linux) is not installed: no CNI networks");
    }
    // The task's own namespace, or its group's (made before, by attachGroupNetworks).
    const netnsPath = attached?.netns ?? spec.sharedNetns;
    const netns = netnsPath === undefined || this.tools.nsenter === undefined ? undefined : { nsenter: this.tools.nsenter, path: netnsPath };
    // The agent's resolver where the task can reach it: on its network's gateway, or on loopback
    // for a task in the host's namespace. A task group's shared namespace keeps the host's file.
    const resolvConf = attached !== undefined ? await this.networkResolvConf(spec.containerId, attached.gateways) : spec.sharedNetns === undefined ? this.linux.resolvConf : undefined;
    const networks = attached?.networks;
    const abort = async (): Promise<void> => {
      await removeTaskCgroup(cgroups);
      if (networks !== undefined) await this.detachNetworks(spec.containerId, networks);
      if (image !== undefined) await this.provisioner?.destroy(spec.containerId).catch((err: unknown) => this.logger.warn({ containerId: spec.containerId, err }, 'container-rootfs-not-destroyed'));
    };
    const record = {
      cgroups,
      pidIsInit: this.launcher !== undefined,
      ...(networks === undefined ? {} : { networks }),
      ...(privileged ? { privileged } : {}),
      ...(userns === undefined ? {} : { userNamespace: true }),
      ...(image === undefined ? {} : { image: image.image.reference, imageUser: { name: image.user.name, uid: image.user.uid, gid: image.user.gid } }),
    };
    const onReady = cpus === undefined || this.linux.cfsQuota !== true ? {} : { onReady: () => applyCpuQuota(cgroups, cpus) };
    const launcher = this.launcher;
    if (launcher !== undefined) {
      const request = {
        sandbox: spec.sandbox,
        uid: user.uid,
        gid: user.gid,
        privileged,
        groups: user.groups ?? [],
        procsFiles: procsFiles(cgroups),
        ...(netnsPath === undefined ? {} : { netns: netnsPath }),
        ...(userns === undefined ? {} : { userNamespace: userns }),
        ...(volumes === undefined ? {} : { volumes }),
        ...(resolvConf === undefined ? {} : { resolvConf }),
        ...(image === undefined
          ? { argv: ['/bin/sh', '-c', WRAPPER_SCRIPT, 'drover-task', join(spec.sandbox, EXIT_FILE), ...argv], env: spec.env }
          : { argv: image.plan.argv, env: image.plan.env, image: { rootfs: image.rootfs.rootfs, workingDir: image.plan.workingDir, exitFile: EXIT_FILE_IN_CONTAINER } }),
      };
      return { argv: [], start: () => launcher.launch(request), record, abort, ...onReady };
    }
    return {
      argv: linuxLaunchArgv({
        tools: this.tools,
        procsFiles: procsFiles(cgroups),
        sandbox: spec.sandbox,
        exitFile: join(spec.sandbox, EXIT_FILE),
        user,
        privileged,
        argv,
        ...(netns === undefined ? {} : { netns }),
      }),
      record,
      abort,
      signalsReady: true,
      ...onReady,
    };
  }

  /** The resolv.conf of a task in CNI networks (LinuxContainerizerOptions.resolvConfForGateways); a failure leaves the host's. */
  private async networkResolvConf(containerId: string, gateways: readonly string[]): Promise<string | undefined> {
    if (this.linux.resolvConfForGateways === undefined || gateways.length === 0) return undefined;
    try {
      return await this.linux.resolvConfForGateways(gateways);
    } catch (err) {
      this.logger.warn({ containerId, gateways, err }, 'container-network-resolver-unavailable');
      return undefined;
    }
  }

  override async execArgv(record: ContainerRecord, options: { user?: string; argv: readonly string[] }): Promise<string[]> {
    if (record.cgroups === undefined) return super.execArgv(record, options);
    const nsenter = this.tools.nsenter;
    if (nsenter === undefined) throw new DroverError('CONFLICT', "'nsenter' (util-linux) is not installed on this agent: exec is unavailable");
    // From the launcher, record.pid is the namespace's init. From the command chain it is unshare,
    // left in the host's pid namespace, and its one child is the init.
    const children = record.pidIsInit === true ? '' : await readFile(`/proc/${record.pid}/task/${record.pid}/children`, 'utf8').catch(() => '');
    const initPid = record.pidIsInit === true ? record.pid : Number(children.trim().split(/\s+/)[0]);
    if (!Number.isInteger(initPid) || initPid <= 0) throw new DroverError('CONFLICT', `container ${record.containerId} is not running`);
    const user = record.imageUser !== undefined ? { ...record.imageUser, groups: [record.imageUser.gid] } : await resolveTaskUser(options.user ?? this.linux.defaultUser ?? DEFAULT_TASK_USER);
    return linuxExecArgv({
      tools: { ...this.tools, nsenter },
      procsFiles: procsFiles(record.cgroups),
      initPid,
      sandbox: record.sandbox,
      user,
      privileged: record.privileged === true,
      userNamespace: record.userNamespace === true,
      ...(record.image === undefined ? {} : { image: { workingDir: SANDBOX_IN_CONTAINER } }),
      argv: options.argv,
    });
  }

  protected override async signal(record: ContainerRecord, signal: NodeJS.Signals): Promise<void> {
    const cgroups = record.cgroups;
    if (cgroups === undefined) return super.signal(record, signal);
    this.stopTerminating(record.containerId);
    if (signal === 'SIGKILL') return killCgroup(cgroups);
    // Until the container ends or is SIGKILLed, every process that appears in the cgroup gets the
    // signal once: a kill right after launch finds only the launcher and the setup stages (an
    // init ignores signals it does not handle), and the command itself must not miss it. The
    // launcher (record.pid, unshare) is spared: it blocks SIGTERM anyway, and it must stay to
    // report how the namespace's PID 1 ended.
    const signalled = new Set<number>([record.pid]);
    const pass = async (): Promise<void> => {
      for (const pid of await cgroupPids(cgroups)) {
        if (signalled.has(pid)) continue;
        signalled.add(pid);
        try {
          process.kill(pid, signal);
        } catch {
          // exited meanwhile
        }
      }
    };
    await pass();
    this.terminating.set(record.containerId, pass);
    this.scheduleSweep();
  }

  /**
   * Every 50 ms, one pass over all terminating containers. A timer per container made a kill of
   * 300 tasks 6,000 cgroup reads a second, which starved the very exits it was waiting for.
   */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.terminating.size === 0) return;
    this.sweepTimer = setTimeout(() => {
      void (async () => {
        for (const [id, pass] of [...this.terminating]) {
          if (this.terminating.get(id) === pass) await pass().catch(() => undefined);
        }
        this.sweepTimer = undefined;
        this.scheduleSweep();
      })();
    }, 50);
    this.sweepTimer.unref();
  }

  /**
   * After an agent restart: rootfs mounts stay where they were (in the agent's mount namespace,
   * and each task has its own copy in its namespace anyway), so live image tasks keep theirs;
   * what a crash left of containers that no longer exist is unmounted and their images released.
   */
  override async recover(records: readonly ContainerRecord[]): Promise<RecoveredContainer[]> {
    if (this.provisioner !== undefined) {
      const gone = await this.provisioner.recover(new Set(records.map((r) => r.containerId))).catch((err: unknown) => {
        this.logger.warn({ err }, 'rootfs-recovery-failed');
        return [];
      });
      if (gone.length > 0) this.logger.info({ containers: gone }, 'stale-rootfs-removed');
    }
    return super.recover(records);
  }

  private async destroyRootfs(containerId: string): Promise<void> {
    try {
      await this.provisioner?.destroy(containerId);
    } catch (err) {
      this.logger.warn({ containerId, err }, 'container-rootfs-not-destroyed');
    }
  }

  override async detach(): Promise<void> {
    for (const id of [...this.terminating.keys()]) this.stopTerminating(id);
    this.launcher?.close();
    await super.detach();
  }

  async attachGroupNetworks(id: string, networks: readonly string[], portMappings: readonly PortMapping[]): Promise<{ netns: string; networks: AttachedNetwork[] }> {
    if (this.tools.nsenter === undefined) throw new Error("'nsenter' (util-linux) is not installed: no CNI networks");
    const attached = await this.cni.attach(id, networks, portMappings);
    this.logger.info({ id, networks: attached.networks }, 'group-networks-attached');
    return attached;
  }

  async detachGroupNetworks(id: string, networks: readonly AttachedNetwork[]): Promise<void> {
    await this.detachNetworks(id, [...networks]);
  }

  /** A failed DEL is logged, not thrown: the task's end must still be reported. */
  private async detachNetworks(containerId: string, networks: NonNullable<ContainerRecord['networks']>): Promise<void> {
    try {
      await this.cni.detach(containerId, networks);
      this.logger.info({ containerId }, 'container-networks-detached');
    } catch (err) {
      this.logger.warn({ containerId, err }, 'container-networks-not-detached');
    }
  }

  private stopTerminating(containerId: string): void {
    this.terminating.delete(containerId);
  }

  protected override async finish(record: ContainerRecord, status: ExitStatus): Promise<ExitStatus> {
    const cgroups = record.cgroups;
    this.stopTerminating(record.containerId);
    // After the processes are gone (PID 1 of the namespace exited): DEL releases the IPs.
    if (record.networks !== undefined) await this.detachNetworks(record.containerId, record.networks);
    if (cgroups === undefined) return status;
    // PID 1 of the namespace is gone, so the kernel is killing the rest; this covers a launcher
    // that died before it could create the namespace.
    await killCgroup(cgroups);
    const ooms = await oomKills(cgroups);
    if (!(await removeTaskCgroup(cgroups))) this.logger.warn({ containerId: record.containerId, cgroups }, 'container-cgroup-not-removed');
    if (record.image !== undefined) await this.destroyRootfs(record.containerId);
    return ooms > 0 ? { ...status, limitation: 'memory' } : status;
  }
}

/**
 * The task's user inside its user namespace: the same ids, which must fall inside the mapped range
 * (a uid outside it cannot be switched to there); supplementary groups outside it are left out.
 */
function inUserNamespace(user: TaskUser, range: UserNamespaceRange): TaskUser {
  if (user.uid >= range.size || user.gid >= range.size) {
    throw new DroverError('FORBIDDEN', `the task's user ${user.name} (uid ${user.uid}, gid ${user.gid}) is outside the ${range.size} ids this agent maps into a task's user namespace`);
  }
  return { ...user, ...(user.groups === undefined ? {} : { groups: user.groups.filter((g) => g < range.size) }) };
}

async function chownTree(dir: string, user: TaskUser, top = true): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir)) {
    if (top && entry === '.rootfs') continue;
    const path = join(dir, entry);
    const stat = await lstat(path);
    if (stat.isDirectory()) await chownTree(path, user, false);
    else if (!stat.isSymbolicLink()) await chown(path, user.uid, user.gid);
  }
}
