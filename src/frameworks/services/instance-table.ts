/**
 * The services framework's instances by task id, with an index by app: `ofApp(appId)` costs the
 * app's instances, not every instance of every app. At 50,000 instances the reconciler, placement
 * and the /v2 API all ask per app, many times a second (docs/architecture/006-scale.md).
 *
 * A Map subclass, so every existing reader keeps working; `set` and `delete` keep the index.
 * An instance's appId never changes after it is stored.
 */
import type { Instance } from './reconcile.ts';

export class InstanceTable extends Map<string, Instance> {
  private byApp: Map<string, Map<string, Instance>> | undefined;

  override set(taskId: string, instance: Instance): this {
    // Map's constructor calls set before our field initialisers run: create the index lazily.
    this.byApp ??= new Map();
    const previous = super.get(taskId);
    if (previous !== undefined && previous.appId !== instance.appId) this.byApp.get(previous.appId)?.delete(taskId);
    let app = this.byApp.get(instance.appId);
    if (app === undefined) this.byApp.set(instance.appId, (app = new Map()));
    app.set(taskId, instance);
    return super.set(taskId, instance);
  }

  override delete(taskId: string): boolean {
    const previous = super.get(taskId);
    if (previous === undefined) return false;
    const app = this.byApp?.get(previous.appId);
    app?.delete(taskId);
    if (app?.size === 0) this.byApp!.delete(previous.appId);
    return super.delete(taskId);
  }

  override clear(): void {
    this.byApp?.clear();
    super.clear();
  }

  /** The app's instances, in insertion order, as kept (no copy: read it, do not keep it). */
  appInstances(appId: string): ReadonlyMap<string, Instance> | undefined {
    return this.byApp?.get(appId);
  }

  /** The app's instances, in insertion order (a fresh array). */
  ofApp(appId: string): Instance[] {
    const app = this.byApp?.get(appId);
    return app === undefined ? [] : [...app.values()];
  }
}
