/**
 * The master's cached state views (task-json-cache.ts, docs/architecture/022-master-state-json.md):
 * `/master/state`, `/master/frameworks` and `/master/tasks` join each task's kept JSON bytes, so
 * a body that outlived a change would be a stale answer. After each change — tasks launched and
 * running, a task killed (its record changes state and moves to the completed list), an agent
 * marked gone (its tasks end, the agent leaves), a scale-down — every view must equal what the uncached
 * `taskToJson` of the master's records says, and the framework's `used_resources` their sum.
 *
 * One master in this process (memory store, the services framework, auth on) and two hollow
 * agents on the real agent link.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startMasterServer, type MasterServer } from '../src/cluster/master.ts';
import { silentLogger } from '../src/log/index.ts';
import { Resources } from '../src/resources/index.ts';
import { createMemoryStore } from '../src/store/memory/memory-store.ts';
import { agentToJson, legacyResources, taskToJson } from '../src/master/views.ts';
import type { TaskRecord } from '../src/master/model.ts';
import { STREAMED_ROUTES } from '../src/master/api/operator.ts';
import { ruleFor } from '../src/iam/route-permissions.ts';
import { HollowAgent } from '../sim/hollow-agent.ts';
import { eventually } from '../devkit/process.ts';
import { rawFetch, TEST_ADMIN_TOKEN, testAuth } from '../devkit/credentials.ts';

const admin = { authorization: `token=${TEST_ADMIN_TOKEN}` };
let server: MasterServer;
const agents: HollowAgent[] = [];

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; body: any }> {
  const response = await rawFetch(`${server.url}${path}`, {
    method,
    headers: { ...admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, text, body: parsed };
}

const json = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
const running = (): TaskRecord[] => [...server.master.tasks.values()].filter((t) => t.state === 'TASK_RUNNING');

before(async () => {
  server = await startMasterServer({ store: createMemoryStore(), logger: silentLogger(), port: 0, host: '127.0.0.1', allocationIntervalMs: 100, jobs: false, ui: false, auth: testAuth() });
  for (const hostname of [`hollow-state-a-${process.pid}`, `hollow-state-b-${process.pid}`]) {
    const agent = new HollowAgent({ masterUrl: server.url, hostname, resources: Resources.parse('cpus:2;mem:2048;ports:[31000-31100]'), behaviour: { runningAfterMs: 10 }, logger: silentLogger() });
    agent.start();
    agents.push(agent);
  }
  await eventually(() => agents.every((a) => a.registered), 'both hollow agents registered', 60_000);
  const r = await call('POST', '/v2/apps', { id: '/cache/web', cmd: 'sleep 1000', cpus: 0.01, mem: 16, instances: 6, portDefinitions: [{ port: 0 }] });
  assert.equal(r.status, 201, r.text);
  await eventually(() => running().length === 6, 'six tasks running', 60_000);
});

after(async () => {
  for (const agent of agents) await agent.stop();
  await server.close();
});

/** What each view should say now, from the master's records, uncached; undefined when equal. */
async function difference(): Promise<string | undefined> {
  const { master } = server;
  const state = await call('GET', '/master/state');
  const frameworks = await call('GET', '/master/frameworks');
  const tasks = await call('GET', '/master/tasks?limit=10000&order=asc');
  for (const r of [state, frameworks, tasks]) assert.equal(r.status, 200, r.text);
  for (const [view, body] of [
    ['/master/state', state.body],
    ['/master/frameworks', frameworks.body],
  ] as const) {
    for (const f of master.frameworks.values()) {
      const live = master.tasks.ofFramework(f.id);
      const shown = body.frameworks.find((x: { id: string }) => x.id === f.id);
      const expected = {
        tasks: json(live.filter((t) => t.state !== 'TASK_UNREACHABLE').map(taskToJson)),
        unreachable_tasks: json(live.filter((t) => t.state === 'TASK_UNREACHABLE').map(taskToJson)),
        completed_tasks: json([...(master.completedTasks.get(f.id) ?? [])].reverse().map(taskToJson)),
        used_resources: json(legacyResources(live.reduce((s, t) => s.add(t.resources), Resources.EMPTY))),
      };
      for (const [key, value] of Object.entries(expected)) {
        try {
          assert.deepEqual(shown?.[key], value);
        } catch {
          return `${view}: framework ${f.info.name}'s ${key} differs from the records: ${JSON.stringify(shown?.[key]).slice(0, 400)} ≠ ${JSON.stringify(value).slice(0, 400)}`;
        }
      }
    }
  }
  // The agents, kept per agent (agent-list-json.ts): each is its record's JSON now (its used and
  // offered resources change with every launch, kill and offer).
  const slaves = json([...master.agents.values()].map(agentToJson));
  try {
    assert.deepEqual(state.body.slaves, slaves);
  } catch {
    return `/master/state's agents differ from the records: ${JSON.stringify(state.body.slaves).slice(0, 400)} ≠ ${JSON.stringify(slaves).slice(0, 400)}`;
  }
  // /master/tasks?order=asc: live tasks, then the completed window, then the stored history not in it.
  const recent = [...master.completedTasks.values()].flat();
  const keys = new Set(recent.map((t) => `${t.frameworkId}/${t.id}`));
  const stored = ((await master.registry.history()) as Array<{ framework_id: string; id: string }>).filter((t) => !keys.has(`${t.framework_id}/${t.id}`));
  const expected = json([...[...master.tasks.values(), ...recent].map(taskToJson), ...stored]);
  try {
    assert.deepEqual(tasks.body.tasks, expected);
  } catch {
    return `/master/tasks differs from the records: ${tasks.text.slice(0, 400)} ≠ ${JSON.stringify(expected).slice(0, 400)}`;
  }
  return undefined;
}

/** The views equal the records (retried while the cluster settles: a stale body never would). */
async function viewsEqualRecords(when: string): Promise<void> {
  let last: string | undefined;
  try {
    await eventually(async () => (last = await difference()) === undefined, when, 30_000);
  } catch {
    assert.fail(`${when}: ${last}`);
  }
}

test('every task in the views is its record, after launches, a kill, an agent marked gone and a scale-down', async () => {
  await viewsEqualRecords('six running tasks');
  // The views are now cached. A kill: the record goes KILLING, then KILLED and to the completed list.
  const victim = running()[0]!;
  const kill = await call('DELETE', `/v2/apps/cache/web/tasks/${encodeURIComponent(victim.id)}`);
  assert.equal(kill.status, 200, kill.text);
  await eventually(() => server.master.findCompletedTask(victim.frameworkId, victim.id)?.state === 'TASK_KILLED' && running().length === 6, 'the task killed and replaced', 60_000);
  await viewsEqualRecords('after a kill');
  const killed = (await call('GET', `/master/tasks?task_id=${encodeURIComponent(victim.id)}`)).body.tasks;
  assert.equal(killed[0]?.state, 'TASK_KILLED', 'the killed task shows as killed, not as the running task it was when cached');

  // An agent marked gone: its tasks become TASK_GONE_BY_OPERATOR in place and end; it leaves the state.
  const gone = [...server.master.agents.values()].find((a) => server.master.tasks.onAgent(a.id).length > 0)!;
  const onIt = server.master.tasks.onAgent(gone.id).map((t) => t.id);
  const mark = await call('POST', '/api/v1', { type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: gone.id } } });
  assert.equal(mark.status, 200, mark.text);
  await eventually(() => !server.master.agents.has(gone.id) && running().length === 6 && running().every((t) => t.agentId !== gone.id), 'the agent gone and its tasks replaced', 60_000);
  await viewsEqualRecords('after an agent was marked gone');
  const state = (await call('GET', '/master/state')).body;
  const live = state.frameworks.flatMap((f: { tasks: Array<{ id: string }> }) => f.tasks.map((t) => t.id));
  for (const id of onIt) assert.ok(!live.includes(id), `${id} (on the gone agent) is no longer listed as live`);

  // A scale-down: fewer live tasks, a smaller sum of their resources (kept per task-table revision).
  const scale = await call('PUT', '/v2/apps/cache/web?force=true', { id: '/cache/web', cmd: 'sleep 1000', cpus: 0.01, mem: 16, instances: 3, portDefinitions: [{ port: 0 }] });
  assert.equal(scale.status, 200, scale.text);
  await eventually(() => server.master.tasks.size === 3, 'three tasks left', 60_000);
  await viewsEqualRecords('after a scale-down');

  // jsonp wraps the byte answer.
  const wrapped = await call('GET', '/master/state?jsonp=stateCallback');
  assert.equal(wrapped.status, 200);
  assert.match(wrapped.text, /^stateCallback\(\{.*\}\);$/s);
  assert.equal(JSON.parse(wrapped.text.slice('stateCallback('.length, -2)).frameworks.length, state.frameworks.length);
});

test('the streamed views skip preSerialization hooks, so none of them has a read filter to skip', () => {
  for (const route of STREAMED_ROUTES.flatMap((r) => [r, `${r}.json`])) {
    const rule = ruleFor('GET', route);
    assert.ok(rule !== undefined, `${route} has a permission`);
    assert.ok(!('filter' in rule) || rule.filter === undefined, `${route} has a read filter, which a streamed body would skip`);
  }
});
