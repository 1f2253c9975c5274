/**
 * Frameworks that were torn down (TEARDOWN, failover timeout), kept for the operator views so a
 * removed framework does not vanish from sight: `/master/state` and `/master/frameworks`
 * `completed_frameworks`, v1 GET_FRAMEWORKS `completed_frameworks`.
 *
 * Bounded as Mesos bounds it: the newest `maxFrameworks` frameworks (`--max_completed_frameworks`,
 * default 50), each with its newest `maxTasksPerFramework` completed tasks
 * (`--max_completed_tasks_per_framework`, default 1000). Like Mesos, this lives in memory only:
 * after a master restart the list starts empty (the task history in the store still has every
 * completed task, and the registry still refuses the removed ids).
 */
export interface CompletedFramework<F, T> {
  readonly framework: F;
  /** When it was removed (ms since the epoch). */
  readonly removedAt: number;
  /** Its completed tasks, oldest first. */
  readonly tasks: readonly T[];
}

export const DEFAULT_MAX_COMPLETED_FRAMEWORKS = 50;

export class CompletedFrameworks<F extends { readonly id: string }, T> {
  /** Insertion order is removal order: the first entry is the oldest. */
  private readonly entries = new Map<string, CompletedFramework<F, T>>();

  constructor(
    private readonly maxFrameworks: number,
    private readonly maxTasksPerFramework: number,
  ) {}

  /** Keep a removed framework with (the newest of) its completed tasks; the oldest entry goes when full. */
  add(framework: F, tasks: readonly T[], removedAt: number): void {
    if (this.maxFrameworks <= 0) return;
    this.entries.delete(framework.id);
    const kept = tasks.length > this.maxTasksPerFramework ? tasks.slice(tasks.length - this.maxTasksPerFramework) : [...tasks];
    this.entries.set(framework.id, { framework, removedAt, tasks: kept });
    while (this.entries.size > this.maxFrameworks) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get(id: string): CompletedFramework<F, T> | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Newest first, as Mesos lists them. */
  list(): Array<CompletedFramework<F, T>> {
    return [...this.entries.values()].reverse();
  }
}
