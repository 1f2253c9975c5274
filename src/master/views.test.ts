import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { legacyResources } from './views.ts';

test('a bag’s legacy JSON is made once, shared, frozen, and what a fresh equal bag gives', () => {
  const text = 'cpus:0.5;mem:64;disk:10;ports:[31000-31003];zones:{a,b}';
  const bag = Resources.parse(text);
  const json = legacyResources(bag);
  assert.deepEqual(json, { cpus: 0.5, mem: 64, disk: 10, gpus: 0, ports: '[31000-31003]', zones: '{a,b}' });
  // The same bag (immutable): the same object, not made again per answer.
  assert.equal(legacyResources(bag), json);
  assert.ok(Object.isFrozen(json), 'shared by every answer, so no caller may change it');
  // Another bag, equal or not, gets its own JSON from its own contents.
  assert.deepEqual(legacyResources(Resources.parse(text)), json);
  assert.deepEqual(legacyResources(bag.add(Resources.parse('cpus:1'))), { ...json, cpus: 1.5 });
  assert.deepEqual(legacyResources(Resources.EMPTY), { cpus: 0, mem: 0, disk: 0, gpus: 0 });
});
