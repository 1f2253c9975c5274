/**
 * LAUNCH_GROUP offer operations (Mesos task groups run by the default executor): what makes a
 * group invalid as a whole. A group is all or nothing, as in Mesos: one bad task, a bad executor
 * or too few resources for the lot and every task of the group gets TASK_ERROR with
 * REASON_TASK_GROUP_INVALID; nothing of it launches. The messages follow Mesos'
 * master/validation.cpp where Mesos has one.
 *
 * The executor's resources are booked with the group's first task (the master keeps no executor
 * records): they return when that task's record goes.
 */
import type { TaskInfo } from '../protocol/mesos/scheduler.ts';
import { Resources } from '../resources/index.ts';

export interface ExecutorJson {
  type?: unknown;
  executor_id?: { value?: unknown };
  framework_id?: { value?: unknown };
  command?: unknown;
  resources?: unknown;
  container?: { type?: unknown; docker?: unknown; mesos?: unknown; network_infos?: unknown };
}

/** Why the group's executor cannot run it, or its resources. */
export function executorProblem(executor: ExecutorJson, frameworkId: string): string | Resources {
  const id = executor.executor_id?.value;
  if (typeof id !== 'string' || id === '') return "'ExecutorInfo.executor_id' must be set";
  if (id.length > 256 || id.includes('/') || id === '.' || id === '..') return "'ExecutorInfo.executor_id' must be at most 256 characters and a valid directory name";
  const fw = executor.framework_id?.value;
  if (fw !== undefined && fw !== frameworkId) return `ExecutorInfo has an invalid FrameworkID (Actual: ${String(fw)} vs Expected: ${frameworkId})`;
  if (executor.type !== 'DEFAULT') return "'ExecutorInfo.type' must be 'DEFAULT': this master runs task groups with the default executor only";
  if (executor.command !== undefined) return "'ExecutorInfo.command' must not be set for 'DEFAULT' executor";
  const container = executor.container;
  if (container !== undefined) {
    if (container.type !== undefined && container.type !== 'MESOS') return "'ExecutorInfo.container.type' must be 'MESOS' for 'DEFAULT' executor";
    if (container.docker !== undefined) return "'ExecutorInfo.container.docker' must not be set for 'DEFAULT' executor";
    if ((container.mesos as { image?: unknown } | undefined)?.image !== undefined) return "'ExecutorInfo.container.mesos.image' must not be set for 'DEFAULT' executor";
  }
  let resources: Resources;
  try {
    resources = Resources.fromJSON(executor.resources ?? []);
  } catch (e) {
    return `Executor uses invalid resources: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (resources.isEmpty) return "'ExecutorInfo.resources' must be set for 'DEFAULT' executor";
  if (!(resources.disk() > 0)) return 'DEFAULT executor must have disk resources';
  return resources;
}

/** Problems of the group's tasks that single tasks do not have. */
export function groupTasksProblem(tasks: readonly TaskInfo[]): string | undefined {
  if (tasks.length === 0) return 'Task group cannot be empty';
  const ids = new Set<string>();
  for (const task of tasks) {
    const id = task.task_id.value;
    if (ids.has(id)) return `Task group has duplicate task ID '${id}'`;
    ids.add(id);
    if (task.executor !== undefined) return `Task '${id}': 'TaskInfo.executor' must not be set`;
    const container = task.container as { type?: unknown; docker?: unknown } | undefined;
    if (container?.type === 'DOCKER' || container?.docker !== undefined) return `Task '${id}': Docker ContainerInfo is not supported on the task`;
  }
  const agents = new Set(tasks.map((t) => t.agent_id.value));
  if (agents.size > 1) return 'All tasks in a task group must be launched on the same agent';
  return undefined;
}
