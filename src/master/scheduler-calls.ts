/**
 * Handling of Mesos v1 scheduler calls other than the HTTP plumbing. Each function validates the
 * call against the master's state first and changes nothing when it refuses (the HTTP layer turns
 * a thrown DroverError into a 4xx). Invalid launches are not HTTP errors: as in Mesos, ACCEPT is
 * answered 202 and each bad task gets a TASK_ERROR or TASK_DROPPED update with its reason.
 */
import { secretPathsOf } from './task-secrets.ts';
import { DroverError } from '../errors/errors.ts';
import { REQUIRED_CALL_FIELD, SchedulerCall, type TaskInfo, type Operation } from '../protocol/mesos/scheduler.ts';
import { compileValidator } from '../protocol/validation.ts';
import { Resources } from '../resources/index.ts';
import type { EventSink } from './stream.ts';
import type { Master } from './master.ts';
import { keptTaskInfo, type FrameworkRecord, type TaskRecord } from './model.ts';
import type { MadeOffer } from './offer-table.ts';
import { operatorEvents } from './views-v1.ts';
import { sharedResources } from './interner.ts';
import { executorProblem, groupTasksProblem, type ExecutorJson } from './task-groups.ts';
import { applyOperation, commit, refusalMessage, takeReserved, workingState, type AgentWorkingState, type ReservationOperation } from './offer-operations.ts';
import { entryOf, type ReservedEntry } from './reservations.ts';

type Call<K extends keyof SchedulerCall> = SchedulerCall & Required<Pick<SchedulerCall, K>>;

const calls = compileValidator(SchedulerCall);

/** Mesos answers an invalid call with 400, not 422. */
export function validateAs400<T>(validate: () => T): T {
  try {
    return validate();
  } catch (e) {
    if (e instanceof DroverError && e.code === 'DROVER_ERR_VALIDATION') throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
}

/** Schema check plus the sub-object each call type needs. */
export function validateCall(body: unknown): SchedulerCall {
  const call = validateAs400(() => calls.validate(body, 'Failed to validate scheduler::Call'));
  const field = REQUIRED_CALL_FIELD[call.type];
  if (field !== undefined && call[field] === undefined) {
    throw new DroverError('MALFORMED', `Expecting '${field}' to be present`, { details: [{ path: `/${field}`, errors: [`is required for ${call.type}`] }] });
  }
  return call;
}

/**
 * `dispatch`, after confirming leadership for the calls that reach agents (launches, kills,
 * teardown): a deposed master must not act on them (Master.confirmLeadership).
 */
export async function dispatchAsLeader(master: Master, framework: FrameworkRecord, call: SchedulerCall): Promise<void> {
  if (call.type === 'ACCEPT' || call.type === 'KILL' || call.type === 'TEARDOWN') await master.confirmLeadership();
  if (call.type === 'UPDATE_FRAMEWORK') return updateFramework(master, framework, call as Call<'update_framework'>);
  dispatch(master, framework, call);
}

/** Run a validated non-SUBSCRIBE call for its (already checked) framework. */
export function dispatch(master: Master, framework: FrameworkRecord, call: SchedulerCall): void {
  switch (call.type) {
    case 'ACCEPT':
      return accept(master, framework, call as Call<'accept'>);
    case 'DECLINE':
      return decline(master, framework, call as Call<'decline'>);
    case 'REVIVE':
      return revive(master, framework, call);
    case 'SUPPRESS':
      return suppress(framework, call);
    case 'KILL':
      return kill(master, framework, call as Call<'kill'>);
    case 'ACKNOWLEDGE':
      return acknowledge(master, framework, call as Call<'acknowledge'>);
    case 'RECONCILE':
      return reconcile(master, framework, call as Call<'reconcile'>);
    case 'TEARDOWN':
      return teardown(master, framework);
    case 'RECONCILE_OPERATIONS':
      return reconcileOperations(master, framework, call as Call<'reconcile_operations'>);
    case 'UPDATE_FRAMEWORK':
      throw new Error('UPDATE_FRAMEWORK is asynchronous: dispatchAsLeader runs it');
    case 'MESSAGE':
      return refuseMessage(master, call as Call<'message'>);
    case 'REQUEST':
      // Mesos' hierarchical allocator ignores resource requests (its requestResources is a no-op),
      // so a Mesos master answers 202 and nothing happens; Drover says so instead.
      throw new DroverError('NOT_IMPLEMENTED', 'REQUEST is not supported: resources come in offers; use quota or reservations to have them set aside for a role');
    default:
      // SHUTDOWN, inverse offers, ACKNOWLEDGE_OPERATION_STATUS: Drover runs no custom executors,
      // sends no inverse offers and does not retry operation statuses, so there is nothing for
      // these to act on.
      master.log.debug({ frameworkId: framework.id, type: call.type }, 'scheduler-call-ignored');
  }
}

/** SUBSCRIBE: register a new framework or fail over an existing one onto `stream`. */
export async function subscribe(master: Master, call: Call<'subscribe'>, stream: EventSink): Promise<void> {
  const info = call.subscribe.framework_info;
  const requestedId = info.id?.value;
  if (requestedId !== undefined && master.removedFrameworks.has(requestedId)) {
    stream.open({ 'mesos-stream-id': stream.id });
    stream.send({ type: 'ERROR', error: { message: `Framework ${requestedId} has been removed` } });
    stream.close();
    return;
  }
  let framework = requestedId === undefined ? undefined : master.frameworks.get(requestedId);
  const now = master.now();
  if (framework) {
    // Failover: the new connection replaces the old one; outstanding offers were made to the
    // old scheduler instance and are withdrawn so the new one gets fresh ones.
    const previous = framework.stream;
    const replacement = master.newFrameworkRecord(framework.id, info, framework.registeredAt);
    master.cancelFailoverTimer(framework);
    Object.assign(framework, replacement, { reregisteredAt: now, failoverTimer: undefined, failoverDeadline: undefined, unregisteredAt: undefined });
    for (const offer of [...master.offers.values()]) if (offer.frameworkId === framework.id) master.removeOffer(offer);
    if (previous?.isOpen) {
      previous.send({ type: 'ERROR', error: { message: 'Framework failed over' } });
      previous.close();
    }
  } else {
    framework = master.newFrameworkRecord(requestedId ?? master.nextFrameworkId(), info, now);
    master.frameworks.set(framework.id, framework);
  }
  for (const role of call.subscribe.suppressed_roles ?? []) framework.suppressedRoles.add(role);
  await master.registry.putFramework(framework.id, framework.info, framework.registeredAt);

  const current = framework;
  current.stream = stream;
  current.streamId = stream.id;
  stream.open({ 'mesos-stream-id': stream.id });
  stream.send({
    type: 'SUBSCRIBED',
    subscribed: {
      framework_id: { value: current.id },
      heartbeat_interval_seconds: master.options.frameworkHeartbeatIntervalMs / 1000,
      master_info: masterInfo(master),
    },
  });
  master.metrics.frameworksConnected.inc();
  master.publish(current.reregisteredAt === undefined ? operatorEvents.frameworkAdded(current) : operatorEvents.frameworkUpdated(current));
  stream.onClose(() => {
    master.metrics.frameworksConnected.dec();
    if (current.stream !== stream || !master.frameworks.has(current.id)) return;
    current.stream = undefined;
    for (const offer of [...master.offers.values()]) if (offer.frameworkId === current.id) master.removeOffer(offer);
    master.log.info({ frameworkId: current.id, failoverTimeoutMs: current.failoverTimeoutMs }, 'framework-disconnected');
    master.startFailoverTimer(current);
    master.publish(operatorEvents.frameworkUpdated(current));
    master.scheduleAllocation();
  });
  master.log.info({ frameworkId: current.id, name: info.name, roles: current.roles }, 'framework-subscribed');
  master.scheduleAllocation();
}

export function masterInfo(master: Master): Record<string, unknown> {
  return {
    id: master.id,
    ip: 16777343, // 127.0.0.1 as Mesos' little-endian uint32
    port: master.port,
    hostname: master.hostname,
    version: '1.11.0',
    address: { hostname: master.hostname, ip: '127.0.0.1', port: master.port },
  };
}

/** The framework a non-SUBSCRIBE call acts for, checked against its stream id (Mesos rules). */
export function callingFramework(master: Master, call: SchedulerCall, streamId: string | undefined): FrameworkRecord {
  if (call.framework_id === undefined) {
    throw new DroverError('MALFORMED', "Expecting 'framework_id' to be present", { details: [{ path: '/framework_id', errors: ['is required'] }] });
  }
  const framework = master.frameworks.get(call.framework_id.value);
  if (!framework || !framework.stream?.isOpen) {
    throw new DroverError('FORBIDDEN', `Framework ${call.framework_id.value} is not subscribed`);
  }
  if (streamId === undefined) {
    throw new DroverError('MALFORMED', "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  }
  if (streamId !== framework.streamId) {
    throw new DroverError('MALFORMED', `The stream ID '${streamId}' included in this request didn't match the stream ID currently associated with framework ID ${framework.id}`);
  }
  return framework;
}

/** ACCEPT: launch tasks on offered resources; unused resources go back with a refusal filter. */
export function accept(master: Master, framework: FrameworkRecord, call: Call<'accept'>): void {
  const { offer_ids: offerIds, operations = [], filters } = call.accept;
  const tasks = operations.flatMap((op) => tasksOf(op));
  const problem = offerProblem(
    master,
    framework,
    offerIds.map((o) => o.value),
  );
  const offers = offerIds.map((o) => master.offers.get(o.value)).filter((o): o is MadeOffer => o?.frameworkId === framework.id);
  // Every valid offer named is used up by this call, whatever else is wrong with it.
  for (const offer of offers) master.removeOffer(offer);
  if (problem !== undefined) {
    for (const task of tasks) reject(master, framework, task, 'TASK_DROPPED', 'REASON_INVALID_OFFERS', problem);
    master.scheduleAllocation();
    return;
  }
  const agent = master.agents.get(offers[0]?.agentId ?? '');
  const agentId = offers[0]!.agentId;
  let pool = offers.reduce((sum, o) => sum.add(o.resources), Resources.EMPTY);
  const launched: TaskInfo[] = [];
  const launchedIds = new Set<string>();
  // The agent's reservations as this call changes them (offer-operations.ts); made on first need,
  // before any task of this call is booked (its free part counts the live tasks).
  let working: AgentWorkingState | undefined;
  const reservations = (): AgentWorkingState => (working ??= workingState(master, agent!, pool));
  const book = (task: TaskInfo, resources: Resources, reserved: readonly ReservedEntry[] = []): void => {
    launchedIds.add(task.task_id.value);
    const record: TaskRecord = {
      id: task.task_id.value,
      frameworkId: framework.id,
      agentId,
      info: keptTaskInfo(task),
      resources,
      role: offers[0]!.role,
      state: 'TASK_STAGING',
      statuses: [],
      statusUuid: undefined,
      directory: undefined,
      ...secretPathsOf(task),
      ...(reserved.length === 0 ? {} : { reserved }),
      createdAt: master.now(),
    };
    master.tasks.set(record);
    if (agent) agent.used = agent.used.add(resources);
    // Built only for someone to send it to: at 50,000 launches it was garbage nobody read.
    if (master.operatorStreams.size > 0) master.publish(operatorEvents.taskAdded(record));
  };
  for (const op of operations) {
    if (op.type === 'LAUNCH_GROUP') {
      pool = launchGroup(master, framework, op, agentId, pool, launchedIds, book);
      continue;
    }
    if (isReservationOperation(op.type)) {
      if (!agent) continue;
      const w = reservations();
      w.pool = pool;
      const problem = applyOperation(w, op.type, operationResources(op), { kind: 'framework', principal: framework.info.principal, roles: framework.roles, allocationRole: offers[0]!.role });
      if (problem === undefined) pool = w.pool;
      operationStatus(master, framework, op, agentId, problem === undefined ? undefined : refusalMessage(problem));
      continue;
    }
    if (op.type !== 'LAUNCH') {
      master.log.warn({ frameworkId: framework.id, operation: op.type }, 'operation-unsupported');
      operationStatus(master, framework, op, agentId, `Operation ${op.type} is not supported`);
      continue;
    }
    for (const task of tasksOf(op)) {
      const checked = taskProblem(master, framework, task, agentId, launchedIds);
      if (typeof checked === 'string') {
        reject(master, framework, task, 'TASK_ERROR', 'REASON_TASK_INVALID', checked);
        continue;
      }
      const resources = sharedResources(checked);
      if (!pool.contains(resources)) {
        reject(master, framework, task, 'TASK_ERROR', 'REASON_TASK_INVALID', `Task uses more resources (${resources.format()}) than available (${pool.format() || 'nothing'}) in the offers`);
        continue;
      }
      const reserved = taskReserved(task);
      const reservedProblem = typeof reserved === 'string' ? reserved : reserved.length === 0 ? undefined : takeReserved(reservations(), reserved);
      if (reservedProblem !== undefined) {
        reject(master, framework, task, 'TASK_ERROR', 'REASON_TASK_INVALID', reservedProblem);
        continue;
      }
      pool = pool.subtract(resources);
      launched.push(task);
      book(task, resources, reserved as ReservedEntry[]);
    }
  }
  if (working?.changed && agent) {
    commit(master, agent, working).catch((error: unknown) => master.log.error({ agentId: agent.id, error }, 'registry-write-failed'));
  }
  if (launched.length > 0 && agent) {
    master.sendToAgent(agent.id, { type: 'LAUNCH', launch: { framework_id: { value: framework.id }, framework_info: framework.info, tasks: launched } });
    master.metrics.tasksLaunched.inc(launched.length);
    master.log.info({ frameworkId: framework.id, agentId: agent.id, tasks: launched.length }, 'launching-tasks');
  }
  if (!pool.isEmpty && agent) master.refuse(framework, agent.id, filters?.refuse_seconds);
  // No cycle now: what is left goes back at the next periodic cycle, as in Mesos' batch
  // allocation. A cycle per ACCEPT/DECLINE batch ran cycles back to back at 10,000 agents
  // (≈ 1 s of CPU each) and starved everything else (docs/architecture/006-scale.md).
}

/**
 * One LAUNCH_GROUP: all of its tasks launch together in one LAUNCH event that names the executor,
 * or none do (task-groups.ts). Returns what is left of the pool.
 */
function launchGroup(
  master: Master,
  framework: FrameworkRecord,
  op: Operation,
  agentId: string,
  pool: Resources,
  launchedIds: Set<string>,
  book: (task: TaskInfo, resources: Resources) => void,
): Resources {
  const tasks = tasksOf(op);
  const executor = (op.launch_group?.executor ?? {}) as ExecutorJson;
  const fail = (message: string): Resources => {
    for (const task of tasks) reject(master, framework, task, 'TASK_ERROR', 'REASON_TASK_GROUP_INVALID', message);
    return pool;
  };
  const groupProblem = groupTasksProblem(tasks);
  if (groupProblem !== undefined) return fail(groupProblem);
  const executorResources = executorProblem(executor, framework.id);
  if (typeof executorResources === 'string') return fail(executorResources);
  const perTask: Resources[] = [];
  let total = executorResources;
  for (const task of tasks) {
    const checked = taskProblem(master, framework, task, agentId, launchedIds);
    if (typeof checked === 'string') return fail(`Task '${task.task_id.value}' is invalid: ${checked}`);
    perTask.push(checked);
    total = total.add(checked);
  }
  if (!pool.contains(total)) return fail(`Task group uses more resources (${total.format()}) than available (${pool.format() || 'nothing'}) in the offers`);
  tasks.forEach((task, i) => book(task, sharedResources(i === 0 ? perTask[i]!.add(executorResources) : perTask[i]!)));
  master.sendToAgent(agentId, {
    type: 'LAUNCH',
    launch: { framework_id: { value: framework.id }, framework_info: framework.info, tasks, executor: { ...executor, framework_id: { value: framework.id } } },
  });
  master.metrics.tasksLaunched.inc(tasks.length);
  master.log.info({ frameworkId: framework.id, agentId, tasks: tasks.length, executorId: executor.executor_id?.value }, 'launching-task-group');
  return pool.subtract(total);
}

const RESERVATION_OPERATIONS: ReadonlySet<string> = new Set(['RESERVE', 'UNRESERVE', 'CREATE', 'DESTROY']);

function isReservationOperation(type: string): type is ReservationOperation {
  return RESERVATION_OPERATIONS.has(type);
}

function operationResources(op: Operation): NonNullable<Operation['reserve']>['resources'] {
  switch (op.type) {
    case 'RESERVE':
      return op.reserve?.resources ?? [];
    case 'UNRESERVE':
      return op.unreserve?.resources ?? [];
    case 'CREATE':
      return op.create?.volumes ?? [];
    default:
      return op.destroy?.volumes ?? [];
  }
}

/**
 * Tells the framework what became of an operation other than a launch: OPERATION_ERROR with the
 * reason when it was refused (whether or not it has an id: the framework must not think it was
 * done), OPERATION_FINISHED when it was applied and has an id to report on (Mesos' feedback).
 */
function operationStatus(master: Master, framework: FrameworkRecord, op: Operation, agentId: string, problem: string | undefined): void {
  if (problem !== undefined) master.log.info({ frameworkId: framework.id, operation: op.type, agentId, problem }, 'operation-refused');
  if (problem === undefined && op.id === undefined) return;
  master.sendToFramework(framework.id, {
    type: 'UPDATE_OPERATION_STATUS',
    update_operation_status: {
      status: {
        ...(op.id === undefined ? {} : { operation_id: op.id }),
        state: problem === undefined ? 'OPERATION_FINISHED' : 'OPERATION_ERROR',
        ...(problem === undefined ? {} : { message: `${op.type}: ${problem}` }),
        agent_id: { value: agentId },
      },
    },
  });
}

/** The reserved resources and volumes a task names, or why one of them is invalid. */
function taskReserved(task: TaskInfo): ReservedEntry[] | string {
  const out: ReservedEntry[] = [];
  for (const [i, json] of task.resources.entries()) {
    const e = entryOf(json, i);
    if (typeof e === 'string') return `Task uses invalid resources: ${e}`;
    if (e !== undefined) out.push(e);
  }
  return out;
}

function tasksOf(op: Operation): TaskInfo[] {
  if (op.type === 'LAUNCH') return op.launch?.task_infos ?? [];
  if (op.type === 'LAUNCH_GROUP') return op.launch_group?.task_group.tasks ?? [];
  return [];
}

function offerProblem(master: Master, framework: FrameworkRecord, ids: string[]): string | undefined {
  if (ids.length === 0) return 'No offers were specified';
  if (new Set(ids).size !== ids.length) return 'Duplicate offer ids in one call';
  let agentId: string | undefined;
  for (const id of ids) {
    const offer = master.offers.get(id);
    if (!offer) return `Offer ${id} is no longer valid`;
    if (offer.frameworkId !== framework.id) return `Offer ${id} has invalid framework`;
    if (agentId !== undefined && offer.agentId !== agentId) return 'Aggregated offers must belong to one single agent';
    agentId = offer.agentId;
  }
  const agent = master.agents.get(agentId ?? '');
  if (!agent || agent.status !== 'active') return `Agent ${agentId ?? ''} is not active`;
  return undefined;
}

/** Why the task cannot launch, or its resources (parsed once, here). */
function taskProblem(master: Master, framework: FrameworkRecord, task: TaskInfo, agentId: string, launchedIds: ReadonlySet<string>): string | Resources {
  const id = task.task_id.value;
  if (task.agent_id.value !== agentId) return `Task uses agent ${task.agent_id.value} but the offers are for agent ${agentId}`;
  if (master.findTask(framework.id, id) || launchedIds.has(id)) return `Task ID '${id}' is already in use`;
  if (!task.command && !task.executor) return 'Task should have at least one (but not both) of CommandInfo or ExecutorInfo present';
  if (task.command && task.command.shell !== false && !task.command.value) return "Command should have 'value' set when 'shell' is true";
  try {
    const resources = Resources.fromJSON(task.resources);
    return resources.isEmpty ? 'Task uses no resources' : resources;
  } catch (e) {
    return `Task uses invalid resources: ${e instanceof Error ? e.message : String(e)}`;
  }
}

function reject(
  master: Master,
  framework: FrameworkRecord,
  task: TaskInfo,
  state: 'TASK_ERROR' | 'TASK_DROPPED',
  reason: 'REASON_TASK_INVALID' | 'REASON_TASK_GROUP_INVALID' | 'REASON_INVALID_OFFERS',
  message: string,
): void {
  const status = master.masterStatus({ id: task.task_id.value, agentId: task.agent_id.value }, state, reason, message);
  master.sendStatus(framework.id, status);
  master.metrics.tasksRejected.inc({ state });
  master.log.info({ frameworkId: framework.id, taskId: task.task_id.value, state, message }, 'task-rejected');
}

export function decline(master: Master, framework: FrameworkRecord, call: Call<'decline'>): void {
  for (const { value } of call.decline.offer_ids) {
    const offer = master.offers.get(value);
    if (!offer || offer.frameworkId !== framework.id) continue;
    master.removeOffer(offer);
    master.refuse(framework, offer.agentId, call.decline.filters?.refuse_seconds);
    master.metrics.offersDeclined.inc();
  }
  // No cycle now (see accept): declined resources wait for the next periodic cycle.
}

function rolesOf(framework: FrameworkRecord, body: { roles?: string[]; role?: string } | undefined): string[] {
  const named = body?.roles ?? (body?.role === undefined ? [] : [body.role]);
  return named.length > 0 ? named : framework.roles;
}

/** REVIVE: clear refusal filters and un-suppress the roles (all of them when none named). */
export function revive(master: Master, framework: FrameworkRecord, call: SchedulerCall): void {
  for (const role of rolesOf(framework, call.revive)) framework.suppressedRoles.delete(role);
  framework.refusals.clear();
  master.scheduleAllocation();
}

export function suppress(framework: FrameworkRecord, call: SchedulerCall): void {
  for (const role of rolesOf(framework, call.suppress)) framework.suppressedRoles.add(role);
}

export function kill(master: Master, framework: FrameworkRecord, call: Call<'kill'>): void {
  const task = master.findTask(framework.id, call.kill.task_id.value);
  if (!task) {
    // Mesos answers a kill of an unknown task through reconciliation: it is lost (or unknown).
    const agentId = call.kill.agent_id?.value ?? '';
    const state = framework.partitionAware ? 'TASK_UNKNOWN' : 'TASK_LOST';
    master.sendStatus(framework.id, master.masterStatus({ id: call.kill.task_id.value, agentId }, state, 'REASON_RECONCILIATION', 'Attempted to kill an unknown task'));
    return;
  }
  const killPolicy = call.kill.kill_policy ?? task.info.kill_policy;
  master.sendToAgent(task.agentId, {
    type: 'KILL',
    kill: { framework_id: { value: framework.id }, task_id: { value: task.id }, ...(killPolicy ? { kill_policy: killPolicy } : {}) },
  });
}

/** ACKNOWLEDGE: forward to the agent, which stops retrying that update. */
export function acknowledge(master: Master, framework: FrameworkRecord, call: Call<'acknowledge'>): void {
  const { agent_id: agentId, task_id: taskId, uuid } = call.acknowledge;
  if (!master.agents.has(agentId.value)) {
    throw new DroverError('MALFORMED', `Unknown agent ${agentId.value}`, { details: [{ path: '/acknowledge/agent_id/value', errors: ['unknown agent'] }] });
  }
  master.sendToAgent(agentId.value, {
    type: 'ACKNOWLEDGE',
    acknowledge: { acknowledgements: [{ framework_id: { value: framework.id }, task_id: taskId, uuid }] },
  });
}

/** RECONCILE: the latest known state of the named tasks, or of all live ones when none named. */
export function reconcile(master: Master, framework: FrameworkRecord, call: Call<'reconcile'>): void {
  const named = call.reconcile.tasks ?? [];
  const statusOf = (task: TaskRecord) => {
    const latest = task.statuses.at(-1);
    return {
      ...master.masterStatus(task, task.state, 'REASON_RECONCILIATION', latest?.message ?? 'Reconciliation: latest task state'),
      ...(latest?.healthy === undefined ? {} : { healthy: latest.healthy }),
    };
  };
  if (named.length === 0) {
    for (const task of master.tasks.ofFramework(framework.id)) master.sendStatus(framework.id, statusOf(task));
    return;
  }
  for (const { task_id: taskId, agent_id: agentId } of named) {
    const task = master.findTask(framework.id, taskId.value) ?? master.findCompletedTask(framework.id, taskId.value);
    if (task) {
      master.sendStatus(framework.id, statusOf(task));
      continue;
    }
    const agent = agentId ? master.agents.get(agentId.value) : undefined;
    // As Mesos after a failover: no answer for tasks on agents that have not re-registered yet;
    // the framework asks again, and the agent's re-registration will tell the truth.
    if (agent?.status === 'recovering') continue;
    const state = agent?.status === 'unreachable' ? 'TASK_UNREACHABLE' : agent ? 'TASK_GONE' : 'TASK_UNKNOWN';
    master.sendStatus(framework.id, master.masterStatus({ id: taskId.value, agentId: agentId?.value ?? '' }, state, 'REASON_RECONCILIATION', 'Reconciliation: task is unknown to the master'));
  }
}

/**
 * RECONCILE_OPERATIONS: the latest status of each operation named, as UPDATE_OPERATION_STATUS
 * events (Mesos' master::reconcileOperations). Drover applies an offer operation at ACCEPT and
 * sends its status then; it keeps no pending operations, so an implicit reconciliation (no ids)
 * has nothing to report, and a named operation is answered from what is known of its agent:
 * gone, unreachable, recovering (not re-registered since a failover), or else OPERATION_UNKNOWN.
 */
function reconcileOperations(master: Master, framework: FrameworkRecord, call: Call<'reconcile_operations'>): void {
  for (const op of call.reconcile_operations.operations ?? []) {
    const agentId = op.agent_id?.value;
    const agent = agentId === undefined ? undefined : master.agents.get(agentId);
    const state =
      agentId !== undefined && master.goneAgents.has(agentId)
        ? 'OPERATION_GONE_BY_OPERATOR'
        : agent?.status === 'unreachable'
          ? 'OPERATION_UNREACHABLE'
          : agent?.status === 'recovering'
            ? 'OPERATION_RECOVERING'
            : 'OPERATION_UNKNOWN';
    master.sendToFramework(framework.id, {
      type: 'UPDATE_OPERATION_STATUS',
      update_operation_status: {
        status: {
          operation_id: op.operation_id,
          state,
          ...(op.agent_id === undefined ? {} : { agent_id: op.agent_id }),
          ...(op.resource_provider_id === undefined ? {} : { resource_provider_id: op.resource_provider_id }),
        },
      },
    });
  }
}

/**
 * MESSAGE goes to a custom executor; Drover's agents run only their built-in command and default
 * executors, which take no framework messages, so the message could only be dropped. Mesos
 * accepts and drops it too; Drover refuses it, naming why.
 */
function refuseMessage(master: Master, call: Call<'message'>): never {
  const agentId = call.message.agent_id.value;
  if (!master.agents.has(agentId)) throw new DroverError('NOT_FOUND', `Agent ${agentId} is not registered`, { details: [{ path: '/message/agent_id', errors: ['unknown agent'] }] });
  throw new DroverError(
    'MALFORMED',
    `Executor ${call.message.executor_id.value} takes no framework messages: Drover runs only its built-in command and default executors, which have no message handler`,
    {
      details: [{ path: '/message/executor_id', errors: ['not a custom executor'] }],
    },
  );
}

/** FrameworkInfo fields UPDATE_FRAMEWORK may not change (Mesos' validation::framework::validateUpdate). */
const IMMUTABLE_FRAMEWORK_FIELDS = ['principal', 'user', 'checkpoint'] as const;

/**
 * UPDATE_FRAMEWORK (Mesos 1.9+): replace the framework's FrameworkInfo — name, roles, failover
 * timeout, capabilities, labels, … — and its suppressed roles, without re-subscribing. The id must
 * be the caller's, and principal, user and checkpoint stay as they are. Offers made to a role the
 * framework leaves are rescinded; its tasks keep running under the role they were launched with.
 */
async function updateFramework(master: Master, framework: FrameworkRecord, call: Call<'update_framework'>): Promise<void> {
  const info = call.update_framework.framework_info;
  if (info.id?.value !== framework.id) {
    throw new DroverError('MALFORMED', 'Updating framework with a mismatching ID', { details: [{ path: '/update_framework/framework_info/id', errors: [`must be ${framework.id}`] }] });
  }
  for (const field of IMMUTABLE_FRAMEWORK_FIELDS) {
    const before = framework.info[field] ?? (field === 'checkpoint' ? false : undefined);
    const after = info[field] ?? (field === 'checkpoint' ? false : undefined);
    if (before !== after)
      throw new DroverError('MALFORMED', `Updating 'FrameworkInfo.${field}' is unsupported`, { details: [{ path: `/update_framework/framework_info/${field}`, errors: ['cannot change'] }] });
  }
  const next = master.newFrameworkRecord(framework.id, info, framework.registeredAt);
  await master.registry.putFramework(framework.id, next.info, framework.registeredAt);
  Object.assign(framework, { info: next.info, roles: next.roles, partitionAware: next.partitionAware, killingState: next.killingState, failoverTimeoutMs: next.failoverTimeoutMs });
  framework.suppressedRoles = new Set((call.update_framework.suppressed_roles ?? []).filter((r) => next.roles.includes(r)));
  for (const offer of [...master.offers.values()]) {
    if (offer.frameworkId !== framework.id || next.roles.includes(offer.role)) continue;
    master.removeOffer(offer);
    master.sendToFramework(framework.id, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
    master.metrics.offersRescinded.inc();
  }
  master.publish(operatorEvents.frameworkUpdated(framework));
  master.log.info({ frameworkId: framework.id, name: info.name, roles: next.roles }, 'framework-updated');
  master.scheduleAllocation();
}

export function teardown(master: Master, framework: FrameworkRecord): void {
  master.removeFramework(framework, 'framework requested TEARDOWN');
}
