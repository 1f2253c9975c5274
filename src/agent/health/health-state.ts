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
 */
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
}

export interface HealthReport {
  healthy: boolean;
  message: string;
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
    const next: HealthState = { ...state, healthy: true, consecutiveFailures: 0, succeededOnce: true };
    return state.healthy === true ? { state: next } : { state: next, report: { healthy: true, message: `${describeCheck(spec)} passed` } };
  }
  const inGrace = !state.succeededOnce && nowMs - state.startedAtMs < spec.gracePeriodMs;
  if (inGrace) return { state };
  const failures = state.consecutiveFailures + 1;
  const next: HealthState = { ...state, consecutiveFailures: failures };
  if (failures < spec.consecutiveFailures || state.healthy === false) return { state: next };
  next.healthy = false;
  const why = result.message === undefined ? '' : `: ${result.message}`;
  return { state: next, report: { healthy: false, message: `${describeCheck(spec)} failed ${failures} times in a row${why}` } };
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
