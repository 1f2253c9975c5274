/**
 * The master's side of the agent link (src/protocol/mesos/agent-link.ts): registration and
 * re-registration, heartbeats, and status updates from agents.
 *
 * Re-registration reconciles, never wipes: the agent is the authority on what runs on it. Tasks it
 * reports are adopted (after a master failover the master learns them only this way); tasks the
 * master expected but the agent does not report are gone.
 */
import { X509Certificate } from 'node:crypto';
import { registeredTotal } from './reservation-hooks.ts';
import { reservedOf } from './reservations.ts';
import { secretPathsOf } from './task-secrets.ts';
import { DroverError } from '../errors/errors.ts';
import type { AgentCall, AgentTask } from '../protocol/mesos/agent-link.ts';
import { canonicalEnum, isTerminalState } from '../protocol/mesos/enums.ts';
import { Resources } from '../resources/index.ts';
import type { EventSink } from './stream.ts';
import type { Master } from './master.ts';
import { keptStatus, keptTaskInfo, type AgentRecord, type TaskRecord } from './model.ts';
import { sharedResources } from './interner.ts';
import { operatorEvents } from './views-v1.ts';
import { describeStaleStore, staleStoreVerdict } from './stale-store.ts';

type Register = AgentCall & Required<Pick<AgentCall, 'register'>>;

/** Parse what must parse before any state changes, so a bad registration changes nothing. */
export function checkRegistration(call: Register): Resources {
  try {
    const total = Resources.fromJSON(call.register.agent_info.resources);
    for (const task of call.register.tasks ?? []) Resources.fromJSON(task.task_info.resources);
    return total;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new DroverError('MALFORMED', `Invalid registration: ${message}`, { details: [{ path: '/register', errors: [message] }] });
  }
}

export async function register(master: Master, call: Register, total: Resources, stream: EventSink, address?: string, certified = false, certificateIssuer?: string): Promise<void> {
  const info = call.register.agent_info;
  const requestedId = info.id?.value ?? call.agent_id?.value;
  if (requestedId !== undefined && master.goneAgents.has(requestedId)) {
    throw new DroverError('CONFLICT', `Agent ${requestedId} was removed for good (its machine rebooted, or another agent took its address); register without an id`, {
      details: [{ path: '/register/agent_info/id', errors: ['is the id of a removed agent'] }],
    });
  }
  checkStoreNotStale(master, call, requestedId);
  // Signed before anything changes: a bad CSR is a 400 that leaves the registry as it was.
  const csr = call.register.csr;
  const newId = requestedId === undefined && csr !== undefined ? master.nextAgentId() : undefined;
  const certifiedId = requestedId ?? newId;
  const agentCertificate = csr !== undefined && certifiedId !== undefined && master.agentCertificate ? await master.agentCertificate(certifiedId, csr) : undefined;
  await removeReplacedAgent(master, call, requestedId, address);
  const now = master.now();
  let agent = requestedId === undefined ? undefined : master.agents.get(requestedId);
  if (agent) {
    if (agent.stream?.isOpen) agent.stream.close();
    // Its status stays what it was ('recovering' after a failover) until its tasks are known
    // below: a RECONCILE answered in between (the registry write is awaited) would tell the
    // framework TASK_GONE for every task it runs, and the framework would launch them all again.
    Object.assign(agent, { info, hostname: info.hostname, port: info.port, total, attributes: info.attributes ?? [], reregisteredAt: now, lastSeen: now });
    agent.unreachableAt = undefined;
    delete agent.removalHeldSince;
    delete agent.echoesHeartbeats;
  } else {
    agent = {
      id: certifiedId ?? master.nextAgentId(),
      info,
      hostname: info.hostname,
      port: info.port,
      total,
      attributes: info.attributes ?? [],
      used: Resources.EMPTY,
      offered: Resources.EMPTY,
      // With tasks, 'active' once they are known, as above; with none there is nothing to wait for.
      status: (call.register.tasks ?? []).length > 0 ? 'recovering' : 'active',
      registeredAt: now,
      lastSeen: now,
    };
    master.agents.set(agent.id, agent);
  }
  const record = agent;
  record.info = { ...info, id: { value: record.id } };
  if (address !== undefined) record.address = address;
  record.certified = certified || agentCertificate !== undefined;
  const issuer = agentCertificate !== undefined ? new X509Certificate(agentCertificate).issuer : certified ? certificateIssuer : undefined;
  if (issuer !== undefined) record.certificateIssuer = issuer;
  const caBundle = master.agentCaBundle?.();
  const agentToken = master.agentCredential ? await master.agentCredential(record.id) : undefined;
  adoptFrameworks(master, call);
  // The highest write of the record wins: two registrations of one agent in flight at once may
  // resolve in either order, and the agent may hold the marker of either.
  const revision = await master.registry.putAgent(record.id, record.info, record.registeredAt);
  record.registryRevision = Math.max(record.registryRevision ?? 0, revision);

  record.stream = stream;
  record.streamId = stream.id;
  stream.open({ 'drover-stream-id': stream.id });
  stream.send({
    type: 'REGISTERED',
    registered: {
      agent_id: { value: record.id },
      heartbeat_interval_seconds: master.options.agentHeartbeatIntervalMs / 1000,
      master_id: master.id,
      registry: { cluster_id: master.clusterId, revision },
      ...(agentToken === undefined ? {} : { agent_token: agentToken }),
      ...(agentCertificate === undefined ? {} : { agent_certificate: agentCertificate }),
      ...(caBundle === undefined ? {} : { ca_bundle: caBundle }),
    },
  });
  // Reservations after REGISTERED: the agent is told its ledger on the open stream.
  record.total = registeredTotal(master, record, total, call.register.checkpointed_resources);
  // The first ping: an agent that echoes it gets the frequent ones (Master.agentPingIntervalMs).
  stream.send({ type: 'HEARTBEAT', heartbeat: { sent_at: master.now() } });
  // Only once the stream is open: telling a framework its task came back makes it act — a
  // surplus instance is killed at once (killSelection) — and a KILL queued while the stream was
  // not yet open was dropped by the outbox. Seen in the simulator's partition scenario: 60 of
  // 80 returned instances stayed TASK_KILLING in the framework and ran on. A draining agent's
  // kills (maintenance) likewise.
  record.status = 'active';
  reconcileTasks(master, record, call.register.tasks ?? []);
  master.maintenance.agentRegistered(record);
  master.metrics.agentsRegistered.set(countActive(master));
  master.publish(operatorEvents.agentAdded(record));
  stream.onClose(() => {
    if (record.stream !== stream) return;
    record.stream = undefined;
    // Offers on an agent we cannot reach could not be launched; the heartbeat timeout decides
    // whether the agent is unreachable.
    for (const offer of [...master.offers.values()]) {
      if (offer.agentId !== record.id) continue;
      master.removeOffer(offer);
      master.sendToFramework(offer.frameworkId, { type: 'RESCIND', rescind: { offer_id: { value: offer.id } } });
    }
    master.metrics.agentsRegistered.set(countActive(master));
    master.log.info({ agentId: record.id }, 'agent-stream-closed');
  });
  master.log.info({ agentId: record.id, hostname: record.hostname, resources: total.format(), reregistered: record.reregisteredAt !== undefined }, 'agent-registered');
  master.scheduleAllocation();
}

/**
 * Refuses, before anything changes, an agent whose registry marker shows that this master's store
 * is older than the one that registered it (stale-store.ts): adopting it would silently rebuild
 * the cluster from old state around tasks the store never heard of. The agent keeps its tasks
 * running and retries; the operator decides (docs/architecture/002-store.md).
 */
function checkStoreNotStale(master: Master, call: Register, requestedId: string | undefined): void {
  if (requestedId === undefined) return;
  const verdict = staleStoreVerdict(call.register.registry, master.clusterId, master.agents.get(requestedId)?.registryRevision);
  if (!verdict.stale) return;
  const message = describeStaleStore(requestedId, verdict);
  const figures = { agentId: requestedId, hostname: call.register.agent_info.hostname, tasks: call.register.tasks?.length ?? 0, ...verdict };
  if (master.options.acceptStaleStore) {
    master.metrics.agentsAcceptedStaleStore.inc();
    master.log.warn({ ...figures, code: 'DROVER_ERR_STORE_STALE' }, 'stale-store-accepted');
    return;
  }
  master.metrics.agentsRefusedStaleStore.inc();
  master.log.error({ ...figures, code: 'DROVER_ERR_STORE_STALE' }, 'agent-refused-stale-store');
  throw new DroverError('STORE_STALE', message, { details: [{ path: '/register/registry', errors: [message] }] });
}

/**
 * A registration can replace an older agent of the same machine, which is then gone for good:
 * - the agent says its machine rebooted (`rebooted_agent_id`, from its boot id): every task the
 *   old agent ran died with the machine;
 * - a new agent (no id) registers at the address (hostname:port) of a disconnected one, as Mesos
 *   removes "an old disconnected agent because a registration attempt occurred" — the old
 *   agent's work dir was lost, so nothing of it can come back. It must connect from the address
 *   the old one connected from (src/iam: a hostname is only a claim).
 */
async function removeReplacedAgent(master: Master, call: Register, requestedId: string | undefined, address: string | undefined): Promise<void> {
  const rebootedId = call.register.rebooted_agent_id?.value;
  const rebooted = rebootedId === undefined || rebootedId === requestedId ? undefined : master.agents.get(rebootedId);
  if (rebooted) {
    await master.removeAgentAsGone(rebooted, 'its machine rebooted; the agent registered again under a new id');
    return;
  }
  if (requestedId !== undefined) return;
  const { hostname, port } = call.register.agent_info;
  for (const agent of master.agents.values()) {
    if (agent.hostname !== hostname || agent.port !== port || agent.stream?.isOpen === true) continue;
    // The claimed hostname alone proves nothing: only an agent connecting from the old one's address replaces it.
    if (agent.address !== undefined && address !== undefined && agent.address !== address) continue;
    await master.removeAgentAsGone(agent, 'a new agent registered at the same address');
  }
}

function countActive(master: Master): number {
  let n = 0;
  for (const a of master.agents.values()) if (a.status === 'active' && a.stream?.isOpen) n++;
  return n;
}

/** After a master failover, frameworks are known again from the agents that run their tasks. */
function adoptFrameworks(master: Master, call: Register): void {
  for (const info of call.register.frameworks ?? []) {
    const id = info.id?.value;
    if (id === undefined || master.frameworks.has(id) || master.removedFrameworks.has(id)) continue;
    const framework = master.newFrameworkRecord(id, info, master.now());
    master.frameworks.set(id, framework);
    master.awaitReregistration(framework);
    void master.registry.putFramework(id, framework.info, framework.registeredAt);
  }
}

function reconcileTasks(master: Master, agent: AgentRecord, reported: AgentTask[]): void {
  const seen = new Set<string>();
  for (const report of reported) {
    const frameworkId = report.framework_id.value;
    const key = master.taskKey(frameworkId, report.task_info.task_id.value);
    seen.add(key);
    if (master.removedFrameworks.has(frameworkId)) {
      master.sendToAgent(agent.id, { type: 'SHUTDOWN_FRAMEWORK', shutdown_framework: { framework_id: report.framework_id } });
      continue;
    }
    let task = master.tasks.get(frameworkId, report.task_info.task_id.value);
    if (!task) {
      if (isTerminalState(report.state)) continue;
      task = {
        id: report.task_info.task_id.value,
        frameworkId,
        agentId: agent.id,
        info: keptTaskInfo(report.task_info),
        resources: sharedResources(Resources.fromJSON(report.task_info.resources)),
        role: master.frameworks.get(frameworkId)?.roles[0] ?? '*',
        state: canonicalEnum(report.state),
        statuses: report.status ? [keptStatus(report.status)] : [],
        statusUuid: report.status?.uuid,
        directory: undefined,
        ...secretPathsOf(report.task_info),
        ...reservedOf(report.task_info.resources),
        createdAt: master.now(),
      };
      master.tasks.set(task);
      master.publish(operatorEvents.taskAdded(task));
    } else if (task.state !== report.state && !isTerminalState(report.state)) {
      // A task that came back (e.g. RUNNING after UNREACHABLE): tell its framework now. A task
      // that ended is left to the agent's own update, which carries the real reason and a uuid
      // and is retried until acknowledged — a second, master-made terminal update would only
      // duplicate it with a worse reason.
      const status =
        report.status?.state === report.state
          ? { ...report.status, uuid: undefined, source: 'SOURCE_MASTER' as const, reason: 'REASON_AGENT_REREGISTERED' as const }
          : master.masterStatus(task, report.state, 'REASON_AGENT_REREGISTERED', `Agent ${agent.hostname} re-registered`);
      delete status.uuid;
      if (master.applyStatus(task, status)) master.sendStatus(frameworkId, status);
    }
    if (report.directory !== undefined) task.directory = report.directory;
  }
  for (const task of master.tasks.onAgent(agent.id)) {
    if (seen.has(master.taskKey(task.frameworkId, task.id))) continue;
    if (master.launchPending(agent.id, task.frameworkId, task.id)) continue;
    const status = master.masterStatus(task, 'TASK_GONE', 'REASON_AGENT_REREGISTERED', `Task is not on agent ${agent.hostname} after it re-registered`);
    if (master.applyStatus(task, status)) master.sendStatus(task.frameworkId, status);
  }
  agent.used = master.tasks.onAgent(agent.id).reduce((sum, t) => sum.add(t.resources), Resources.EMPTY);
}

/** The agent a HEARTBEAT or UPDATE comes from, on its current stream; else 409 (re-register). */
export function callingAgent(master: Master, call: AgentCall, streamId: string | undefined): AgentRecord {
  if (call.agent_id === undefined) {
    throw new DroverError('MALFORMED', "Expecting 'agent_id' to be present", { details: [{ path: '/agent_id', errors: ['is required'] }] });
  }
  const agent = master.agents.get(call.agent_id.value);
  if (!agent || agent.status !== 'active' || streamId === undefined || agent.streamId !== streamId || !agent.stream?.isOpen) {
    throw new DroverError('CONFLICT', `Agent ${call.agent_id.value} is not registered on this stream; re-register`);
  }
  const now = master.now();
  const echoed = call.type === 'HEARTBEAT' ? call.heartbeat?.master_heartbeat : undefined;
  if (echoed !== undefined) {
    // A pong: alive as of the ping it answers (plus half a ping interval, so detection is
    // centred on the window), never later than now.
    agent.echoesHeartbeats = true;
    agent.lastSeen = Math.max(agent.lastSeen, Math.min(now, echoed + master.agentPingIntervalMs / 2));
  } else if (!agent.echoesHeartbeats) agent.lastSeen = now;
  return agent;
}

export function update(master: Master, agent: AgentRecord, call: AgentCall): void {
  for (const { framework_id: frameworkId, status, directory } of call.update?.updates ?? []) {
    if (master.removedFrameworks.has(frameworkId.value) && status.uuid !== undefined) {
      // Nobody is left to acknowledge: the master does, so the agent stops retrying.
      master.sendToAgent(agent.id, { type: 'ACKNOWLEDGE', acknowledge: { acknowledgements: [{ framework_id: frameworkId, task_id: status.task_id, uuid: status.uuid }] } });
      continue;
    }
    const task: TaskRecord | undefined = master.findTask(frameworkId.value, status.task_id.value);
    if (task === undefined && status.uuid !== undefined && !isTerminalState(status.state) && master.findCompletedTask(frameworkId.value, status.task_id.value)) {
      // A live state of a task that has already ended: the agent sends a terminal update ahead
      // of the ones before it (update-queue.ts), so on a slow or lossy link RUNNING can arrive
      // after FINISHED. Forwarded, the framework would see the task come back to life; instead
      // the master acknowledges it, so the agent stops retrying, and the framework keeps the end.
      master.sendToAgent(agent.id, { type: 'ACKNOWLEDGE', acknowledge: { acknowledgements: [{ framework_id: frameworkId, task_id: status.task_id, uuid: status.uuid }] } });
      continue;
    }
    const stamped = { ...status, agent_id: { value: agent.id } };
    if (task && directory !== undefined) task.directory = directory;
    if (task) master.applyStatus(task, stamped);
    // Forwarded even when the master has already seen the task end: the framework's
    // acknowledgement is what stops the agent from retrying.
    master.sendStatus(frameworkId.value, stamped);
  }
}
