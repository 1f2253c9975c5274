/**
 * What the services framework knows of an app at run time and does not store: its crash-loop
 * backoff and why recent offers were not used (for /v2/queue). A restart starts these afresh.
 */
export interface AppRuntime {
  /** Failures in a row without a run that lasted HEALTHY_RUN_MS (or was healthy). */
  consecutiveFailures: number;
  /** No launch before this time (ms): Marathon's backoff. */
  delayUntil: number;
  /** Set when relaunching stopped after too many failures: the reason. */
  stopped?: string;
  lastTaskFailure?: Record<string, unknown>;
  /** Why recent offers were not used, per agent (for /v2/queue). */
  rejections: Map<string, Rejection>;
}

export interface Rejection {
  agentId: string;
  hostname: string;
  reason: string;
  /** Marathon's NoOfferMatchReason (UnfulfilledRole, InsufficientCpus, UnfulfilledConstraint, …). */
  code?: string;
  at: string;
}

/** Rejections kept per app (the latest ones, for /v2/queue): bounded, or 1,000 apps × 10,000 agents of them pile up. */
const MAX_REJECTIONS_KEPT = 100;

export function newRuntime(): AppRuntime {
  return { consecutiveFailures: 0, delayUntil: 0, rejections: new Map() };
}

export function recordRejection(runtime: Pick<AppRuntime, 'rejections'>, rejection: Rejection): void {
  runtime.rejections.delete(rejection.agentId);
  runtime.rejections.set(rejection.agentId, rejection);
  if (runtime.rejections.size > MAX_REJECTIONS_KEPT) runtime.rejections.delete(runtime.rejections.keys().next().value!);
}
