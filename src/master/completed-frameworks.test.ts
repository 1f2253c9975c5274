import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompletedFrameworks } from './completed-frameworks.ts';

const fw = (id: string) => ({ id });

test('keeps removed frameworks newest first, dropping the oldest beyond the bound', () => {
  const completed = new CompletedFrameworks<{ id: string }, number>(2, 10);
  completed.add(fw('a'), [1], 1);
  completed.add(fw('b'), [2], 2);
  completed.add(fw('c'), [3], 3);
  assert.deepEqual(
    completed.list().map((c) => c.framework.id),
    ['c', 'b'],
  );
  assert.equal(completed.get('a'), undefined);
  assert.equal(completed.get('b')?.removedAt, 2);
});

test('keeps only the newest completed tasks of each framework', () => {
  const completed = new CompletedFrameworks<{ id: string }, number>(50, 3);
  completed.add(fw('a'), [1, 2, 3, 4, 5], 0);
  assert.deepEqual(completed.get('a')?.tasks, [3, 4, 5]);
});

test('a bound of 0 keeps nothing; the same id added again moves to the newest place', () => {
  const none = new CompletedFrameworks<{ id: string }, number>(0, 10);
  none.add(fw('a'), [], 0);
  assert.equal(none.size, 0);
  const completed = new CompletedFrameworks<{ id: string }, number>(3, 10);
  completed.add(fw('a'), [], 0);
  completed.add(fw('b'), [], 1);
  completed.add(fw('a'), [7], 2);
  assert.deepEqual(
    completed.list().map((c) => [c.framework.id, c.tasks]),
    [
      ['a', [7]],
      ['b', []],
    ],
  );
});

test('property: never more than the bounds, and the newest removals are the ones kept', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 4 }), fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.nat(8)), { maxLength: 40 }), (maxF, maxT, adds) => {
      const completed = new CompletedFrameworks<{ id: string }, number>(maxF, maxT);
      adds.forEach(([id, n], i) =>
        completed.add(
          fw(String(id)),
          Array.from({ length: n }, (_, k) => k),
          i,
        ),
      );
      assert.ok(completed.size <= maxF);
      for (const c of completed.list()) assert.ok(c.tasks.length <= maxT);
      // Expected: the distinct ids in order of their last addition, newest first, cut at maxF.
      const lastAdd = new Map<string, number>();
      adds.forEach(([id], i) => lastAdd.set(String(id), i));
      const expected = [...lastAdd]
        .sort((x, y) => y[1] - x[1])
        .slice(0, maxF)
        .map(([id]) => id);
      assert.deepEqual(
        completed.list().map((c) => c.framework.id),
        expected,
      );
    }),
  );
});
