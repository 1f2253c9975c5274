import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTaskEnv, containerResources, MAX_PORT_VARIABLES, taskPorts } from './task-env.ts';

const base = {
  base: { PATH: '/usr/bin:/bin', HOME: '/root', UNSET: undefined },
  sandbox: '/work/slaves/S1/frameworks/F1/executors/t1/runs/c1',
  taskId: 't1',
  agentId: 'S1',
  frameworkId: 'F1',
};

describe('buildTaskEnv', () => {
  test('SECRET variables take the values resolved at launch; without one they are left out, never blank', () => {
    const command = {
      value: 'true',
      environment: { variables: [{ name: 'DB_PW', type: 'SECRET' as const, secret: { type: 'REFERENCE' as const, reference: { name: '/dev/pw' } } }] },
    };
    assert.equal(buildTaskEnv({ ...base, command, resources: [], secrets: new Map([['DB_PW', 'v1']]) })['DB_PW'], 'v1');
    assert.equal('DB_PW' in buildTaskEnv({ ...base, command, resources: [] }), false);
  });

  test('base environment, Mesos variables and ports, then the command environment on top', () => {
    const env = buildTaskEnv({
      ...base,
      command: {
        value: 'true',
        environment: {
          variables: [{ name: 'HOME', value: '/home/app' }, { name: 'LEVEL', type: 'VALUE', value: 'debug' }, { name: 'TOKEN', type: 'SECRET', value: 'do-not-pass' }, { name: 'NO_VALUE' }],
        },
      },
      resources: [
        { name: 'cpus', type: 'SCALAR', scalar: { value: 1 } },
        {
          name: 'ports',
          type: 'RANGES',
          ranges: {
            range: [
              { begin: 31000, end: 31001 },
              { begin: 31005, end: 31005 },
            ],
          },
        },
      ],
    });
    assert.deepEqual(env, {
      PATH: '/usr/bin:/bin',
      HOME: '/home/app',
      MESOS_SANDBOX: base.sandbox,
      MESOS_DIRECTORY: base.sandbox,
      MESOS_TASK_ID: 't1',
      MESOS_AGENT_ID: 'S1',
      MESOS_FRAMEWORK_ID: 'F1',
      PORT0: '31000',
      PORT1: '31001',
      PORT2: '31005',
      PORT: '31000',
      PORTS: '31000,31001,31005',
      LEVEL: 'debug',
    });
  });

  test('no ports resource, no PORT variables', () => {
    const env = buildTaskEnv({ ...base, command: undefined, resources: [] });
    assert.equal(env['PORT'], undefined);
    assert.equal(env['PORTS'], undefined);
    assert.equal(env['PORT0'], undefined);
  });

  test('a huge port range is capped', () => {
    const ports = taskPorts([{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 65535 }] } }]);
    assert.equal(ports.length, MAX_PORT_VARIABLES);
    assert.equal(ports[0], 1);
  });
});

test('containerResources: cpus and mem scalars summed over entries (reservations), others ignored', () => {
  assert.deepEqual(
    containerResources([
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } },
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.25 }, role: 'web' },
      { name: 'mem', type: 'SCALAR', scalar: { value: 64 } },
      { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 1, end: 2 }] } },
    ] as never),
    { cpus: 0.75, memMb: 64 },
  );
  assert.deepEqual(containerResources([]), {});
});
