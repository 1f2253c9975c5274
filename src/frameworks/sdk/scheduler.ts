/**
 * The scheduler SDK: one interface for talking to a master as a framework, with transports
 * behind it (HTTP today — the public Mesos v1 scheduler API; in-process next, for `drover dev`).
 * Built-in frameworks and tests use only this interface.
 */
import { DroverError } from '../../errors/errors.ts';
import type { TaskState } from '../../protocol/mesos/enums.ts';
import type { FrameworkInfo, SchedulerCall, TaskStatus } from '../../protocol/mesos/scheduler.ts';

export interface OfferJson {
  id: { value: string };
  framework_id: { value: string };
  agent_id: { value: string };
  hostname: string;
  resources: unknown[];
  attributes?: unknown[];
  allocation_info?: { role: string };
}

export interface OperationStatus {
  operation_id?: { value: string };
  state: 'OPERATION_FINISHED' | 'OPERATION_ERROR';
  message?: string;
  agent_id?: { value: string };
}

export type SchedulerEvent =
  | { type: 'SUBSCRIBED'; subscribed: { framework_id: { value: string }; heartbeat_interval_seconds: number; master_info?: unknown } }
  | { type: 'OFFERS'; offers: { offers: OfferJson[] } }
  | { type: 'RESCIND'; rescind: { offer_id: { value: string } } }
  | { type: 'UPDATE'; update: { status: TaskStatus } }
  /** What became of a RESERVE/UNRESERVE/CREATE/DESTROY (src/master/scheduler-calls.ts). */
  | { type: 'UPDATE_OPERATION_STATUS'; update_operation_status: { status: OperationStatus } }
  | { type: 'MESSAGE'; message: unknown }
  | { type: 'FAILURE'; failure: unknown }
  | { type: 'ERROR'; error: { message: string } }
  | { type: 'HEARTBEAT' };

/**
 * Whether an update for a task the framework does not know calls for a KILL: only when it says the
 * task may be running on an agent. The master answers a KILL of a task it does not know with
 * TASK_LOST (TASK_UNKNOWN for a partition-aware framework); killing again on that answer is an
 * endless KILL → update → KILL loop through the master — in process it never yields, and it held
 * `drover dev`'s event loop (and its memory) from the moment a deleted job's or app's task sent a
 * late update. A lost or unreachable task that comes back reports TASK_RUNNING and is killed then.
 */
export function killsUnknownTask(state: TaskState): boolean {
  return state === 'TASK_STAGING' || state === 'TASK_STARTING' || state === 'TASK_RUNNING';
}

/** A call without `framework_id`: the connection fills it in. */
export type OutgoingCall = Omit<SchedulerCall, 'framework_id'>;

/** One ACKNOWLEDGE's body. */
export type Acknowledgement = NonNullable<SchedulerCall['acknowledge']>;

export interface SchedulerConnection {
  readonly frameworkId: string;
  /** Send a call; rejects with a DroverError when the master refuses it (4xx). */
  call(call: OutgoingCall): Promise<void>;
  /**
   * Many ACKNOWLEDGE calls at once, where the transport can do better than one call each (the
   * in-process one: one pass, each still validated as its own call). The v1 HTTP API has no batch
   * form, so transports without it leave this out and callers send one ACKNOWLEDGE per update.
   * Every acknowledgement is tried; rejects with the first refusal.
   */
  acknowledgeAll?(acks: readonly Acknowledgement[]): Promise<void>;
  /** Every event after SUBSCRIBED, in order; ends when the subscription ends. */
  events(): AsyncIterable<SchedulerEvent>;
  /** Close the subscription (the framework is then disconnected, not torn down). */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  suppressedRoles?: string[];
}

export interface SchedulerTransport {
  subscribe(info: FrameworkInfo, options?: SubscribeOptions): Promise<SchedulerConnection>;
}

/** The framework id from a subscription's first event, which must be SUBSCRIBED (else ERROR). */
export function subscribedFrameworkId(first: IteratorResult<SchedulerEvent>): string {
  if (!first.done && first.value.type === 'SUBSCRIBED') return first.value.subscribed.framework_id.value;
  const message = !first.done && first.value.type === 'ERROR' ? first.value.error.message : 'subscription ended before SUBSCRIBED';
  throw new DroverError('CONFLICT', `Subscribe failed: ${message}`);
}
