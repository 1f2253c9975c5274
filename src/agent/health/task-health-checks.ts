/**
 * The health checkers of an agent's running tasks, by task key: what the task supervisor starts
 * when a task is RUNNING (or reattached after an agent restart) and stops when it ends, is being
 * killed, or the agent stops.
 */
import type { Clock } from '../../clock/clock.ts';
import { parseHealthCheck } from './health-check-spec.ts';
import { HealthChecker } from './health-checker.ts';
import type { HealthReport } from './health-state.ts';

export interface TaskHealthTarget {
  key: string;
  /** TaskInfo.health_check as received (validated again here; refused tasks never get this far). */
  healthCheck: unknown;
  sandbox: string;
  env: Record<string, string>;
  /** Runs a COMMAND check inside the task (see ProbeContext.commandArgv). */
  commandArgv?: (argv: string[]) => Promise<string[]>;
  /** Where HTTP and TCP checks connect (see ProbeContext.host). */
  host?: string;
}

export class TaskHealthChecks {
  private readonly checkers = new Map<string, HealthChecker>();

  constructor(private readonly clock: Clock) {}

  /** Starts checking; a task without a (valid) health check is left alone. */
  start(target: TaskHealthTarget, onReport: (report: HealthReport) => void): void {
    if (target.healthCheck === undefined) return;
    const parsed = parseHealthCheck(target.healthCheck);
    if (!parsed.ok) return;
    this.stop(target.key);
    const checker = new HealthChecker({
      spec: parsed.spec,
      sandbox: target.sandbox,
      env: target.env,
      clock: this.clock,
      onReport,
      ...(target.commandArgv === undefined ? {} : { commandArgv: target.commandArgv }),
      ...(target.host === undefined ? {} : { host: target.host }),
    });
    this.checkers.set(target.key, checker);
    checker.start();
  }

  stop(key: string): void {
    this.checkers.get(key)?.stop();
    this.checkers.delete(key);
  }

  stopAll(): void {
    for (const checker of this.checkers.values()) checker.stop();
    this.checkers.clear();
  }
}
