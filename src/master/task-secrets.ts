/**
 * The master's part in getting secrets to tasks: it remembers which secret paths each launched
 * task references, and answers its agent's request for their values (POST /api/v1/agent/secrets)
 * — only for a live task on that very agent (the caller proves it is the agent by its stream id),
 * and only the paths that task's TaskInfo names. Values pass through memory here and are never
 * kept, logged or put into an event.
 */
import { DroverError } from '../errors/errors.ts';
import type { AgentSecretsCall } from '../protocol/mesos/agent-link.ts';
import { isTerminalState } from '../protocol/mesos/enums.ts';
import { taskSecretPaths } from '../protocol/mesos/secrets.ts';
import type { TaskInfo } from '../protocol/mesos/scheduler.ts';
import type { AgentRecord } from './model.ts';
import type { Master } from './master.ts';

export function secretPathsOf(task: TaskInfo): { secretPaths?: readonly string[] } {
  const paths = taskSecretPaths(task);
  return paths.length === 0 ? {} : { secretPaths: paths };
}

export interface ResolvedSecrets {
  secrets: Array<{ path: string; value: string }>;
  missing: string[];
}

export async function resolveTaskSecrets(master: Master, agent: AgentRecord, call: AgentSecretsCall): Promise<ResolvedSecrets> {
  const task = master.findTask(call.framework_id.value, call.task_id.value);
  if (task === undefined || task.agentId !== agent.id || isTerminalState(task.state)) {
    throw new DroverError('FORBIDDEN', `Task ${call.task_id.value} of framework ${call.framework_id.value} is not live on agent ${agent.id}`);
  }
  const paths = task.secretPaths ?? [];
  if (paths.length === 0) return { secrets: [], missing: [] };
  const resolver = master.options.resolveSecrets;
  if (resolver === undefined) return { secrets: [], missing: [...paths] };
  const { values, missing } = await resolver(paths);
  return { secrets: [...values].map(([path, value]) => ({ path, value: value.toString('base64') })), missing };
}
