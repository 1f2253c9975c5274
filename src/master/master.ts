/**
 * The master: pools agents' resources, offers them to frameworks in DRF order, books launches,
 * routes kills, acknowledgements and status updates, and notices agents that stop heartbeating.
 *
 * This class is the thin shell around the pure pieces (allocator/drf.ts, tasks/transitions.ts):
 * it owns timers, streams and the store. Call handling lives in scheduler-calls.ts and
 * agent-calls.ts; HTTP routing in api/.
 */
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Logger } from '../log/index.ts';
import { Resources } from '../resources/index.ts';
import { canonicalEnum, isTerminalState, PARTITION_AWARE_STATES, type TaskState, type TaskStatusReason } from '../protocol/mesos/enums.ts';
import type { TaskStatus } from '../protocol/mesos/scheduler.ts';
import type { AgentEvent } from '../protocol/mesos/agent-link.ts';
import type { Store } from '../store/store.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { allocate } from './allocator/drf.ts';
import { RoleConfig } from './allocator/role-config.ts';
import { transition } from './tasks/transitions.ts';
import { keptStatus, type AgentRecord, type FrameworkRecord, type OfferRecord, type TaskRecord } from './model.ts';
import { OfferJson } from './offer-json.ts';
import { OfferTable } from './offer-table.ts';
import { AgentPool } from './agent-pool.ts';
import { Registry } from './registry.ts';
import { Maintenance } from './maintenance.ts';
import { TaskTable } from './task-table.ts';
import { FrameworkFailover } from './framework-failover.ts';
import { CompletedFrameworks, DEFAULT_MAX_COMPLETED_FRAMEWORKS } from './completed-frameworks.ts';
import { DEFAULT_GUARD_FRACTION } from './agent-removal-limit.ts';
import { AgentHealth, type AgentRemovalStatus } from './agent-health.ts';
import { AllocationSums } from './allocation-sums.ts';
import { MasterMetrics } from './metrics.ts';
import { operatorEvents } from './views-v1.ts';
import type { EventSink } from './stream.ts';
import { recoveredTotal, reservedOfferJson } from './reservations.ts';

export interface MasterOptions {
  store: Store;
  logger: Logger;
  /** Address frameworks and agents reach this master at (for master_info). */
  hostname?: string;
  port?: number;
  /** Time and the master's fault timers (framework failover, re-subscription grace). */
  clock?: Clock;
  /** Wall time only (older callers); `clock` wins when both are given. */
  now?: () => number;
  /** Offer cycle period (Mesos --allocation_interval, default 1 s). */
  allocationIntervalMs?: number;
  /** Rescind offers not used within this long (Mesos --offer_timeout; default none). */
  offerTimeoutMs?: number;
  /**
   * Auth on: the credential a registering agent receives, naming the agent id it was given
   * (src/iam); the agent presents it from then on, and only it may act as that id.
   */
  agentCredential?: (agentId: string) => Promise<string>;
  /**
   * TLS on: the certificate (PEM) of the cluster CA for the key of a registering agent's CSR,
   * binding it to the agent id (src/iam/tls-ca.ts); throws a 4xx DroverError for a bad CSR.
   */
  agentCertificate?: (agentId: string, csrPem: string) => Promise<string>;
  /**
   * TLS on: the CA certificates agents are to trust (PEM, the signing CA first), told in every
   * REGISTERED: during a CA rotation the new and the old (docs/architecture/018-ca-rotation.md).
   */
  agentCaBundle?: () => string;
  /** TLS on: how the master calls agent `agentId` (its files relay): mTLS, checking the agent's certificate names that id. */
  agentFetch?: (agentId: string) => typeof fetch;
  /** Interval between agent heartbeats, and how many may be missed (default 15 s × 5). */
  agentHeartbeatIntervalMs?: number;
  agentMaxMissedHeartbeats?: number;
  /** Interval of HEARTBEAT events to frameworks (default 15 s). */
  frameworkHeartbeatIntervalMs?: number;
  /** Completed tasks kept in memory per framework (older ones stay in the store's history). */
  completedTasksPerFramework?: number;
  /**
   * Mesos --agent_removal_rate_limit (`1/20mins` → `{ agents: 1, perMs: 1_200_000 }`): at most
   * this many agents marked unreachable per period. Default none, as in Mesos.
   */
  agentRemovalRate?: { agents: number; perMs: number };
  /**
   * Largest share of the reachable agents marked unreachable within one detection window
   * (default 0.4; 1 turns the guard off). More than that at once looks like a network split:
   * the rest are held (agent-removal-limit.ts).
   */
  agentRemovalGuardFraction?: number;
  /** Torn-down frameworks kept for the views (Mesos --max_completed_frameworks, default 50). */
  maxCompletedFrameworks?: number;
  /**
   * After a restart or a leader change, how long recovered frameworks have to re-subscribe
   * before their failover timeouts start (default: the agent re-registration window,
   * heartbeat interval × missed heartbeats = 75 s). Mesos waits for agents to re-register
   * before it counts a framework's failover timeout; without this grace a framework with
   * failover_timeout 0 was torn down — its tasks killed — before the master even served. Never
   * less than 75 s by default: test clusters shrink the heartbeat window to a second, but a
   * scheduler process needs its own time to notice the failover and reconnect.
   */
  frameworkReregistrationGraceMs?: number;
  /** Seed for the allocator's agent shuffle (a cycle counter is added). */
  seed?: number;
  /**
   * Offers per framework per cycle, at most (default 1,000). Mesos has no cap; Marathon caps the
   * launches of a cycle. At 10,000 agents one OFFERS event was 10,000 offers — tens of megabytes
   * of JSON, then 10,000 ACCEPT/DECLINE calls — per cycle (docs/architecture/006-scale.md).
   * The agents left out keep their resources; the shuffle gives them a turn in later cycles.
   */
  maxOffersPerFramework?: number;
  /** Role weights for weighted DRF (Mesos --weights); absent roles weigh 1. */
  weights?: ReadonlyMap<string, number>;
  /**
   * HA: resolves while this master still leads, throws DROVER_ERR_STORE_FENCED once it does not
   * (a fenced no-op write). Checked before launches and kills reach agents (confirmLeadership).
   */
  checkLeadership?: () => Promise<void>;
  /** The values of secret paths, for agents launching tasks that reference them (task-secrets.ts). */
  resolveSecrets?: SecretResolver;
  /**
   * Adopt agents whose registry marker says this store is older than what they were registered
   * with (stale-store.ts), logging the figures, instead of refusing them with
   * DROVER_ERR_STORE_STALE (`--accept-stale-store`). For a deliberate recovery onto an older or a
   * new store; default false.
   */
  acceptStaleStore?: boolean;
}

/** Where the master gets secret values from (the secret store, injected by the composition root; task-secrets.ts). */
export type SecretResolver = (paths: readonly string[]) => Promise<{ values: Map<string, Buffer>; missing: string[] }>;

export const DEFAULT_REFUSE_SECONDS = 5;
/** The default re-subscription grace is at least Mesos' agent ping window (15 s × 5). */
const MIN_REREGISTRATION_GRACE_MS = 75_000;
/** Mesos caps refuse_seconds at one year. */
const MAX_REFUSE_SECONDS = 31_536_000;

export class Master {
  readonly id = randomUUID();
  readonly agents = new Map<string, AgentRecord>();
  readonly frameworks = new Map<string, FrameworkRecord>();
  /** Frameworks that were torn down: a re-subscription with their id is refused. */
  readonly removedFrameworks = new Set<string>();
  /** Agents removed for good (a rebooted machine's old agent): a registration with their id is refused. */
  readonly goneAgents = new Set<string>();
  /** The cluster id recorded in the store (Registry.load); handed to agents in their registry marker. */
  clusterId = '';
  readonly tasks = new TaskTable(); // key: frameworkId \0 taskId
  readonly completedTasks = new Map<string, TaskRecord[]>(); // frameworkId → newest last
  /** Torn-down frameworks with their completed tasks, for the views (newest first). */
  readonly completedFrameworks: CompletedFrameworks<FrameworkRecord, TaskRecord>;
  /** Outstanding offers; ids `<master id>-O<n>` (offer-table.ts). */
  readonly offers = new OfferTable(`${this.id}-O`);
  readonly metrics = new MasterMetrics();
  /** Open operator SUBSCRIBE streams (POST /api/v1); every state change is published to them. */
  readonly operatorStreams = new Set<EventSink>();
  /** Told whenever the set of agents held back by the removal limits changes (agent-health.ts). */
  readonly removalWatchers = new Set<(status: AgentRemovalStatus) => void>();
  readonly registry: Registry;
  readonly maintenance: Maintenance;
  /** The store, for the operator APIs' own keys (the maintenance schedule: maintenance-schedule.ts). */
  readonly store: Store;
  /** Operator weights and quota per role, stored (allocator/role-config.ts). */
  readonly roleConfig: RoleConfig;
  readonly log: Logger;
  readonly clock: Clock;
  readonly now: () => number;
  /**
   * Stamped HEARTBEAT events (pings) go this often (a third of the heartbeat interval) to the
   * agents that echo them; every agent gets one with the framework heartbeats, which is how an
   * agent starts to echo. An echoing agent counts as seen as of the ping it answers plus half
   * this interval (agent-calls.ts `callingAgent`): a one-way partition is detected at the
   * heartbeat window ± half a ping interval, as Mesos' pings do (75 s ± 2.5 s by default).
   */
  get agentPingIntervalMs(): number {
    return Math.max(50, Math.floor(this.options.agentHeartbeatIntervalMs / 3));
  }
  readonly startedAt: number;
  readonly hostname: string;
  port: number;
  readonly options: Required<
    Omit<
      MasterOptions,
      | 'store'
      | 'logger'
      | 'hostname'
      | 'port'
      | 'clock'
      | 'now'
      | 'offerTimeoutMs'
      | 'checkLeadership'
      | 'agentCredential'
      | 'agentCertificate'
      | 'agentCaBundle'
      | 'agentFetch'
      | 'agentRemovalRate'
      | 'frameworkReregistrationGraceMs'
      | 'resolveSecrets'
    >
  > & {
    resolveSecrets: SecretResolver | undefined;
    offerTimeoutMs: number | undefined;
    agentRemovalRate: { agents: number; perMs: number } | undefined;
  };

  /** Agents' free resources and the cluster total for the offer cycle, re-made only on change. */
  private readonly pool = new AgentPool();
  /** Cached JSON of agents and offered resources for OFFERS events. */
  private readonly offerJson = new OfferJson((agent, resources, role) => reservedOfferJson(agent.reservations, this.tasks.onAgent(agent.id), resources, role));
  private frameworkCounter = 0;
  private agentCounter = 0;
  private cycle = 0;
  private allocationPending = false;
  private timers: NodeJS.Timeout[] = [];
  private agentOutbox = new Map<string, AgentEvent[]>();
  private outboxScheduled = false;
  private stopped = false;
  private readonly failover: FrameworkFailover;
  private readonly health: AgentHealth;
  private readonly checkLeadership: (() => Promise<void>) | undefined;
  readonly agentCredential: ((agentId: string) => Promise<string>) | undefined;
  readonly agentCertificate: ((agentId: string, csrPem: string) => Promise<string>) | undefined;
  readonly agentCaBundle: (() => string) | undefined;
  readonly agentFetch: ((agentId: string) => typeof fetch) | undefined;
  private leadershipConfirmedAt = -Infinity;
  private leadershipCheck: Promise<void> | undefined;

  constructor(options: MasterOptions) {
    this.checkLeadership = options.checkLeadership;
    this.agentCredential = options.agentCredential;
    this.agentCertificate = options.agentCertificate;
    this.agentCaBundle = options.agentCaBundle;
    this.agentFetch = options.agentFetch;
    this.log = options.logger;
    const now = options.now;
    this.clock = options.clock ?? (now === undefined ? systemClock : { ...systemClock, now });
    this.now = () => this.clock.now();
    this.startedAt = this.now();
    this.hostname = options.hostname ?? osHostname();
    this.port = options.port ?? 5050;
    this.store = options.store;
    this.registry = new Registry(options.store, this.log);
    this.roleConfig = new RoleConfig(options.store, options.weights);
    this.maintenance = new Maintenance(options.store, {
      agent: (agentId) => this.agents.get(agentId),
      liveTasksOn: (agentId) => this.tasks.onAgent(agentId).length,
      killTasksOn: (agentId, gracePeriodNs) => {
        for (const task of this.tasks.onAgent(agentId)) this.killOnAgent(task, gracePeriodNs);
      },
      rescindOffersOn: (agentId) => this.rescindOffersOn(agentId),
      scheduleAllocation: () => this.scheduleAllocation(),
      agentUpdated: (agentId) => {
        const agent = this.agents.get(agentId);
        if (agent) this.publish(operatorEvents.agentAdded(agent));
      },
    });
    // One re-registration window after a restart or leader change, for frameworks (before their
    // failover timers start) and for recovered agents (before they count as silent).
    const reregistrationGraceMs =
      options.frameworkReregistrationGraceMs ?? Math.max(MIN_REREGISTRATION_GRACE_MS, (options.agentHeartbeatIntervalMs ?? 15_000) * (options.agentMaxMissedHeartbeats ?? 5));
    this.failover = new FrameworkFailover(
      { clock: this.clock, log: this.log, frameworks: () => this.frameworks.values(), removeFramework: (f, why) => this.removeFramework(f, why) },
      reregistrationGraceMs,
    );
    this.health = new AgentHealth(
      {
        agents: this.agents,
        log: this.log,
        markUnreachable: (agent, why) => this.markUnreachable(agent, why),
        heldCount: (n) => this.metrics.agentsRemovalHeld.set(n),
        heldChanged: (status) => {
          for (const watch of this.removalWatchers) {
            // A watcher's failure must not stop the health check that called it.
            try {
              watch(status);
            } catch (err) {
              this.log.error({ err }, 'removal-watcher-failed');
            }
          }
        },
      },
      {
        heartbeatIntervalMs: options.agentHeartbeatIntervalMs ?? 15_000,
        maxMissedHeartbeats: options.agentMaxMissedHeartbeats ?? 5,
        guardFraction: options.agentRemovalGuardFraction ?? DEFAULT_GUARD_FRACTION,
        rate: options.agentRemovalRate,
        reregisterWindowMs: reregistrationGraceMs,
      },
    );
    this.completedFrameworks = new CompletedFrameworks(options.maxCompletedFrameworks ?? DEFAULT_MAX_COMPLETED_FRAMEWORKS, options.completedTasksPerFramework ?? 1000);
    this.options = {
      allocationIntervalMs: options.allocationIntervalMs ?? 1000,
      offerTimeoutMs: options.offerTimeoutMs,
      agentHeartbeatIntervalMs: options.agentHeartbeatIntervalMs ?? 15_000,
      agentMaxMissedHeartbeats: options.agentMaxMissedHeartbeats ?? 5,
      frameworkHeartbeatIntervalMs: options.frameworkHeartbeatIntervalMs ?? 15_000,
      completedTasksPerFramework: options.completedTasksPerFramework ?? 1000,
      maxCompletedFrameworks: options.maxCompletedFrameworks ?? DEFAULT_MAX_COMPLETED_FRAMEWORKS,
      agentRemovalRate: options.agentRemovalRate,
      resolveSecrets: options.resolveSecrets,
      agentRemovalGuardFraction: options.agentRemovalGuardFraction ?? DEFAULT_GUARD_FRACTION,
      seed: options.seed ?? 1,
      maxOffersPerFramework: options.maxOffersPerFramework ?? 1000,
      weights: options.weights ?? new Map(),
      acceptStaleStore: options.acceptStaleStore ?? false,
    };
  }

  /**
   * Load the registry (agents become 'recovering', frameworks wait for re-subscription). The
   * recovered frameworks' failover timers do not start here but after `serve()` and its grace.
   */
  async start(): Promise<void> {
    const { clusterId, agents, frameworks, removedFrameworks, goneAgents, reservations } = await this.registry.load();
    this.clusterId = clusterId;
    await this.maintenance.load();
    await this.roleConfig.load();
    for (const id of removedFrameworks) this.removedFrameworks.add(id);
    for (const id of goneAgents) this.goneAgents.add(id);
    for (const f of frameworks) {
      const record = this.newFrameworkRecord(f.id, f.info, f.registeredAt);
      record.unregisteredAt = this.now();
      this.frameworks.set(f.id, record);
    }
    for (const a of agents) {
      const { total, ledger } = recoveredTotal(Resources.fromJSON(a.info.resources), reservations.get(a.id));
      this.agents.set(a.id, {
        id: a.id,
        info: a.info,
        hostname: a.info.hostname,
        port: a.info.port,
        total,
        attributes: a.info.attributes ?? [],
        used: Resources.EMPTY,
        offered: Resources.EMPTY,
        status: 'recovering',
        registeredAt: a.registeredAt,
        lastSeen: this.now(),
        registryRevision: a.revision,
        ...(ledger.length === 0 ? {} : { reservations: ledger }),
      });
      this.maintenance.attach(this.agents.get(a.id)!);
    }
    this.timers.push(setInterval(() => this.runAllocation(), this.options.allocationIntervalMs));
    // Checked at least every second: the check's own period adds to the detection time.
    this.timers.push(setInterval(() => this.checkAgents(), Math.max(50, Math.min(1000, Math.floor(this.options.agentHeartbeatIntervalMs / 2)))));
    this.timers.push(setInterval(() => this.heartbeatFrameworks(), this.options.frameworkHeartbeatIntervalMs));
    this.timers.push(setInterval(() => this.pingAgents(), this.agentPingIntervalMs));
    if (this.options.offerTimeoutMs !== undefined) {
      this.timers.push(setInterval(() => this.expireOffers(), Math.max(50, Math.floor(this.options.offerTimeoutMs / 4))));
    }
    for (const t of this.timers) t.unref();
    this.log.info({ masterId: this.id, clusterId, agents: agents.length, frameworks: frameworks.length }, 'master-started');
  }

  /**
   * The master answers requests now (its HTTP server listens): recovered frameworks get
   * `frameworkReregistrationGraceMs` to re-subscribe before their failover timers start
   * (framework-failover.ts). Called by the composition root after `listen`, after a restart and
   * after every HA election alike.
   */
  serve(): void {
    if (!this.stopped) this.failover.serve();
  }

  /** A framework known without a connection: its failover timer starts after the grace. */
  awaitReregistration(framework: FrameworkRecord): void {
    this.failover.awaitReregistration(framework);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.failover.stop();
    for (const f of this.frameworks.values()) f.stream?.close();
    for (const a of this.agents.values()) a.stream?.close();
    for (const o of this.operatorStreams) o.close();
    await this.registry.flush();
  }

  /**
   * Before a launch or a kill reaches an agent: is this master still the leader? A master paused
   * (SIGSTOP, a long GC, a VM freeze) past its lease wakes up with timers due and offers in hand;
   * without this check it would launch duplicates of what its successor already started. One
   * store round trip confirms it for the next second; concurrent callers share it. Without HA
   * (no checkLeadership) this is free.
   */
  async confirmLeadership(): Promise<void> {
    const check = this.checkLeadership;
    if (check === undefined) return;
    if (performance.now() - this.leadershipConfirmedAt < 1000) return;
    this.leadershipCheck ??= check()
      .then(() => {
        this.leadershipConfirmedAt = performance.now();
      })
      .finally(() => {
        this.leadershipCheck = undefined;
      });
    await this.leadershipCheck;
  }

  // ---- ids ----------------------------------------------------------------------------------

  nextFrameworkId(): string {
    return `${this.id}-${String(this.frameworkCounter++).padStart(4, '0')}`;
  }

  nextAgentId(): string {
    return `${this.id}-S${this.agentCounter++}`;
  }

  // ---- frameworks ---------------------------------------------------------------------------

  newFrameworkRecord(id: string, info: FrameworkRecord['info'], registeredAt: number): FrameworkRecord {
    const roles = info.roles && info.roles.length > 0 ? info.roles : [info.role ?? '*'];
    const capabilities = new Set((info.capabilities ?? []).map((c) => c.type));
    return {
      id,
      info: { ...info, id: { value: id } },
      roles,
      partitionAware: capabilities.has('PARTITION_AWARE'),
      killingState: capabilities.has('TASK_KILLING_STATE'),
      failoverTimeoutMs: Math.min((info.failover_timeout ?? 0) * 1000, 2 ** 31 - 1),
      suppressedRoles: new Set(),
      refusals: new Map(),
      registeredAt,
    };
  }

  /** A disconnected framework is torn down when its failover timeout passes without a return. */
  startFailoverTimer(framework: FrameworkRecord): void {
    this.failover.start(framework);
  }

  /** A framework re-subscribed: its failover timer, if any, stops. */
  cancelFailoverTimer(framework: FrameworkRecord): void {
    this.failover.cancel(framework);
  }

  /** Kill every task of the framework, drop its offers, and forget it for good. */
  removeFramework(framework: FrameworkRecord, why: string): void {
    this.cancelFailoverTimer(framework);
    for (const offer of [...this.offers.values()]) if (offer.frameworkId === framework.id) this.removeOffer(offer);
    for (const task of this.tasks.ofFramework(framework.id)) {
      this.sendToAgent(task.agentId, { type: 'KILL', kill: { framework_id: { value: framework.id }, task_id: { value: task.id } } });
      this.applyStatus(task, this.masterStatus(task, 'TASK_KILLED', 'REASON_FRAMEWORK_REMOVED', `Framework removed: ${why}`));
    }
    for (const agent of this.agents.values()) {
      this.sendToAgent(agent.id, { type: 'SHUTDOWN_FRAMEWORK', shutdown_framework: { framework_id: { value: framework.id } } });
    }
    this.frameworks.delete(framework.id);
    this.removedFrameworks.add(framework.id);
    // Its tasks were just completed above (TASK_KILLED): they leave with it, into the views'
    // completed_frameworks, instead of staying listed under a framework that no longer exists.
    framework.unregisteredAt ??= this.now();
    this.completedFrameworks.add(framework, this.completedTasks.get(framework.id) ?? [], this.now());
    this.completedTasks.delete(framework.id);
    framework.stream?.send({ type: 'ERROR', error: { message: `Framework removed: ${why}` } });
    framework.stream?.close();
    this.registry.removeFramework(framework.id);
    this.publish(operatorEvents.frameworkRemoved(framework));
    this.metrics.frameworksRemoved.inc();
    this.log.info({ frameworkId: framework.id, why }, 'framework-removed');
  }

  sendToFramework(frameworkId: string, event: unknown): boolean {
    const framework = this.frameworks.get(frameworkId);
    if (!framework?.stream?.isOpen) return false;
    framework.stream.send(event);
    return true;
  }

  publish(event: unknown): void {
    for (const stream of this.operatorStreams) stream.send(event);
  }

  /** Send a status to its framework, mapped to TASK_LOST for frameworks that are not partition-aware. */
  sendStatus(frameworkId: string, status: TaskStatus): void {
    const framework = this.frameworks.get(frameworkId);
    if (!framework) return;
    const mapped = !framework.partitionAware && PARTITION_AWARE_STATES.has(status.state) ? { ...status, state: 'TASK_LOST' as const } : status;
    this.sendToFramework(frameworkId, { type: 'UPDATE', update: { status: mapped } });
    this.metrics.statusUpdates.inc({ state: mapped.state });
  }

  masterStatus(task: Pick<TaskRecord, 'id' | 'agentId'>, state: TaskState, reason: TaskStatusReason, message: string): TaskStatus {
    return {
      task_id: { value: task.id },
      agent_id: { value: task.agentId },
      state,
      source: 'SOURCE_MASTER',
      reason,
      message,
      timestamp: this.now() / 1000,
    };
  }

  // ---- tasks --------------------------------------------------------------------------------

  taskKey(frameworkId: string, taskId: string): string {
    return `${frameworkId}\u0000${taskId}`;
  }

  findTask(frameworkId: string, taskId: string): TaskRecord | undefined {
    return this.tasks.get(frameworkId, taskId);
  }

  /** The task's record among the framework's completed tasks (kept in memory, bounded), if any. */
  findCompletedTask(frameworkId: string, taskId: string): TaskRecord | undefined {
    const task = this.completedTasks.get(frameworkId)?.findLast((t) => t.id === taskId);
    return task && isTerminalState(task.state) ? task : undefined;
  }

  /**
   * Apply a status to a task through the transition table. A refused transition (a stale or
   * reordered update) leaves the task as it is. A terminal state frees the task's resources.
   */
  applyStatus(task: TaskRecord, status: TaskStatus): boolean {
    const result = transition(task.state, status.state);
    if (!result.ok) {
      this.log.debug({ taskId: task.id, before: result.before, after: result.after, reason: result.reason }, 'status-transition-refused');
      return false;
    }
    task.state = canonicalEnum(status.state);
    // A new exact-size array, not push: a pushed-to array reserves 17 slots for its 2 statuses.
    task.statuses = task.statuses.slice(-15).concat([keptStatus(status)]);
    task.statusUuid = status.uuid;
    this.publish(operatorEvents.taskUpdated(task, status));
    if (isTerminalState(status.state)) this.completeTask(task);
    return true;
  }

  private completeTask(task: TaskRecord): void {
    this.tasks.delete(task.frameworkId, task.id);
    const agent = this.agents.get(task.agentId);
    if (agent) agent.used = agent.used.subtract(task.resources);
    this.maintenance.taskEnded(task.agentId);
    const list = this.completedTasks.get(task.frameworkId) ?? [];
    list.push(task);
    if (list.length > this.options.completedTasksPerFramework) list.splice(0, list.length - this.options.completedTasksPerFramework);
    this.completedTasks.set(task.frameworkId, list);
    this.registry.recordCompletedTask(task);
    this.scheduleAllocation();
  }

  // ---- agents -------------------------------------------------------------------------------

  sendToAgent(agentId: string, event: AgentEvent): void {
    const queue = this.agentOutbox.get(agentId) ?? [];
    queue.push(event);
    this.agentOutbox.set(agentId, queue);
    if (!this.outboxScheduled) {
      this.outboxScheduled = true;
      setImmediate(() => this.flushAgentOutbox());
    }
  }

  /** True while a LAUNCH of the task is queued for the agent but not yet written to its stream. */
  launchPending(agentId: string, frameworkId: string, taskId: string): boolean {
    return (this.agentOutbox.get(agentId) ?? []).some((e) => e.type === 'LAUNCH' && e.launch.framework_id.value === frameworkId && e.launch.tasks.some((t) => t.task_id.value === taskId));
  }

  /** Launches and acknowledgements to one agent queued in one tick go out as one event each. */
  private flushAgentOutbox(): void {
    this.outboxScheduled = false;
    for (const [agentId, events] of this.agentOutbox) {
      const agent = this.agents.get(agentId);
      if (!agent?.stream?.isOpen) continue;
      const acks = events.flatMap((e) => (e.type === 'ACKNOWLEDGE' ? e.acknowledge.acknowledgements : []));
      for (const event of events) if (event.type !== 'ACKNOWLEDGE') agent.stream.send(event);
      if (acks.length > 0) agent.stream.send({ type: 'ACKNOWLEDGE', acknowledge: { acknowledgements: acks } });
    }
    this.agentOutbox.clear();
  }

  /**
   * Mark agents that missed too many heartbeats unreachable and tell their tasks' frameworks —
   * as many as the removal limits allow (agent-health.ts); the others are held.
   */
  checkAgents(): void {
    this.health.check(this.now());
  }

  /** Agents held back by the removal limits, and why (GET /master/agent-removal, the UI's banner). */
  agentRemovalStatus(): AgentRemovalStatus {
    return this.health.status(this.now());
  }

  markUnreachable(agent: AgentRecord, why: string): void {
    agent.status = 'unreachable';
    agent.unreachableAt = this.now();
    agent.stream?.close();
    for (const offer of [...this.offers.values()]) {
      if (offer.agentId !== agent.id) continue;
      this.removeOffer(offer);
      this.sendToFramework(offer.frameworkId, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
    }
    for (const task of this.tasks.onAgent(agent.id)) {
      const status = this.masterStatus(task, 'TASK_UNREACHABLE', 'REASON_AGENT_DISCONNECTED', `Agent ${agent.hostname} is unreachable: ${why}`);
      if (this.applyStatus(task, status)) this.sendStatus(task.frameworkId, status);
    }
    this.publish(operatorEvents.agentRemoved(agent));
    this.metrics.agentsUnreachable.inc();
    this.log.warn({ agentId: agent.id, hostname: agent.hostname, why }, 'agent-unreachable');
  }

  /**
   * Remove an agent for good: its machine rebooted (the new boot's agent registered under a new
   * id), or a new agent registered at its address. Its tasks cannot come back: TASK_GONE with
   * REASON_AGENT_REMOVED from SOURCE_MASTER (frameworks that are not PARTITION_AWARE get
   * TASK_LOST, by `sendStatus`), so a framework can tell an agent loss from a task failure. The
   * registry forgets the agent and refuses its id from now on.
   */
  async removeAgentAsGone(agent: AgentRecord, why: string): Promise<void> {
    await this.registry.removeAgentAsGone(agent.id, why, this.now());
    this.agents.delete(agent.id);
    this.goneAgents.add(agent.id);
    delete agent.removalHeldSince;
    this.health.forget(agent.id);
    agent.stream?.close();
    this.rescindOffersOn(agent.id);
    for (const task of this.tasks.onAgent(agent.id)) {
      const status = this.masterStatus(task, 'TASK_GONE', 'REASON_AGENT_REMOVED', `Agent ${agent.hostname} was removed: ${why}`);
      if (this.applyStatus(task, status)) this.sendStatus(task.frameworkId, status);
    }
    this.publish(operatorEvents.agentRemoved(agent));
    this.metrics.agentsRemoved.inc();
    this.log.warn({ agentId: agent.id, hostname: agent.hostname, why }, 'agent-removed');
  }

  // ---- offers and allocation ----------------------------------------------------------------

  removeOffer(offer: OfferRecord): void {
    if (!this.offers.delete(offer)) return;
    const agent = this.agents.get(offer.agentId);
    if (agent) agent.offered = agent.offered.subtract(offer.resources);
  }

  refuse(framework: FrameworkRecord, agentId: string, refuseSeconds: number | undefined): void {
    const seconds = Math.min(refuseSeconds ?? DEFAULT_REFUSE_SECONDS, MAX_REFUSE_SECONDS);
    if (seconds <= 0) return;
    framework.refusals.set(agentId, this.now() + seconds * 1000);
  }

  /** Run a cycle soon: resources freed up, or a framework revived or subscribed. */
  scheduleAllocation(): void {
    if (this.allocationPending || this.stopped) return;
    this.allocationPending = true;
    setImmediate(() => this.runAllocation());
  }

  runAllocation(): void {
    this.allocationPending = false;
    if (this.stopped) return;
    const started = performance.now();
    // Frameworks first: when none wants offers (all suppressed, the usual state of a settled
    // cluster) there is no cycle — not a pass over every agent. Registering 10,000 agents
    // scheduled a cycle each: O(agents²) of resource math (docs/architecture/006-scale.md).
    if (![...this.frameworks.values()].some((f) => f.stream?.isOpen && f.roles.some((r) => !f.suppressedRoles.has(r)))) return;
    const agents = [];
    const active: AgentRecord[] = [];
    this.pool.beginRound();
    for (const a of this.agents.values()) {
      if (a.status !== 'active' || !a.stream?.isOpen) continue;
      active.push(a);
      // A deactivated (or draining) agent counts toward the cluster total for fair shares but
      // is offered to nobody.
      if (a.maintenance?.deactivated === true) continue;
      agents.push(this.pool.include(a));
    }
    const freeSums = this.pool.finishRound();
    const total = this.pool.scalarTotal(active);
    const frameworks = [];
    const allocatedByFramework = this.allocatedByFramework();
    for (const f of this.frameworks.values()) {
      if (!f.stream?.isOpen) continue;
      frameworks.push({
        id: f.id,
        roles: f.roles,
        suppressedRoles: f.suppressedRoles,
        refusals: f.refusals,
        allocated: allocatedByFramework.get(f.id) ?? new Map<string, Resources>(),
      });
    }
    if (agents.length === 0 || frameworks.length === 0) return;
    const now = this.now();
    const { offers } = allocate({ now, seed: this.options.seed + this.cycle++, total, agents, frameworks, weights: this.roleConfig.weights, quotas: this.roleConfig.quotas, freeSums });
    // Grouped by framework first, so that each OFFERS event is assembled and sent whole before
    // the next begins (offer-json.ts reuses one set of buffers for all of them).
    const byFramework = new Map<string, Array<(typeof offers)[number]>>();
    for (const decision of offers) {
      let list = byFramework.get(decision.frameworkId);
      if (list === undefined) byFramework.set(decision.frameworkId, (list = []));
      if (list.length < this.options.maxOffersPerFramework) list.push(decision);
    }
    let made = 0;
    for (const [frameworkId, decisions] of byFramework) {
      const event = this.offerJson.event(frameworkId);
      for (const decision of decisions) {
        const agent = decision.agent.record;
        const offer = this.offers.make(frameworkId, decision.agentId, decision.role, decision.resources, now);
        agent.offered = agent.offered.add(offer.resources);
        event.add(offer, agent);
      }
      made += event.length;
      this.sendToFramework(frameworkId, event.finish());
    }
    this.metrics.offersMade.inc(made);
    this.metrics.allocationSeconds.observe((performance.now() - started) / 1000);
  }

  /** Rescind every outstanding offer on an agent (it is being deactivated or drained). */
  rescindOffersOn(agentId: string): void {
    for (const offer of [...this.offers.values()]) {
      if (offer.agentId !== agentId) continue;
      this.removeOffer(offer);
      this.sendToFramework(offer.frameworkId, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
      this.metrics.offersRescinded.inc();
    }
  }

  /** Ask the agent to kill a task; the grace period is the task's own, capped at `capNs` when given. */
  killOnAgent(task: TaskRecord, capNs: number | undefined): void {
    const own = task.info.kill_policy?.grace_period?.nanoseconds;
    const grace = capNs === undefined ? own : Math.min(own ?? capNs, capNs);
    this.sendToAgent(task.agentId, {
      type: 'KILL',
      kill: { framework_id: { value: task.frameworkId }, task_id: { value: task.id }, ...(grace === undefined ? {} : { kill_policy: { grace_period: { nanoseconds: grace } } }) },
    });
  }

  /**
   * Per framework, per role: resources of its live tasks (kept as a running sum by the task
   * table, not re-added task by task every cycle) plus its outstanding offers. Offers are summed
   * here, as plain numbers: most are answered before the next cycle, so a running sum kept per
   * offer made and removed cost more than this pass (docs/architecture/006-scale.md).
   */
  private allocatedByFramework(): Map<string, Map<string, Resources>> {
    const out = new Map<string, Map<string, Resources>>();
    for (const [frameworkId, roles] of this.tasks.allocated()) out.set(frameworkId, new Map(roles));
    const offers = new AllocationSums();
    for (const o of this.offers.values()) offers.add(o.frameworkId, o.role, o.resources);
    for (const [frameworkId, offered] of offers.view()) {
      let roles = out.get(frameworkId);
      if (roles === undefined) out.set(frameworkId, (roles = new Map()));
      for (const [role, r] of offered) roles.set(role, (roles.get(role) ?? Resources.EMPTY).add(r));
    }
    return out;
  }

  private expireOffers(): void {
    const timeout = this.options.offerTimeoutMs;
    if (timeout === undefined) return;
    const now = this.now();
    for (const offer of [...this.offers.values()]) {
      if (now - offer.createdAt < timeout) continue;
      this.removeOffer(offer);
      this.sendToFramework(offer.frameworkId, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
      this.metrics.offersRescinded.inc();
    }
    this.scheduleAllocation();
  }

  private heartbeatFrameworks(): void {
    for (const f of this.frameworks.values()) f.stream?.send({ type: 'HEARTBEAT' });
    const ping = { type: 'HEARTBEAT' as const, heartbeat: { sent_at: this.now() } };
    for (const a of this.agents.values()) a.stream?.send(ping);
    this.publish({ type: 'HEARTBEAT' });
  }

  private pingAgents(): void {
    const ping = { type: 'HEARTBEAT' as const, heartbeat: { sent_at: this.now() } };
    for (const a of this.agents.values()) if (a.echoesHeartbeats) a.stream?.send(ping);
  }
}
