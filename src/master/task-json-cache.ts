/**
 * Each task's legacy JSON (`taskToJson`, views.ts) kept encoded, so that `/master/state`,
 * `/master/frameworks` and `/master/tasks` at 50,000 tasks join bytes instead of building and
 * stringifying 50,000 object trees per request (issue 21, docs/architecture/022-master-state-json.md).
 *
 * When it is stale: a task's JSON is made of its record's fields, and the master changes a record
 * only by assigning them — `state`, `statuses` (a new array per status: master.ts applyStatus),
 * `directory` (agent-calls.ts), and never `info` or `resources` in place (interned, shared). An
 * entry keeps the values it was made from and is made again when any of them is no longer the
 * same (`===`): no version counter to forget to bump. A task that ends moves to the completed
 * list as the same record, so its entry follows it; a record that is dropped (an agent removed,
 * the completed list trimmed) takes its entry with it (WeakMap).
 *
 * Memory: one copy of the task's JSON per task read at least once (≈ 600 bytes at 50,000 tasks:
 * about the size of one `/master/state` answer), outside the V8 heap.
 */
import { EncodedItem } from '../protocol/encoded-items.ts';
import type { TaskRecord } from './model.ts';
import { taskToJson } from './views.ts';

interface Entry {
  id: string;
  frameworkId: string;
  agentId: string;
  state: TaskRecord['state'];
  statuses: TaskRecord['statuses'];
  directory: TaskRecord['directory'];
  info: TaskRecord['info'];
  resources: TaskRecord['resources'];
  role: string;
  item: EncodedItem;
}

export class TaskJsonCache {
  private readonly entries = new WeakMap<TaskRecord, Entry>();

  /** The task's `taskToJson` as an encoded list item, made again only when the record changed. */
  item(task: TaskRecord): EncodedItem {
    const e = this.entries.get(task);
    if (
      e !== undefined &&
      e.state === task.state &&
      e.statuses === task.statuses &&
      e.directory === task.directory &&
      e.agentId === task.agentId &&
      e.info === task.info &&
      e.resources === task.resources &&
      e.role === task.role &&
      e.id === task.id &&
      e.frameworkId === task.frameworkId
    ) {
      return e.item;
    }
    const item = new EncodedItem(JSON.stringify(taskToJson(task)));
    this.entries.set(task, {
      id: task.id,
      frameworkId: task.frameworkId,
      agentId: task.agentId,
      state: task.state,
      statuses: task.statuses,
      directory: task.directory,
      info: task.info,
      resources: task.resources,
      role: task.role,
      item,
    });
    return item;
  }
}
