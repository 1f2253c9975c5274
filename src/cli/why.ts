/**
 * Why an app is not (fully) running, and how far its deployment really is — for `app show` and
 * `deployment watch`. The reasons come from one API, `/v2/queue?id=APP` (its `why`:
 * docs/architecture/017-why.md), which the web UI reads too; progress is counted from the app's
 * tasks: those of the current configuration that run (and are healthy, when it has health checks).
 */
import type { Client } from './client.ts';
import { appPath } from './run-command.ts';
import { when } from './table.ts';

export interface WhyJson {
  summary: string;
  placement: Array<{ agents: number; reason: string; code?: string; example?: string; hostnames: string[] }>;
  lastTaskFailure?: { state: string; message: string; timestamp: string; taskId?: string };
  backoff: { consecutiveFailures: number; delaySeconds: number; until?: string; stopped: boolean; stoppedReason?: string };
  waitingForDependency?: string;
}

export interface QueueEntryJson {
  count: number;
  why?: WhyJson;
}

export interface ProgressTask {
  id: string;
  state: string;
  version?: string;
  healthCheckResults?: Array<{ alive: boolean }>;
}

export interface ProgressApp {
  id: string;
  instances: number;
  tasksRunning: number;
  healthChecks?: unknown[];
  versionInfo?: { lastConfigChangeAt: string };
  tasks?: ProgressTask[];
}

/** The queue entry of one app, or undefined when nothing of it waits to launch. */
export async function queueEntry(c: Client, appId: string): Promise<QueueEntryJson | undefined> {
  // Pods are in the queue too (with `pod` in place of `app`): only an app's entry is this app's.
  const { queue } = await c.get<{ queue: Array<QueueEntryJson & { app?: { id: string } }> }>(`/v2/queue?${new URLSearchParams({ id: appId }).toString()}`);
  return queue.find((q) => q.app !== undefined && (q.app.id === appId || q.app.id === `/${appId.replace(/^\/+/, '')}`));
}

export async function appWithTasks(c: Client, appId: string): Promise<ProgressApp | undefined> {
  const r = await c.get<{ app: ProgressApp }>(`/v2/apps${appPath(appId)}?embed=app.tasks`).catch(() => undefined);
  return r?.app;
}

/**
 * Real progress: `ready` counts running tasks of the current configuration (healthy too, when the
 * app has health checks), never more than the target; `old` counts running tasks of earlier ones.
 */
export function progressOf(app: ProgressApp): { ready: number; old: number; excess: number; target: number } {
  const since = Date.parse(app.versionInfo?.lastConfigChangeAt ?? '');
  const checked = (app.healthChecks ?? []).length > 0;
  let ready = 0;
  let old = 0;
  for (const t of app.tasks ?? []) {
    if (t.state !== 'TASK_RUNNING') continue;
    const current = !Number.isFinite(since) || t.version === undefined || Date.parse(t.version) >= since;
    if (!current) old++;
    else if (!checked || (t.healthCheckResults ?? []).some((h) => h.alive)) ready++;
  }
  return { ready: Math.min(ready, app.instances), old, excess: Math.max(0, ready - app.instances), target: app.instances };
}

export function bar(done: number, total: number, width = 20): string {
  const filled = total === 0 ? width : Math.max(0, Math.min(width, Math.floor((done / total) * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** One line of progress: `[#####...] 1/2 ready (2 old still running)`. */
export function progressLine(app: ProgressApp): string {
  const p = progressOf(app);
  const more = [p.old > 0 ? `${p.old} of the previous version still running` : '', p.excess > 0 ? `${p.excess} more to stop` : ''].filter((x) => x !== '');
  return `${bar(p.ready, p.target)} ${p.ready}/${p.target} ready${more.length > 0 ? ` (${more.join(', ')})` : ''}`;
}

/** The why of a queue entry as indented lines (empty when there is nothing to say). */
export function whyLines(entry: QueueEntryJson | undefined, options: { indent?: string; failure?: boolean } = {}): string[] {
  const indent = options.indent ?? '  ';
  const why = entry?.why;
  if (why === undefined) return [];
  const lines: string[] = [];
  if (why.backoff.stopped) lines.push(`stopped: ${why.backoff.stoppedReason ?? 'relaunching stopped'}`);
  if (why.waitingForDependency !== undefined) lines.push(`waiting for ${why.waitingForDependency} (a dependency) to run all its instances, healthy`);
  for (const p of why.placement) {
    const hosts = p.hostnames.length === 0 ? '' : ` (${p.hostnames.join(', ')}${p.agents > p.hostnames.length ? ', …' : ''})`;
    // One agent: its own words (`…: hostname h1 already runs an instance`); several: their class.
    lines.push(`${p.agents} agent${p.agents === 1 ? '' : 's'}: ${p.agents === 1 ? (p.example ?? p.reason) : p.reason}${hosts}`);
  }
  if (why.backoff.delaySeconds > 0) lines.push(`backing off: next launch in ${why.backoff.delaySeconds} s (${why.backoff.consecutiveFailures} failure(s) in a row)`);
  if (why.lastTaskFailure !== undefined && options.failure !== false) lines.push(`last failure: ${why.lastTaskFailure.state} ${why.lastTaskFailure.message} (${when(why.lastTaskFailure.timestamp)})`);
  if (lines.length === 0 && entry!.count > 0) lines.push('no offer has been considered yet');
  return lines.map((l) => `${indent}${l}`);
}
