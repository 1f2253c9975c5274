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

test('the kept lists are the live tasks at every read, and the same array while the table did not change', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('set', 'delete', 'clear', 'read'), fc.integer({ min: 0, max: 11 }), fc.constantFrom('F1', 'F2')), { maxLength: 60 }), (ops) => {
      const table = new TaskTable();
      const check = (): void => {
        const all = table.allTasks();
        assert.deepEqual(all, [...table.values()]);
        assert.ok(Object.isFrozen(all), 'a kept list cannot be changed by its readers');
        // No change between two reads: the very same arrays (nothing copied per request).
        assert.equal(table.allTasks(), all);
        for (const framework of ['F1', 'F2']) {
          const kept = table.frameworkTasks(framework);
          assert.deepEqual(kept, table.ofFramework(framework));
          assert.equal(table.frameworkTasks(framework), kept);
        }
      };
      for (const [op, n, framework] of ops) {
        const before = table.allTasks();
        if (op === 'set') table.set(task(n, n % 2 === 0 ? 'A' : 'B', framework, '*'));
        else if (op === 'delete') table.delete(framework, `t${n}`);
        else if (op === 'clear') table.clear();
        // Every change hands out a new array; the one read before it is left as it was.
        const snapshot = [...before];
        check();
        assert.deepEqual(before, snapshot);
      }
    }),
  );
});
