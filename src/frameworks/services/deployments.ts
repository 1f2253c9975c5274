/**
 * Deployments as Marathon shows them: one per change, locking the apps (or the pod) it affects
 * until the reconciler (pods.ts for pods) reports them complete. A change to a locked app is refused with 409 listing the
 * blocking deployments, unless forced (which cancels them, as Marathon's `force=true`).
 *
 * Persisted as Marathon's are: a deployment is stored in the same transaction as the change it
 * carries out (services.ts `putApp`/`deleteApp`), `restore`d at start, and resumed — the
 * reconciler finishes it when its apps converge. `ended` hears every end (to delete the stored
 * copy and publish Marathon's events).
 */
import { randomUUID } from 'node:crypto';
import { DroverError } from '../../errors/errors.ts';

export interface Deployment {
  id: string;
  version: string;
  apps: string[];
  /** A pod's deployment (pods.ts: StartPod, ScalePod, RestartPod, StopPod) names its pod here; `apps` is then empty. */
  pods?: string[];
  action: string;
  /** The app definitions before this deployment (absent for a new app): what a rollback restores. */
  previous: Array<{ appId: string; app: unknown }>;
  /** The pod definitions before it, as `previous` for apps. */
  previousPods?: Array<{ podId: string; pod: unknown }>;
}

/** One action of a deployment step, as Marathon writes it: `{action, app}` or `{action, pod}`. */
function actionsOf(d: Deployment): Array<{ action: string; app?: string; pod?: string }> {
  return [...d.apps.map((app) => ({ action: d.action, app })), ...(d.pods ?? []).map((pod) => ({ action: d.action, pod }))];
}

/** How a deployment ended: its apps converged, or it was cancelled (forced over, or DELETEd). */
export type DeploymentEnd = 'finished' | 'cancelled';

export class Deployments {
  private readonly active = new Map<string, Deployment>();

  constructor(private readonly ended: (d: Deployment, how: DeploymentEnd) => void = () => undefined) {}

  list(): Deployment[] {
    return [...this.active.values()];
  }

  get(id: string): Deployment | undefined {
    return this.active.get(id);
  }

  forApp(appId: string): Deployment[] {
    return this.list().filter((d) => d.apps.includes(appId));
  }

  /** Every deployment by the apps it changes, in one pass (for a whole list or tick: not `forApp` per app). */
  byApp(): Map<string, Deployment[]> {
    const out = new Map<string, Deployment[]>();
    for (const d of this.active.values()) {
      for (const id of new Set(d.apps)) {
        const list = out.get(id);
        if (list === undefined) out.set(id, [d]);
        else list.push(d);
      }
    }
    return out;
  }

  forPod(podId: string): Deployment[] {
    return this.list().filter((d) => d.pods?.includes(podId) === true);
  }

  /** As checkLock, for a pod (Marathon locks pods as it locks apps). */
  checkPodLock(podId: string, force: boolean): void {
    const blocking = this.forPod(podId);
    if (blocking.length === 0) return;
    if (force) {
      for (const d of blocking) this.active.delete(d.id);
      return;
    }
    const error = new DroverError('CONFLICT', "Pod is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.");
    throw Object.assign(error, { deployments: blocking.map((d) => ({ id: d.id })) });
  }

  /** A pod's deployment; `force` cancels the pod's others first. */
  startPod(podId: string, version: string, action: 'StartPod' | 'ScalePod' | 'RestartPod' | 'StopPod', force: boolean, previous?: unknown): Deployment {
    if (force) for (const d of this.forPod(podId)) this.active.delete(d.id);
    const deployment: Deployment = { id: randomUUID(), version, apps: [], pods: [podId], action, previous: [], ...(previous === undefined ? {} : { previousPods: [{ podId, pod: previous }] }) };
    this.active.set(deployment.id, deployment);
    return deployment;
  }

  checkLock(appIds: string[], force: boolean): void {
    const blocking = this.list().filter((d) => d.apps.some((a) => appIds.includes(a)));
    if (blocking.length === 0) return;
    if (force) {
      for (const d of blocking) this.cancel(d.id);
      return;
    }
    const error = new DroverError('CONFLICT', "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.");
    throw Object.assign(error, { deployments: blocking.map((d) => ({ id: d.id })) });
  }

  /** A deployment not yet active: stored with the change it describes, then `activate`d. */
  create(appIds: string[], version: string, action: string, previous: Deployment['previous'] = []): Deployment {
    return { id: randomUUID(), version, apps: appIds, action, previous };
  }

  activate(deployment: Deployment, force: boolean): Deployment {
    if (force) for (const d of this.list()) if (d.apps.some((a) => deployment.apps.includes(a))) this.cancel(d.id);
    this.active.set(deployment.id, deployment);
    return deployment;
  }

  start(appIds: string[], version: string, action: string, force: boolean, previous: Deployment['previous'] = []): Deployment {
    return this.activate(this.create(appIds, version, action, previous), force);
  }

  /** Deployments read back from the store at start: active again, to be finished by the reconciler. */
  restore(deployments: readonly Deployment[]): void {
    for (const d of deployments) this.active.set(d.id, d);
  }

  finish(id: string): boolean {
    return this.end(id, 'finished');
  }

  cancel(id: string): boolean {
    return this.end(id, 'cancelled');
  }

  private end(id: string, how: DeploymentEnd): boolean {
    const d = this.active.get(id);
    if (d === undefined) return false;
    this.active.delete(id);
    this.ended(d, how);
    return true;
  }

  plan(d: Deployment): Record<string, unknown> {
    return { id: d.id, version: d.version, steps: [{ actions: actionsOf(d) }] };
  }

  step(d: Deployment): Record<string, unknown> {
    return { actions: actionsOf(d) };
  }

  /** `/v2/deployments` element. */
  toJson(d: Deployment): Record<string, unknown> {
    const actions = actionsOf(d).map((a) => ({ ...a, readinessCheckResults: [] }));
    return {
      id: d.id,
      version: d.version,
      affectedApps: d.apps,
      affectedPods: d.pods ?? [],
      steps: [{ actions: actionsOf(d) }],
      currentActions: actions,
      currentStep: 1,
      totalSteps: 1,
    };
  }
}
