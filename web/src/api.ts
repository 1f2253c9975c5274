/**
 * Typed calls to Drover's public APIs. Only documented endpoints: Marathon /v2, Metronome /v1,
 * the Mesos operator views on the master, and the agent files API through the master's relay.
 */

export interface ErrorDetail {
  path: string;
  errors: string[];
}

/** A non-2xx answer, with Marathon's `{message, details}` body when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

export async function request<T>(method: string, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    // No answer at all (master restarting, network down): say so in words, not "Failed to fetch".
    throw new ApiError(0, 'The master is not answering; retrying…');
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const b = (parsed ?? {}) as { message?: string; details?: ErrorDetail[] };
    throw new ApiError(response.status, typeof b.message === 'string' ? b.message : `${method} ${url}: HTTP ${response.status}`, Array.isArray(b.details) ? b.details : []);
  }
  return parsed as T;
}

export const get = <T>(url: string, signal?: AbortSignal): Promise<T> => request<T>('GET', url, undefined, signal);

// ---- Marathon /v2 -------------------------------------------------------------------------

export interface MarathonTask {
  id: string;
  appId: string;
  host: string;
  ports: number[];
  slaveId: string;
  agentId: string;
  stagedAt: string;
  startedAt?: string;
  version: string;
  state: string;
  healthCheckResults?: Array<{ alive: boolean }>;
}

export interface App {
  id: string;
  cmd?: string | null;
  /** Marathon's container; `docker.image` names the image its tasks run in. */
  container?: { type?: string; docker?: { image?: string; forcePullImage?: boolean } } | null;
  args?: string[] | null;
  instances: number;
  cpus: number;
  mem: number;
  disk: number;
  env?: Record<string, unknown>;
  labels?: Record<string, string>;
  constraints?: string[][];
  portDefinitions?: Array<{ port?: number; name?: string; protocol?: string }>;
  healthChecks?: Array<Record<string, unknown>>;
  version: string;
  versionInfo?: { lastConfigChangeAt: string; lastScalingAt: string };
  tasksStaged: number;
  tasksRunning: number;
  tasksHealthy: number;
  tasksUnhealthy: number;
  deployments: Array<{ id: string }>;
  tasks?: MarathonTask[];
  lastTaskFailure?: { state: string; message: string; timestamp: string; taskId?: string; host?: string };
}

export interface Deployment {
  id: string;
  version: string;
  affectedApps: string[];
  currentStep: number;
  totalSteps: number;
  currentActions: Array<{ action: string; app: string }>;
}

/** A /v2/queue entry: an app's (`app`) or, as Marathon lists them too, a pod's (`pod`). */
export interface QueueEntry {
  app?: App;
  pod?: { id: string };
  count: number;
  delay: { timeLeftSeconds: number; overdue: boolean };
  since: string;
  launchStopped?: boolean;
  stoppedReason?: string;
  waitingForDependency?: string;
  processedOffersSummary?: { processedOffersCount: number; unusedOffersCount: number };
  lastUnusedOffers?: Array<{ agentId: string; hostname: string; reason: string[]; timestamp: string }>;
}

export const appPath = (id: string): string => `/v2/apps${id.split('/').map(encodeURIComponent).join('/')}`;

// ---- Mesos operator views -------------------------------------------------------------------

export type LegacyResources = Record<string, number | string>;

export interface Agent {
  id: string;
  hostname: string;
  port: number;
  registered_time: number;
  resources: LegacyResources;
  used_resources: LegacyResources;
  offered_resources: LegacyResources;
  attributes: Record<string, unknown>;
  active: boolean;
  drover_status?: string;
  /** Operator maintenance (DEACTIVATE_AGENT / DRAIN_AGENT): no offers while set. */
  deactivated?: boolean;
  drain_info?: { state: 'DRAINING' | 'DRAINED' };
}

export interface MasterState {
  id: string;
  hostname: string;
  start_time: number;
  activated_slaves: number;
  unreachable_slaves: number;
  slaves: Agent[];
  frameworks: Array<{ id: string; name: string; active: boolean }>;
}

export interface StateSummary {
  frameworks: Array<{ id: string; name: string; active: boolean } & Record<string, unknown>>;
  slaves: Array<{ id: string; hostname: string; active: boolean; resources: LegacyResources; used_resources: LegacyResources }>;
}

export interface MesosTask {
  id: string;
  name: string;
  framework_id: string;
  slave_id: string;
  state: string;
  resources: LegacyResources;
  statuses: Array<{ state: string; timestamp: number; message?: string; reason?: string; healthy?: boolean }>;
  directory?: string;
  /** Mesos ContainerInfo: `mesos.image.docker.name` is the image the task runs in. */
  container?: { mesos?: { image?: { docker?: { name?: string } } } };
}

/** The image a task runs in, or undefined (the host's tree). */
export const taskImage = (t: MesosTask): string | undefined => t.container?.mesos?.image?.docker?.name;

export interface FileInfo {
  path: string;
  size: number;
  mtime: number;
  mode: string;
  uid: string;
  gid: string;
  nlink: number;
}

/** The agent files API, relayed by the master (same origin): /agent/{id}/files/{op}. */
export const filesUrl = (agentId: string, op: 'browse' | 'read' | 'download' | 'follow', params: Record<string, string>): string =>
  `/agent/${encodeURIComponent(agentId)}/files/${op}?${new URLSearchParams(params).toString()}`;

// ---- Metronome /v1 --------------------------------------------------------------------------

export interface JobRun {
  id: string;
  jobId?: string;
  status: string;
  createdAt: string;
  completedAt?: string | null;
  finishedAt?: string | null;
  tasks?: Array<{ id: string; status: string; startedAt?: string; completedAt?: string }>;
}

export interface Job {
  id: string;
  description?: string;
  labels?: Record<string, string>;
  run: { cmd?: string; cpus: number; mem: number; disk: number; docker?: { image: string }; ucr?: { image: { id: string } } };
  schedules?: Array<{ id: string; cron: string; timezone?: string; enabled?: boolean; concurrencyPolicy?: string; nextRunAt?: string }>;
  dependencies?: Array<{ id: string }>;
  activeRuns?: JobRun[];
  history?: {
    successCount: number;
    failureCount: number;
    lastSuccessAt: string | null;
    lastFailureAt: string | null;
    successfulFinishedRuns: JobRun[];
    failedFinishedRuns: JobRun[];
    /** Drover: schedule ticks not run (FORBID with a run active, deadline missed), with why. */
    skippedRuns?: Array<{ cycle?: string; scheduledAt?: string; skippedAt: string; reason: string; count?: number }>;
  };
  historySummary?: { successCount: number; failureCount: number; lastSuccessAt: string | null; lastFailureAt: string | null };
}

export const jobPath = (id: string): string => `/v1/jobs/${encodeURIComponent(id)}`;

// ---- numbers ---------------------------------------------------------------------------------

export function num(r: LegacyResources | undefined, name: string): number {
  const v = r?.[name];
  return typeof v === 'number' ? v : 0;
}

/** Ports in a Mesos range string "[31000-31099, 32000-32000]". */
export function rangeCount(r: LegacyResources | undefined, name = 'ports'): number {
  const v = r?.[name];
  if (typeof v !== 'string') return 0;
  let n = 0;
  for (const m of v.matchAll(/(\d+)-(\d+)/g)) n += Number(m[2]) - Number(m[1]) + 1;
  return n;
}
