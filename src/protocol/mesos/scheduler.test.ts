import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileValidator } from '../validation.ts';
import { SchedulerCall } from './scheduler.ts';

const calls = compileValidator(SchedulerCall);

// Request bodies as Mesos' scheduler-http-api.md shows them, so real framework libraries pass.
const documented: Record<string, unknown> = {
  SUBSCRIBE: {
    type: 'SUBSCRIBE',
    subscribe: {
      framework_info: { user: 'foo', name: 'Example HTTP Framework', roles: ['test'], capabilities: [{ type: 'MULTI_ROLE' }] },
    },
  },
  ACCEPT: {
    framework_id: { value: '12220-3440-12532-2345' },
    type: 'ACCEPT',
    accept: {
      offer_ids: [{ value: '12220-3440-12532-O12' }],
      operations: [
        {
          type: 'LAUNCH',
          launch: {
            task_infos: [
              {
                name: 'My Task',
                task_id: { value: '12220-3440-12532-my-task' },
                agent_id: { value: '12220-3440-12532-S1233' },
                executor: { command: { shell: true, value: 'sleep 1000' }, executor_id: { value: '12214-23523-my-executor' } },
                resources: [
                  { allocation_info: { role: 'engineering' }, name: 'cpus', role: '*', type: 'SCALAR', scalar: { value: 1.0 } },
                  { allocation_info: { role: 'engineering' }, name: 'mem', role: '*', type: 'SCALAR', scalar: { value: 128.0 } },
                ],
                limits: { cpus: 2.0 },
              },
            ],
          },
        },
      ],
      filters: { refuse_seconds: 5.0 },
    },
  },
  DECLINE: { framework_id: { value: 'f' }, type: 'DECLINE', decline: { offer_ids: [{ value: 'o1' }, { value: 'o2' }], filters: { refuse_seconds: 5.0 } } },
  REVIVE: { framework_id: { value: 'f' }, type: 'REVIVE', revive: { roles: ['role1'] } },
  KILL: { framework_id: { value: 'f' }, type: 'KILL', kill: { task_id: { value: 't' }, agent_id: { value: 'a' } } },
  ACKNOWLEDGE: {
    framework_id: { value: 'f' },
    type: 'ACKNOWLEDGE',
    acknowledge: { agent_id: { value: 'a' }, task_id: { value: 't' }, uuid: 'jhadf73jhakdlfha723adf' },
  },
  RECONCILE: { framework_id: { value: 'f' }, type: 'RECONCILE', reconcile: { tasks: [{ task_id: { value: 't' }, agent_id: { value: 'a' } }] } },
  SUPPRESS: { framework_id: { value: 'f' }, type: 'SUPPRESS', suppress: { roles: ['role1'] } },
  TEARDOWN: { framework_id: { value: 'f' }, type: 'TEARDOWN' },
  MESSAGE: { framework_id: { value: 'f' }, type: 'MESSAGE', message: { agent_id: { value: 'a' }, executor_id: { value: 'e' }, data: 'adaf838jahd748jnaldf' } },
};

describe('Mesos v1 scheduler call schema', () => {
  for (const [name, body] of Object.entries(documented)) {
    test(`accepts the documented ${name} call`, () => {
      assert.deepEqual(calls.details(body), []);
    });
  }

  test('rejects wrong types with the path of each bad field', () => {
    const details = calls.details({
      type: 'ACCEPTX',
      accept: {
        offer_ids: [{ value: '' }],
        operations: [{ type: 'LAUNCH', launch: { task_infos: [{ name: 't', task_id: {}, agent_id: { value: 'a' }, resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: -1 } }] }] } }],
      },
    });
    const paths = details.map((d) => d.path);
    assert.ok(paths.includes('/type'), JSON.stringify(details));
    assert.ok(paths.includes('/accept/offer_ids/0/value'));
    assert.ok(paths.includes('/accept/operations/0/launch/task_infos/0/task_id/value'));
    assert.ok(paths.includes('/accept/operations/0/launch/task_infos/0/resources/0/scalar/value'));
  });

  test('rejects an acknowledge uuid that is not base64', () => {
    const details = calls.details({ type: 'ACKNOWLEDGE', acknowledge: { agent_id: { value: 'a' }, task_id: { value: 't' }, uuid: 'not base64!' } });
    assert.deepEqual(
      details.map((d) => d.path),
      ['/acknowledge/uuid'],
    );
  });
});
