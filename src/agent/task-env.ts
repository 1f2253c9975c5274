/**
 * The environment a task process starts with (pure). Layers, later ones win:
 *   1. the agent's base environment (Mesos hands the executor the agent's environment, so PATH,
 *      locale and proxies work without configuration);
 *   2. what the agent tells every task: MESOS_SANDBOX, MESOS_TASK_ID, MESOS_AGENT_ID,
 *      MESOS_FRAMEWORK_ID, MESOS_DIRECTORY, and the ports of its `ports` resource as PORT0..n,
 *      PORT (= PORT0) and PORTS (comma-separated), as Marathon does;
 *   3. CommandInfo.environment, because the framework knows best what its task needs.
 */
import type { CommandInfo, ResourceJson } from '../protocol/mesos/scheduler.ts';

/** A task asking for a huge port range should not get a megabyte of environment. */
export const MAX_PORT_VARIABLES = 1000;

export interface TaskEnvInput {
  base: Readonly<Record<string, string | undefined>>;
  command: CommandInfo | undefined;
  sandbox: string;
  taskId: string;
  agentId: string;
  frameworkId: string;
  resources: readonly ResourceJson[];
  /** Values of the SECRET variables, resolved at launch (never checkpointed). */
  secrets?: ReadonlyMap<string, string>;
}

export function buildTaskEnv(input: TaskEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.base)) if (v !== undefined) env[k] = v;
  env['MESOS_SANDBOX'] = input.sandbox;
  env['MESOS_DIRECTORY'] = input.sandbox;
  env['MESOS_TASK_ID'] = input.taskId;
  env['MESOS_AGENT_ID'] = input.agentId;
  env['MESOS_FRAMEWORK_ID'] = input.frameworkId;
  const ports = taskPorts(input.resources);
  ports.forEach((port, i) => (env[`PORT${i}`] = String(port)));
  if (ports.length > 0) {
    env['PORT'] = String(ports[0]);
    env['PORTS'] = ports.join(',');
  }
  for (const variable of input.command?.environment?.variables ?? []) {
    if (variable.type === 'SECRET') {
      // Resolved by the supervisor at launch; without a value (exec, health checks) it is left out, never blank.
      const value = input.secrets?.get(variable.name);
      if (value !== undefined) env[variable.name] = value;
      continue;
    }
    if (variable.value === undefined) continue;
    env[variable.name] = variable.value;
  }
  return env;
}

/** The task's ports in the order its `ports` resource lists them (ranges expanded, capped). */
export function taskPorts(resources: readonly ResourceJson[]): number[] {
  const ports: number[] = [];
  for (const resource of resources) {
    if (resource.name !== 'ports' || resource.type !== 'RANGES') continue;
    for (const { begin, end } of resource.ranges?.range ?? []) {
      for (let port = begin; port <= end && ports.length < MAX_PORT_VARIABLES; port++) ports.push(port);
    }
  }
  return ports;
}

/** The task's `cpus` and `mem` (MB) scalars, summed over reservations, for containerizer limits. */
export function containerResources(resources: readonly ResourceJson[]): { cpus?: number; memMb?: number } {
  let cpus: number | undefined;
  let memMb: number | undefined;
  for (const resource of resources) {
    const value = resource.type === 'SCALAR' ? resource.scalar?.value : undefined;
    if (value === undefined) continue;
    if (resource.name === 'cpus') cpus = (cpus ?? 0) + value;
    if (resource.name === 'mem') memMb = (memMb ?? 0) + value;
  }
  return { ...(cpus === undefined ? {} : { cpus }), ...(memMb === undefined ? {} : { memMb }) };
}
