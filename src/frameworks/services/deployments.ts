/**
 * Deployments as Marathon shows them: one per change, locking the apps it affects until the
 * reconciler reports them complete. A change to a locked app is refused with 409 listing the
 * blocking deployments, unless forced (which cancels them, as Marathon's `force=true`).
 */
import { randomUUID } from 'node:crypto';
import { DroverError } from '../../errors/errors.ts';

export interface Deployment {
  id: string;
  version: string;
  apps: string[];
  action: string;
  /** The app definitions before this deployment (absent for a new app): what a rollback restores. */
  previous: Array<{ appId: string; app: unknown }>;
}

export class Deployments {
  private readonly active = new Map<string, Deployment>();

  list(): Deployment[] {
    return [...this.active.values()];
  }

  get(id: string): Deployment | undefined {
    return this.active.get(id);
  }

  forApp(appId: string): Deployment[] {
    return this.list().filter((d) => d.apps.includes(appId));
  }

  checkLock(appIds: string[], force: boolean): void {
    const blocking = this.list().filter((d) => d.apps.some((a) => appIds.includes(a)));
    if (blocking.length === 0) return;
    if (force) {
      for (const d of blocking) this.active.delete(d.id);
      return;
    }
    const error = new DroverError('CONFLICT', "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.");
    throw Object.assign(error, { deployments: blocking.map((d) => ({ id: d.id })) });
  }

  start(appIds: string[], version: string, action: string, force: boolean, previous: Deployment['previous'] = []): Deployment {
    if (force) for (const d of this.list()) if (d.apps.some((a) => appIds.includes(a))) this.active.delete(d.id);
    const deployment: Deployment = { id: randomUUID(), version, apps: appIds, action, previous };
    this.active.set(deployment.id, deployment);
    return deployment;
  }

  finish(id: string): boolean {
    return this.active.delete(id);
  }

  plan(d: Deployment): Record<string, unknown> {
    return { id: d.id, version: d.version, steps: [{ actions: d.apps.map((app) => ({ action: d.action, app })) }] };
  }

  step(d: Deployment): Record<string, unknown> {
    return { actions: d.apps.map((app) => ({ action: d.action, app })) };
  }

  /** `/v2/deployments` element. */
  toJson(d: Deployment): Record<string, unknown> {
    const actions = d.apps.map((app) => ({ action: d.action, app, readinessCheckResults: [] }));
    return {
      id: d.id,
      version: d.version,
      affectedApps: d.apps,
      affectedPods: [],
      steps: [{ actions: actions.map(({ action, app }) => ({ action, app })) }],
      currentActions: actions,
      currentStep: 1,
      totalSteps: 1,
    };
  }
}
