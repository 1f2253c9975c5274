/**
 * The master's live tasks, by framework and task id, with two running indexes that the hot paths
 * need instead of a scan of every task:
 *   - per framework, per role: the sum of the tasks' scalar resources (what DRF shares are made
 *     of), read by every offer cycle — at 1,000,000 tasks the scan cost a second per cycle;
 *   - per agent: its tasks, read by (re-)registration and by marking an agent unreachable.
 * A task's framework, role, agent and resources never change once it is stored.
 *
 * Keyed by framework, then by the task's own id string: no `frameworkId\0taskId` key per task
 * (≈ 170 bytes each with its rope, at a million tasks; docs/architecture/006-scale.md).
 *
 * Only scalars are summed (allocation-sums.ts says why).
 */
import type { Resources } from '../resources/index.ts';
import { AllocationSums } from './allocation-sums.ts';
import type { TaskRecord } from './model.ts';

export class TaskTable {
  private readonly byFramework = new Map<string, Map<string, TaskRecord>>();
  private readonly byAgent = new Map<string, Set<TaskRecord>>();
  private readonly allocation = new AllocationSums();
  private count = 0;
  private changes = 0;
  /** Arrays handed out by `frameworkTasks` and `allTasks`, valid at `listsRevision`. */
  private readonly lists = new Map<string, readonly TaskRecord[]>();
  private listsRevision = -1;

  get size(): number {
    return this.count;
  }

  /**
   * Bumped by every `set`, `delete` and `clear`: a sum over a framework's tasks made at one
   * revision holds until the next (a stored task's resources never change).
   */
  get revision(): number {
    return this.changes;
  }

  get(frameworkId: string, taskId: string): TaskRecord | undefined {
    return this.byFramework.get(frameworkId)?.get(taskId);
  }

  /** Store a task, replacing the framework's task with the same id. */
  set(task: TaskRecord): this {
    this.delete(task.frameworkId, task.id);
    this.changes++;
    let tasks = this.byFramework.get(task.frameworkId);
    if (tasks === undefined) this.byFramework.set(task.frameworkId, (tasks = new Map()));
    tasks.set(task.id, task);
    this.count++;
    let agent = this.byAgent.get(task.agentId);
    if (agent === undefined) this.byAgent.set(task.agentId, (agent = new Set()));
    agent.add(task);
    this.allocation.add(task.frameworkId, task.role, task.resources);
    return this;
  }

  delete(frameworkId: string, taskId: string): boolean {
    const tasks = this.byFramework.get(frameworkId);
    const task = tasks?.get(taskId);
    if (tasks === undefined || task === undefined) return false;
    tasks.delete(taskId);
    this.changes++;
    if (tasks.size === 0) this.byFramework.delete(frameworkId);
    this.count--;
    this.unindex(task);
    return true;
  }

  clear(): void {
    this.changes++;
    this.byFramework.clear();
    this.byAgent.clear();
    this.allocation.clear();
    this.count = 0;
  }

  *values(): IterableIterator<TaskRecord> {
    for (const tasks of this.byFramework.values()) yield* tasks.values();
  }

  [Symbol.iterator](): IterableIterator<TaskRecord> {
    return this.values();
  }

  /** The framework's live tasks (a fresh array). */
  ofFramework(frameworkId: string): TaskRecord[] {
    const tasks = this.byFramework.get(frameworkId);
    return tasks === undefined ? [] : [...tasks.values()];
  }

  /**
   * The framework's live tasks as `ofFramework` lists them, but the same array until the table
   * next changes (set, delete, clear): the state views read it per request at 50,000 tasks
   * (issue 21) and need not copy it. Never changed by the table after it is handed out; callers
   * must not change it either.
   */
  frameworkTasks(frameworkId: string): readonly TaskRecord[] {
    return this.kept(`framework:${frameworkId}`, () => this.ofFramework(frameworkId));
  }

  /** Every live task in `values()` order, the same array until the table next changes (as `frameworkTasks`). */
  allTasks(): readonly TaskRecord[] {
    return this.kept('all', () => [...this.values()]);
  }

  private kept(key: string, make: () => TaskRecord[]): readonly TaskRecord[] {
    if (this.listsRevision !== this.changes) {
      this.lists.clear();
      this.listsRevision = this.changes;
    }
    let list = this.lists.get(key);
    if (list === undefined) this.lists.set(key, (list = Object.freeze(make())));
    return list;
  }

  /** The agent's live tasks (a fresh array). */
  onAgent(agentId: string): TaskRecord[] {
    const tasks = this.byAgent.get(agentId);
    return tasks === undefined ? [] : [...tasks];
  }

  /** Per framework, per role: the scalar resources of its live tasks. Read-only view. */
  allocated(): ReadonlyMap<string, ReadonlyMap<string, Resources>> {
    return this.allocation.view();
  }

  private unindex(task: TaskRecord): void {
    const agent = this.byAgent.get(task.agentId);
    agent?.delete(task);
    if (agent?.size === 0) this.byAgent.delete(task.agentId);
    this.allocation.subtract(task.frameworkId, task.role, task.resources);
  }
}
