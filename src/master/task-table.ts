/**
 * The master's live tasks by key (frameworkId \0 taskId), with two running indexes that the hot
 * paths need instead of a scan of every task:
 *   - per framework, per role: the sum of the tasks' scalar resources (what DRF shares are made
 *     of), read by every offer cycle — at 1,000,000 tasks the scan cost a second per cycle;
 *   - per agent: its tasks, read by (re-)registration and by marking an agent unreachable.
 * A Map subclass, so every reader keeps working; `set`, `delete` and `clear` keep the indexes.
 * A task's framework, role, agent and resources never change once it is stored.
 *
 * Only scalars are summed (allocation-sums.ts says why).
 */
import type { Resources } from '../resources/index.ts';
import { AllocationSums } from './allocation-sums.ts';
import type { TaskRecord } from './model.ts';

export class TaskTable extends Map<string, TaskRecord> {
  private byAgent: Map<string, Map<string, TaskRecord>> | undefined;
  private allocation: AllocationSums | undefined;

  override set(key: string, task: TaskRecord): this {
    // Map's constructor calls set before field initialisers run: indexes are created lazily.
    this.byAgent ??= new Map();
    this.allocation ??= new AllocationSums();
    const previous = super.get(key);
    if (previous !== undefined) this.unindex(key, previous);
    let agent = this.byAgent.get(task.agentId);
    if (agent === undefined) this.byAgent.set(task.agentId, (agent = new Map()));
    agent.set(key, task);
    this.allocation.add(task.frameworkId, task.role, task.resources);
    return super.set(key, task);
  }

  override delete(key: string): boolean {
    const previous = super.get(key);
    if (previous === undefined) return false;
    this.unindex(key, previous);
    return super.delete(key);
  }

  override clear(): void {
    this.byAgent?.clear();
    this.allocation?.clear();
    super.clear();
  }

  /** The agent's live tasks (a fresh array). */
  onAgent(agentId: string): TaskRecord[] {
    const tasks = this.byAgent?.get(agentId);
    return tasks === undefined ? [] : [...tasks.values()];
  }

  /** Per framework, per role: the scalar resources of its live tasks. Read-only view. */
  allocated(): ReadonlyMap<string, ReadonlyMap<string, Resources>> {
    return this.allocation?.view() ?? new Map();
  }

  private unindex(key: string, task: TaskRecord): void {
    const agent = this.byAgent?.get(task.agentId);
    agent?.delete(key);
    if (agent?.size === 0) this.byAgent!.delete(task.agentId);
    this.allocation?.subtract(task.frameworkId, task.role, task.resources);
  }
}
