/**
 * Operator views and the rarer scheduler calls, against a real master and agent: the v1 operator
 * API and its event stream, `/master/state` filters, TEARDOWN, offer rescinding, LAUNCH_GROUP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decodeJsonRecords } from '../src/protocol/recordio.ts';
import { eventually, startDrover, type DroverProcess } from '../devkit/process.ts';
import { TestScheduler, taskInfo } from './support/scheduler.ts';
import { Resources } from '../src/resources/index.ts';

let root: string;
let master: DroverProcess;
let agent: DroverProcess;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-op-'));
  master = await startDrover(['master', '--no-services', '--port', '0', '--store', 'memory:', '--allocation-interval', '0.2', '--offer-timeout', '1', '--weights', 'prod=3,dev=1']);
  agent = await startDrover([
    'agent',
    '--master',
    master.url,
    '--port',
    '0',
    '--work-dir',
    join(root, 'agent'),
    '--resources',
    'cpus:4;mem:2048;disk:1024;ports:[21600-21700]',
    '--hostname',
    'op-agent',
    '--attributes',
    'rack:r1;zone:a',
  ]);
});
after(async () => {
  await agent.stop('SIGKILL');
  await master.stop();
  await rm(root, { recursive: true, force: true });
});

async function operator(type: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${master.url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type }) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${master.url}${path}`);
  return { status: response.status, body: (await response.json()) as T };
}

describe('v1 operator API', () => {
  test('GET_HEALTH, GET_AGENTS and GET_STATE answer in the v1 shapes', async () => {
    assert.deepEqual((await operator('GET_HEALTH')).body, { type: 'GET_HEALTH', get_health: { healthy: true } });
    const agents = await eventually(async () => {
      const list = ((await operator('GET_AGENTS')).body['get_agents'] as { agents: Array<Record<string, unknown>> }).agents;
      return list.length === 1 ? list : undefined;
    }, 'the agent registered');
    const info = agents[0]!['agent_info'] as { hostname: string; id: { value: string }; attributes: Array<{ name: string; text?: { value: string } }> };
    assert.equal(info.hostname, 'op-agent');
    assert.ok(info.attributes.some((a) => a.name === 'rack' && a.text?.value === 'r1'));
    assert.equal(agents[0]!['active'], true);
    const state = (await operator('GET_STATE')).body['get_state'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(state).sort(), ['get_agents', 'get_executors', 'get_frameworks', 'get_tasks']);
  });

  test('an unknown operator call → 400 naming the allowed ones', async () => {
    const { status, body } = await operator('REBOOT_EVERYTHING');
    assert.equal(status, 400);
    assert.match(JSON.stringify(body['details']), /GET_STATE/);
  });

  test('SUBSCRIBE streams a snapshot, then framework and task events as they happen', async () => {
    const abort = new AbortController();
    const response = await fetch(`${master.url}/api/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'SUBSCRIBE' }), signal: abort.signal });
    const events = decodeJsonRecords<{ type: string } & Record<string, unknown>>(Readable.fromWeb(response.body as never));
    const first = await events.next();
    assert.equal(first.value?.type, 'SUBSCRIBED');
    const fw = await TestScheduler.subscribe(master.url, { name: 'watched', roles: ['prod'] });
    try {
      const [offer] = await fw.offers();
      await fw.launch(offer!, [{ id: 'observed', cmd: 'sleep 30' }]);
      await fw.status('observed', 'TASK_RUNNING');
      const seen: string[] = [];
      for await (const event of events) {
        if (event.type === 'HEARTBEAT') continue;
        const detail = event.type === 'TASK_UPDATED' ? `:${(event['task_updated'] as { state: string }).state}` : '';
        seen.push(event.type + detail);
        if (seen.includes('TASK_UPDATED:TASK_RUNNING')) break;
      }
      assert.deepEqual(
        seen.filter((e) => e !== 'TASK_UPDATED:TASK_STARTING'),
        ['FRAMEWORK_ADDED', 'TASK_ADDED', 'TASK_UPDATED:TASK_RUNNING'],
      );
      await fw.call({ type: 'KILL', kill: { task_id: { value: 'observed' } } });
      await fw.status('observed', 'TASK_KILLED');
    } finally {
      abort.abort();
      await fw.close();
    }
  });
});

describe('/master/state', () => {
  test('filters by framework, task and state, pages with limit/offset, and refuses bad filters', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'filtered' });
    try {
      const [offer] = await fw.offers();
      await fw.launch(
        offer!,
        [1, 2, 3].map((i) => ({ id: `f${i}`, cmd: 'sleep 30' })),
      );
      for (const i of [1, 2, 3]) await fw.status(`f${i}`, 'TASK_RUNNING');
      type State = { frameworks: Array<{ id: string; tasks: Array<{ id: string; state: string }> }>; flags: Record<string, string> };
      const only = (await getJson<State>(`/master/state?framework_id=${fw.frameworkId}`)).body;
      assert.deepEqual(
        only.frameworks.map((f) => f.id),
        [fw.frameworkId],
      );
      assert.deepEqual(only.frameworks[0]!.tasks.map((t) => t.id).sort(), ['f1', 'f2', 'f3']);
      assert.equal(only.flags['weights'], 'prod=3,dev=1');
      const one = (await getJson<State>(`/master/state?framework_id=${fw.frameworkId}&task_id=f2`)).body;
      assert.deepEqual(
        one.frameworks[0]!.tasks.map((t) => t.id),
        ['f2'],
      );
      const paged = (await getJson<State>(`/master/state?framework_id=${fw.frameworkId}&limit=2&offset=1`)).body;
      assert.equal(paged.frameworks[0]!.tasks.length, 2);
      const none = (await getJson<State>(`/master/state?framework_id=${fw.frameworkId}&state=TASK_FINISHED`)).body;
      assert.equal(none.frameworks[0]!.tasks.length, 0);
      const bad = await getJson<{ details: Array<{ path: string }> }>('/master/state?state=TASK_BOGUS&limit=-1');
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.details.map((d) => d.path).sort(), ['/limit', '/state']);
      const summary = (await getJson<{ frameworks: Array<Record<string, unknown>> }>('/master/state-summary')).body;
      assert.equal(summary.frameworks.find((f) => f['id'] === fw.frameworkId)?.['TASK_RUNNING'], 3);
    } finally {
      for (const i of [1, 2, 3]) await fw.call({ type: 'KILL', kill: { task_id: { value: `f${i}` } } });
      for (const i of [1, 2, 3]) await fw.status(`f${i}`, 'TASK_KILLED');
      await fw.close();
    }
  });
});

describe('scheduler calls', () => {
  test('an offer held past --offer-timeout is rescinded', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'holder' });
    try {
      const [offer] = await fw.offers();
      const rescind = await fw.next('RESCIND', (e) => e.rescind.offer_id.value === offer!.id.value, 10_000);
      assert.equal(rescind.rescind.offer_id.value, offer!.id.value);
      await fw.launch(offer!, [{ id: 'too-late', cmd: 'true' }]);
      await fw.status('too-late', 'TASK_LOST');
    } finally {
      await fw.close();
    }
  });

  test('LAUNCH_GROUP launches every task of the group', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'grouped' });
    try {
      const [offer] = await fw.offers();
      await fw.call({
        type: 'ACCEPT',
        accept: {
          offer_ids: [offer!.id],
          operations: [
            {
              type: 'LAUNCH_GROUP',
              launch_group: {
                // Mesos' default executor: an id and resources of its own, disk among them.
                executor: { type: 'DEFAULT', executor_id: { value: 'grouped-executor' }, framework_id: { value: fw.frameworkId }, resources: Resources.parse('cpus:0.1;mem:32;disk:10').toJSON() },
                task_group: { tasks: [taskInfo(offer!, 'g1', 'exit 0'), taskInfo(offer!, 'g2', 'exit 0')] },
              },
            },
          ],
        },
      });
      await fw.status('g1', 'TASK_FINISHED');
      await fw.status('g2', 'TASK_FINISHED');
    } finally {
      await fw.close();
    }
  });

  test('TEARDOWN kills the tasks, removes the framework and refuses its id afterwards', async () => {
    const fw = await TestScheduler.subscribe(master.url, { name: 'leaving', failover_timeout: 3600 });
    const [offer] = await fw.offers();
    await fw.launch(offer!, [{ id: 'doomed', cmd: 'sleep 60' }]);
    await fw.status('doomed', 'TASK_RUNNING');
    await fw.call({ type: 'TEARDOWN' });
    await eventually(async () => {
      const state = (await getJson<{ frameworks: Array<{ id: string }> }>('/master/state')).body;
      return !state.frameworks.some((f) => f.id === fw.frameworkId);
    }, 'framework gone from the state');
    const tasks = (await getJson<{ tasks: Array<{ id: string; state: string }> }>(`/master/tasks?framework_id=${fw.frameworkId}`)).body.tasks;
    await eventually(async () => {
      const agentState = (await (await fetch(`${agent.url}/state`)).json()) as { tasks?: Array<Record<string, unknown>> };
      return !(agentState.tasks ?? []).some((t) => JSON.stringify(t).includes('doomed') && JSON.stringify(t).includes('TASK_RUNNING'));
    }, 'the task killed on the agent');
    assert.ok(
      tasks.some((t) => t.id === 'doomed' && t.state === 'TASK_KILLED'),
      JSON.stringify(tasks),
    );
    // By task id alone (no framework id), only that task comes back, from the history.
    const byId = (await getJson<{ tasks: Array<{ id: string }> }>('/master/tasks?task_id=doomed')).body.tasks;
    assert.deepEqual(
      byId.map((t) => t.id),
      ['doomed'],
    );
    await assert.rejects(TestScheduler.subscribe(master.url, { name: 'leaving', id: { value: fw.frameworkId } }), /has been removed/);
    await fw.close();
  });
});

describe('/metrics', () => {
  test('counts offers, launches, status updates, registered agents and cycle durations', async () => {
    const text = await (await fetch(`${master.url}/metrics/prometheus`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.ok(value('drover_master_offers_made_total') > 0, 'offers made');
    assert.ok(value('drover_master_tasks_launched_total') >= 3, 'launches');
    assert.equal(value('drover_master_agents_registered'), 1);
    assert.ok(value('drover_master_allocation_cycle_seconds_count') > 0, 'cycle durations observed');
    assert.match(text, /drover_master_status_updates_total\{state="TASK_RUNNING"\} [1-9]/);
    assert.ok(value('drover_master_offers_rescinded_total') >= 1, 'the held offer was rescinded');
  });
});
