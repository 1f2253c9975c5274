/** The task-group part of a TaskCheckpoint (task-groups.ts explains task groups). */
import Type, { type Static } from 'typebox';

/** What each task of a group records about its group (in its TaskCheckpoint). */
export const TaskGroupCheckpoint = Type.Object({
  executorId: Type.String({ minLength: 1 }),
  /** Every task of the group, this one included. */
  taskIds: Type.Array(Type.String({ minLength: 1 }), { maxItems: 10000 }),
  /** The executor's sandbox: the directory the group's SANDBOX_PATH volumes share. */
  executorSandbox: Type.String({ minLength: 1 }),
  /** ExecutorInfo.container.network_infos names: the group's one network namespace joins them. */
  networks: Type.Optional(Type.Array(Type.String())),
  /** Names the group's namespace (`drover-group-<networkId>`); set when it has networks. */
  networkId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** ExecutorInfo.container.network_infos[].port_mappings: host port → container port forwards. */
  portMappings: Type.Optional(
    Type.Array(Type.Object({ network: Type.String(), hostPort: Type.Integer(), containerPort: Type.Integer(), protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]) }), { maxItems: 1000 }),
  ),
  /**
   * The executor's persistent volumes (ExecutorInfo.resources with disk.persistence): mounted at
   * `<executorSandbox>/<containerPath>` while the group runs (persistent-volumes.ts).
   */
  volumes: Type.Optional(Type.Array(Type.Object({ role: Type.String(), id: Type.String(), containerPath: Type.String() }), { maxItems: 256 })),
  /** Why the group's networks cannot be set up (bad port mappings); every task of it fails with this. */
  networkProblem: Type.Optional(Type.String()),
  /** The namespace and networks once attached (so a restarted agent can still DEL them). */
  attached: Type.Optional(
    Type.Object({
      netns: Type.String(),
      networks: Type.Array(
        Type.Object({
          name: Type.String(),
          ifname: Type.String(),
          ipAddresses: Type.Array(Type.String()),
          portMappings: Type.Optional(Type.Array(Type.Object({ hostPort: Type.Integer(), containerPort: Type.Integer(), protocol: Type.String() }))),
        }),
      ),
    }),
  ),
});
export type TaskGroupCheckpoint = Static<typeof TaskGroupCheckpoint>;
