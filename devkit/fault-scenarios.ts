/**
 * Fault scenarios over a FaultCluster (devkit/fault-cluster.ts), shared by the fault suite
 * (test/faults-*.test.ts, short timeouts, asserts the outcomes) and `npm run bench -- faults`
 * (default timeouts, prints the figures). Each scenario makes a real fault on a real link or
 * process, waits for the cluster to react, heals, and returns its figures: detection time, time
 * to replacement, counts during and after, and duplicates — counted on the agents themselves
 * (`liveOnAgents`), not in a framework's view. Times are ms from the fault (or the heal).
 *
 * Scenarios never assert; they throw only when something they wait for never happens.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpSchedulerTransport } from '../src/frameworks/sdk/http-transport.ts';
import type { SchedulerConnection } from '../src/frameworks/sdk/scheduler.ts';
import { Resources } from '../src/resources/index.ts';
import { isAlive, isTerminal, taskPrefix, type AppTask, type FaultAgent, type FaultCluster } from './fault-cluster.ts';
import { TEST_ADMIN_TOKEN } from './credentials.ts';

const running = (list: AppTask[]): AppTask[] => list.filter((t) => t.state === 'TASK_RUNNING');

/**
 * On the candidate agents, at most as many per agent as lets the others take every instance when
 * one is lost: the instances spread (some stay reachable), and the replacements find room.
 */
function spread(candidates: readonly string[], instances: number): string[][] {
  const maxPer = Math.ceil(instances / Math.max(1, candidates.length - 1));
  return [
    ['hostname', 'LIKE', candidates.join('|')],
    ['hostname', 'MAX_PER', String(maxPer)],
  ];
}

/** One sample of an observation loop; a read that failed is a sample missed, not the scenario's end. */
async function sample(read: () => Promise<void>): Promise<void> {
  try {
    await read();
  } catch {
    // the next sample follows in a moment
  }
}

/** How long to wait for anything the detection depends on: generous, a loaded machine is slow. */
function bound(c: FaultCluster): number {
  return c.detectionWindowMs + c.agentSilenceMs + 120_000;
}

export interface PartitionFigures {
  scenario: string;
  agent: string;
  instances: number;
  /** Instances on the partitioned agent. */
  away: number;
  detectionMs: number;
  replacementMs: number;
  /** While partitioned, after replacement: tasks running per services, unreachable, and really live on all agents. */
  during: { running: number; unreachable: number; live: number };
  /** Most tasks services showed RUNNING at once while partitioned (never above instances + away). */
  maxRunningDuring: number;
  healedMs: number;
  after: { tasks: number; running: number; live: number };
  duplicates: number;
  /** Which instances were killed on return: the replacements (YOUNGEST_FIRST) or the originals. */
  killedOnReturn: 'replacements' | 'originals' | 'mixed' | 'none';
}

/**
 * An agent cut off from the master (`both` ways, or one way: `out` = agent → master dropped,
 * `in` = master → agent dropped) for `holdMs` after its instances were replaced, then healed.
 */
export async function partitionScenario(
  c: FaultCluster,
  options: { appId: string; direction: 'both' | 'out' | 'in'; instances: number; inactiveAfterSeconds: number; holdMs: number; candidates: readonly string[] },
): Promise<PartitionFigures> {
  const { appId, instances } = options;
  const prefix = taskPrefix(appId);
  await c.createApp({
    id: appId,
    cmd: 'sleep 3600',
    cpus: 0.05,
    mem: 16,
    instances,
    constraints: spread(options.candidates, instances),
    unreachableStrategy: { inactiveAfterSeconds: options.inactiveAfterSeconds, expungeAfterSeconds: 3600 },
    killSelection: 'YOUNGEST_FIRST',
  });
  const before = await c.until(
    async () => {
      const list = running(await c.tasks(appId));
      return list.length === instances ? list : undefined;
    },
    `${appId}: ${instances} running`,
    120_000,
  );
  const victim = c.agent(before[0]!.host);
  const away = before.filter((t) => t.host === victim.name).length;

  const t0 = Date.now();
  c.lan.partition(victim.node, options.direction, c.masterPeer);
  let maxRunningDuring = 0;
  await c.until(
    async () => {
      const list = await c.tasks(appId);
      maxRunningDuring = Math.max(maxRunningDuring, running(list).length);
      return list.some((t) => t.host === victim.name && t.state === 'TASK_UNREACHABLE');
    },
    `${appId}: ${victim.name} unreachable`,
    bound(c),
  );
  const detectionMs = Date.now() - t0;
  const replaced = await c.until(
    async () => {
      const list = running(await c.tasks(appId));
      maxRunningDuring = Math.max(maxRunningDuring, list.length);
      const elsewhere = list.filter((t) => t.host !== victim.name);
      return elsewhere.length === instances ? elsewhere : undefined;
    },
    `${appId}: replacements running`,
    bound(c),
  );
  const replacementMs = Date.now() - t0;
  const replacements = replaced.filter((t) => !before.some((b) => b.id === t.id));
  // Partitioned "for a while": services must hold steady, neither relaunching nor forgetting.
  const holdUntil = Date.now() + options.holdMs;
  let during = { running: 0, unreachable: 0, live: 0 };
  while (Date.now() < holdUntil) {
    await sample(async () => {
      const list = await c.tasks(appId);
      maxRunningDuring = Math.max(maxRunningDuring, running(list).filter((t) => t.host !== victim.name).length);
      during = { running: running(list).length, unreachable: list.filter((t) => t.state === 'TASK_UNREACHABLE').length, live: (await c.liveOnAgents(prefix)).length };
    });
    await sleep(500);
  }

  const t1 = Date.now();
  c.lan.heal(victim.node);
  const healed = await c.until(
    async () => {
      const list = await c.tasks(appId);
      const live = await c.liveOnAgents(prefix);
      return list.length === instances && running(list).length === instances && live.length === instances ? list : undefined;
    },
    `${appId}: exactly ${instances} after healing`,
    bound(c),
  );
  const healedMs = Date.now() - t1;
  // Stable for a few heartbeats: nothing relaunched, nothing doubled.
  await sleep(Math.max(3000, 2 * c.options.heartbeatS * 1000));
  const afterList = await c.tasks(appId);
  const live = await c.liveOnAgents(prefix);
  const killedReplacements = replacements.filter((r) => !healed.some((t) => t.id === r.id)).length;
  const killedOriginals = before.filter((b) => !healed.some((t) => t.id === b.id)).length;
  await c.deleteApp(appId);
  return {
    scenario: `partition-${options.direction}`,
    agent: victim.name,
    instances,
    away,
    detectionMs,
    replacementMs,
    during,
    maxRunningDuring,
    healedMs,
    after: { tasks: afterList.length, running: running(afterList).length, live: live.length },
    duplicates: Math.max(0, live.length - instances) + (live.length - new Set(live.map((t) => t.id)).size),
    killedOnReturn: killedReplacements + killedOriginals === 0 ? 'none' : killedOriginals === 0 ? 'replacements' : killedReplacements === 0 ? 'originals' : 'mixed',
  };
}

export interface DeadAgentFigures {
  scenario: 'agent-dead';
  agent: string;
  instances: number;
  away: number;
  detectionMs: number;
  replacementMs: number;
  /** After the unreachable instances are expunged: tasks services shows, and live on the agents. */
  after: { tasks: number; running: number; live: number };
}

/** An agent and its tasks killed -9, never back: the app returns to its count elsewhere. */
export async function deadAgentScenario(
  c: FaultCluster,
  options: { appId: string; instances: number; inactiveAfterSeconds: number; expungeAfterSeconds: number; candidates: readonly string[] },
): Promise<DeadAgentFigures> {
  const { appId, instances } = options;
  await c.createApp({
    id: appId,
    cmd: 'sleep 3600',
    cpus: 0.05,
    mem: 16,
    instances,
    constraints: spread(options.candidates, instances),
    unreachableStrategy: { inactiveAfterSeconds: options.inactiveAfterSeconds, expungeAfterSeconds: options.expungeAfterSeconds },
  });
  const before = await c.until(
    async () => {
      const list = running(await c.tasks(appId));
      return list.length === instances ? list : undefined;
    },
    `${appId}: ${instances} running`,
    120_000,
  );
  const victim = c.agent(before[0]!.host);
  const away = before.filter((t) => t.host === victim.name).length;
  const t0 = Date.now();
  await c.killForGood(victim);
  // Detected when the master marks the agent (with expungeAfterSeconds 0 services forgets the
  // instances at once, so they may never show as unreachable in /v2).
  await c.until(async () => (await c.slaves()).some((s) => s.hostname === victim.name && s.drover_status === 'unreachable'), `${victim.name} marked unreachable`, bound(c));
  const detectionMs = Date.now() - t0;
  await c.until(async () => running(await c.tasks(appId)).filter((t) => t.host !== victim.name).length === instances, `${appId}: back at ${instances}`, bound(c));
  const replacementMs = Date.now() - t0;
  // Expunged: services forgets the lost instances; exactly the count remains.
  const list = await c.until(
    async () => {
      const l = await c.tasks(appId);
      return l.length === instances ? l : undefined;
    },
    `${appId}: unreachable instances expunged`,
    options.expungeAfterSeconds * 1000 + bound(c),
  );
  const live = await c.liveOnAgents(taskPrefix(appId));
  await c.deleteApp(appId);
  return { scenario: 'agent-dead', agent: victim.name, instances, away, detectionMs, replacementMs, after: { tasks: list.length, running: running(list).length, live: live.length } };
}

export interface MassPartitionFigures {
  scenario: 'mass-partition';
  agents: number;
  partitioned: number;
  instances: number;
  firstMarkedMs: number;
  /** Observed for `observeMs` after the first marking: most agents marked unreachable and held at once. */
  maxMarked: number;
  maxHeld: number;
  /** Instances replaced (new tasks started) while partitioned, and how many the marked agents held. */
  replaced: number;
  onMarkedAgents: number;
  healedMs: number;
  after: { tasks: number; running: number; live: number };
  duplicates: number;
}

/**
 * A share of the agents cut off both ways at once (a network split): the master's removal
 * limits decide how many are marked unreachable (and so replaced) while `observeMs` passes.
 */
export async function massPartitionScenario(c: FaultCluster, options: { appId: string; partitioned: number; instancesPerAgent: number; observeMs: number }): Promise<MassPartitionFigures> {
  const { appId } = options;
  const prefix = taskPrefix(appId);
  const live = c.agents.filter((a) => !a.dead);
  const instances = options.instancesPerAgent * live.length;
  await c.createApp({
    id: appId,
    cmd: 'sleep 3600',
    cpus: 0.05,
    mem: 16,
    instances,
    constraints: [
      ['hostname', 'LIKE', live.map((a) => a.name).join('|')],
      // Room to spare: the agents still reachable must be able to take the replacements.
      ['hostname', 'MAX_PER', String(options.instancesPerAgent * 2)],
    ],
    unreachableStrategy: { inactiveAfterSeconds: 0, expungeAfterSeconds: 3600 },
  });
  const before = await c.until(
    async () => {
      const list = running(await c.tasks(appId));
      return list.length === instances ? list : undefined;
    },
    `${appId}: ${instances} running`,
    120_000,
  );
  // Cut off the agents holding the most instances: the ones left have the fewest, so room for
  // the replacements of any one of them (MAX_PER twice the mean).
  const count = (a: FaultAgent): number => before.filter((t) => t.host === a.name).length;
  const partition = [...live].sort((x, y) => count(y) - count(x)).slice(0, options.partitioned);
  const names = new Set(partition.map((a) => a.name));
  // An agent marked before the split (a loaded machine that missed the detection window) has
  // spent the rate limit's permit: the figures would then be about that, so say so plainly.
  const markedBefore = await unreachableMarkings(c);
  if (markedBefore > 0) throw new Error(`${markedBefore} agent(s) were marked unreachable before the split: the removal limits' budget is spent, the scenario cannot measure them`);
  const t0 = Date.now();
  for (const agent of partition) c.lan.partition(agent.node, 'both', c.masterPeer);
  const marked = async (): Promise<{ marked: string[]; held: string[] }> => {
    const slaves = (await c.slaves()).filter((s) => names.has(s.hostname));
    return { marked: slaves.filter((s) => s.drover_status === 'unreachable').map((s) => s.hostname), held: slaves.filter((s) => s.drover_removal_held_since !== undefined).map((s) => s.hostname) };
  };
  let seen = await c.until(
    async () => {
      const m = await marked();
      return m.marked.length > 0 ? m : undefined;
    },
    'the first agent marked unreachable',
    bound(c),
  );
  const firstMarkedMs = Date.now() - t0;
  let maxMarked = seen.marked.length;
  let maxHeld = seen.held.length;
  const markedNames = new Set(seen.marked);
  const observeUntil = Date.now() + options.observeMs;
  while (Date.now() < observeUntil) {
    await sample(async () => {
      seen = await marked();
      for (const n of seen.marked) markedNames.add(n);
      maxMarked = Math.max(maxMarked, seen.marked.length);
      maxHeld = Math.max(maxHeld, seen.held.length);
    });
    await sleep(250);
  }
  const list = await c.tasks(appId);
  const replaced = list.filter((t) => !before.some((b) => b.id === t.id)).length;
  const onMarkedAgents = before.filter((t) => markedNames.has(t.host)).length;

  const t1 = Date.now();
  for (const agent of partition) c.lan.heal(agent.node);
  await c.until(
    async () => {
      const l = await c.tasks(appId);
      const lv = await c.liveOnAgents(prefix);
      const slaves = await c.slaves();
      return l.length === instances && running(l).length === instances && lv.length === instances && slaves.every((s) => s.active);
    },
    `${appId}: exactly ${instances} after healing`,
    bound(c),
  );
  const healedMs = Date.now() - t1;
  await sleep(Math.max(3000, 2 * c.options.heartbeatS * 1000));
  const afterList = await c.tasks(appId);
  const lv = await c.liveOnAgents(prefix);
  await c.deleteApp(appId);
  return {
    scenario: 'mass-partition',
    agents: live.length,
    partitioned: partition.length,
    instances,
    firstMarkedMs,
    maxMarked,
    maxHeld,
    replaced,
    onMarkedAgents,
    healedMs,
    after: { tasks: afterList.length, running: running(afterList).length, live: lv.length },
    duplicates: Math.max(0, lv.length - instances) + (lv.length - new Set(lv.map((t) => t.id)).size),
  };
}

/** The master's count of agents marked unreachable since it started (its /metrics). */
async function unreachableMarkings(c: FaultCluster): Promise<number> {
  const text = await (await c.api(`${c.masterUrl}/metrics/prometheus`, { signal: AbortSignal.timeout(30_000) })).text();
  const match = /^drover_master_agents_unreachable_total (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

export interface LossyLinkFigures {
  scenario: 'lossy-link';
  agent: string;
  lossPercent: number;
  maxDelayMs: number;
  lossyMs: number;
  launched: number;
  /** Terminal states the scheduler received, by state. */
  terminal: Record<string, number>;
  /** Tasks without a terminal state at the scheduler at the end (should be 0). */
  missingTerminal: number;
  /** Updates that took a task from a terminal state back to a live one (should be 0). */
  terminalThenAlive: number;
  /** Most unacknowledged status updates on the agent while lossy, and when they reached 0 after the heal. */
  maxUnacknowledged: number;
  drainedMs: number;
  unacknowledgedAfter: number;
  /** How often the agent was marked unreachable meanwhile (TASK_UNREACHABLE updates seen). */
  unreachableUpdates: number;
  /** Up to three tasks that went from terminal back to live, with every update they got. */
  examples: string[];
}

/**
 * A lossy, slow link (`loss` share of packets dropped both ways by iptables, every chunk delayed
 * 0…maxDelayMs by the agent's relay) while a partition-aware v1 framework keeps launching short
 * tasks on that agent. Then the link heals and the framework reconciles, as frameworks do.
 */
export async function lossyLinkScenario(
  c: FaultCluster,
  options: { agent: FaultAgent; loss: number; maxDelayMs: number; lossyMs: number; concurrent: number; taskSeconds: number },
): Promise<LossyLinkFigures> {
  const agent = options.agent;
  if (!agent.relay) throw new Error(`${agent.name} has no relay`);
  const relayPeer = { ip: c.lan.hostIp, port: agent.relay.port };
  const connection: SchedulerConnection = await new HttpSchedulerTransport(c.masterUrl, TEST_ADMIN_TOKEN, c.api).subscribe({
    user: 'root',
    name: `lossy-${agent.name}`,
    failover_timeout: 3600,
    capabilities: [{ type: 'PARTITION_AWARE' }],
  });
  const states = new Map<string, string[]>();
  /** Per task, each update as `STATE/source/uuid-or-none`, for the figures' examples. */
  const trail = new Map<string, string[]>();
  let launching = true;
  let launched = 0;
  let seq = 0;
  const alive = (): number => [...states.values()].filter((s) => !isTerminal(s.at(-1)!)).length;
  const pump = (async () => {
    for await (const event of connection.events()) {
      if (event.type === 'UPDATE') {
        const s = event.update.status;
        states.get(s.task_id.value)?.push(s.state);
        trail.get(s.task_id.value)?.push(`${s.state.replace('TASK_', '')}/${(s.source ?? '').replace('SOURCE_', '')}/${s.uuid ? s.uuid.slice(0, 8) : '-'}`);
        if (s.uuid && s.agent_id) connection.call({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: s.agent_id, task_id: s.task_id, uuid: s.uuid } }).catch(() => undefined);
      } else if (event.type === 'OFFERS') {
        for (const offer of event.offers.offers) {
          const room = options.concurrent - alive();
          if (!launching || offer.hostname !== agent.name || room <= 0) {
            connection.call({ type: 'DECLINE', decline: { offer_ids: [offer.id], filters: { refuse_seconds: 1 } } }).catch(() => undefined);
            continue;
          }
          const tasks = Array.from({ length: room }, () => {
            const id = `lossy-${++seq}`;
            states.set(id, ['LAUNCHED']);
            trail.set(id, []);
            launched++;
            return {
              name: id,
              task_id: { value: id },
              agent_id: offer.agent_id,
              resources: Resources.parse('cpus:0.05;mem:16').toJSON(),
              command: { value: `sleep ${options.taskSeconds}`, shell: true },
            };
          });
          connection
            .call({ type: 'ACCEPT', accept: { offer_ids: [offer.id], operations: [{ type: 'LAUNCH', launch: { task_infos: tasks } }], filters: { refuse_seconds: 0.5 } } })
            .catch(() => undefined);
        }
      }
    }
  })();

  const unacked = async (): Promise<number> => (await c.agentState(agent)).unacknowledged_updates;
  const t0 = Date.now();
  c.lan.lossy(agent.node, options.loss, relayPeer);
  agent.relay.setMaxDelay(options.maxDelayMs);
  let maxUnacknowledged = 0;
  while (Date.now() - t0 < options.lossyMs) {
    maxUnacknowledged = Math.max(maxUnacknowledged, await unacked().catch(() => 0));
    await sleep(500);
  }
  launching = false;
  c.lan.heal(agent.node);
  agent.relay.setMaxDelay(0);
  const t1 = Date.now();
  // The framework's own reconciliation (Mesos' advice after any doubt): ask about every task
  // without a terminal state until each has one.
  let lastReconcile = 0;
  await c
    .until(
      async () => {
        const open = [...states.entries()].filter(([, s]) => !isTerminal(s.at(-1)!)).map(([id]) => id);
        if (open.length > 0 && Date.now() - lastReconcile > 5000) {
          lastReconcile = Date.now();
          await connection.call({ type: 'RECONCILE', reconcile: { tasks: open.map((id) => ({ task_id: { value: id } })) } }).catch(() => undefined);
        }
        return open.length === 0;
      },
      'every task terminal at the scheduler',
      bound(c),
    )
    .catch(() => undefined);
  await c.until(async () => (await unacked()) === 0, 'the agent drained its status updates', bound(c)).catch(() => undefined);
  const drainedMs = Date.now() - t1;
  const unacknowledgedAfter = await unacked();
  await connection.call({ type: 'TEARDOWN' }).catch(() => undefined);
  await connection.close().catch(() => undefined);
  await pump.catch(() => undefined);

  const terminal: Record<string, number> = {};
  let missingTerminal = 0;
  let terminalThenAlive = 0;
  let unreachableUpdates = 0;
  const examples: string[] = [];
  for (const [id, seqOfStates] of states) {
    const first = seqOfStates.findIndex(isTerminal);
    if (first < 0) missingTerminal++;
    else terminal[seqOfStates[first]!] = (terminal[seqOfStates[first]!] ?? 0) + 1;
    if (first >= 0 && seqOfStates.slice(first + 1).some((s) => isAlive(s) || s === 'TASK_UNREACHABLE')) {
      terminalThenAlive++;
      if (examples.length < 3) examples.push(`${id}: ${trail.get(id)!.join(' ')}`);
    }
    unreachableUpdates += seqOfStates.filter((s) => s === 'TASK_UNREACHABLE').length;
  }
  return {
    scenario: 'lossy-link',
    agent: agent.name,
    lossPercent: Math.round(options.loss * 100),
    maxDelayMs: options.maxDelayMs,
    lossyMs: options.lossyMs,
    launched,
    terminal,
    missingTerminal,
    terminalThenAlive,
    maxUnacknowledged,
    drainedMs,
    unacknowledgedAfter,
    unreachableUpdates,
    examples,
  };
}
