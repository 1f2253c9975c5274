/**
 * The `partition` phase (issue 14; reliability-anchors.md §7): with every task running, a share of
 * the hollow agents is cut off from the master at once (their links stop: no stream, no
 * heartbeats, no updates, no re-registration — their tasks keep running), then the network heals
 * and they re-register with their tasks. Measured from outside, through the public APIs only:
 *
 * - detection: partition → the master marks the first / every lost agent unreachable
 *   (`GET /master/agent-removal`: `unreachable`, `held`);
 * - replacement: partition → every app back at its count in the services framework's view
 *   (`GET /v2/apps`: `tasksRunning` = `instances` for each);
 * - counts during (the low point, and at healing) and after healing;
 * - duplicates after healing: tasks the agents run beyond the apps' counts once the returned
 *   instances were settled (killSelection), 0 expected; the framework's view must agree;
 * - kills per killSelection: which side lost its instance — the ones that came back (on the
 *   agents that were cut off) or their replacements (elsewhere);
 * - with more agents lost than the removal guard allows (`partition-60`), how many were held.
 *
 * Polls every 250 ms; no figure here is asserted on (the test asserts outcomes, not speed).
 */
import type { Fleets } from './fleets.ts';
import { totalTasks, type Scenario } from './scenario.ts';

interface AppJson {
  id: string;
  instances: number;
  tasksRunning: number;
  tasksStaged: number;
  killSelection?: string;
}

/** `GET /master/agent-removal` (src/master/views.ts agentRemovalJson). */
interface RemovalJson {
  held: number;
  unreachable: number;
  reason: string | null;
  window_cap: number | null;
  marked_in_window: number;
  window_seconds: number;
  guard_fraction: number;
}

const POLL_MS = 250;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return (await response.json()) as T;
}

interface Snapshot {
  at: number;
  apps: AppJson[];
  running: number;
  atCount: boolean;
  removal: RemovalJson;
}

async function snapshot(url: string): Promise<Snapshot | undefined> {
  // A master busy with a thousand replacements may answer late: that is no answer this round.
  const [apps, removal] = await Promise.all([getJson<{ apps: AppJson[] }>(`${url}/v2/apps`), getJson<RemovalJson>(`${url}/master/agent-removal`)]).catch(() => [undefined, undefined]);
  if (apps === undefined || removal === undefined) return undefined;
  const list = apps.apps.filter((a) => a.id.startsWith('/sim/'));
  return {
    at: Date.now(),
    apps: list,
    running: list.reduce((n, a) => n + a.tasksRunning, 0),
    atCount: list.every((a) => a.tasksRunning === a.instances && a.tasksStaged === 0),
    removal,
  };
}

/** The task id prefix of an app (`/sim/partition/app-0001` → `sim_partition_app-0001`, as services/app.ts taskId). */
const taskPrefix = (appId: string): string => appId.split('/').filter(Boolean).join('_');

const seconds = (from: number, to: number | undefined): number | null => (to === undefined ? null : Math.round((to - from) / 10) / 100);

export async function partitionPhase(url: string, fleets: Fleets, s: Scenario, log: (line: string) => void): Promise<Record<string, unknown>> {
  const p = s.partition!;
  const total = totalTasks(s);
  const launchedBefore = (await fleets.stats()).launched;
  const deadline = Date.now() + p.timeoutSeconds * 1000;

  // ---- the partition -----------------------------------------------------------------------
  const t0 = Date.now();
  const lost = await fleets.partition(p.fraction);
  log(`partition: ${lost.agents} agents (${lost.tasks} tasks) cut off at once`);
  let firstDetected: number | undefined;
  let allDetected: number | undefined;
  let firstHeld: number | undefined;
  let healedWhileHeld = false;
  let replaced: number | undefined;
  let heldPeak = 0;
  let unreachablePeak = 0;
  let windowCap: number | null = null;
  let minRunning = Infinity;
  let last: Snapshot | undefined;
  let lastLog = 0;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    const snap = await snapshot(url);
    if (snap === undefined) continue;
    last = snap;
    const { removal } = snap;
    minRunning = Math.min(minRunning, snap.running);
    heldPeak = Math.max(heldPeak, removal.held);
    unreachablePeak = Math.max(unreachablePeak, removal.unreachable);
    if (removal.window_cap !== null) windowCap = Math.max(windowCap ?? 0, removal.window_cap);
    if (firstDetected === undefined && removal.unreachable > 0) firstDetected = snap.at;
    if (allDetected === undefined && removal.unreachable >= lost.agents) allDetected = snap.at;
    if (firstHeld === undefined && removal.held > 0) firstHeld = snap.at;
    if (snap.at - lastLog > 5000) {
      lastLog = snap.at;
      log(`t=${seconds(t0, snap.at)}s running ${snap.running}/${total} unreachable ${removal.unreachable} held ${removal.held}`);
    }
    // Held: heal while the hold stands, once the marked agents' instances are replaced (the
    // held agents' instances were never reported lost, so the apps are at their counts then),
    // a moment after the hold began so that the framework has heard of every marking.
    if (p.healWhen === 'held' && firstHeld !== undefined && removal.held > 0 && snap.at - firstHeld >= 2000 && snap.atCount) {
      healedWhileHeld = true;
      replaced = snap.at;
      break;
    }
    // Every app back at its count once the master has told the framework of every lost agent,
    // and every lost instance has its replacement (the agents' own count of launches).
    if (allDetected !== undefined && snap.atCount && (p.healWhen === 'replaced' || removal.held === 0)) {
      if ((await fleets.stats()).launched - launchedBefore < lost.tasks) continue;
      replaced = snap.at;
      break;
    }
  }
  const stats = await fleets.stats();
  // The lost agents' tasks on agents still held when the network heals: never reported lost, never replaced.
  const state = await getJson<{ slaves: Array<{ hostname: string; drover_removal_held_since?: number }> }>(`${url}/master/state?limit=0`).catch(() => ({ slaves: [] }));
  const heldTasks = state.slaves.filter((a) => a.drover_removal_held_since !== undefined).reduce((n, a) => n + (lost.tasksByHost[a.hostname] ?? 0), 0);
  const during = {
    running: last?.running ?? null,
    minRunning: Number.isFinite(minRunning) ? minRunning : null,
    unreachableAgents: last?.removal.unreachable ?? null,
    heldAgents: last?.removal.held ?? null,
    agentsRunningTasks: stats.running,
    replacementsLaunched: stats.launched - launchedBefore,
    /** Tasks of the lost agents that the master still held at healing time, and of those it had marked. */
    heldTasks,
    markedTasks: lost.tasks - heldTasks,
  };
  log(`detected after ${seconds(t0, firstDetected)} s (all ${seconds(t0, allDetected)} s); held peak ${heldPeak}; ${p.healWhen === 'replaced' ? `replaced after ${seconds(t0, replaced)} s` : ''}`);

  // ---- healing -----------------------------------------------------------------------------
  const t1 = Date.now();
  await fleets.heal();
  log('healed: the lost agents re-register with their tasks');
  // Settled: every agent back, nothing held or unreachable, each app exactly at its count in the
  // framework's view, the agents running exactly the apps' total, every update acknowledged.
  let settled: number | undefined;
  let after: Snapshot | undefined;
  let agentsAfter = stats;
  const settleDeadline = Date.now() + p.timeoutSeconds * 1000;
  lastLog = 0;
  while (Date.now() < settleDeadline) {
    await sleep(POLL_MS);
    const snap = await snapshot(url);
    if (snap === undefined) continue;
    after = snap;
    agentsAfter = await fleets.stats();
    if (snap.at - lastLog > 5000) {
      lastLog = snap.at;
      log(
        `healing t=${seconds(t1, snap.at)}s registered ${agentsAfter.registered}/${s.agents.count} agents run ${agentsAfter.running} unreachable ${snap.removal.unreachable} unacknowledged ${agentsAfter.unacknowledged}`,
      );
    }
    if (
      agentsAfter.registered === s.agents.count &&
      snap.removal.unreachable === 0 &&
      snap.removal.held === 0 &&
      snap.atCount &&
      agentsAfter.running === total &&
      agentsAfter.tasks === total &&
      agentsAfter.unacknowledged === 0
    ) {
      settled = snap.at;
      break;
    }
  }
  // One more look a moment later: a late kill or relaunch would show here.
  await sleep(2000);
  const final = (await snapshot(url)) ?? after;
  agentsAfter = await fleets.stats();
  const report = await fleets.partitionReport();
  // Kills after healing, per killSelection: of the instances that came back, and of the others.
  // YOUNGEST_FIRST kills the replacements (the youngest), so `killedReturned` is 0. OLDEST_FIRST
  // kills the app's oldest instances, which are its original ones on ANY agent (those that came
  // back are no older than the originals that stayed), so its kills split between both sides.
  const bySelection: Record<string, { apps: number; lostTasks: number; killedReturned: number; killedElsewhere: number }> = {};
  for (const app of final?.apps ?? []) {
    const selection = app.killSelection ?? 'YOUNGEST_FIRST';
    const row = (bySelection[selection] ??= { apps: 0, lostTasks: 0, killedReturned: 0, killedElsewhere: 0 });
    const prefix = taskPrefix(app.id);
    row.apps++;
    row.lostTasks += report.lostByApp[prefix] ?? 0;
    row.killedReturned += report.killedOnLost[prefix] ?? 0;
    row.killedElsewhere += report.killedElsewhere[prefix] ?? 0;
  }
  const afterHealing = {
    settledSeconds: seconds(t1, settled),
    running: final?.running ?? null,
    appsAtCount: final?.atCount ?? false,
    agentsRunningTasks: agentsAfter.running,
    agentsLiveTasks: agentsAfter.tasks,
    // Beyond the apps' counts: tasks the agents still run (returned and replacement both alive),
    // and instances the framework counts over an app's `instances`.
    duplicates: Math.max(0, agentsAfter.tasks - total),
    appsOverCount: (final?.apps ?? []).reduce((n, a) => n + Math.max(0, a.tasksRunning - a.instances), 0),
    unacknowledged: agentsAfter.unacknowledged,
  };
  const complete = settled !== undefined && replaced !== undefined && (p.healWhen === 'held' ? firstHeld !== undefined : true);
  const out = {
    complete,
    fraction: p.fraction,
    healWhen: p.healWhen,
    lostAgents: lost.agents,
    lostTasks: lost.tasks,
    timings: timings(s),
    detectionSeconds: seconds(t0, firstDetected),
    allDetectedSeconds: seconds(t0, allDetected),
    firstHeldSeconds: seconds(t0, firstHeld),
    fullReplacementSeconds: seconds(t0, replaced),
    heldPeak,
    healedWhileHeld,
    unreachablePeak,
    windowCap,
    during,
    afterHealing,
    killedBySelection: bySelection,
    violations: agentsAfter.violations,
    duplicateLaunches: agentsAfter.duplicateLaunches,
  };
  log(JSON.stringify(out));
  return out;
}

/** The detection timings of the run, as the master was started (stated in the output). */
function timings(s: Scenario): Record<string, unknown> {
  const args = s.master.args ?? [];
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`);
    return i < 0 ? undefined : args[i + 1];
  };
  const missed = Number(flag('max-missed-heartbeats') ?? 5);
  return {
    agentHeartbeatIntervalSeconds: s.master.agentHeartbeatIntervalSeconds,
    maxMissedHeartbeats: missed,
    detectionWindowSeconds: s.master.agentHeartbeatIntervalSeconds * missed,
    agentRemovalGuard: Number(flag('agent-removal-guard') ?? 0.4),
    agentRemovalRateLimit: flag('agent-removal-rate-limit') ?? null,
    unreachableStrategy: s.apps.extra?.['unreachableStrategy'] ?? null,
  };
}
