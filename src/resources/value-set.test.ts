import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDroverError } from '../errors/errors.ts';
import { ValueSet } from './value-set.ts';

const item = fc.constantFrom('a', 'b', 'c', 'd', 'gpu-k80', 'us east');
const valueSet = fc.array(item, { maxLength: 6 }).map((items) => ValueSet.of(items));

describe('ValueSet', () => {
  test('parses, de-duplicates and formats sorted', () => {
    const s = ValueSet.parse('{ b, a ,b}');
    assert.equal(s.format(), '{a,b}');
    assert.equal(s.size, 2);
    assert.ok(s.contains('a') && !s.contains('c'));
    assert.ok(ValueSet.parse('{}').isEmpty);
  });

  test('add, subtract, contains', () => {
    const ab = ValueSet.parse('{a,b}');
    const bc = ValueSet.parse('{b,c}');
    assert.equal(ab.add(bc).format(), '{a,b,c}');
    assert.equal(ab.subtract(bc).format(), '{a}');
    assert.ok(ab.add(bc).contains(bc));
    assert.ok(!ab.contains(bc));
  });

  test('rejects malformed sets', () => {
    for (const bad of ['{a,b', 'a,b}', '{a,,b}', '{a:b}', '{a;b}', '{(a)}', 'x']) {
      assert.throws(
        () => ValueSet.parse(bad),
        (e) => isDroverError(e, 'RESOURCE_PARSE'),
        bad,
      );
    }
    assert.throws(
      () => ValueSet.of([' a']),
      (e) => isDroverError(e, 'RESOURCE_PARSE'),
    );
  });

  test('property: (a + b) - b == a - b, containment and format round trip', () => {
    fc.assert(
      fc.property(valueSet, valueSet, (a, b) => {
        const sum = a.add(b);
        assert.ok(sum.contains(a) && sum.contains(b));
        assert.ok(sum.subtract(b).equals(a.subtract(b)));
        assert.ok(ValueSet.parse(sum.format()).equals(sum));
      }),
    );
  });
});
