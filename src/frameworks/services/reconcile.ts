/**
 * The services reconciler: desired app vs its instances → what to launch and what to kill. Pure
 * (STYLE.md): the shell applies the result. It is also the deployment engine: a changed
 * configuration is rolled out by the same function, one call at a time, honouring the app's
 * upgradeStrategy, so that at every moment
 *   healthy instances ≥ ⌈instances × minimumHealthCapacity⌉ (once reached; one less when
 *                       ⌊instances × maximumOverCapacity⌋ is 0, or the rollout could never move), and
 *   live instances   ≤ instances + ⌊instances × maximumOverCapacity⌋.
 */
import type { TaskState } from '../../protocol/mesos/enums.ts';
import type { App } from './app.ts';

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
  /** Set once the app's readiness check passed (sticky, as a readiness check gates deployments). */
  ready?: boolean;
  ports: number[];
  host: string;
  stagedAt: string;
  startedAt?: string;
}

export interface ReconcileResult {
  /** How many new instances (current configuration) to launch now. */
  launch: number;
  /** Task ids to kill now, with why. */
  kill: Array<{ taskId: string; why: 'scale-down' | 'replaced' | 'app-deleted' }>;
  /** True when the app runs exactly `instances` instances of its configuration, all healthy. */
  complete: boolean;
}

const LIVE: ReadonlySet<TaskState> = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE']);

export function isLive(i: Instance): boolean {
  return LIVE.has(i.state);
}

/** Running, healthy if the app has health checks, and ready if it has a readiness check. */
export function isHealthy(app: App, i: Instance): boolean {
  return i.state === 'TASK_RUNNING' && (app.healthChecks.length === 0 || i.healthy === true) && ((app.readinessChecks ?? []).length === 0 || i.ready === true);
}

export function reconcile(app: App, instances: readonly Instance[], pending: number): ReconcileResult {
  const live = instances.filter((i) => isLive(i) && i.state !== 'TASK_KILLING');
  const current = live.filter((i) => i.configVersion === app.versionInfo.lastConfigChangeAt);
  const old = live.filter((i) => i.configVersion !== app.versionInfo.lastConfigChangeAt);
  const kill: ReconcileResult['kill'] = [];

  // Scale down: too many of the current configuration.
  if (current.length > app.instances) {
    const byAge = [...current].sort((a, b) => a.stagedAt.localeCompare(b.stagedAt));
    const victims = app.killSelection === 'YOUNGEST_FIRST' ? byAge.reverse() : byAge;
    for (const v of victims.slice(0, current.length - app.instances)) kill.push({ taskId: v.taskId, why: 'scale-down' });
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
  return { launch, kill, complete };
}
