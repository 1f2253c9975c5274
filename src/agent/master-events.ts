/**
 * Schemas of the events the master sends on the REGISTER stream. agent-link.ts declares them as
 * TypeScript types only; an agent must not trust its input more than the master trusts the
 * agent's, so each event is checked here before it touches a task. (Candidates to move into
 * agent-link.ts next to the calls.)
 */
import Type from 'typebox';
import { type AgentEvent, RegistryMarker } from '../protocol/mesos/agent-link.ts';
import { FrameworkInfo, Id, KillPolicy, ResourceJson, TaskInfo } from '../protocol/mesos/scheduler.ts';
import { compileValidator, type Validator } from '../protocol/validation.ts';

const Registered = Type.Object({
  type: Type.Literal('REGISTERED'),
  registered: Type.Object({
    agent_id: Id,
    heartbeat_interval_seconds: Type.Number({ exclusiveMinimum: 0 }),
    master_id: Type.String(),
    registry: Type.Optional(RegistryMarker),
    /** The agent's own credential, naming this agent id (auth on): kept, and presented from now on. */
    agent_token: Type.Optional(Type.String({ maxLength: 4096 })),
    agent_certificate: Type.Optional(Type.String({ maxLength: 16384 })),
    /** The CA certificates to trust from now on (PEM, the signing CA first): two during a CA rotation. */
    ca_bundle: Type.Optional(Type.String({ maxLength: 65536 })),
  }),
});

const Launch = Type.Object({
  type: Type.Literal('LAUNCH'),
  launch: Type.Object({
    framework_id: Id,
    framework_info: FrameworkInfo,
    tasks: Type.Array(TaskInfo, { maxItems: 10000 }),
    executor: Type.Optional(
      Type.Object({
        type: Type.Optional(Type.String({ maxLength: 64 })),
        executor_id: Id,
        framework_id: Type.Optional(Id),
        resources: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 1024 })),
        container: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
    ),
  }),
});

const Kill = Type.Object({
  type: Type.Literal('KILL'),
  kill: Type.Object({ framework_id: Id, task_id: Id, kill_policy: Type.Optional(KillPolicy) }),
});

const Acknowledge = Type.Object({
  type: Type.Literal('ACKNOWLEDGE'),
  acknowledge: Type.Object({
    acknowledgements: Type.Array(Type.Object({ framework_id: Id, task_id: Id, uuid: Type.String({ minLength: 1 }) }), { maxItems: 100000 }),
  }),
});

const ShutdownFramework = Type.Object({
  type: Type.Literal('SHUTDOWN_FRAMEWORK'),
  shutdown_framework: Type.Object({ framework_id: Id }),
});

const CheckpointResources = Type.Object({
  type: Type.Literal('CHECKPOINT_RESOURCES'),
  checkpoint_resources: Type.Object({ resources: Type.Array(ResourceJson, { maxItems: 10000 }) }),
});

const Heartbeat = Type.Object({ type: Type.Literal('HEARTBEAT'), heartbeat: Type.Optional(Type.Object({ sent_at: Type.Number({ minimum: 0 }) })) });

const ErrorEvent = Type.Object({ type: Type.Literal('ERROR'), error: Type.Object({ message: Type.String() }) });

const AgentEventSchema = Type.Union([Registered, Launch, Kill, Acknowledge, ShutdownFramework, CheckpointResources, Heartbeat, ErrorEvent]);

const validator = compileValidator(AgentEventSchema) as unknown as Validator<AgentEvent>;

/** The event, typed, or throws DROVER_ERR_VALIDATION naming what is wrong with it. */
export function parseAgentEvent(raw: unknown): AgentEvent {
  return validator.validate(raw, `invalid event from the master (type ${describeType(raw)})`);
}

function describeType(raw: unknown): string {
  return typeof raw === 'object' && raw !== null && 'type' in raw ? String((raw as { type: unknown }).type) : 'missing';
}
