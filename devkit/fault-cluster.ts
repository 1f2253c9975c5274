/**
 * A real cluster for fault scenarios (devkit/fault-scenarios.ts): one `drover master` (services
 * built in) listening on a private bridge, and `drover agent` processes each in its own network
 * namespace (devkit/netns.ts), so a test can cut, drop or degrade one agent's link while reading
 * every process's own view. Agents marked `relayed` reach the master through a delay relay
 * (devkit/delay-relay.ts) for lossy-link scenarios.
 *
 * TLS is on, as on a default install: the master listens on the bridge, where only HTTPS is
 * allowed, so the agents join with the cluster CA (`--master-ca <data-dir>/ca.crt`, TLS bootstrap
 * and mTLS) and this harness calls the master over HTTPS trusting that CA (`masterUrl`, `api`).
 *
 * `destroy()` deletes the apps, stops every process it started (and any process left in its
 * namespaces), then removes the namespaces and the bridge — call it in `after`, it never throws.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startDrover, type DroverProcess } from './process.ts';
import { TEST_ADMIN_TOKEN } from './credentials.ts';
import { createLan, type Lan, type NetNode, type Peer } from './netns.ts';
import { startDelayRelay, type DelayRelay } from './delay-relay.ts';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import { tlsFetch } from '../src/iam/tls-client.ts';

export interface FaultClusterOptions {
  /** Agents connected straight to the master. */
  agents: number;
  /** Agents connected through a delay relay (named `lossy-<i>`). */
  relayedAgents?: number;
  /** Master flags: heartbeat interval (s) and missed heartbeats before unreachable. */
  heartbeatS: number;
  missedHeartbeats: number;
  /** More master flags, e.g. `['--agent-removal-rate-limit', '1/10mins']`. */
  masterArgs?: string[];
  /** Name prefix of the agents (their --hostname), e.g. `a` → a1, a2… */
  prefix: string;
  /** First of the agents' port ranges (20 ports each; see test/README.md). */
  portBase: number;
}

export interface FaultAgent {
  readonly name: string;
  readonly node: NetNode;
  process: DroverProcess;
  readonly relay?: DelayRelay;
  /** Killed for good: no longer read or stopped. */
  dead: boolean;
}

export interface AppTask {
  id: string;
  state: string;
  host: string;
  stagedAt: string;
  startedAt?: string;
}

export interface SlaveJson {
  id: string;
  hostname: string;
  active: boolean;
  drover_status: string;
  drover_removal_held_since?: number;
}

/**
 * A bound on "never started", not a speed check: with a dozen processes starting at once on a
 * loaded two-core machine (load 60+), a master took over 60 s to print its URL.
 */
const START_TIMEOUT_MS = 240_000;

const TERMINAL = new Set(['TASK_KILLED', 'TASK_FAILED', 'TASK_FINISHED', 'TASK_GONE', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE_BY_OPERATOR']);
const ALIVE = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);

export class FaultCluster {
  readonly agents: FaultAgent[] = [];
  private apps = new Set<string>();

  /** The master's HTTPS URL (the one the agents use). */
  readonly masterUrl: string;
  /** The cluster CA's certificate file the agents are given (`--master-ca`). */
  readonly caFile: string;
  /** fetch to the master: trusts the cluster CA, sends the admin token. */
  readonly api: typeof fetch;
  /** fetch to an agent over HTTPS, as the admin. */
  private readonly agentApi: (url: string, init?: RequestInit) => Promise<Response>;

  private constructor(
    readonly options: FaultClusterOptions,
    readonly lan: Lan,
    readonly root: string,
    readonly master: DroverProcess,
    caPem: string,
  ) {
    // The master prints its plain-HTTP URL (plain HTTP is for loopback peers only); the same port speaks HTTPS.
    this.masterUrl = master.url.replace(/^http:/, 'https:');
    this.caFile = join(root, 'master-data', 'ca.crt');
    const secure = tlsFetch({ caPem });
    this.api = (input, init) => secure(input, { ...init, headers: { authorization: `token=${TEST_ADMIN_TOKEN}`, ...(init?.headers as Record<string, string> | undefined) } });
    // Agents: a certificate of the cluster CA, which binds an agent id (a URI SAN), not the address
    // this harness dials; which agent answers is checked by the state it returns.
    const agents = new UndiciAgent({ connect: { ca: caPem, checkServerIdentity: () => undefined } });
    this.agentApi = (url, init) =>
      undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agents, headers: { authorization: `token=${TEST_ADMIN_TOKEN}` } }) as unknown as Promise<Response>;
  }

  /** The master as the agents' iptables rules name it. */
  get masterPeer(): Peer {
    return { ip: this.lan.hostIp, port: Number(new URL(this.master.url).port) };
  }

  /** The master's detection window: heartbeat interval × missed heartbeats. */
  get detectionWindowMs(): number {
    return this.options.heartbeatS * this.options.missedHeartbeats * 1000;
  }

  /**
   * The longest an agent whose replies are lost keeps sending heartbeats: its silence watchdog
   * (src/agent/master-link.ts: max(30 s, 5 heartbeats)), after which it re-registers.
   */
  get agentSilenceMs(): number {
    return Math.max(30_000, 5 * this.options.heartbeatS * 1000);
  }

  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const root = await mkdtemp(join(tmpdir(), `drover-faults-${options.prefix}-`));
    const lan = createLan();
    let master: DroverProcess | undefined;
    let cluster: FaultCluster | undefined;
    try {
      master = await startDrover(
        [
          'master',
          '--host',
          lan.hostIp,
          '--port',
          '0',
          '--no-jobs',
          '--store',
          `sqlite:${join(root, 'master.db')}`,
          '--allocation-interval',
          '0.2',
          // TLS on (the default): the CA's certificate is written to <data-dir>/ca.crt.
          '--data-dir',
          join(root, 'master-data'),
          '--agent-heartbeat-interval',
          String(options.heartbeatS),
          '--max-missed-heartbeats',
          String(options.missedHeartbeats),
          ...(options.masterArgs ?? []),
        ],
        { timeoutMs: START_TIMEOUT_MS },
      );
      cluster = new FaultCluster(options, lan, root, master, await readFile(join(root, 'master-data', 'ca.crt'), 'utf8'));
      const starts: Array<Promise<void>> = [];
      for (let i = 1; i <= options.agents; i++) starts.push(cluster.addAgent(`${options.prefix}${i}`, false));
      for (let i = 1; i <= (options.relayedAgents ?? 0); i++) starts.push(cluster.addAgent(`${options.prefix}-lossy-${i}`, true));
      await Promise.all(starts);
      const total = options.agents + (options.relayedAgents ?? 0);
      await cluster.until(async () => (await cluster!.slaves()).filter((s) => s.active).length === total, `${total} agents registered`, 120_000);
      // Each agent asks the master once whether the admin may read its state, before any cut.
      for (const agent of cluster.agents) await cluster.agentState(agent);
      return cluster;
    } catch (error) {
      if (cluster) await cluster.destroy();
      else {
        await master?.stop('SIGKILL');
        lan.destroy();
        await rm(root, { recursive: true, force: true });
      }
      throw error;
    }
  }

  private async addAgent(name: string, relayed: boolean): Promise<void> {
    const node = this.lan.addNode();
    const relay = relayed ? await startDelayRelay({ host: this.lan.hostIp, target: { host: this.lan.hostIp, port: this.masterPeer.port } }) : undefined;
    // The relay passes bytes through: TLS end to end, to the same address the certificate names.
    const masterUrl = relay ? `https://${this.lan.hostIp}:${relay.port}` : this.masterUrl;
    const index = this.agents.length;
    // Each agent its own port range (its tasks run in its namespace, but a range names an agent).
    const base = this.options.portBase + index * 20;
    const ports = `[${base}-${base + 19}]`;
    const agent: FaultAgent = {
      name,
      node,
      dead: false,
      ...(relay ? { relay } : {}),
      process: await startDrover(
        [
          'agent',
          '--master',
          masterUrl,
          '--master-ca',
          this.caFile,
          '--host',
          node.ip,
          '--port',
          '0',
          '--work-dir',
          join(this.root, name),
          '--hostname',
          name,
          '--resources',
          `cpus:4;mem:4096;disk:1000;ports:${ports}`,
        ],
        { prefix: node.exec, timeoutMs: START_TIMEOUT_MS },
      ),
    };
    this.agents.push(agent);
  }

  agent(name: string): FaultAgent {
    const found = this.agents.find((a) => a.name === name);
    if (!found) throw new Error(`no agent ${name}`);
    return found;
  }

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const send = (): Promise<Response> =>
      this.api(`${this.masterUrl}${path}`, {
        method,
        signal: AbortSignal.timeout(30_000),
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    const response = method === 'GET' ? await withRetries(send) : await send();
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // text answers stay text
    }
    return { status: response.status, body: parsed };
  }

  async createApp(app: { id: string } & Record<string, unknown>): Promise<void> {
    const r = await this.call('POST', '/v2/apps', app);
    if (r.status !== 201) throw new Error(`POST /v2/apps ${app.id}: ${r.status} ${JSON.stringify(r.body)}`);
    this.apps.add(app.id);
  }

  async deleteApp(id: string): Promise<void> {
    await this.call('DELETE', `/v2/apps${id}?force=true`);
    this.apps.delete(id);
    await this.until(async () => (await this.liveOnAgents(taskPrefix(id))).length === 0, `${id}'s tasks gone from the agents`, 60_000).catch(() => undefined);
  }

  /** The app's tasks as the services framework shows them (`/v2/apps/ID/tasks`). */
  async tasks(appId: string): Promise<AppTask[]> {
    const r = await this.call('GET', `/v2/apps${appId}/tasks`);
    return r.status === 200 ? (r.body as { tasks: AppTask[] }).tasks : [];
  }

  async slaves(): Promise<SlaveJson[]> {
    return ((await this.call('GET', '/master/state')).body as { slaves: SlaveJson[] }).slaves;
  }

  /** One agent's own view (GET /state on the agent, which iptables rules never block). */
  async agentState(agent: FaultAgent): Promise<{ id: string | null; registered: boolean; tasks: Array<{ id: string; state: string; pid: number | null }>; unacknowledged_updates: number }> {
    // The agent is in its own namespace, no address of this one: the admin token is named, not implied.
    // While it is cut off it answers from the master's remembered answer (caller-authorizer.ts).
    // Over HTTPS: with TLS an agent answers plain HTTP from loopback only, and this harness is not in
    // its namespace.
    const url = `${agent.process.url.replace(/^http:/, 'https:')}/state`;
    const r = await withRetries(() => this.agentApi(url, { signal: AbortSignal.timeout(20_000) }));
    if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Awaited<ReturnType<FaultCluster['agentState']>>;
  }

  /**
   * Tasks whose id starts with `prefix` that really run, as every live agent reports them — the
   * ground truth for duplicates (the frameworks' views may lag or be wrong).
   */
  async liveOnAgents(prefix: string): Promise<Array<{ id: string; state: string; agent: string }>> {
    const out: Array<{ id: string; state: string; agent: string }> = [];
    for (const agent of this.agents) {
      if (agent.dead) continue;
      const s = await this.agentState(agent);
      for (const t of s.tasks) if (t.id.startsWith(prefix) && ALIVE.has(t.state)) out.push({ id: t.id, state: t.state, agent: agent.name });
    }
    return out;
  }

  /** Kill -9 the agent and every process in its namespace (its tasks): a machine gone for good. */
  async killForGood(agent: FaultAgent): Promise<void> {
    agent.dead = true;
    agent.process.child.kill('SIGCONT');
    await agent.process.stop('SIGKILL');
    for (const pid of this.lan.pids(agent.node)) killQuietly(pid);
  }

  /** Polls `check` until it holds (returns a value other than undefined/false): devkit's eventually(). */
  until<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs: number): Promise<T> {
    return eventually(check, what, timeoutMs);
  }

  async destroy(): Promise<void> {
    for (const agent of this.agents) {
      this.lan.heal(agent.node);
      agent.process.child.kill('SIGCONT');
      agent.relay?.setMaxDelay(0);
    }
    for (const id of [...this.apps]) await this.deleteApp(id).catch(() => undefined);
    for (const agent of this.agents) {
      await agent.process.stop().catch(() => undefined);
      await agent.relay?.close().catch(() => undefined);
      // Tasks left behind (their agent stopped before it could kill them) are ours to end.
      for (const pid of this.lan.pids(agent.node)) killQuietly(pid);
    }
    await this.master.stop().catch(() => undefined);
    this.lan.destroy();
    await rm(this.root, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * A read sent again when the connection failed (fetch's TypeError): a kept-alive socket the
 * server closed as it was reused ("other side closed") is not what a scenario measures.
 */
async function withRetries(send: () => Promise<Response>): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof TypeError) || attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Services task ids are `<app path with dots>.<instance>…`: `/steady` → `steady.`. */
export function taskPrefix(appId: string): string {
  return `${appId.replace(/^\//, '').replaceAll('/', '_')}.`;
}

export const isTerminal = (state: string): boolean => TERMINAL.has(state);
export const isAlive = (state: string): boolean => ALIVE.has(state);
