import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { declaresVips } from '../../protocol/vip-labels.ts';
import { VipTaskView } from './task-view.ts';

const discovery = { ports: { ports: [{ number: 31000, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: '/web:80' }] } }] } };
const task = (id: string, state: string, extra: Record<string, unknown> = {}) => ({
  task_id: { value: id },
  agent_id: { value: 'a1' },
  framework_id: { value: 'f' },
  state,
  statuses: [],
  discovery,
  ...extra,
});
const subscribed = (tasks: unknown[]) => ({
  type: 'SUBSCRIBED',
  subscribed: { get_state: { get_agents: { agents: [{ agent_info: { id: { value: 'a1' }, hostname: 'node-1' } }] }, get_tasks: { tasks } } },
});
const updated = (id: string, state: string, status: Record<string, unknown> = {}) => ({ type: 'TASK_UPDATED', task_updated: { state, status: { task_id: { value: id }, state, ...status } } });
const ips = new Map([['node-1', '10.0.0.1']]);

describe('VipTaskView', () => {
  it('follows SUBSCRIBED, TASK_ADDED and TASK_UPDATED; terminal tasks leave', () => {
    const view = new VipTaskView();
    assert.equal(view.synced, false);
    assert.equal(view.apply(subscribed([task('t1', 'TASK_RUNNING')])), true);
    assert.equal(view.synced, true);
    assert.deepEqual(view.hostnames(), ['node-1']);
    assert.deepEqual(view.tasks(ips), [{ taskId: 't1', state: 'TASK_RUNNING', agentIp: '10.0.0.1', ports: [{ number: 31000, protocol: 'tcp', labels: { VIP_0: '/web:80' } }] }]);
    view.apply({ type: 'TASK_ADDED', task_added: { task: task('t2', 'TASK_STAGING') } });
    view.apply(updated('t2', 'TASK_RUNNING', { healthy: false }));
    assert.deepEqual(
      view.tasks(ips).map((t) => [t.taskId, t.state, t.healthy]),
      [
        ['t1', 'TASK_RUNNING', undefined],
        ['t2', 'TASK_RUNNING', false],
      ],
    );
    view.apply(updated('t1', 'TASK_KILLING'));
    assert.equal(view.tasks(ips)[0]?.state, 'TASK_KILLING');
    view.apply(updated('t1', 'TASK_KILLED'));
    assert.deepEqual(
      view.tasks(ips).map((t) => t.taskId),
      ['t2'],
    );
    // a new SUBSCRIBED (reconnect) replaces everything
    view.apply(subscribed([]));
    assert.deepEqual(view.tasks(ips), []);
  });

  it('keeps the tasks of agents a restarted master has not heard from again, until they re-register', () => {
    const view = new VipTaskView();
    view.apply(subscribed([task('t1', 'TASK_RUNNING'), task('t2', 'TASK_RUNNING')]));
    // The master restarted: it knows agent a1 from its registry (not active) but no task yet.
    const agentsOf = (active: boolean) => ({ agents: [{ agent_info: { id: { value: 'a1' }, hostname: 'node-1' }, active }] });
    view.apply({ type: 'SUBSCRIBED', subscribed: { get_state: { get_agents: agentsOf(false), get_tasks: { tasks: [] } } } });
    assert.deepEqual(
      view.tasks(ips).map((t) => t.taskId),
      ['t1', 't2'],
    );
    // a1 re-registers with t1 only (t2 ended meanwhile): TASK_ADDED, then AGENT_ADDED.
    view.apply({ type: 'TASK_ADDED', task_added: { task: task('t1', 'TASK_RUNNING') } });
    view.apply({ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: { value: 'a1' }, hostname: 'node-1' }, active: true } } });
    assert.deepEqual(
      view.tasks(ips).map((t) => t.taskId),
      ['t1'],
    );
    // Not kept: tasks the master lists as unreachable, and tasks of agents it no longer lists.
    view.apply({ type: 'SUBSCRIBED', subscribed: { get_state: { get_agents: agentsOf(false), get_tasks: { tasks: [], unreachable_tasks: [task('t1', 'TASK_UNREACHABLE')] } } } });
    assert.deepEqual(view.tasks(ips), []);
    view.apply(subscribed([task('t3', 'TASK_RUNNING')]));
    view.apply({ type: 'SUBSCRIBED', subscribed: { get_state: { get_agents: { agents: [] }, get_tasks: { tasks: [] } } } });
    assert.deepEqual(view.tasks(ips), []);
  });

  it('uses the container address only for tasks on a CNI network', () => {
    const view = new VipTaskView();
    const status = { state: 'TASK_RUNNING', container_status: { network_infos: [{ ip_addresses: [{ ip_address: '172.16.0.9' }] }] } };
    view.apply(subscribed([task('cni', 'TASK_RUNNING', { statuses: [status], container: { network_infos: [{ name: 'n1' }] } }), task('host', 'TASK_RUNNING', { statuses: [status] })]));
    assert.deepEqual(
      view.tasks(ips).map((t) => [t.taskId, t.containerIp]),
      [
        ['cni', '172.16.0.9'],
        ['host', undefined],
      ],
    );
  });

  it('ignores tasks without ports, unknown events and malformed input', () => {
    const view = new VipTaskView();
    view.apply(subscribed([task('plain', 'TASK_RUNNING', { discovery: undefined }), { task_id: 'not an object' }, null]));
    assert.equal(view.apply({ type: 'HEARTBEAT' }), false);
    assert.equal(view.apply(updated('nobody', 'TASK_RUNNING')), false);
    assert.equal(view.apply('garbage'), false);
    assert.deepEqual(view.tasks(ips), []);
  });

  it('knows which TaskInfos declare VIPs (they drain before SIGTERM)', () => {
    assert.equal(declaresVips(discovery), true);
    assert.equal(declaresVips({ ports: { ports: [{ number: 1, labels: { labels: [{ key: 'HAPROXY_0_VHOST', value: 'x' }] } }] } }), false);
    assert.equal(declaresVips(undefined), false);
    assert.equal(declaresVips({ ports: 'x' }), false);
  });
});
