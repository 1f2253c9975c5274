/**
 * Schemas of the Mesos v1 scheduler API (`POST /api/v1/scheduler`), JSON encoding: snake_case
 * field names, enums as strings, bytes (`uuid`, `data`) as base64. Unknown fields are accepted and
 * ignored, as protobuf's JSON mapping does, so newer framework libraries keep working; known
 * fields are checked strictly. The types used by the master and the SDK derive from these.
 */
import Type, { type Static } from 'typebox';
import { SecretJson } from './secrets.ts';
import { FRAMEWORK_CAPABILITIES, OFFER_OPERATION_TYPES, RESOURCE_VALUE_TYPES, SCHEDULER_CALL_TYPES, TASK_STATES, TASK_STATUS_REASONS, TASK_STATUS_SOURCES } from './enums.ts';

/** Ids are opaque strings; Mesos caps none, we cap them so a hostile id cannot bloat state. */
export const Id = Type.Object({ value: Type.String({ minLength: 1, maxLength: 512 }) });
export type Id = Static<typeof Id>;

const Base64 = Type.String({ maxLength: 4 * 1024 * 1024, pattern: '^[A-Za-z0-9+/_-]*={0,2}$' });

export const Label = Type.Object({ key: Type.String({ maxLength: 1024 }), value: Type.Optional(Type.String({ maxLength: 65536 })) });
export const Labels = Type.Object({ labels: Type.Array(Label, { maxItems: 1024 }) });

const ReservationJson = Type.Object({
  type: Type.Optional(Type.Enum(['UNKNOWN', 'STATIC', 'DYNAMIC'])),
  role: Type.Optional(Type.String({ maxLength: 256 })),
  principal: Type.Optional(Type.String({ maxLength: 256 })),
  labels: Type.Optional(Type.Object({ labels: Type.Array(Label, { maxItems: 64 }) })),
});
const DiskJson = Type.Object({
  persistence: Type.Optional(Type.Object({ id: Type.String({ maxLength: 256 }), principal: Type.Optional(Type.String({ maxLength: 256 })) })),
  volume: Type.Optional(Type.Object({ container_path: Type.String({ maxLength: 4096 }), mode: Type.Optional(Type.Enum(['RW', 'RO'])) })),
  source: Type.Optional(Type.Object({ type: Type.Optional(Type.String({ maxLength: 64 })) })),
});

export const ResourceJson = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  type: Type.Enum(RESOURCE_VALUE_TYPES),
  scalar: Type.Optional(Type.Object({ value: Type.Number({ minimum: 0 }) })),
  ranges: Type.Optional(Type.Object({ range: Type.Array(Type.Object({ begin: Type.Integer({ minimum: 0 }), end: Type.Integer({ minimum: 0 }) }), { maxItems: 65536 }) })),
  set: Type.Optional(Type.Object({ item: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 65536 }) })),
  role: Type.Optional(Type.String({ maxLength: 256 })),
  allocation_info: Type.Optional(Type.Object({ role: Type.Optional(Type.String({ maxLength: 256 })) })),
  /** Dynamic reservations (src/master/reservations.ts): Mesos' pre-refinement `reservation` and the refined `reservations` stack. */
  reservation: Type.Optional(ReservationJson),
  reservations: Type.Optional(Type.Array(ReservationJson, { maxItems: 16 })),
  /** A persistent volume: `{persistence: {id, principal?}, volume: {container_path, mode}}`. */
  disk: Type.Optional(DiskJson),
});
export type ResourceJson = Static<typeof ResourceJson>;
const ResourceList = Type.Array(ResourceJson, { maxItems: 1024 });

export const Environment = Type.Object({
  variables: Type.Array(
    Type.Object({
      name: Type.String({ minLength: 1, maxLength: 4096 }),
      type: Type.Optional(Type.Union([Type.Literal('VALUE'), Type.Literal('SECRET'), Type.Literal('UNKNOWN')])),
      value: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
      /** For type SECRET: a reference into the secret store (secrets.ts), resolved by the agent at launch. */
      secret: Type.Optional(SecretJson),
    }),
    { maxItems: 4096 },
  ),
});

export const CommandUri = Type.Object({
  value: Type.String({ minLength: 1, maxLength: 8192 }),
  executable: Type.Optional(Type.Boolean()),
  extract: Type.Optional(Type.Boolean()),
  cache: Type.Optional(Type.Boolean()),
  output_file: Type.Optional(Type.String({ maxLength: 4096 })),
});

export const CommandInfo = Type.Object({
  value: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
  shell: Type.Optional(Type.Boolean()),
  arguments: Type.Optional(Type.Array(Type.String({ maxLength: 1024 * 1024 }), { maxItems: 4096 })),
  environment: Type.Optional(Environment),
  uris: Type.Optional(Type.Array(CommandUri, { maxItems: 1024 })),
  user: Type.Optional(Type.String({ maxLength: 256 })),
});
export type CommandInfo = Static<typeof CommandInfo>;

export const KillPolicy = Type.Object({
  grace_period: Type.Optional(Type.Object({ nanoseconds: Type.Integer({ minimum: 0 }) })),
});

/** ContainerInfo and HealthCheck are carried through opaquely until their issues define them. */
const Opaque = Type.Record(Type.String(), Type.Unknown());

export const TaskInfo = Type.Object({
  name: Type.String({ maxLength: 1024 }),
  task_id: Id,
  agent_id: Id,
  resources: ResourceList,
  command: Type.Optional(CommandInfo),
  executor: Type.Optional(Opaque),
  container: Type.Optional(Opaque),
  health_check: Type.Optional(Opaque),
  check: Type.Optional(Opaque),
  kill_policy: Type.Optional(KillPolicy),
  labels: Type.Optional(Labels),
  discovery: Type.Optional(Opaque),
  data: Type.Optional(Base64),
});
export type TaskInfo = Static<typeof TaskInfo>;

export const FrameworkInfo = Type.Object({
  user: Type.String({ maxLength: 256 }),
  name: Type.String({ maxLength: 1024 }),
  id: Type.Optional(Id),
  failover_timeout: Type.Optional(Type.Number({ minimum: 0 })),
  checkpoint: Type.Optional(Type.Boolean()),
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 256 })),
  hostname: Type.Optional(Type.String({ maxLength: 1024 })),
  principal: Type.Optional(Type.String({ maxLength: 1024 })),
  webui_url: Type.Optional(Type.String({ maxLength: 4096 })),
  capabilities: Type.Optional(Type.Array(Type.Object({ type: Type.Enum(FRAMEWORK_CAPABILITIES) }), { maxItems: 64 })),
  labels: Type.Optional(Labels),
});
export type FrameworkInfo = Static<typeof FrameworkInfo>;

export const Filters = Type.Object({ refuse_seconds: Type.Optional(Type.Number({ minimum: 0 })) });

export const Operation = Type.Object({
  type: Type.Enum(OFFER_OPERATION_TYPES),
  id: Type.Optional(Id),
  launch: Type.Optional(Type.Object({ task_infos: Type.Array(TaskInfo, { maxItems: 10000 }) })),
  launch_group: Type.Optional(
    Type.Object({
      executor: Opaque,
      task_group: Type.Object({ tasks: Type.Array(TaskInfo, { maxItems: 10000 }) }),
    }),
  ),
  // Reservations and persistent volumes (src/master/offer-operations.ts).
  reserve: Type.Optional(Type.Object({ resources: ResourceList, source: Type.Optional(ResourceList) })),
  unreserve: Type.Optional(Type.Object({ resources: ResourceList })),
  create: Type.Optional(Type.Object({ volumes: ResourceList })),
  destroy: Type.Optional(Type.Object({ volumes: ResourceList })),
});
export type Operation = Static<typeof Operation>;

const OfferIds = Type.Array(Id, { maxItems: 100000 });
const Roles = Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 256 });

/** One scheduler call. Which sub-object is required depends on `type` (checked by the master). */
export const SchedulerCall = Type.Object({
  type: Type.Enum(SCHEDULER_CALL_TYPES),
  framework_id: Type.Optional(Id),
  subscribe: Type.Optional(Type.Object({ framework_info: FrameworkInfo, suppressed_roles: Type.Optional(Roles) })),
  accept: Type.Optional(Type.Object({ offer_ids: OfferIds, operations: Type.Optional(Type.Array(Operation, { maxItems: 10000 })), filters: Type.Optional(Filters) })),
  decline: Type.Optional(Type.Object({ offer_ids: OfferIds, filters: Type.Optional(Filters) })),
  revive: Type.Optional(Type.Object({ roles: Type.Optional(Roles), role: Type.Optional(Type.String()) })),
  suppress: Type.Optional(Type.Object({ roles: Type.Optional(Roles), role: Type.Optional(Type.String()) })),
  kill: Type.Optional(Type.Object({ task_id: Id, agent_id: Type.Optional(Id), kill_policy: Type.Optional(KillPolicy) })),
  shutdown: Type.Optional(Type.Object({ executor_id: Id, agent_id: Id })),
  acknowledge: Type.Optional(Type.Object({ agent_id: Id, task_id: Id, uuid: Base64 })),
  reconcile: Type.Optional(Type.Object({ tasks: Type.Optional(Type.Array(Type.Object({ task_id: Id, agent_id: Type.Optional(Id) }), { maxItems: 100000 })) })),
  message: Type.Optional(Type.Object({ agent_id: Id, executor_id: Id, data: Base64 })),
  request: Type.Optional(Opaque),
  reconcile_operations: Type.Optional(
    Type.Object({ operations: Type.Optional(Type.Array(Type.Object({ operation_id: Id, agent_id: Type.Optional(Id), resource_provider_id: Type.Optional(Id) }), { maxItems: 100000 })) }),
  ),
  update_framework: Type.Optional(Type.Object({ framework_info: FrameworkInfo, suppressed_roles: Type.Optional(Roles) })),
});
export type SchedulerCall = Static<typeof SchedulerCall>;

/** The sub-object each call type must carry (Mesos rejects e.g. ACCEPT without `accept`). */
export const REQUIRED_CALL_FIELD: Partial<Record<SchedulerCall['type'], keyof SchedulerCall>> = {
  SUBSCRIBE: 'subscribe',
  ACCEPT: 'accept',
  DECLINE: 'decline',
  KILL: 'kill',
  SHUTDOWN: 'shutdown',
  ACKNOWLEDGE: 'acknowledge',
  RECONCILE: 'reconcile',
  MESSAGE: 'message',
  RECONCILE_OPERATIONS: 'reconcile_operations',
  UPDATE_FRAMEWORK: 'update_framework',
};

export const TaskStatus = Type.Object({
  task_id: Id,
  state: Type.Enum(TASK_STATES),
  message: Type.Optional(Type.String()),
  source: Type.Optional(Type.Enum(TASK_STATUS_SOURCES)),
  reason: Type.Optional(Type.Enum(TASK_STATUS_REASONS)),
  data: Type.Optional(Base64),
  agent_id: Type.Optional(Id),
  executor_id: Type.Optional(Id),
  timestamp: Type.Optional(Type.Number()),
  uuid: Type.Optional(Base64),
  healthy: Type.Optional(Type.Boolean()),
  labels: Type.Optional(Labels),
  container_status: Type.Optional(Opaque),
});
export type TaskStatus = Static<typeof TaskStatus>;
