import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InstanceTable } from './instance-table.ts';
import type { Instance } from './reconcile.ts';

const instance = (taskId: string, appId: string): Instance => ({
  taskId,
  appId,
  agentId: 'a',
  hostname: 'h',
  attributes: {},
  configVersion: 'v',
  version: 'v',
  state: 'TASK_RUNNING',
  ports: [],
  host: 'h',
  stagedAt: '',
});

test('ofApp always equals filtering every instance by app, through any sequence of sets and deletes', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 9 }), fc.constantFrom('/a', '/b', '/c')), { maxLength: 60 }), (ops) => {
      const table = new InstanceTable();
      for (const [put, n, app] of ops) {
        if (put) table.set(`t${n}`, instance(`t${n}`, app));
        else table.delete(`t${n}`);
      }
      for (const app of ['/a', '/b', '/c']) {
        assert.deepEqual(
          table
            .ofApp(app)
            .map((i) => i.taskId)
            .sort(),
          [...table.values()]
            .filter((i) => i.appId === app)
            .map((i) => i.taskId)
            .sort(),
        );
      }
    }),
  );
});

test('delete of an unknown id is false and changes nothing; clear empties the index', () => {
  const table = new InstanceTable();
  table.set('t1', instance('t1', '/a'));
  assert.equal(table.delete('nope'), false);
  assert.equal(table.ofApp('/a').length, 1);
  table.clear();
  assert.deepEqual(table.ofApp('/a'), []);
});
