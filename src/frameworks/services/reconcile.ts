/**
 * The services reconciler: desired app vs its instances → what to launch and what to kill. Pure
 * (STYLE.md): the shell applies the result, and passes the time (`now`) in. It is also the
 * deployment engine: a changed configuration is rolled out by the same function, one call at a
 * time, honouring the app's upgradeStrategy, so that at every moment
 *   healthy instances ≥ ⌈instances × minimumHealthCapacity⌉ (once reached; one less when
 *                       ⌊instances × maximumOverCapacity⌋ is 0, or the rollout could never move), and
 *   instances holding a slot ≤ instances + ⌊instances × maximumOverCapacity⌋.
 *
 * Unreachable instances follow the app's `unreachableStrategy` (Marathon's): an instance that is
 * TASK_UNREACHABLE keeps its slot until it has been unreachable `inactiveAfterSeconds` — then it is
 * inactive, gives up its slot and a replacement is launched, while it may still come back — and
 * after `expungeAfterSeconds` it is expunged: forgotten, so that it is killed if it ever returns.
 * With "disabled" (stateful apps) an unreachable instance keeps its slot for good: no replacement.
 * An instance that comes back holds a slot again; any surplus is killed like a scale-down
 * (unreachable ones first, then by `killSelection`), so exactly `instances` stay.
 */
import type { TaskState } from '../../protocol/mesos/enums.ts';
import type { App } from './app.ts';

/** Marathon's `Health` record (types/healthCheck.raml), times as ISO strings. */
export interface InstanceHealth {
  consecutiveFailures: number;
  firstSuccess?: string;
  lastSuccess?: string;
  lastFailure?: string;
  lastFailureCause?: string;
}

export interface Instance {
  taskId: string;
  appId: string;
  agentId: string;
  hostname: string;
  attributes: Record<string, string>;
  /** The app's `versionInfo.lastConfigChangeAt` the instance was launched with. */
  configVersion: string;
  version: string;
  state: TaskState;
  healthy?: boolean;
  /** Marathon's `Health` of its (first) health check, once one was reported (status-updates.ts). */
  health?: InstanceHealth;
  /** Set once the app's readiness check passed (sticky, as a readiness check gates deployments). */
  ready?: boolean;
  ports: number[];
  host: string;
  stagedAt: string;
  startedAt?: string;
  /** When it became TASK_UNREACHABLE (ISO time); absent while reachable. */
  unreachableSince?: string;
  /** Set once it was announced inactive (unreachableStrategy): its replacement is launched. */
  inactive?: boolean;
}

export interface ReconcileResult {
  /** How many new instances (current configuration) to launch now. */
  launch: number;
  /** Task ids to kill now, with why. */
  kill: Array<{ taskId: string; why: 'scale-down' | 'replaced' | 'app-deleted' }>;
  /** True when the app runs exactly `instances` instances of its configuration, all healthy. */
  complete: boolean;
  /** Unreachable instances now inactive: they gave up their slot (a replacement is launched). */
  inactive: string[];
  /** Unreachable instances past `expungeAfterSeconds`: to forget (killed if they come back). */
  expunge: string[];
}

/** Where an instance stands under the app's unreachableStrategy at `now`. */
export type Reachability = 'reachable' | 'unreachable' | 'inactive' | 'expunged';

export function reachability(app: App, i: Instance, now: number): Reachability {
  if (i.state !== 'TASK_UNREACHABLE') return 'reachable';
  return unreachablePhase(app.unreachableStrategy, i.unreachableSince, now);
}

/** Where an instance unreachable since `since` (ISO; unknown: from now on) stands under `strategy`. Apps and pods. */
export function unreachablePhase(strategy: App['unreachableStrategy'], since: string | undefined, now: number): Exclude<Reachability, 'reachable'> {
  // "disabled" (stateful apps): wait for it for good, never replace it.
  if (strategy === 'disabled') return 'unreachable';
  const away = now - (since === undefined ? now : Date.parse(since));
  if (away >= strategy.expungeAfterSeconds * 1000) return 'expunged';
  if (away >= strategy.inactiveAfterSeconds * 1000) return 'inactive';
  return 'unreachable';
}

/**
 * Whether the instance counts toward the app's `instances`: live, not being killed, and not an
 * unreachable one past `inactiveAfterSeconds`. (/v2/queue's count is `instances` minus these.)
 */
export function holdsSlot(app: App, i: Instance, now: number): boolean {
  if (!isLive(i) || i.state === 'TASK_KILLING') return false;
  const r = reachability(app, i, now);
  return r === 'reachable' || r === 'unreachable';
}

const LIVE: ReadonlySet<TaskState> = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE']);

export function isLive(i: Instance): boolean {
  return LIVE.has(i.state);
}

/** Running, healthy if the app has health checks, and ready if it has a readiness check. */
export function isHealthy(app: App, i: Instance): boolean {
  return i.state === 'TASK_RUNNING' && (app.healthChecks.length === 0 || i.healthy === true) && ((app.readinessChecks ?? []).length === 0 || i.ready === true);
}

export function reconcile(app: App, instances: readonly Instance[], pending: number, now: number): ReconcileResult {
  const inactive: string[] = [];
  const expunge: string[] = [];
  for (const i of instances) {
    const r = isLive(i) && i.state !== 'TASK_KILLING' ? reachability(app, i, now) : 'reachable';
    if (r === 'inactive') inactive.push(i.taskId);
    else if (r === 'expunged') expunge.push(i.taskId);
  }
  const live = instances.filter((i) => holdsSlot(app, i, now));
  const current = live.filter((i) => i.configVersion === app.versionInfo.lastConfigChangeAt);
  const old = live.filter((i) => i.configVersion !== app.versionInfo.lastConfigChangeAt);
  const kill: ReconcileResult['kill'] = [];

  // Scale down: too many of the current configuration.
  if (current.length > app.instances) {
    for (const v of killOrder(app, current).slice(0, current.length - app.instances)) kill.push({ taskId: v.taskId, why: 'scale-down' });
  }
  const keptCurrent = current.length - kill.length;

  // Launch: up to `instances` of the current configuration, within the over-capacity bound.
  const maxLive = app.instances + Math.floor(app.instances * app.upgradeStrategy.maximumOverCapacity);
  const room = Math.max(0, maxLive - live.length - pending);
  const missing = Math.max(0, app.instances - keptCurrent - pending);
  let launch = Math.min(missing, room);

  // Replace old instances while keeping enough healthy ones.
  const minHealthy = Math.ceil(app.instances * app.upgradeStrategy.minimumHealthCapacity);
  let healthy = live.filter((i) => isHealthy(app, i)).length;
  const oldOrdered = [...old].sort((a, b) => Number(isHealthy(app, a)) - Number(isHealthy(app, b)));
  for (const o of oldOrdered) {
    const wasHealthy = isHealthy(app, o);
    // Unhealthy old instances can always go; healthy ones only while enough stay healthy.
    if (wasHealthy && healthy - 1 < minHealthy) continue;
    kill.push({ taskId: o.taskId, why: 'replaced' });
    if (wasHealthy) healthy--;
  }
  // No room to launch and no old instance allowed to go: the rollout would never move. As
  // Marathon does, sacrifice one old instance (healthy floor dips by one, only when
  // ⌊instances × maximumOverCapacity⌋ is 0).
  // Only when waiting cannot help: every live instance is already healthy.
  if (launch === 0 && missing > 0 && kill.length === 0 && oldOrdered.length > 0 && room === 0 && live.every((i) => isHealthy(app, i))) {
    kill.push({ taskId: oldOrdered[0]!.taskId, why: 'replaced' });
  }
  // With nothing old left to wait for and room freed by kills, launch the rest.
  if (launch < missing) launch = Math.min(missing, Math.max(0, maxLive - (live.length - kill.length) - pending));

  const complete = old.length === 0 && current.length === app.instances && pending === 0 && current.every((i) => isHealthy(app, i));
  return { launch, kill, complete, inactive, expunge };
}

/**
 * Marathon's order of instances to kill on a scale-down: unreachable ones first (they serve
 * nothing), then those not running yet, then by `killSelection` (YOUNGEST_FIRST by default) — so
 * when an unreachable instance comes back beside its replacement, the replacement goes.
 */
function killOrder(app: App, instances: readonly Instance[]): Instance[] {
  const rank = (i: Instance): number => (i.state === 'TASK_UNREACHABLE' ? 0 : i.state === 'TASK_RUNNING' ? 2 : 1);
  const youngestFirst = app.killSelection === 'YOUNGEST_FIRST';
  return [...instances].sort((a, b) => rank(a) - rank(b) || (youngestFirst ? b.stagedAt.localeCompare(a.stagedAt) : a.stagedAt.localeCompare(b.stagedAt)));
}
