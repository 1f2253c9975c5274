/**
 * The master ↔ agent protocol, in the same style as the public scheduler API:
 *
 *   agent → master   POST /api/v1/agent, JSON body `AgentCall`
 *     REGISTER   answered 200 with a chunked RecordIO stream of `AgentEvent`s (JSON), header
 *                `Drover-Stream-Id`; the first event is REGISTERED (or ERROR). An agent that has an
 *                id (from its checkpoint) sends it back: that is re-registration, and the tasks it
 *                reports are reconciled with what the master knew, never wiped.
 *     HEARTBEAT  202; every `heartbeat_interval_seconds`, echoing the last HEARTBEAT event read.
 *                Missing `max_missed_heartbeats` in a row makes the agent unreachable; a call
 *                that echoes an old event counts only as of that event (a one-way partition).
 *     UPDATE     202; a batch of task status updates, each with a `uuid`. The agent retries an
 *                update (with backoff, checkpointed on disk) until the master forwards the
 *                framework's ACKNOWLEDGE on the stream. Updates of one task are sent in order,
 *                the next only after the previous one is acknowledged (Mesos' status update
 *                manager does the same), except that a terminal update is never held back. A
 *                live state that arrives after the task's end is acknowledged by the master and
 *                not forwarded: a framework never sees a task come back from a terminal state.
 *   Non-REGISTER calls carry `agent_id` and the `Drover-Stream-Id` header of the current stream;
 *   a stale stream id gets 409 (the agent must re-register).
 *
 *   master → agent   events on the REGISTER stream: LAUNCH (batched per agent), KILL,
 *     ACKNOWLEDGE (batched), SHUTDOWN_FRAMEWORK, CHECKPOINT_RESOURCES (reservations and volumes),
 *     HEARTBEAT (every third of the heartbeat interval, stamped with the master's clock: the agent
 *     notices a dead master, the master a deaf agent).
 */
import Type, { type Static } from 'typebox';
import { Id, ResourceJson, TaskInfo, TaskStatus, FrameworkInfo, type KillPolicy } from './scheduler.ts';
import { TASK_STATES } from './enums.ts';

export const AGENT_STREAM_HEADER = 'drover-stream-id';

/** Mesos attribute JSON: `{name, type: TEXT|SCALAR|RANGES|SET, text:{value}|scalar:{value}|…}`. */
export const AttributeJson = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  type: Type.Enum(['TEXT', 'SCALAR', 'RANGES', 'SET']),
  text: Type.Optional(Type.Object({ value: Type.String({ maxLength: 4096 }) })),
  scalar: Type.Optional(Type.Object({ value: Type.Number() })),
  ranges: Type.Optional(Type.Object({ range: Type.Array(Type.Object({ begin: Type.Integer(), end: Type.Integer() }), { maxItems: 4096 }) })),
  set: Type.Optional(Type.Object({ item: Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 4096 }) })),
});
export type AttributeJson = Static<typeof AttributeJson>;

export const AgentInfo = Type.Object({
  hostname: Type.String({ minLength: 1, maxLength: 1024 }),
  /** Port of the agent's own HTTP server (sandboxes, logs, state). */
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  id: Type.Optional(Id),
  resources: Type.Array(ResourceJson, { maxItems: 1024 }),
  attributes: Type.Optional(Type.Array(AttributeJson, { maxItems: 1024 })),
});
export type AgentInfo = Static<typeof AgentInfo>;

/**
 * Which store the master that registered an agent keeps its registry in (Drover extension): the
 * cluster id recorded in that store, and the store revision at which this agent's registration was
 * written. The master hands it out in REGISTERED; the agent checkpoints it and sends it back when
 * it re-registers, so a master on a replaced store (another cluster id) or on one restored from an
 * older copy (the agent's record missing or older than that revision) notices instead of silently
 * adopting or forgetting the agent's tasks (DROVER_ERR_STORE_STALE; docs/architecture/002-store.md).
 */
export const RegistryMarker = Type.Object({
  cluster_id: Type.String({ minLength: 1, maxLength: 128 }),
  revision: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
});
export type RegistryMarker = Static<typeof RegistryMarker>;

/** A task as the agent knows it, reported on (re-)registration. */
export const AgentTask = Type.Object({
  framework_id: Id,
  task_info: TaskInfo,
  state: Type.Enum(TASK_STATES),
  /** Latest status the agent has, acknowledged or not. */
  status: Type.Optional(TaskStatus),
  /** Sandbox directory on the agent. */
  directory: Type.Optional(Type.String({ maxLength: 4096 })),
});
export type AgentTask = Static<typeof AgentTask>;

/** A status update on its way to a framework: the framework it belongs to and the status. */
export const AgentStatusUpdate = Type.Object({
  framework_id: Id,
  status: TaskStatus,
  /** The task's sandbox on the agent (Drover extension), so the master's history can locate it. */
  directory: Type.Optional(Type.String({ maxLength: 4096 })),
});
export type AgentStatusUpdate = Static<typeof AgentStatusUpdate>;

export const AgentCall = Type.Object({
  type: Type.Enum(['REGISTER', 'HEARTBEAT', 'UPDATE']),
  agent_id: Type.Optional(Id),
  register: Type.Optional(
    Type.Object({
      agent_info: AgentInfo,
      tasks: Type.Optional(Type.Array(AgentTask, { maxItems: 100000 })),
      /** Frameworks the agent has tasks of, so a failed-over master can rebuild them. */
      frameworks: Type.Optional(Type.Array(FrameworkInfo, { maxItems: 10000 })),
      /**
       * The id this machine's agent had before the machine rebooted (its boot id changed). The
       * agent registers as a new agent without its old tasks; the master removes the old agent
       * as gone and reports its tasks TASK_GONE (TASK_LOST to frameworks that are not
       * PARTITION_AWARE), as Mesos does for a rebooted host.
       */
      rebooted_agent_id: Type.Optional(Id),
      /** The marker of the agent's last registration (with `agent_id` only); see RegistryMarker. */
      registry: Type.Optional(RegistryMarker),
      /**
       * TLS bootstrap (as a kubelet's): a PEM PKCS#10 request for the agent's key. The master
       * answers REGISTERED with `agent_certificate`, the cluster CA's certificate binding this key
       * to the agent id it assigned (src/iam/tls-ca.ts).
       */
      csr: Type.Optional(Type.String({ maxLength: 8192 })),
      /** The reserved resources and persistent volumes the agent checkpointed (CHECKPOINT_RESOURCES). */
      checkpointed_resources: Type.Optional(Type.Array(ResourceJson, { maxItems: 10000 })),
    }),
  ),
  update: Type.Optional(Type.Object({ updates: Type.Array(AgentStatusUpdate, { minItems: 1, maxItems: 10000 }) })),
  /**
   * HEARTBEAT: the `sent_at` of the last HEARTBEAT event the agent read on this stream. The
   * master counts the agent as seen only as recently as it proves to hear the master (a ping and
   * its pong, as Mesos' master pings agents): an agent whose calls still arrive while the master's
   * events no longer reach it (a one-way partition) is then marked unreachable on time.
   */
  heartbeat: Type.Optional(Type.Object({ master_heartbeat: Type.Number({ minimum: 0 }) })),
});
export type AgentCall = Static<typeof AgentCall>;

export interface AgentLaunch {
  framework_id: Id;
  framework_info: FrameworkInfo;
  tasks: TaskInfo[];
  /**
   * Set for a task group (LAUNCH_GROUP): the DEFAULT executor's ExecutorInfo. The tasks then start
   * together, share a network namespace and the executor's sandbox, and die together.
   */
  executor?: Record<string, unknown>;
}

export interface AgentAcknowledgement {
  framework_id: Id;
  task_id: Id;
  uuid: string;
}

export type AgentEvent =
  | {
      type: 'REGISTERED';
      registered: { agent_id: Id; heartbeat_interval_seconds: number; master_id: string; registry?: RegistryMarker; agent_token?: string; agent_certificate?: string; ca_bundle?: string };
    }
  | { type: 'LAUNCH'; launch: AgentLaunch }
  | { type: 'KILL'; kill: { framework_id: Id; task_id: Id; kill_policy?: Static<typeof KillPolicy> } }
  | { type: 'ACKNOWLEDGE'; acknowledge: { acknowledgements: AgentAcknowledgement[] } }
  | { type: 'SHUTDOWN_FRAMEWORK'; shutdown_framework: { framework_id: Id } }
  /**
   * The agent's whole set of dynamically reserved resources and persistent volumes (Mesos'
   * CheckpointResourcesMessage): the agent writes it to its work dir, creates the directories of
   * new volumes and deletes those of volumes no longer listed (DESTROY).
   */
  | { type: 'CHECKPOINT_RESOURCES'; checkpoint_resources: { resources: Array<Static<typeof ResourceJson>> } }
  /** `heartbeat.sent_at`: the master's clock (ms) when it sent it; echoed in the agent's next HEARTBEAT call. */
  | { type: 'HEARTBEAT'; heartbeat?: { sent_at: number } }
  | { type: 'ERROR'; error: { message: string } };

/**
 * agent → master `POST /api/v1/agent/secrets` (with the `Drover-Stream-Id` header): the values of
 * the secrets a task it is launching references. Answered 200
 * `{secrets: [{path, value: base64}], missing: [path]}`; 403 for a task that is not live on the
 * calling agent; 409 for a stale stream.
 */
export const AgentSecretsCall = Type.Object({
  agent_id: Id,
  framework_id: Id,
  task_id: Id,
});
export type AgentSecretsCall = Static<typeof AgentSecretsCall>;
