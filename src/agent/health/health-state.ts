/**
 * The health of one task as a pure state machine: each probe result goes in with the time, a new
 * state and "report now?" come out. The shell (health-checker.ts) owns timers and sockets.
 *
 * Rules (Mesos' health checker, adapted to an agent that never kills):
 * - Failures inside the grace period (measured from when checking started) are ignored until the
 *   first success; after that, every failure counts.
 * - The task turns unhealthy after `consecutiveFailures` counted failures in a row. Mesos reports
 *   the first failure and kills at N; Drover's agent does not kill, the scheduler does, so the
 *   report waits for N — one dropped request must not cost a task its life.
 * - One success makes it healthy again and resets the count.
 * - A report goes out only when health changes: the first verdict, then each flip.
 * - A probe that answered only after its timeout failed, whatever it answered.
 * - The record Marathon shows per task (its `Health`: firstSuccess, lastSuccess, lastFailure,
 *   lastFailureCause, consecutiveFailures) is kept here, updated by every counted result as
 *   Marathon's `Health.update` does, and sent with each report (src/protocol/health-labels.ts). Failures
 *   inside the grace period change nothing, as Marathon ignores them.
 */
import type { HealthRecord } from '../../protocol/health-labels.ts';
import type { HealthCheckSpec } from './health-check-spec.ts';

export interface ProbeResult {
  ok: boolean;
  /** Why it failed ("connection refused", "status 503"); unset on success. */
  message?: string;
  /** How long the probe took. */
  durationMs: number;
}

export interface HealthState {
  startedAtMs: number;
  /** undefined until the first verdict. */
  healthy: boolean | undefined;
  consecutiveFailures: number;
  /** A success was seen: the grace period no longer applies. */
  succeededOnce: boolean;
  /** Times (ms since the epoch) of the first and latest success and the latest counted failure. */
  firstSuccessMs?: number;
  lastSuccessMs?: number;
  lastFailureMs?: number;
  /** Why the latest counted failure failed. */
  lastFailureCause?: string;
}

export interface HealthReport {
  healthy: boolean;
  message: string;
  /** Marathon's `Health` of the task as the agent knows it now. */
  record: HealthRecord;
}

export interface HealthStep {
  state: HealthState;
  /** Set when the change must be reported now. */
  report?: HealthReport;
}

export function initialHealth(startedAtMs: number): HealthState {
  return { startedAtMs, healthy: undefined, consecutiveFailures: 0, succeededOnce: false };
}

/** A result as it counts: late answers are failures. */
export function judge(spec: Pick<HealthCheckSpec, 'timeoutMs'>, result: ProbeResult): ProbeResult {
  if (result.ok && result.durationMs > spec.timeoutMs) {
    return { ok: false, message: `answered after ${result.durationMs} ms, past the ${spec.timeoutMs} ms timeout`, durationMs: result.durationMs };
  }
  return result;
}

export function recordResult(spec: HealthCheckSpec, state: HealthState, raw: ProbeResult, nowMs: number): HealthStep {
  const result = judge(spec, raw);
  if (result.ok) {
    const next: HealthState = { ...state, healthy: true, consecutiveFailures: 0, succeededOnce: true, firstSuccessMs: state.firstSuccessMs ?? nowMs, lastSuccessMs: nowMs };
    return state.healthy === true ? { state: next } : { state: next, report: { healthy: true, message: `${describeCheck(spec)} passed`, record: healthRecord(next) } };
  }
  const inGrace = !state.succeededOnce && nowMs - state.startedAtMs < spec.gracePeriodMs;
  if (inGrace) return { state };
  const failures = state.consecutiveFailures + 1;
  const next: HealthState = { ...state, consecutiveFailures: failures, lastFailureMs: nowMs, lastFailureCause: result.message ?? 'failed' };
  if (failures < spec.consecutiveFailures || state.healthy === false) return { state: next };
  next.healthy = false;
  const why = result.message === undefined ? '' : `: ${result.message}`;
  return { state: next, report: { healthy: false, message: `${describeCheck(spec)} failed ${failures} times in a row${why}`, record: healthRecord(next) } };
}

/** The part of the state Marathon shows (its `Health`). */
export function healthRecord(state: HealthState): HealthRecord {
  const record: HealthRecord = { consecutiveFailures: state.consecutiveFailures };
  if (state.firstSuccessMs !== undefined) record.firstSuccessMs = state.firstSuccessMs;
  if (state.lastSuccessMs !== undefined) record.lastSuccessMs = state.lastSuccessMs;
  if (state.lastFailureMs !== undefined) record.lastFailureMs = state.lastFailureMs;
  if (state.lastFailureCause !== undefined) record.lastFailureCause = state.lastFailureCause;
  return record;
}

/** Delay before the next probe: `delay` before the first, `interval` after each one ends. */
export function nextProbeDelay(spec: HealthCheckSpec, probesRun: number): number {
  return probesRun === 0 ? spec.delayMs : spec.intervalMs;
}

export function describeCheck(spec: HealthCheckSpec): string {
  const p = spec.probe;
  switch (p.type) {
    case 'HTTP':
      return `${p.scheme.toUpperCase()} health check on port ${p.port}${p.path}`;
    case 'TCP':
      return `TCP health check on port ${p.port}`;
    case 'COMMAND':
      return `Command health check '${p.value}'`;
  }
}
