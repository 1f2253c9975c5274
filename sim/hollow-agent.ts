/**
 * A HollowAgent: the real agent's master link (src/agent/master-link.ts) and status update
 * manager (src/agent/status-updates/) talking the real protocol to a real master over loopback,
 * with a hollow containerizer instead of processes. What it leaves out, on purpose: checkpoints
 * on disk (persist is a no-op), sandboxes, the fetcher, the agent's HTTP server (the port it
 * reports is never dialled), health checks. So a fleet of thousands fits in one process and the
 * master is what gets measured.
 *
 * A launched task goes TASK_STARTING at once, TASK_RUNNING after `runningAfterMs`, and — when
 * `exitAfterMs` is set — ends after a uniform pick from that range: TASK_FAILED with probability
 * `failRate`, else TASK_FINISHED. A KILL ends it TASK_KILLED. Updates are retried until
 * acknowledged, one task's in order, exactly as the real agent does (the same code sends them).
 *
 * A partition (`partition()`, the `partition` scenario) stops the agent's link: its stream ends,
 * heartbeats and status updates stop, and it does not try to re-register — what the master sees
 * of an agent cut off by the network. Its tasks keep running. `heal()` starts the link again: it
 * re-registers under its id with its tasks, as an agent whose network came back does.
 *
 * The agent also checks the master: a LAUNCH that would over-commit it, or hand out a port a live
 * task already holds, is counted as a violation (the correctness test asserts there are none).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../src/log/index.ts';
import type { AgentCall, AgentEvent, AgentStatusUpdate, AttributeJson } from '../src/protocol/mesos/agent-link.ts';
import type { TaskState } from '../src/protocol/mesos/enums.ts';
import type { TaskInfo } from '../src/protocol/mesos/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { MasterLink, type MasterLinkOptions } from '../src/agent/master-link.ts';
import { StatusUpdateManager } from '../src/agent/status-updates/status-update-manager.ts';
import { RECONNECT_BACKOFF, STATUS_UPDATE_BACKOFF } from '../src/agent/backoff-policies.ts';
import { systemClock } from '../src/clock/clock.ts';
import { newAgentKey } from '../src/iam/tls-ca.ts';
import { tlsDispatcher } from '../src/iam/tls-client.ts';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import { dispatcherPost } from './call-pool.ts';

/**
 * A TLS hollow agent's connections to the master: its REGISTER stream and one for its calls (a
 * heartbeat waits behind an update). A thousand agents on one loaded machine with up to 8 each
 * made handshakes during the launch burst, which timed out under CPU contention and set status
 * updates back by their retry backoff (10 s, 20 s, …): the sim's cost, not the master's.
 */
const CONNECTIONS = 2;

export interface TaskBehaviour {
  /** TASK_STARTING → TASK_RUNNING after this long (ms). */
  runningAfterMs: number;
  /** When set, a running task ends after a uniform pick in [min, max] ms. */
  exitAfterMs?: readonly [number, number];
  /** Fraction of ending tasks that fail (TASK_FAILED); the rest finish (TASK_FINISHED). */
  failRate?: number;
}

export interface HollowAgentOptions {
  masterUrl: string;
  hostname: string;
  resources: Resources;
  attributes?: AttributeJson[];
  behaviour: TaskBehaviour;
  logger: Logger;
  /** Seconds between heartbeats instead of the master's (the real agent's override). */
  heartbeatIntervalOverride?: number;
  random?: () => number;
  /** How calls are posted (MasterLinkOptions.post): the fleet's pool. */
  post?: MasterLinkOptions['post'];
  /** The agent bootstrap token to join with; default $DROVER_AGENT_TOKEN (devkit/credentials.ts sets it). */
  bootstrapToken?: string;
  /**
   * The cluster CA (PEM): join over HTTPS by TLS bootstrap as the real agent does (a CSR with the
   * first REGISTER, the certificate from REGISTERED, mTLS from then on). Each agent then has its
   * own connections (its certificate is its own): `post` is not used; its calls go out with
   * undici's `request` on the agent's own dispatcher (fetch's streams cost the one fleet thread
   * more than the master's TLS costs it).
   */
  caPem?: string;
}

/** What a fleet reports: counts, plus the violations the correctness test asserts are zero. */
export interface HollowAgentStats {
  registered: number;
  /** Live tasks (not terminal). */
  tasks: number;
  running: number;
  launched: number;
  ended: number;
  killed: number;
  updatesSent: number;
  acknowledged: number;
  /** Updates not yet acknowledged by the framework (via the master). */
  unacknowledged: number;
  overcommits: number;
  duplicatePorts: number;
  duplicateLaunches: number;
  violations: string[];
  /** Warnings of the fleet's agents by event and reason, counted (agent-fleet.ts). */
  warnings?: Record<string, number>;
}

interface HollowTask {
  frameworkId: string;
  taskId: string;
  resources: Resources;
  ports: number[];
  state: TaskState;
  exitTimer?: NodeJS.Timeout;
}

const MAX_VIOLATIONS_KEPT = 20;

export class HollowAgent {
  private readonly link: MasterLink;
  private readonly updates: StatusUpdateManager;
  private readonly tasks = new Map<string, HollowTask>();
  /** port → task key holding it. */
  private readonly portsInUse = new Map<number, string>();
  private used = Resources.EMPTY;
  private id: string | undefined;
  private readonly random: () => number;
  private cutOff = false;
  /** Tasks killed (KILL from the master), by app (the task id's prefix), since the last reset. */
  readonly killedByApp = new Map<string, number>();
  readonly stats = {
    launched: 0,
    ended: 0,
    killed: 0,
    updatesSent: 0,
    acknowledged: 0,
    unacknowledged: 0,
    overcommits: 0,
    duplicatePorts: 0,
    duplicateLaunches: 0,
    violations: [] as string[],
  };

  private token: string | undefined;
  /** TLS: key, pending CSR, and the fetch that presents the certificate once it came. */
  private tlsKey: string | undefined;
  private csr: string | undefined;
  private masterFetch: typeof fetch | undefined;
  private dispatcher: Dispatcher | undefined;

  constructor(private readonly options: HollowAgentOptions) {
    this.random = options.random ?? Math.random;
    this.updates = new StatusUpdateManager({
      send: async (updates) => {
        this.stats.updatesSent += updates.length;
        return (await this.link.call({ type: 'UPDATE', update: { updates } })) === 'accepted';
      },
      // Hollow: nothing on disk. The real agent checkpoints here; the protocol is unchanged.
      persist: async () => undefined,
      backoff: STATUS_UPDATE_BACKOFF,
      clock: systemClock,
      logger: options.logger,
    });
    const bootstrapToken = options.bootstrapToken ?? (process.env['DROVER_AGENT_TOKEN'] || undefined);
    this.link = new MasterLink({
      masterUrl: options.masterUrl,
      // Its own token once registered (kept in memory: a hollow agent has no disk), as the real agent.
      credential: () => this.token ?? bootstrapToken,
      registerCall: () => this.registerCall(),
      ...(options.caPem === undefined ? {} : { fetch: () => this.masterFetch ?? fetch }),
      ...(options.caPem === undefined ? {} : { post: dispatcherPost(() => this.switchDispatcher(this.dispatcher ?? tlsDispatcher({ caPem: options.caPem!, connections: CONNECTIONS }))) }),
      onRegistered: async (registered) => {
        this.id = registered.agent_id.value;
        if (registered.agent_token !== undefined) this.token = registered.agent_token;
        if (registered.agent_certificate !== undefined && options.caPem !== undefined && this.tlsKey !== undefined) {
          this.switchDispatcher(tlsDispatcher({ caPem: options.caPem, certPem: registered.agent_certificate, keyPem: this.tlsKey, connections: CONNECTIONS }));
          this.csr = undefined;
        }
        this.updates.resume();
      },
      onEvent: (event) => this.onEvent(event),
      onDisconnected: () => this.updates.pause(),
      reconnectBackoff: RECONNECT_BACKOFF,
      ...(options.heartbeatIntervalOverride === undefined ? {} : { heartbeatIntervalOverride: options.heartbeatIntervalOverride }),
      // Under a saturated master a call can take long; a spurious timeout only causes a retry.
      callTimeoutMs: 60_000,
      silenceTimeoutMs: 120_000,
      // Pinged only with the framework heartbeats (master.ts agentPingIntervalMs); the sim's cuts are two-way.
      echoHeartbeats: false,
      ...(options.post && options.caPem === undefined ? { post: options.post } : {}),
      logger: options.logger,
    });
  }

  /** The agent's connections to the master from now on (its certificate's, once it has one). */
  private switchDispatcher(dispatcher: Dispatcher): Dispatcher {
    if (dispatcher !== this.dispatcher) {
      void this.dispatcher?.close().catch(() => undefined);
      this.dispatcher = dispatcher;
      this.masterFetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
        undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as typeof fetch;
    }
    return dispatcher;
  }

  get agentId(): string | undefined {
    return this.id;
  }

  get registered(): boolean {
    return this.link.connected;
  }

  start(): void {
    this.link.start();
  }

  async stop(): Promise<void> {
    for (const task of this.tasks.values()) if (task.exitTimer) clearTimeout(task.exitTimer);
    await this.link.stop();
    this.updates.close();
  }

  get hostname(): string {
    return this.options.hostname;
  }

  get partitioned(): boolean {
    return this.cutOff;
  }

  /** Cut off from the master: no stream, no heartbeats, no updates, no re-registration. */
  async partition(): Promise<void> {
    if (this.cutOff) return;
    this.cutOff = true;
    await this.link.stop();
  }

  /** The network is back: re-register (same id, same tasks). */
  heal(): void {
    if (!this.cutOff) return;
    this.cutOff = false;
    this.link.start();
  }

  /** Live tasks by app (the task id's prefix). */
  tasksByApp(): Map<string, number> {
    const out = new Map<string, number>();
    for (const t of this.tasks.values()) out.set(appOf(t.taskId), (out.get(appOf(t.taskId)) ?? 0) + 1);
    return out;
  }

  liveTasks(): { tasks: number; running: number } {
    let running = 0;
    for (const t of this.tasks.values()) if (t.state === 'TASK_RUNNING') running++;
    return { tasks: this.tasks.size, running };
  }

  private async registerCall(): Promise<AgentCall> {
    const call = this.plainRegisterCall();
    if (this.options.caPem !== undefined) {
      if (this.masterFetch === undefined) this.switchDispatcher(tlsDispatcher({ caPem: this.options.caPem, connections: CONNECTIONS }));
      if (this.tlsKey === undefined || this.csr !== undefined) {
        if (this.csr === undefined) {
          const { keyPem, csrPem } = await newAgentKey();
          this.tlsKey = keyPem;
          this.csr = csrPem;
        }
        call.register!.csr = this.csr;
      }
    }
    return call;
  }

  private plainRegisterCall(): AgentCall {
    const call: AgentCall = {
      type: 'REGISTER',
      register: {
        agent_info: { hostname: this.options.hostname, port: 5051, resources: this.options.resources.toJSON(), attributes: this.options.attributes ?? [] },
        tasks: [...this.tasks.values()].map((t) => ({
          framework_id: { value: t.frameworkId },
          task_info: { name: t.taskId, task_id: { value: t.taskId }, agent_id: { value: this.id ?? '' }, resources: t.resources.toJSON(), command: { value: 'hollow' } } as TaskInfo,
          state: t.state,
        })),
      },
    };
    if (this.id !== undefined) {
      call.agent_id = { value: this.id };
      call.register!.agent_info.id = { value: this.id };
    }
    return call;
  }

  private onEvent(event: AgentEvent): void {
    switch (event.type) {
      case 'LAUNCH':
        this.launch(event.launch.framework_id.value, event.launch.tasks);
        break;
      case 'KILL':
        this.kill(event.kill.framework_id.value, event.kill.task_id.value);
        break;
      case 'ACKNOWLEDGE':
        for (const ack of event.acknowledge.acknowledgements) {
          void this.updates.acknowledge(ack.framework_id.value, ack.task_id.value, ack.uuid).then((known) => {
            if (!known) return;
            this.stats.acknowledged++;
            this.stats.unacknowledged--;
          });
        }
        break;
      case 'SHUTDOWN_FRAMEWORK':
        for (const t of [...this.tasks.values()]) if (t.frameworkId === event.shutdown_framework.framework_id.value) this.kill(t.frameworkId, t.taskId);
        break;
      default:
        break;
    }
  }

  private violation(kind: 'overcommits' | 'duplicatePorts' | 'duplicateLaunches', message: string): void {
    this.stats[kind]++;
    if (this.stats.violations.length < MAX_VIOLATIONS_KEPT) this.stats.violations.push(`${this.options.hostname}: ${message}`);
  }

  private launch(frameworkId: string, infos: readonly TaskInfo[]): void {
    const started: HollowTask[] = [];
    for (const info of infos) {
      const taskId = info.task_id.value;
      const key = taskKey(frameworkId, taskId);
      if (this.tasks.has(key)) {
        this.violation('duplicateLaunches', `task ${taskId} launched twice`);
        continue;
      }
      const resources = Resources.fromJSON(info.resources);
      const after = this.used.add(resources);
      if (!this.options.resources.contains(after)) this.violation('overcommits', `task ${taskId} needs ${resources.format()}, in use ${this.used.format()} of ${this.options.resources.format()}`);
      const ports: number[] = [];
      for (const [begin, end] of resources.ports().toArray()) for (let p = begin; p <= end; p++) ports.push(p);
      for (const port of ports) {
        const holder = this.portsInUse.get(port);
        if (holder !== undefined) this.violation('duplicatePorts', `port ${port} given to ${taskId} while ${holder} holds it`);
        else this.portsInUse.set(port, key);
      }
      this.used = after;
      const task: HollowTask = { frameworkId, taskId, resources, ports, state: 'TASK_STARTING' };
      this.tasks.set(key, task);
      this.stats.launched++;
      this.send(task, 'TASK_STARTING');
      started.push(task);
    }
    // One timer per LAUNCH batch, not per task.
    setTimeout(() => {
      for (const task of started) {
        if (task.state !== 'TASK_STARTING') continue;
        task.state = 'TASK_RUNNING';
        this.send(task, 'TASK_RUNNING');
        const range = this.options.behaviour.exitAfterMs;
        if (range !== undefined) {
          const ms = range[0] + this.random() * (range[1] - range[0]);
          task.exitTimer = setTimeout(() => {
            const failed = this.random() < (this.options.behaviour.failRate ?? 0);
            this.end(task, failed ? 'TASK_FAILED' : 'TASK_FINISHED', failed ? 'Command exited with status 1 (hollow)' : 'Command exited with status 0 (hollow)');
          }, ms);
          task.exitTimer.unref();
        }
      }
    }, this.options.behaviour.runningAfterMs).unref();
  }

  private kill(frameworkId: string, taskId: string): void {
    const task = this.tasks.get(taskKey(frameworkId, taskId));
    if (task === undefined) {
      // As the real agent: a kill of an unknown task is answered TASK_LOST (not checkpointed).
      const update = this.update(frameworkId, taskId, 'TASK_LOST', 'The agent does not know this task');
      this.stats.unacknowledged++;
      void this.updates.add(update, { transient: true });
      return;
    }
    this.stats.killed++;
    const app = appOf(taskId);
    this.killedByApp.set(app, (this.killedByApp.get(app) ?? 0) + 1);
    this.end(task, 'TASK_KILLED', 'Command terminated with signal Terminated (hollow)');
  }

  private end(task: HollowTask, state: TaskState, message: string): void {
    if (task.exitTimer) clearTimeout(task.exitTimer);
    const key = taskKey(task.frameworkId, task.taskId);
    if (this.tasks.get(key) !== task) return;
    this.tasks.delete(key);
    for (const port of task.ports) if (this.portsInUse.get(port) === key) this.portsInUse.delete(port);
    this.used = this.used.subtract(task.resources);
    task.state = state;
    this.stats.ended++;
    this.send(task, state, message);
  }

  private send(task: HollowTask, state: TaskState, message?: string): void {
    this.stats.unacknowledged++;
    void this.updates.add(this.update(task.frameworkId, task.taskId, state, message));
  }

  private update(frameworkId: string, taskId: string, state: TaskState, message?: string): AgentStatusUpdate {
    return {
      framework_id: { value: frameworkId },
      status: {
        task_id: { value: taskId },
        state,
        source: state === 'TASK_LOST' ? 'SOURCE_AGENT' : 'SOURCE_EXECUTOR',
        agent_id: { value: this.id ?? '' },
        timestamp: Date.now() / 1000,
        uuid: randomBytes(16).toString('base64'),
        ...(message === undefined ? {} : { message }),
      },
    };
  }
}

/** The app part of a services task id (`sim_partition_app-0001.instance-….`), or the whole id. */
function appOf(taskId: string): string {
  const i = taskId.indexOf('.instance-');
  return i < 0 ? taskId : taskId.slice(0, i);
}

function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}\u0000${taskId}`;
}
