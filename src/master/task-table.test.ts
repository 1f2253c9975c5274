import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { TaskTable } from './task-table.ts';
import type { TaskRecord } from './model.ts';

const task = (n: number, agentId: string, frameworkId: string, role: string): TaskRecord => {
  const resources = Resources.parse(`cpus:0.${(n % 9) + 1};mem:${32 * (n + 1)};ports:[${31000 + n}-${31000 + n}]`);
  return {
    id: `t${n}`,
    frameworkId,
    agentId,
    role,
    resources,
    state: 'TASK_RUNNING',
    statuses: [],
    statusUuid: undefined,
    directory: undefined,
    createdAt: 0,
    info: { name: `t${n}` },
  };
};

test('the indexes always equal a scan of every task, through any sequence of sets and deletes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 11 }), fc.constantFrom('A', 'B'), fc.constantFrom('F1', 'F2'), fc.constantFrom('*', 'web')), { maxLength: 60 }), (ops) => {
      const table = new TaskTable();
      for (const [put, n, agent, framework, role] of ops) {
        if (put) table.set(task(n, agent, framework, role));
        else table.delete(framework, `t${n}`);
      }
      for (const agent of ['A', 'B']) {
        assert.deepEqual(
          table
            .onAgent(agent)
            .map((t) => t.id)
            .sort(),
          [...table.values()]
            .filter((t) => t.agentId === agent)
            .map((t) => t.id)
            .sort(),
        );
      }
      for (const framework of ['F1', 'F2']) {
        for (const role of ['*', 'web']) {
          const expected = [...table.values()].filter((t) => t.frameworkId === framework && t.role === role).reduce((s, t) => s.add(t.resources), Resources.EMPTY);
          const got = table.allocated().get(framework)?.get(role) ?? Resources.EMPTY;
          // Scalars only (ports are not summed: see task-table.ts).
          assert.equal(got.cpus(), expected.cpus());
          assert.equal(got.mem(), expected.mem());
        }
      }
    }),
  );
});
