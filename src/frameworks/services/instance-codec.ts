/**
 * How an instance is stored (`/drover/services/instances/<taskId>`): its JSON without what the key
 * or its other fields already say — the task id (the key's last segment), the app id (in the task
 * id), `host` (the same as `hostname`) and `configVersion` (usually the same as `version`). The
 * SQLite store writes each value twice (the row and the watch log), and at 50,000 launches these
 * writes were the store's whole load: a third fewer bytes (docs/architecture/006-scale.md).
 * Values written in the full form (before this) decode the same.
 */
import { appIdOfTask } from './app.ts';
import type { Instance } from './reconcile.ts';

export function encodeInstance(instance: Instance): string {
  const { taskId, appId, host, configVersion, ...stored } = instance;
  const out: Record<string, unknown> = stored;
  if (appIdOfTask(taskId) !== appId) out['appId'] = appId;
  if (host !== instance.hostname) out['host'] = host;
  if (configVersion !== instance.version) out['configVersion'] = configVersion;
  return JSON.stringify(out);
}

export function decodeInstance(taskId: string, value: string): Instance {
  const stored = JSON.parse(value) as Partial<Instance> & Pick<Instance, 'hostname' | 'version'>;
  return {
    ...stored,
    taskId,
    appId: stored.appId ?? appIdOfTask(taskId) ?? '',
    host: stored.host ?? stored.hostname,
    configVersion: stored.configVersion ?? stored.version,
  } as Instance;
}
