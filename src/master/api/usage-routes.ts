/**
 * Resource usage on the master (usage-history.ts keeps it):
 *   POST /api/v1/agent/usage   an agent's sampling pass (src/agent/usage-sampler.ts), on its
 *                              current stream and with its own credential only (guard.ts)
 *   GET  /master/usage         series for the UI: the cluster (usage and allocation against
 *                              capacity), each agent and app; `?app=/a`, `?agent=<id>` or
 *                              `?task=<id>` add the matching tasks with their series
 * Agents push rather than the master pulling: the agent already holds a stream and a credential
 * the master trusts, while a pull would need the master to reach and authenticate to every agent
 * each interval.
 */
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { appPathOfTask } from '../../iam/task-paths.ts';
import { AGENT_STREAM_HEADER } from '../../protocol/mesos/agent-link.ts';
import { compileValidator } from '../../protocol/validation.ts';
import * as agents from '../agent-calls.ts';
import type { Master } from '../master.ts';
import { type Allocation, UsageHistory } from '../usage-history.ts';

const Figure = Type.Number({ minimum: 0, maximum: 1e18 });
const Name = Type.String({ minLength: 1, maxLength: 512 });
const IoValues = Type.Array(Type.Object({ op: Type.String({ maxLength: 16 }), value: Figure }), { maxItems: 8 });
const UsageReport = Type.Object({
  agent_id: Type.Object({ value: Name }),
  statistics: Type.Array(
    Type.Object({
      framework_id: Name,
      task_id: Name,
      statistics: Type.Object({
        timestamp: Figure,
        cpus_user_time_secs: Type.Optional(Figure),
        cpus_system_time_secs: Type.Optional(Figure),
        cpus_limit: Type.Optional(Figure),
        mem_total_bytes: Type.Optional(Figure),
        mem_rss_bytes: Type.Optional(Figure),
        mem_limit_bytes: Type.Optional(Figure),
        blkio_statistics: Type.Optional(Type.Object({ throttling: Type.Array(Type.Object({ io_service_bytes: IoValues }), { maxItems: 4 }) })),
      }),
    }),
    { maxItems: 20_000 },
  ),
});
const usageReports = compileValidator(UsageReport);

/** Tasks with series in one answer at most: a page's worth of charts. */
const MAX_TASKS = 200;

export function registerUsageRoutes(app: FastifyInstance, master: Master, options: { bucketMs?: number; capacity?: number } = {}): UsageHistory {
  const history = new UsageHistory({ ...options, appOf: appPathOfTask });

  app.post('/api/v1/agent/usage', async (request, reply) => {
    const report = usageReports.validate(request.body, 'Failed to validate agent usage report');
    const streamId = request.headers[AGENT_STREAM_HEADER];
    const agent = agents.callingAgent(master, { type: 'HEARTBEAT', agent_id: report.agent_id }, Array.isArray(streamId) ? streamId[0] : streamId);
    // Only what the report's own pick of fields needs is kept: statistics are copied as validated.
    history.record(agent.id, master.now(), report.statistics, () => allocation(master));
    return reply.status(202).send();
  });

  app.get('/master/usage', async (request) => {
    const query = request.query as Record<string, unknown>;
    const one = (name: string): string | undefined => {
      const value = query[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value.length > 512)
        throw new DroverError('MALFORMED', `'${name}' must be given once, at most 512 characters`, { details: [{ path: `/${name}`, errors: ['one value, at most 512 characters'] }] });
      return value;
    };
    const appId = one('app');
    const agentId = one('agent');
    const taskId = one('task');
    const hostnames = new Map([...master.agents.values()].map((a) => [a.id, a.hostname]));
    const filtered = appId !== undefined || agentId !== undefined || taskId !== undefined;
    const inApp = (id: string): boolean => appId === undefined || id === appId || id.startsWith(appId.endsWith('/') ? appId : `${appId}/`);
    return {
      interval_ms: history.bucketMs,
      capacity: history.capacity,
      cluster: history.clusterSeries(),
      agents: history.agentSeries().map((a) => ({ ...a, hostname: hostnames.get(a.id) ?? null })),
      apps: history.appSeries(appId === undefined ? undefined : inApp),
      tasks: history.taskList((t) => (appId === undefined || inApp(t.appId)) && (agentId === undefined || t.agentId === agentId) && (taskId === undefined || t.id === taskId), {
        series: filtered,
        limit: filtered ? MAX_TASKS : 10 * MAX_TASKS,
      }),
    };
  });
  return history;
}

/** The cluster's capacity and allocation now, from the master's agent table. */
function allocation(master: Master): Allocation {
  const sum: Allocation = { cpusTotal: 0, cpusAllocated: 0, memTotalMb: 0, memAllocatedMb: 0 };
  for (const agent of master.agents.values()) {
    if (agent.status !== 'active') continue;
    sum.cpusTotal += agent.total.cpus();
    sum.memTotalMb += agent.total.mem();
    sum.cpusAllocated += agent.used.cpus();
    sum.memAllocatedMb += agent.used.mem();
  }
  return sum;
}
