/**
 * Framework failover timers (Mesos `failover_timeout`): a framework without a connection is torn
 * down when its timeout passes without a re-subscription.
 *
 * After a restart or an HA leader change every framework the master knows is disconnected at
 * once — through no fault of its own. Their timers therefore do not start at recovery but once
 * the master serves (`serve()`, called after `listen`) and a re-subscription grace has passed,
 * as Mesos waits for agents to re-register before it counts. Before this, a framework with
 * failover_timeout 0 was torn down (its tasks killed) before the master even answered /ping.
 * All timers run on the shared Clock, so tests move time with a ManualClock.
 */
import type { Clock, TimerHandle } from '../clock/clock.ts';
import type { Logger } from '../log/index.ts';
import type { FrameworkRecord } from './model.ts';

export interface FailoverHost {
  readonly clock: Clock;
  readonly log: Logger;
  frameworks(): Iterable<FrameworkRecord>;
  /** Tear the framework down: kill its tasks, forget it for good. */
  removeFramework(framework: FrameworkRecord, why: string): void;
}

export class FrameworkFailover {
  private serving = false;
  private stopped = false;
  private graceOver = false;
  private grace: TimerHandle | undefined;

  constructor(
    private readonly host: FailoverHost,
    private readonly graceMs: number,
  ) {}

  /** The master answers requests now: the re-subscription grace starts. Idempotent. */
  serve(): void {
    if (this.serving || this.stopped) return;
    this.serving = true;
    const waiting = [...this.host.frameworks()].filter((f) => f.stream?.isOpen !== true).length;
    this.host.log.info({ graceMs: this.graceMs, frameworks: waiting }, 'framework-reregistration-grace-started');
    this.grace = this.host.clock.setTimeout(() => this.endGrace(), this.graceMs).unref();
  }

  private endGrace(): void {
    this.grace = undefined;
    this.graceOver = true;
    if (this.stopped) return;
    const waiting = [...this.host.frameworks()].filter((f) => f.stream?.isOpen !== true && f.failoverTimer === undefined);
    this.host.log.info({ frameworks: waiting.map((f) => f.id) }, 'framework-reregistration-grace-ended');
    for (const framework of waiting) this.start(framework);
  }

  /**
   * A framework known without a connection (from the registry, or from an agent's report): its
   * timer starts now if the grace is over, else when it ends.
   */
  awaitReregistration(framework: FrameworkRecord): void {
    framework.unregisteredAt ??= this.host.clock.now();
    if (this.graceOver) this.start(framework);
  }

  /** The framework disconnected: torn down unless it returns within its failover timeout. */
  start(framework: FrameworkRecord): void {
    const { clock } = this.host;
    clock.clearTimeout(framework.failoverTimer);
    framework.failoverDeadline = clock.now() + framework.failoverTimeoutMs;
    framework.unregisteredAt = clock.now();
    framework.failoverTimer = clock
      .setTimeout(() => {
        framework.failoverTimer = undefined;
        this.host.log.info({ frameworkId: framework.id }, 'framework-failover-timeout');
        this.host.removeFramework(framework, 'failover timeout elapsed');
      }, framework.failoverTimeoutMs)
      .unref();
  }

  /** The framework re-subscribed (or is being removed): its timer, if any, stops. */
  cancel(framework: FrameworkRecord): void {
    this.host.clock.clearTimeout(framework.failoverTimer);
    framework.failoverTimer = undefined;
  }

  stop(): void {
    this.stopped = true;
    this.host.clock.clearTimeout(this.grace);
    for (const framework of this.host.frameworks()) this.cancel(framework);
  }
}
