import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseApp } from './app.ts';
import { dependenciesFirst } from './groups-api.ts';

test('a group batch is stored dependencies first, relative ids resolved against the group', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const app = (id: string, dependencies: string[] = []) => parseApp({ id, cmd: 'x', dependencies }, now);
  const batch = [app('/g/web', ['api']), app('/g/api', ['/g/db']), app('/g/db'), app('/g/other', ['/elsewhere'])];
  assert.deepEqual(
    dependenciesFirst(batch).map((a) => a.id),
    ['/g/db', '/g/api', '/g/web', '/g/other'],
  );
  // A cycle (refused elsewhere or not) keeps every app, once.
  const cycle = [app('/c/a', ['b']), app('/c/b', ['a'])];
  assert.deepEqual(
    dependenciesFirst(cycle)
      .map((a) => a.id)
      .sort(),
    ['/c/a', '/c/b'],
  );
});
