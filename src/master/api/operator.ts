/**
 * Operator views: `/master/state` (Mesos' legacy JSON shape, with server-side filters so that a
 * large cluster's state need not be shipped whole), `/master/state-summary`, `/master/tasks`
 * (including the history of completed tasks kept in the store).
 */
import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import Type from 'typebox';
import { DroverError } from '../../errors/errors.ts';
import { compileValidator } from '../../protocol/validation.ts';
import { TASK_STATES } from '../../protocol/mesos/enums.ts';
import type { Master } from '../master.ts';
import type { TaskRecord } from '../model.ts';
import { agentRemovalJson, type FrameworkJsonOptions, frameworkToJson, legacyResources, taskToJson } from '../views.ts';
import { TaskListCache } from '../task-list-json.ts';
import { AgentListJson } from '../agent-list-json.ts';
import { JoinedArray, sendEncodedBody } from '../../protocol/encoded-items.ts';
import { Resources } from '../../resources/index.ts';
import { masterFlags } from './master-flags.ts';
import { mesosGet } from './json-alias.ts';
import { registerMesosEndpoints } from './mesos-endpoints.ts';

const StateQuery = compileValidator(
  Type.Object({
    framework_id: Type.Optional(Type.String({ minLength: 1 })),
    task_id: Type.Optional(Type.String({ minLength: 1 })),
    agent_id: Type.Optional(Type.String({ minLength: 1 })),
    state: Type.Optional(Type.Enum(TASK_STATES)),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
    order: Type.Optional(Type.Enum(['asc', 'desc'])),
    /** Substring of the task id or name (server-side filtering for the CLI). */
    filter: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** Include completed tasks from the history (default true). */
    completed: Type.Optional(Type.Enum(['true', 'false'])),
  }),
);

interface TaskFilter {
  frameworkId?: string;
  taskId?: string;
  agentId?: string;
  state?: string;
}

function parseQuery(query: unknown): TaskFilter & { limit?: number; offset: number; order: 'asc' | 'desc'; filter?: string; completed: boolean } {
  let q;
  try {
    q = StateQuery.validate(query, 'Invalid query parameters');
  } catch (e) {
    if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
    throw e;
  }
  return {
    ...(q.framework_id === undefined ? {} : { frameworkId: q.framework_id }),
    ...(q.task_id === undefined ? {} : { taskId: q.task_id }),
    ...(q.agent_id === undefined ? {} : { agentId: q.agent_id }),
    ...(q.state === undefined ? {} : { state: q.state }),
    ...(q.limit === undefined ? {} : { limit: Number(q.limit) }),
    offset: q.offset === undefined ? 0 : Number(q.offset),
    order: q.order ?? 'desc',
    ...(q.filter === undefined ? {} : { filter: q.filter }),
    completed: q.completed !== 'false',
  };
}

function matches(task: TaskRecord, f: TaskFilter): boolean {
  return (
    (f.frameworkId === undefined || task.frameworkId === f.frameworkId) &&
    (f.taskId === undefined || task.id === f.taskId) &&
    (f.agentId === undefined || task.agentId === f.agentId) &&
    (f.state === undefined || task.state === f.state)
  );
}

/**
 * What the state views keep between requests (022-master-state-json.md): the unfiltered task
 * lists, encoded (task-list-json.ts), and each framework's sum of live task resources at the task
 * table's revision.
 */
export class StateViews {
  readonly lists = new TaskListCache();
  /** The agents' JSON (`slaves`), kept per agent. */
  readonly agents = new AgentListJson();
  private readonly used = new Map<string, { revision: number; used: Resources }>();

  constructor(private readonly master: Master) {}

  /** A framework's (or torn-down framework's) lists of tasks, kept encoded under its id. */
  listsOf(frameworkId: string): NonNullable<FrameworkJsonOptions['list']> {
    return (kind, tasks) => this.lists.of(`${frameworkId}\u0000${kind}`, tasks);
  }

  /** The sum of every live task's resources of the framework (the unfiltered view's `used_resources`). */
  usedBy(frameworkId: string): Resources {
    const revision = this.master.tasks.revision;
    const cached = this.used.get(frameworkId);
    if (cached !== undefined && cached.revision === revision) return cached.used;
    const used = this.master.tasks.frameworkTasks(frameworkId).reduce((sum, t) => sum.add(t.resources), Resources.EMPTY);
    this.used.set(frameworkId, { revision, used });
    for (const id of this.used.keys()) if (!this.master.frameworks.has(id)) this.used.delete(id);
    return used;
  }
}

export function masterState(master: Master, filter: TaskFilter & { limit?: number; offset: number }, views: StateViews = new StateViews(master)): Record<string, unknown> {
  const page = <T>(items: readonly T[]): T[] => items.slice(filter.offset, filter.limit === undefined ? undefined : filter.offset + filter.limit);
  // Every live task of a framework is listed: its resource sum is the one kept per revision.
  const whole = filter.taskId === undefined && filter.agentId === undefined && filter.state === undefined && filter.offset === 0 && filter.limit === undefined;
  const agents = [...master.agents.values()].filter((a) => filter.agentId === undefined || a.id === filter.agentId);
  const frameworks = [...master.frameworks.values()]
    .filter((f) => filter.frameworkId === undefined || f.id === filter.frameworkId)
    .map((f) => {
      // The whole view lists the table's kept array as it is: no copy or filter pass per request
      // over 50,000 tasks (issue 21).
      const tasks = whole ? master.tasks.frameworkTasks(f.id) : page(master.tasks.ofFramework(f.id).filter((t) => matches(t, filter)));
      const completed = whole ? [...(master.completedTasks.get(f.id) ?? [])].reverse() : page((master.completedTasks.get(f.id) ?? []).filter((t) => matches(t, filter)).reverse());
      const offers = [...master.offers.values()].filter((o) => o.frameworkId === f.id);
      // A filtered or paged view is small, or one of many: encoded per request, not kept.
      return frameworkToJson(f, tasks, completed, offers, whole ? { list: views.listsOf(f.id), used: views.usedBy(f.id) } : {});
    });
  const completedFrameworks = completedFrameworksJson(master, filter.frameworkId, (t) => matches(t, filter), page, whole ? views : undefined);
  const leader = `master@${master.hostname}:${master.port}`;
  return {
    version: '1.11.0',
    id: master.id,
    pid: leader,
    hostname: master.hostname,
    start_time: master.startedAt / 1000,
    elected_time: master.startedAt / 1000,
    activated_slaves: agents.filter((a) => a.status === 'active').length,
    deactivated_slaves: 0,
    unreachable_slaves: agents.filter((a) => a.status === 'unreachable').length,
    leader,
    leader_info: { id: master.id, hostname: master.hostname, port: master.port, address: { hostname: master.hostname, ip: '127.0.0.1', port: master.port } },
    flags: masterFlags(master),
    // Every agent's JSON kept while what it reads is the same (agent-list-json.ts): one item, not a
    // walk of 500 object trees by the byte serializer.
    slaves: views.agents.of(agents),
    frameworks,
    completed_frameworks: completedFrameworks,
    unregistered_frameworks: [],
    drover_agent_removal: agentRemovalJson(master.agentRemovalStatus()),
  };
}

/** Torn-down frameworks in the legacy shape, newest first, with their (filtered, paged) completed tasks. */
function completedFrameworksJson(
  master: Master,
  frameworkId: string | undefined,
  keep: (t: TaskRecord) => boolean = () => true,
  page: (items: TaskRecord[]) => TaskRecord[] = (items) => items,
  views?: StateViews,
): Array<Record<string, unknown>> {
  return master.completedFrameworks
    .list()
    .filter((c) => frameworkId === undefined || c.framework.id === frameworkId)
    .map((c) => frameworkToJson(c.framework, [], page(c.tasks.filter(keep).reverse()), [], views === undefined ? {} : { list: views.listsOf(`completed:${c.framework.id}`) }));
}

/** Routes answered by `sendEncodedBody` (with their `.json` aliases): none may have a read filter. */
export const STREAMED_ROUTES = ['/master/state', '/state', '/master/frameworks', '/master/tasks'] as const;

const FrameworksQuery = compileValidator(Type.Object({ framework_id: Type.Optional(Type.String({ minLength: 1 })) }));

export function registerOperatorRoutes(app: FastifyInstance, master: Master): void {
  registerMesosEndpoints(app, master);
  // These answers hold kept task lists (their bytes) and are streamed from their parts
  // (sendEncodedBody), past fastify's preSerialization hooks: their permission has no read
  // filter (test/master-state-cache.test.ts checks STREAMED_ROUTES stay so).
  const views = new StateViews(master);
  const state: RouteHandlerMethod = async (request, reply) => sendEncodedBody(reply, masterState(master, parseQuery(request.query), views));
  mesosGet(app, '/master/state', state);
  mesosGet(app, '/state', state);
  /**
   * Silent agents the removal limits hold back (not marked unreachable, so not replaced), and
   * why: small enough to poll, unlike /master/state at 10,000 agents. The UI's banner reads it.
   */
  app.get('/master/agent-removal', async () => agentRemovalJson(master.agentRemovalStatus()));

  /** Mesos' `/master/frameworks`: live and torn-down frameworks, optionally one by id. */
  mesosGet(app, '/master/frameworks', async (request, reply) => {
    let q;
    try {
      q = FrameworksQuery.validate(request.query, 'Invalid query parameters');
    } catch (e) {
      if (e instanceof DroverError) throw new DroverError('MALFORMED', e.message, { details: e.details });
      throw e;
    }
    const id = q.framework_id;
    return sendEncodedBody(reply, {
      frameworks: [...master.frameworks.values()]
        .filter((f) => id === undefined || f.id === id)
        .map((f) =>
          frameworkToJson(
            f,
            master.tasks.frameworkTasks(f.id),
            [...(master.completedTasks.get(f.id) ?? [])].reverse(),
            [...master.offers.values()].filter((o) => o.frameworkId === f.id),
            { list: views.listsOf(f.id), used: views.usedBy(f.id) },
          ),
        ),
      completed_frameworks: completedFrameworksJson(master, id, undefined, undefined, views),
      unregistered_frameworks: [],
    });
  });

  mesosGet(app, '/master/state-summary', async () => {
    const byFramework = new Map<string, Map<string, number>>();
    for (const t of master.tasks.values()) bump(byFramework, t.frameworkId, t.state);
    for (const [id, list] of master.completedTasks) for (const t of list) bump(byFramework, id, t.state);
    const counts = (id: string) => Object.fromEntries(TASK_STATES.map((s) => [s, byFramework.get(id)?.get(s) ?? 0]));
    return {
      hostname: master.hostname,
      cluster: '',
      slaves: [...master.agents.values()].map((a) => ({
        id: a.id,
        hostname: a.hostname,
        active: a.status === 'active',
        deactivated: a.maintenance?.deactivated === true,
        ...(a.maintenance?.drain ? { drain_info: a.maintenance.drain } : {}),
        resources: legacyResources(a.total),
        used_resources: legacyResources(a.used),
        offered_resources: legacyResources(a.offered),
        framework_ids: [...new Set([...master.tasks.values()].filter((t) => t.agentId === a.id).map((t) => t.frameworkId))],
      })),
      frameworks: [...master.frameworks.values()].map((f) => ({
        id: f.id,
        name: f.info.name,
        active: f.stream?.isOpen === true,
        used_resources: legacyResources([...master.tasks.values()].filter((t) => t.frameworkId === f.id).reduce((s, t) => s.add(t.resources), Resources.EMPTY)),
        ...counts(f.id),
      })),
    };
  });

  /** Tasks, live and completed; `completed` come from the store's history, past the memory window. */
  mesosGet(app, '/master/tasks', async (request, reply) => {
    const q = parseQuery(request.query);
    const text = (t: { id: string; name?: string }) => q.filter === undefined || t.id.includes(q.filter) || (t.name ?? '').includes(q.filter);
    const keep = (t: TaskRecord): boolean => matches(t, q) && text({ id: t.id, name: t.info.name });
    const unfiltered = q.filter === undefined && q.frameworkId === undefined && q.taskId === undefined && q.agentId === undefined && q.state === undefined;
    // Unfiltered: the table's kept array of every task, not a walk and a copy of 50,000 per request.
    let live: readonly TaskRecord[] = master.tasks.allTasks();
    if (!unfiltered) live = live.filter(keep);
    const history = q.completed ? ((await master.registry.history(q.frameworkId, q.taskId)) as Array<Record<string, unknown>>) : [];
    // Every filter applies to the history as to the live tasks (a task id without a framework id
    // reads the whole history, so it must be filtered here).
    const done = history.filter(
      (t) =>
        (q.taskId === undefined || t['id'] === q.taskId) &&
        (q.agentId === undefined || t['slave_id'] === q.agentId) &&
        (q.state === undefined || t['state'] === q.state) &&
        text({ id: String(t['id']), name: String(t['name'] ?? '') }),
    );
    // Tasks that ended a moment ago may not have reached the store's history yet (its writes are
    // group-committed): the in-memory window answers for them.
    const recent = q.completed ? [...master.completedTasks.values(), ...master.completedFrameworks.list().map((c) => c.tasks)].flat().filter(keep) : [];
    const recentKeys = new Set(recent.map((t) => `${t.frameworkId}\u0000${t.id}`));
    const records = recent.length === 0 ? live : live.concat(recent);
    const stored = done.filter((t) => !recentKeys.has(`${String(t['framework_id'])}\u0000${String(t['id'])}`));
    // The page of [...records, ...stored] (reversed unless `asc`). Every task unfiltered (what
    // scripts and the bench ask for) comes from the kept list; a filtered or smaller page is
    // encoded now (one kept list per filter would be memory a caller could multiply).
    const n = records.length + stored.length;
    const asc = q.order === 'asc';
    let tasks: unknown;
    const everything = unfiltered && q.completed;
    if (everything && q.offset === 0 && (q.limit ?? 100) >= n) {
      const kept = views.lists.of('all', records, !asc);
      tasks = new JoinedArray(asc ? [kept, stored] : [[...stored].reverse(), kept]);
    } else {
      const page: unknown[] = [];
      for (let k = q.offset; k < Math.min(n, q.offset + (q.limit ?? 100)); k++) {
        const i = asc ? k : n - 1 - k;
        page.push(i < records.length ? taskToJson(records[i]!) : stored[i - records.length]);
      }
      tasks = page;
    }
    return sendEncodedBody(reply, { tasks });
  });
}

function bump(map: Map<string, Map<string, number>>, id: string, state: string): void {
  const m = map.get(id) ?? new Map<string, number>();
  m.set(state, (m.get(state) ?? 0) + 1);
  map.set(id, m);
}
