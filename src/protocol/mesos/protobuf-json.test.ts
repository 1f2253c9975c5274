import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutNullFields } from './protobuf-json.ts';

test('null fields are absent, at any depth; other values and list items are kept', () => {
  assert.deepEqual(
    withoutNullFields({
      framework_id: null,
      type: 'SUBSCRIBE',
      subscribe: { framework_info: { id: null, name: 'x', roles: ['a'], checkpoint: false, labels: { labels: [{ key: 'k', value: null }] } } },
    }),
    { type: 'SUBSCRIBE', subscribe: { framework_info: { name: 'x', roles: ['a'], checkpoint: false, labels: { labels: [{ key: 'k' }] } } } },
  );
  // A null list item is not a field: left for the schema to refuse.
  assert.deepEqual(withoutNullFields({ roles: [null, 'a'] }), { roles: [null, 'a'] });
  assert.equal(withoutNullFields(null), null);
  assert.equal(withoutNullFields('text'), 'text');
});

test('a body nested past the bound is left as it is, not walked', () => {
  let deep: unknown = { end: null };
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  assert.doesNotThrow(() => withoutNullFields(deep));
});
