/**
 * The master's live tasks by key (frameworkId \0 taskId), with two running indexes that the hot
 * paths need instead of a scan of every task:
 *   - per framework, per role: the sum of the tasks' scalar resources (what DRF shares are made
 *     of), read by every offer cycle — at 1,000,000 tasks the scan cost a second per cycle;
 *   - per agent: its tasks, read by (re-)registration and by marking an agent unreachable.
 * A Map subclass, so every reader keeps working; `set`, `delete` and `clear` keep the indexes.
 * A task's framework, role, agent and resources never change once it is stored.
 *
 * Only scalars are summed: range resources (ports) of tasks on different agents overlap, and a
 * union of ranges cannot be subtracted task by task. Shares count scalars only anyway.
 */
import { Resources } from '../resources/index.ts';
import type { TaskRecord } from './model.ts';

export class TaskTable extends Map<string, TaskRecord> {
  private byAgent: Map<string, Map<string, TaskRecord>> | undefined;
  private allocation: Map<string, Map<string, Resources>> | undefined;

  override set(key: string, task: TaskRecord): this {
    // Map's constructor calls set before field initialisers run: indexes are created lazily.
    this.byAgent ??= new Map();
    this.allocation ??= new Map();
    const previous = super.get(key);
    if (previous !== undefined) this.unindex(key, previous);
    let agent = this.byAgent.get(task.agentId);
    if (agent === undefined) this.byAgent.set(task.agentId, (agent = new Map()));
    agent.set(key, task);
    let roles = this.allocation.get(task.frameworkId);
    if (roles === undefined) this.allocation.set(task.frameworkId, (roles = new Map()));
    roles.set(task.role, (roles.get(task.role) ?? Resources.EMPTY).add(scalarsOf(task.resources)));
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
    return this.allocation ?? new Map();
  }

  private unindex(key: string, task: TaskRecord): void {
    const agent = this.byAgent?.get(task.agentId);
    agent?.delete(key);
    if (agent?.size === 0) this.byAgent!.delete(task.agentId);
    const roles = this.allocation?.get(task.frameworkId);
    const sum = roles?.get(task.role);
    if (roles === undefined || sum === undefined) return;
    const rest = sum.subtract(scalarsOf(task.resources));
    if (rest.isEmpty) roles.delete(task.role);
    else roles.set(task.role, rest);
    if (roles.size === 0) this.allocation!.delete(task.frameworkId);
  }
}

const scalarCache = new WeakMap<Resources, Resources>();

function scalarsOf(r: Resources): Resources {
  let s = scalarCache.get(r);
  if (s === undefined) scalarCache.set(r, (s = Resources.of(r.toArray().filter((x) => x.value.type === 'SCALAR'))));
  return s;
}
