/**
 * The agent: composition of its parts, nothing more.
 *
 *   MasterLink ──events──► Agent ──► TaskSupervisor ──► Containerizer (processes)
 *        ▲                              │
 *        └──UPDATE calls── StatusUpdateManager ◄──┘      CheckpointStore (work dir) under all of it
 *
 * `start()` recovers what a previous run of this agent left in the work dir (its id, its tasks,
 * their unacknowledged updates), reattaches to the tasks still running, opens the HTTP server and
 * connects to the master. `stop()` leaves every task running — that is what an agent restart
 * looks like, and what the next `start()` on the same work dir recovers. `shutdown()` kills them.
 */
import { resolveTaskUser } from './containerizer/linux/task-user.ts';
import { DEFAULT_TASK_USER } from './containerizer/linux/linux-containerizer.ts';
import { masterCallerAuthorizer } from './http/caller-authorizer.ts';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { chmod, mkdir, stat } from 'node:fs/promises';
import type { Logger } from '../log/index.ts';
import type { AgentCall, AgentEvent, AgentInfo, AttributeJson, RegistryMarker } from '../protocol/mesos/agent-link.ts';
import { Resources } from '../resources/index.ts';
import type { BackoffPolicy } from '../clock/backoff.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { RECONNECT_BACKOFF, STATUS_UPDATE_BACKOFF } from './backoff-policies.ts';
import { CheckpointStore, type TaskCheckpoint } from './checkpoint/checkpoint-store.ts';
import type { Containerizer } from './containerizer/containerizer.ts';
import { createContainerizer, type ContainerizerKind } from './containerizer/select.ts';
import type { UserNamespaceRange } from './containerizer/linux/launcher.ts';
import { detectResources } from './default-resources.ts';
import type { FetcherOptions } from './fetcher/fetcher.ts';
import { FetcherProcess } from './fetcher/fetcher-process.ts';
import { startAgentHttp, type AgentHttp } from './http/agent-http.ts';
import type { MesosAgentView } from './http/mesos-agent.ts';
import { LayerStore, type GcLimits } from '../images/layer-store.ts';
import { every, type Repeating } from '../clock/every.ts';
import { Puller, type PullerOptions } from '../images/puller.ts';
import { ttyArgv } from './exec/exec-session.ts';
import { SandboxGc } from './sandbox-gc.ts';
import { DEFAULT_CNI_OPTIONS, type CniOptions } from './network/cni.ts';
import { DEFAULT_BRIDGE_NAME, DEFAULT_BRIDGE_SUBNET } from './network/cni-bridge.ts';
import { DEFAULT_GC_DELAY_MS, DEFAULT_GC_DISK_HEADROOM } from './sandbox-gc-policy.ts';
import { MasterLink, type Registered } from './master-link.ts';
import { X509Certificate } from 'node:crypto';
import { tlsFetch } from '../iam/tls-client.ts';
import { agentIdOf, firstCertificate, renewalTime } from '../iam/tls-identity.ts';
import { StatusUpdateManager } from './status-updates/status-update-manager.ts';
import { TaskSupervisor } from './task-supervisor.ts';
import { isTerminalState } from '../protocol/mesos/enums.ts';
import { WorkDirLayout } from './work-dir.ts';
import type { GroupExecutor } from './task-groups.ts';
import { BOOT_ID_FILE, readBootId, rebootedSince } from './boot-id.ts';
import { CheckpointedResources } from './persistent-volumes.ts';
import { AtomicJsonWriter } from './checkpoint/atomic-json.ts';
import { UsageSampler, type UsageTarget } from './usage-sampler.ts';

export interface AgentOptions {
  /** e.g. http://127.0.0.1:5050 */
  masterUrl: string;
  /** Port of the agent's HTTP server; 0 picks a free one (see `agent.port`). */
  port: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  workDir: string;
  /**
   * What this agent offers, as `--resources` says it: cpus, mem, disk and ports not named here are
   * detected (default-resources.ts), as the Mesos agent does, unless `detectResources` is false.
   */
  resources?: Resources;
  /** Default true; false offers exactly `resources` (simulated agents, tests). */
  detectResources?: boolean;
  attributes?: AttributeJson[];
  /** How the master and UI reach this agent; default the machine's hostname. */
  hostname?: string;
  /** Seconds between heartbeats, instead of the master's heartbeat_interval_seconds. */
  heartbeatIntervalOverride?: number;
  logger: Logger;
  clock?: Clock;
  /**
   * A containerizer instance, or which kind to make: default `linux` when running as root and
   * the machine allows it, else `posix` (containerizer/select.ts).
   */
  containerizer?: Containerizer | ContainerizerKind;
  /** Default RECONNECT_BACKOFF (tests cap it lower). */
  reconnectBackoff?: BackoffPolicy;
  /** Default STATUS_UPDATE_BACKOFF: 10 s doubling to 10 min, as Mesos. */
  statusUpdateBackoff?: BackoffPolicy;
  /** SIGTERM → SIGKILL grace when neither the KILL nor the task says; default 3 s. */
  killGracePeriodMs?: number;
  /** Time a task that declares VIPs gets between TASK_KILLING and SIGTERM (task-supervisor.ts); default 0. */
  vipDrainMs?: number;
  /** How often reattached tasks are checked for exit; default 1 s. */
  recoveryPollIntervalMs?: number;
  /** A REGISTER stream without any event this long is presumed dead. */
  masterSilenceTimeoutMs?: number;
  /**
   * Fetcher limits (download timeout, size caps) and the host directories `file://` URIs may name
   * (`allowedPaths`, default none); the cache lives in `<workDir>/cache/fetcher/<uid>`.
   */
  fetcher?: Pick<FetcherOptions, 'timeoutMs' | 'maxBytes' | 'maxExtractedBytes' | 'maxArchiveEntries' | 'allowedPaths'>;
  /** Environment every task starts from; default this process's environment. */
  baseEnv?: Record<string, string | undefined>;
  /** Finished sandboxes live this long on an empty disk; default one week (sandbox-gc-policy.ts). */
  gcDelayMs?: number;
  /** Fraction of the work dir's disk to keep free; default 0.1. */
  gcDiskHeadroom?: number;
  /** Floor on a finished sandbox's life; default min(gcDelayMs, 5 min). */
  gcMinAgeMs?: number;
  /** How often sandbox GC looks; default 1 min. */
  gcIntervalMs?: number;
  /** CNI config and plugin dirs (linux containerizer, tasks with network_infos); default /etc/drover/cni, /usr/lib/cni. */
  cni?: CniOptions;
  /** `--cgroups-enable-cfs`: a hard CFS quota per task on top of CPU shares; default false. */
  cgroupsEnableCfs?: boolean;
  /** Where the machine's boot id is read (default /proc/sys/kernel/random/boot_id); tests fake a reboot by changing it. */
  bootIdFile?: string;
  /** `--allow-privileged`: run tasks asking for ContainerInfo.docker.privileged; default false (they fail, saying why). */
  allowPrivileged?: boolean;
  /** `--host-volume-paths`: host directories tasks may mount as volumes (linux containerizer); default none. */
  hostVolumePaths?: string[];
  /** `--default-task-user`: the user of a task whose TaskInfo and FrameworkInfo name none; default nobody. */
  defaultTaskUser?: string;
  /**
   * The image store in `<workDir>/images` (src/images): `--insecure-registry`, `--registry-mirror`
   * for the puller, and image GC limits `--image-gc-max-age` / `--image-gc-max-bytes` (applied
   * after each pull and every `gcIntervalMs`, the sandbox GC's period).
   */
  images?: PullerOptions & GcLimits;
  /** `--user-namespaces` with its `--user-namespace-range` (linux containerizer); default off. */
  userNamespaces?: UserNamespaceRange;
  /** `--dns`: the resolv.conf of the agent's resolver (src/discovery/agent-dns.ts), bound over each task's /etc/resolv.conf. */
  taskResolvConf?: string;
  /** `--dns`: the resolver's resolv.conf for a task in CNI networks, reached at one of their gateways (undefined: the host's). */
  taskResolvConfForGateways?: (gateways: readonly string[]) => Promise<string | undefined>;
  /**
   * The cluster's agent bootstrap token (`--token-file`, DROVER_AGENT_TOKEN): lets this agent
   * register the first time. The master answers with the agent's own token, naming its id, which is
   * kept in the work dir and presented from then on (src/iam).
   */
  bootstrapToken?: string;
  /**
   * The cluster CA's certificate (`--master-ca`, DROVER_CA_CERT): with it the agent talks to the
   * master over HTTPS trusting that CA only, and joins by TLS bootstrap — its REGISTER carries a
   * CSR for a key made here (meta/agent-key.pem, mode 600), the master answers with a certificate
   * binding the agent id (meta/agent-cert.pem), and every later connection presents it (mTLS).
   */
  masterCaPem?: string;
  /**
   * `--usage-interval`: how often the running containers' cgroups are sampled (usage-sampler.ts)
   * and the figures pushed to the master; default 5 s, 0 samples only when `/monitor/statistics` is asked.
   */
  usageIntervalMs?: number;
  /**
   * With TLS (masterCaPem): where the agent's port still answers plain HTTP — 'loopback' (default:
   * tools on this machine; what reaches it from elsewhere, the master's relays included, must
   * come over HTTPS) or 'none' (`drover agent --require-https`).
   */
  plainHttp?: 'none' | 'loopback';
}

export class Agent {
  private readonly layout: WorkDirLayout;
  private readonly checkpoints: CheckpointStore;
  private readonly containerizer: Containerizer;
  private readonly updates: StatusUpdateManager;
  private readonly supervisor: TaskSupervisor;
  /** This agent's own credential from the master (auth on); kept in meta/agent-token. */
  private token: string | undefined;
  /** TLS (masterCaPem): this agent's key and certificate, and the fetch that presents them. */
  private tlsKey: string | undefined;
  private tlsCert: string | undefined;
  private pendingCsr: string | undefined;
  /**
   * The CAs this agent trusts (TLS on): `--master-ca`'s, until a master it verified told it
   * others (a CA rotation: REGISTERED's ca_bundle, kept in meta/; 018-ca-rotation.md).
   */
  private masterCaPem: string | undefined;
  /** Its certificate is not of the CA that signs now (a rotation): the next REGISTER asks for one that is. */
  private caRenewal = false;
  /** When the certificate is due for renewal (scheduleRenewal). */
  private renewal: ReturnType<Clock['setTimeout']> | undefined;
  private masterFetch: typeof fetch | undefined;
  private readonly link: MasterLink;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly hostname: string;
  private resources: Resources | undefined;
  private http: AgentHttp | undefined;
  private readonly gc: SandboxGc;
  private readonly fetcher: FetcherProcess;
  /** Reserved resources and persistent volumes the master checkpointed here (persistent-volumes.ts). */
  private readonly checkpointedResources: CheckpointedResources;
  /** Pulled images and their extracted layers, shared by every task here. */
  readonly images: LayerStore;
  private imageGc: Repeating | undefined;
  private readonly usage: UsageSampler;
  private id: string | undefined;
  /** This boot's id, recorded with the agent id. */
  private bootId: string | undefined;
  /** The boot id in the identity checkpoint; rewritten with the id at REGISTERED when it differs. */
  private recordedBootId: string | undefined;
  /** The id of this machine's agent before a reboot, until the master has heard of it. */
  private rebootedFrom: string | undefined;
  /** The registry marker of the last registration (checkpointed with the id); see stale-store.ts on the master. */
  private registryMarker: RegistryMarker | undefined;
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  /** When this agent process started (Mesos' `start_time`). */
  private readonly startedAtMs = Date.now();

  constructor(private readonly options: AgentOptions) {
    this.logger = options.logger;
    this.hostname = options.hostname ?? osHostname();
    this.resources = options.resources;
    this.layout = new WorkDirLayout(options.workDir);
    // The image GC ages images on the agent's clock (read when used: it is set below).
    this.images = new LayerStore(options.workDir, new Puller(options.images ?? {}), this.logger, () => this.clock.now());
    this.checkpoints = new CheckpointStore(this.layout, this.logger);
    this.checkpointedResources = new CheckpointedResources(this.layout.root, new AtomicJsonWriter(), this.logger);
    const pollIntervalMs = options.recoveryPollIntervalMs ?? 1000;
    this.containerizer =
      typeof options.containerizer === 'object'
        ? options.containerizer
        : createContainerizer({
            ...(options.containerizer === undefined ? {} : { kind: options.containerizer }),
            // The agent's own mesos-bridge (bridge networking) keeps its leases in the work dir.
            cni: {
              ...(options.cni ?? DEFAULT_CNI_OPTIONS),
              bridge: options.cni?.bridge ?? { bridgeName: DEFAULT_BRIDGE_NAME, subnet: DEFAULT_BRIDGE_SUBNET, ipamDir: join(options.workDir, 'cni', 'ipam') },
            },
            ...(options.cgroupsEnableCfs === undefined ? {} : { cfsQuota: options.cgroupsEnableCfs }),
            ...(options.allowPrivileged === undefined ? {} : { allowPrivileged: options.allowPrivileged }),
            ...(options.hostVolumePaths === undefined ? {} : { hostVolumePaths: options.hostVolumePaths }),
            ...(options.defaultTaskUser === undefined ? {} : { defaultUser: options.defaultTaskUser }),
            ...(options.userNamespaces === undefined ? {} : { userNamespaces: options.userNamespaces }),
            ...(options.taskResolvConf === undefined ? {} : { resolvConf: options.taskResolvConf }),
            ...(options.taskResolvConfForGateways === undefined ? {} : { resolvConfForGateways: options.taskResolvConfForGateways }),
            images: { store: this.images, workDir: options.workDir },
            logger: this.logger,
            pollIntervalMs,
          });
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.usage = new UsageSampler({
      clock,
      intervalMs: options.usageIntervalMs ?? 5000,
      targets: () => this.usageTargets(),
      // Pushed with the agent's own credential on its current stream; a lost push is just a gap.
      onSample: (usage) => void this.link.postUsage(usage),
    });
    this.fetcher = new FetcherProcess({ ...options.fetcher, cacheDir: join(this.layout.root, 'cache', 'fetcher'), logger: this.logger });
    this.updates = new StatusUpdateManager({
      send: async (updates) => (await this.link.call({ type: 'UPDATE', update: { updates } })) === 'accepted',
      persist: (frameworkId, taskId, updates, durable) => this.checkpoints.writeUpdates(frameworkId, taskId, updates, durable),
      onDrained: (frameworkId, taskId) => this.supervisor.onDrained(frameworkId, taskId),
      backoff: options.statusUpdateBackoff ?? STATUS_UPDATE_BACKOFF,
      clock,
      logger: this.logger,
    });
    this.supervisor = new TaskSupervisor({
      layout: this.layout,
      checkpoints: this.checkpoints,
      containerizer: this.containerizer,
      updates: this.updates,
      agentId: () => this.id,
      clock,
      // A plain copy: reading process.env goes through getenv(3) per key, per launch.
      baseEnv: options.baseEnv ?? { ...process.env },
      ...(options.killGracePeriodMs === undefined ? {} : { killGracePeriodMs: options.killGracePeriodMs }),
      ...(options.vipDrainMs === undefined ? {} : { vipDrainMs: options.vipDrainMs }),
      fetcher: this.fetcher,
      ...(options.hostVolumePaths === undefined ? {} : { hostVolumePaths: options.hostVolumePaths }),
      resolveSecrets: (frameworkId, taskId) => this.link.resolveSecrets(frameworkId, taskId),
      // Linux tasks run as their user (or the agent's default); plain processes as the agent.
      secretFileOwner: async (user) => (this.containerizer.name === 'linux' ? resolveTaskUser(user ?? options.defaultTaskUser ?? DEFAULT_TASK_USER) : undefined),
      logger: this.logger,
    });
    this.gc = new SandboxGc({
      root: this.layout.root,
      inUse: () => this.supervisor.list().flatMap((t) => (t.checkpoint.taskGroup === undefined ? [t.checkpoint.sandbox] : [t.checkpoint.sandbox, t.checkpoint.taskGroup.executorSandbox])),
      policy: {
        gcDelayMs: options.gcDelayMs ?? DEFAULT_GC_DELAY_MS,
        diskHeadroom: options.gcDiskHeadroom ?? DEFAULT_GC_DISK_HEADROOM,
        ...(options.gcMinAgeMs === undefined ? {} : { minAgeMs: options.gcMinAgeMs }),
      },
      ...(options.gcIntervalMs === undefined ? {} : { intervalMs: options.gcIntervalMs }),
      // Wall-clock time, not the injected clock: the ages compare against file mtimes.
      logger: this.logger,
    });
    this.link = new MasterLink({
      masterUrl: options.masterUrl,
      credential: () => this.token ?? this.options.bootstrapToken,
      registerCall: () => this.registerCall(),
      fetch: () => this.masterFetch ?? fetch,
      onRegistered: (registered) => this.onRegistered(registered),
      onEvent: (event) => this.onEvent(event),
      onDisconnected: () => this.updates.pause(),
      reconnectBackoff: options.reconnectBackoff ?? RECONNECT_BACKOFF,
      clock,
      ...(options.heartbeatIntervalOverride === undefined ? {} : { heartbeatIntervalOverride: options.heartbeatIntervalOverride }),
      ...(options.masterSilenceTimeoutMs === undefined ? {} : { silenceTimeoutMs: options.masterSilenceTimeoutMs }),
      logger: this.logger,
    });
  }

  /** The id the master gave this agent (from the checkpoint before the first REGISTERED). */
  get agentId(): string | undefined {
    return this.id;
  }

  /** The bound HTTP port (after `start`). */
  get port(): number {
    if (this.http === undefined) throw new Error('the agent is not started');
    return this.http.port;
  }

  get url(): string {
    const host = this.options.host ?? '127.0.0.1';
    return `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${this.port}`;
  }

  /** True while a REGISTER stream is open. */
  get registered(): boolean {
    return this.link.connected;
  }

  get workDir(): string {
    return this.layout.root;
  }

  /**
   * Tasks run as other users (nobody by default) and reach their sandbox by its absolute path
   * (the exit file, MESOS_SANDBOX): the work dir must be traversable by others — not listable —
   * while `meta/`, which holds every task's environment, is the agent's alone. Directories above
   * the work dir are the operator's: one that others cannot traverse is logged, not changed.
   * (The launcher chdirs into the sandbox as root, so a task still starts; what breaks is a
   * path through the parents: MESOS_SANDBOX, the exit file.)
   */
  private async openWorkDirToTasks(): Promise<void> {
    if (this.containerizer.name !== 'linux') return;
    const root = this.layout.root;
    await chmod(this.layout.metaDir, 0o700);
    const mode = (await stat(root)).mode & 0o7777;
    if ((mode & 0o001) === 0) await chmod(root, mode | 0o011);
    // Under /tmp the task's path is rebuilt in its private tmpfs (0755 directories), so only the
    // work dir itself matters there.
    if (root.startsWith('/tmp/')) return;
    for (let dir = dirname(root); ; dir = dirname(dir)) {
      const closed = ((await stat(dir)).mode & 0o001) === 0;
      if (closed) this.logger.warn({ workDir: root, dir }, 'work-dir-not-traversable-by-task-users');
      if (closed || dir === dirname(dir)) break;
    }
  }

  async start(): Promise<void> {
    if (this.phase !== 'new') throw new Error(`an agent starts once (it is ${this.phase})`);
    this.phase = 'starting';
    await mkdir(this.layout.metaDir, { recursive: true });
    await this.openWorkDirToTasks();
    if (this.options.detectResources !== false) this.resources = await detectResources(this.layout.root, this.resources);
    this.resources ??= Resources.EMPTY;
    this.bootId = await readBootId(this.options.bootIdFile ?? BOOT_ID_FILE, this.logger);
    const meta = await this.checkpoints.readAgentMeta();
    this.token = await this.checkpoints.readAgentToken();
    if (this.options.masterCaPem !== undefined) {
      this.masterCaPem = (await this.checkpoints.readMasterCaBundle()) ?? this.options.masterCaPem;
      const kept = await this.checkpoints.readAgentTls();
      this.tlsKey = kept.keyPem;
      this.tlsCert = kept.keyPem === undefined ? undefined : kept.certPem;
      this.masterFetch = tlsFetch({ caPem: this.masterCaPem, ...(this.tlsCert === undefined ? {} : { certPem: this.tlsCert, keyPem: this.tlsKey }) });
    }
    this.recordedBootId = meta?.bootId;
    if (meta !== undefined && rebootedSince(meta.bootId, this.bootId)) {
      // Every task of the previous run died with the machine: nothing to reattach to. Register as
      // a new agent, naming the old one so the master can report its tasks gone now rather than
      // after a heartbeat timeout (Mesos: a rebooted host's agent gets a new id).
      this.rebootedFrom = meta.agentId;
      this.id = undefined;
      await this.checkpoints.forgetTasks();
      this.logger.warn({ previousAgentId: meta.agentId, previousBootId: meta.bootId, bootId: this.bootId }, 'agent-host-rebooted');
    } else {
      this.id = meta?.agentId;
      this.registryMarker = meta?.registry;
    }
    await this.images.open();
    await this.checkpointedResources.load();
    const recovered = await this.checkpoints.loadTasks();
    await this.supervisor.recover(recovered);
    this.logger.info({ agentId: this.id, tasks: recovered.length, workDir: this.layout.root }, 'agent-recovered');
    this.http = await startAgentHttp({
      host: this.options.host ?? '127.0.0.1',
      port: this.options.port,
      root: this.layout.root,
      state: () => this.state(),
      mesos: () => this.mesosView(),
      hiddenFiles: () => this.supervisor.secretFiles(),
      ...(this.masterCaPem === undefined ? {} : { tlsCaPem: this.masterCaPem, plainHttp: this.options.plainHttp ?? 'loopback' }),
      authorize: masterCallerAuthorizer(
        () => this.link.masterBase,
        () => (this.token ?? this.options.bootstrapToken) !== undefined,
        Date.now,
        () => this.link.fetchImpl(),
      ),
      exec: async (request) => {
        const target = this.supervisor.execTarget(request.taskId, request.frameworkId);
        const argv = await this.containerizer.execArgv(target.container, { argv: request.tty ? ttyArgv(request.argv) : request.argv, ...(target.user === undefined ? {} : { user: target.user }) });
        this.logger.info({ taskId: request.taskId, argv: request.argv, tty: request.tty }, 'exec-in-task');
        return { argv, env: target.env, cwd: target.sandbox };
      },
      images: { store: this.images, limits: () => this.imageGcLimits() },
      usage: this.usage,
      logger: this.logger,
    });
    if (this.tlsCert !== undefined && this.tlsKey !== undefined) this.http.setCertificate(this.tlsCert, this.tlsKey);
    this.phase = 'running';
    // After recovery: the recovered tasks' sandboxes are in use before the first sweep looks.
    this.gc.start();
    const limits = this.imageGcLimits();
    if (limits.maxAgeMs !== undefined || limits.maxBytes !== undefined) {
      this.imageGc = every(this.clock, this.options.gcIntervalMs ?? 60_000, () => {
        this.images.collect(limits).catch((error: unknown) => this.logger.warn({ err: error }, 'image-gc-failed'));
      });
    }
    this.link.start();
    if (this.usage.intervalMs > 0) this.usage.start();
    this.logger.info({ url: this.url, master: this.options.masterUrl, resources: this.resources.format() }, 'agent-started');
  }

  private imageGcLimits(): GcLimits {
    const { maxAgeMs, maxBytes } = this.options.images ?? {};
    return { ...(maxAgeMs === undefined ? {} : { maxAgeMs }), ...(maxBytes === undefined ? {} : { maxBytes }) };
  }

  /** Disconnects and stops serving; every task keeps running, to be recovered by the next start. */
  async stop(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.phase = 'stopped';
    if (this.renewal !== undefined) this.clock.clearTimeout(this.renewal);
    await this.gc.stop();
    this.imageGc?.stop();
    this.usage.stop();
    this.supervisor.detach();
    await this.containerizer.detach();
    await this.link.stop();
    this.updates.close();
    await this.supervisor.idle();
    await this.checkpoints.flush();
    await this.http?.close();
    this.fetcher.close();
    this.logger.info({ agentId: this.id }, 'agent-stopped');
  }

  /** How many tasks this agent runs (not yet ended). */
  taskCount(): number {
    return this.supervisor.list().filter(({ checkpoint }) => !isTerminalState(checkpoint.state)).length;
  }

  /** Kills every task, waits up to `drainMs` for the master to acknowledge their ends, stops. */
  async shutdown(drainMs = 2000): Promise<void> {
    if (this.phase === 'running') {
      await this.supervisor.killAll();
      const deadline = this.clock.now() + drainMs;
      while (this.supervisor.list().length > 0 && this.link.connected && this.clock.now() < deadline) {
        await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), 20));
      }
    }
    await this.stop();
  }

  /** What the Mesos-shaped endpoints show (http/mesos-agent.ts). */
  mesosView(): MesosAgentView {
    const o = this.options;
    const flags: Record<string, string> = {
      master: o.masterUrl,
      port: String(this.http?.port ?? o.port),
      ip: o.host ?? '127.0.0.1',
      hostname: this.hostname,
      work_dir: this.layout.root,
      containerizers: this.containerizer.name,
      ...(this.resources === undefined ? {} : { resources: this.resources.format() }),
      ...(o.attributes === undefined || o.attributes.length === 0 ? {} : { attributes: o.attributes.map((a) => `${a.name}:${a.text?.value ?? a.scalar?.value ?? ''}`).join(';') }),
      ...(o.killGracePeriodMs === undefined ? {} : { executor_shutdown_grace_period: `${o.killGracePeriodMs / 1000}secs` }),
      ...(o.gcIntervalMs === undefined ? {} : { gc_delay: `${o.gcIntervalMs / 1000}secs` }),
      cgroups_enable_cfs: String(o.cgroupsEnableCfs ?? false),
    };
    return {
      id: this.id,
      hostname: this.hostname,
      port: this.http?.port ?? o.port,
      masterUrl: o.masterUrl,
      registered: this.link.connected,
      startedAtMs: this.startedAtMs,
      flags,
      resources: this.resources?.toJSON() ?? [],
      attributes: o.attributes ?? [],
      tasks: this.supervisor.list().map(({ checkpoint }) => checkpoint),
      completed: this.supervisor.completed(),
    };
  }

  /** The running containers with cgroups, for the usage sampler's pass. */
  private usageTargets(): UsageTarget[] {
    const out: UsageTarget[] = [];
    for (const { checkpoint: c } of this.supervisor.list()) {
      const cgroups = c.container?.cgroups;
      if (cgroups === undefined || c.state !== 'TASK_RUNNING') continue;
      const cpus = c.taskInfo.resources?.find((r) => r.name === 'cpus')?.scalar?.value;
      const taskId = c.taskInfo.task_id.value;
      out.push({ frameworkId: c.frameworkId, taskId, executorId: c.taskGroup?.executorId ?? taskId, containerId: c.containerId, cgroups, ...(cpus === undefined ? {} : { cpus }) });
    }
    return out;
  }

  /** What GET /state shows. */
  state(): Record<string, unknown> {
    const frameworks = new Map<string, { id: string; name: string }>();
    for (const { checkpoint: c } of this.supervisor.list()) frameworks.set(c.frameworkId, { id: c.frameworkId, name: c.frameworkInfo.name });
    return {
      id: this.id ?? null,
      hostname: this.hostname,
      port: this.http?.port ?? null,
      master: this.options.masterUrl,
      registered: this.link.connected,
      work_dir: this.layout.root,
      containerizer: this.containerizer.name,
      resources: this.resources?.toJSON() ?? [],
      // Mesos' agent /state key: dynamically reserved resources and persistent volumes.
      reserved_resources_full: this.checkpointedResources.resources,
      attributes: this.options.attributes ?? [],
      frameworks: [...frameworks.values()],
      tasks: this.supervisor.list().map(({ checkpoint }) => taskView(checkpoint)),
      completed_tasks: this.supervisor.completed().map(taskView),
      // Status updates not yet acknowledged by their framework (fault tests wait for 0).
      unacknowledged_updates: this.updates.unacknowledged(),
    };
  }

  /**
   * TLS bootstrap: a CSR when this agent has no certificate for the id it registers as — or one
   * due for renewal (two thirds of its lifetime gone): then a CSR for the key it has, so the
   * certificate file is the only thing that changes, in one atomic write.
   */
  private async certificateRequest(): Promise<string | undefined> {
    if (this.masterCaPem === undefined) return undefined;
    const current = this.tlsCert === undefined ? undefined : new X509Certificate(this.tlsCert);
    if (current !== undefined && this.id !== undefined && agentIdOf(current) === this.id) {
      if ((this.clock.now() < renewalTime(current) && !this.caRenewal) || this.tlsKey === undefined) return undefined;
      if (this.pendingCsr === undefined) {
        const { csrForKey } = await import('../iam/tls-ca.ts');
        this.pendingCsr = await csrForKey(this.tlsKey);
        this.logger.info({ agentId: this.id, validTo: current.validTo }, 'agent-certificate-renewing');
      }
      return this.pendingCsr;
    }
    if (this.pendingCsr === undefined) {
      // Loaded only here: the X.509 encoder is needed once in an agent's life.
      const { newAgentKey } = await import('../iam/tls-ca.ts');
      const { keyPem, csrPem } = await newAgentKey();
      await this.checkpoints.writeAgentKey(keyPem);
      this.tlsKey = keyPem;
      this.pendingCsr = csrPem;
    }
    return this.pendingCsr;
  }

  /**
   * At the certificate's renewal time the link re-registers, and that REGISTER carries the CSR
   * (certificateRequest). Checked again at most every day: a timer longer than that is not kept.
   */
  private scheduleRenewal(): void {
    if (this.renewal !== undefined) this.clock.clearTimeout(this.renewal);
    this.renewal = undefined;
    if (this.tlsCert === undefined || this.phase === 'stopped') return;
    // Due already (this registration asked for a new one and got none): try again in a minute, not in a loop.
    const due = renewalTime(new X509Certificate(this.tlsCert)) - this.clock.now();
    const wait = due <= 0 ? 60_000 : Math.min(due, 24 * 3600 * 1000);
    this.renewal = this.clock.setTimeout(() => {
      this.renewal = undefined;
      if (this.phase === 'stopped') return;
      if (this.tlsCert !== undefined && this.clock.now() >= renewalTime(new X509Certificate(this.tlsCert))) this.link.reconnect('agent-certificate-renewal');
      else this.scheduleRenewal();
    }, wait);
  }

  private async registerCall(): Promise<AgentCall> {
    const csr = await this.certificateRequest();
    const call = this.registerCallWithout();
    if (csr !== undefined) call.register!.csr = csr;
    return call;
  }

  private registerCallWithout(): AgentCall {
    const { tasks, frameworks } = this.supervisor.registration();
    const info: AgentInfo = {
      hostname: this.hostname,
      port: this.port,
      resources: this.resources?.toJSON() ?? [],
      attributes: this.options.attributes ?? [],
    };
    const call: AgentCall = { type: 'REGISTER', register: { agent_info: info, tasks, frameworks } };
    const checkpointed = this.checkpointedResources.resources;
    if (checkpointed.length > 0) call.register!.checkpointed_resources = checkpointed;
    if (this.id !== undefined) {
      info.id = { value: this.id };
      call.agent_id = { value: this.id };
      if (this.registryMarker !== undefined) call.register!.registry = this.registryMarker;
    }
    if (this.rebootedFrom !== undefined) call.register!.rebooted_agent_id = { value: this.rebootedFrom };
    return call;
  }

  private async onRegistered(registered: Registered): Promise<void> {
    const id = registered.agent_id.value;
    // A CA rotation: the CAs to trust from now on came over a connection verified against the
    // ones trusted so far. Kept before they are used.
    const bundle = registered.ca_bundle;
    const newTrust = bundle !== undefined && this.masterCaPem !== undefined && bundle !== this.masterCaPem && firstCertificate(bundle) !== undefined;
    if (newTrust) {
      await this.checkpoints.writeMasterCaBundle(bundle);
      this.masterCaPem = bundle;
      this.logger.warn({ agentId: id, cas: bundle.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0 }, 'agent-master-ca-changed');
    }
    if (registered.agent_certificate !== undefined && this.tlsKey !== undefined && this.masterCaPem !== undefined) {
      // Kept before it is used; the calls of this stream go out on new connections that present it.
      await this.checkpoints.writeAgentCert(registered.agent_certificate);
      this.tlsCert = registered.agent_certificate;
      this.pendingCsr = undefined;
      this.caRenewal = false;
      this.masterFetch = tlsFetch({ caPem: this.masterCaPem, certPem: this.tlsCert, keyPem: this.tlsKey });
      this.http?.setCertificate(this.tlsCert, this.tlsKey, this.masterCaPem);
      this.logger.info({ agentId: id, issuer: new X509Certificate(this.tlsCert).issuer }, 'agent-certificate-received');
    } else if (newTrust && this.masterCaPem !== undefined) {
      this.masterFetch = tlsFetch({ caPem: this.masterCaPem, ...(this.tlsCert === undefined ? {} : { certPem: this.tlsCert, keyPem: this.tlsKey }) });
      if (this.tlsCert !== undefined && this.tlsKey !== undefined) this.http?.setCertificate(this.tlsCert, this.tlsKey, this.masterCaPem);
    }
    // Its certificate is of a CA that no longer signs: register again at once, asking for one of the new CA.
    const signing = bundle === undefined ? undefined : firstCertificate(bundle);
    if (signing !== undefined && this.tlsCert !== undefined && this.tlsKey !== undefined && !new X509Certificate(this.tlsCert).checkIssued(new X509Certificate(signing))) {
      if (!this.caRenewal) {
        this.caRenewal = true;
        this.logger.info({ agentId: id }, 'agent-certificate-renewing-for-new-ca');
        queueMicrotask(() => this.link.reconnect('agent-certificate-of-new-ca'));
      }
    }
    this.scheduleRenewal();
    if (registered.agent_token !== undefined && registered.agent_token !== this.token) {
      await this.checkpoints.writeAgentToken(registered.agent_token);
      this.token = registered.agent_token;
    }
    const marker = registered.registry;
    const markerChanged = marker !== undefined && (marker.cluster_id !== this.registryMarker?.cluster_id || marker.revision !== this.registryMarker.revision);
    if (this.id !== id || this.recordedBootId !== this.bootId || markerChanged) {
      if (this.id !== undefined && this.id !== id) this.logger.warn({ previous: this.id, agentId: id }, 'agent-id-changed');
      // On disk before any LAUNCH is read: sandboxes are named after this id. A crash before
      // this write leaves the previous, lower marker: never a false stale-store alarm.
      const keep = marker ?? (this.id === id ? this.registryMarker : undefined);
      await this.checkpoints.writeAgentId(id, this.bootId, keep);
      this.id = id;
      this.recordedBootId = this.bootId;
      this.registryMarker = keep;
    }
    // The master has removed the pre-reboot agent (it handled this registration).
    this.rebootedFrom = undefined;
    this.logger.info({ agentId: id, masterId: registered.master_id, registry: marker }, 'agent-registered');
    this.updates.resume();
  }

  private onEvent(event: AgentEvent): void {
    switch (event.type) {
      case 'LAUNCH':
        this.supervisor.launch(event.launch.framework_id.value, event.launch.framework_info, event.launch.tasks, event.launch.executor as GroupExecutor | undefined);
        break;
      case 'KILL':
        this.supervisor.kill(event.kill.framework_id.value, event.kill.task_id.value, event.kill.kill_policy?.grace_period?.nanoseconds);
        break;
      case 'ACKNOWLEDGE':
        for (const ack of event.acknowledge.acknowledgements) {
          void this.updates.acknowledge(ack.framework_id.value, ack.task_id.value, ack.uuid).then(
            (known) => {
              if (!known) this.logger.debug({ taskId: ack.task_id.value, uuid: ack.uuid }, 'unknown-acknowledgement');
            },
            (err: unknown) => this.logger.error({ err }, 'acknowledgement-failed'),
          );
        }
        break;
      case 'SHUTDOWN_FRAMEWORK':
        this.supervisor.shutdownFramework(event.shutdown_framework.framework_id.value);
        break;
      case 'CHECKPOINT_RESOURCES':
        this.checkpointedResources.apply(event.checkpoint_resources.resources).catch((err: unknown) => this.logger.error({ err }, 'checkpoint-resources-failed'));
        break;
      default:
        break;
    }
  }
}

function taskView(c: TaskCheckpoint): Record<string, unknown> {
  return {
    id: c.taskInfo.task_id.value,
    name: c.taskInfo.name,
    framework_id: c.frameworkId,
    state: c.state,
    directory: c.sandbox,
    container_id: c.containerId,
    pid: c.container?.pid ?? null,
    ...(c.container?.image === undefined ? {} : { image: c.container.image }),
    resources: c.taskInfo.resources,
    status: c.latestStatus ?? null,
  };
}
