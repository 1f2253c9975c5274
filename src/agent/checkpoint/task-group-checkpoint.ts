/** The task-group part of a TaskCheckpoint (task-groups.ts explains task groups). */
import Type, { type Static } from 'typebox';

/** What each task of a group records about its group (in its TaskCheckpoint). */
export const TaskGroupCheckpoint = Type.Object({
  executorId: Type.String({ minLength: 1 }),
  /** Every task of the group, this one included. */
  taskIds: Type.Array(Type.String({ minLength: 1 }), { maxItems: 10000 }),
  /** The executor's sandbox: the directory the group's SANDBOX_PATH volumes share. */
  executorSandbox: Type.String({ minLength: 1 }),
  /** ExecutorInfo.container.network_infos names (refused at launch while unsupported). */
  networks: Type.Optional(Type.Array(Type.String())),
});
export type TaskGroupCheckpoint = Static<typeof TaskGroupCheckpoint>;
