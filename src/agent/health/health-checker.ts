/**
 * The shell around health-state.ts for one task: runs the probe on a timer (delay before the
 * first, interval after each), feeds results to the state machine, and calls `onReport` when
 * health changes. One probe at a time: the next is scheduled when the last has ended, so a slow
 * task is never hit by a pile of concurrent checks.
 */
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import type { HealthCheckSpec } from './health-check-spec.ts';
import { runProbe as defaultRunProbe, type ProbeContext, type ProbeRunner } from './health-probes.ts';
import { initialHealth, nextProbeDelay, recordResult, type HealthReport, type HealthState, type ProbeResult } from './health-state.ts';

const WATCHDOG_SLACK_MS = 5000;

export interface HealthCheckerOptions {
  spec: HealthCheckSpec;
  sandbox: string;
  env: Record<string, string>;
  /** Runs a COMMAND check inside the task (see ProbeContext.commandArgv). */
  commandArgv?: (argv: string[]) => Promise<string[]>;
  /** Where HTTP and TCP checks connect (see ProbeContext.host). */
  host?: string;
  onReport(report: HealthReport): void;
  clock: Clock;
  /** Default: the real probes (health-probes.ts). */
  runProbe?: ProbeRunner;
}

export class HealthChecker {
  private state: HealthState;
  private timer: TimerHandle | undefined;
  private probesRun = 0;
  private stopped = false;
  private readonly runProbe: ProbeRunner;

  constructor(private readonly options: HealthCheckerOptions) {
    this.state = initialHealth(options.clock.now());
    this.runProbe = options.runProbe ?? defaultRunProbe;
  }

  get healthy(): boolean | undefined {
    return this.state.healthy;
  }

  start(): void {
    this.state = initialHealth(this.options.clock.now());
    this.schedule();
  }

  /** No probe starts after this, and the result of one in flight is dropped. */
  stop(): void {
    this.stopped = true;
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => void this.probe(), nextProbeDelay(this.options.spec, this.probesRun)).unref();
  }

  private async probe(): Promise<void> {
    this.timer = undefined;
    const { spec } = this.options;
    const context: ProbeContext = {
      sandbox: this.options.sandbox,
      env: this.options.env,
      timeoutMs: spec.timeoutMs,
      ...(this.options.commandArgv === undefined ? {} : { commandArgv: this.options.commandArgv }),
      ...(this.options.host === undefined ? {} : { host: this.options.host }),
    };
    // A probe bounds itself by the timeout; the watchdog is for a probe that fails to, so one bug
    // cannot silently end checking for the task's whole life.
    let watchdog: TimerHandle | undefined;
    const expired = new Promise<ProbeResult>((resolve) => {
      watchdog = this.options.clock.setTimeout(() => resolve({ ok: false, message: 'the probe did not end', durationMs: spec.timeoutMs + WATCHDOG_SLACK_MS }), spec.timeoutMs + WATCHDOG_SLACK_MS);
    });
    const probed = this.runProbe(spec.probe, context).catch((err: unknown): ProbeResult => ({ ok: false, message: (err as Error).message, durationMs: 0 }));
    const result = await Promise.race([probed, expired]);
    this.options.clock.clearTimeout(watchdog);
    this.probesRun += 1;
    if (this.stopped) return;
    const step = recordResult(spec, this.state, result, this.options.clock.now());
    this.state = step.state;
    if (step.report !== undefined) this.options.onReport(step.report);
    this.schedule();
  }
}
