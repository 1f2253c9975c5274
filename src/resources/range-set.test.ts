import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDroverError } from '../errors/errors.ts';
import { RangeSet } from './range-set.ts';

// Small universe so that the naive Set<number> model can enumerate everything.
const UNIVERSE = 64;
const rangeArb = fc.tuple(fc.integer({ min: 0, max: UNIVERSE - 1 }), fc.integer({ min: 0, max: 8 })).map(([b, len]): [number, number] => [b, Math.min(UNIVERSE - 1, b + len)]);
const rangeSet = fc.array(rangeArb, { maxLength: 8 }).map((rs) => RangeSet.of(rs));

function model(s: RangeSet): Set<number> {
  return new Set(s.values());
}

function fromModel(values: Set<number>): RangeSet {
  return RangeSet.of([...values].map((v): [number, number] => [v, v]));
}

/** Sorted, non-overlapping and non-adjacent: the canonical form every RangeSet must keep. */
function assertCanonical(s: RangeSet): void {
  const ranges = s.toArray();
  for (const [b, e] of ranges) assert.ok(b <= e, `${b} <= ${e}`);
  for (let i = 1; i < ranges.length; i++) {
    assert.ok(ranges[i]![0] > ranges[i - 1]![1] + 1, `not coalesced: ${s.format()}`);
  }
}

describe('RangeSet', () => {
  test('of() sorts and merges overlapping and adjacent ranges', () => {
    const s = RangeSet.of([
      [35000, 35010],
      [31000, 31500],
      [31501, 32000],
      [80, 80],
      [31200, 31300],
    ]);
    assert.equal(s.format(), '[80-80,31000-32000,35000-35010]');
    assert.equal(s.rangeCount, 3);
    assert.equal(s.size, 1 + 1001 + 11);
    assert.deepEqual(s.toArray(), [
      [80, 80],
      [31000, 32000],
      [35000, 35010],
    ]);
  });

  test('parse accepts Mesos text, whitespace and single values', () => {
    assert.equal(RangeSet.parse(' [ 31000 - 32000 , 35000-35010 ] ').format(), '[31000-32000,35000-35010]');
    assert.equal(RangeSet.parse('[80]').format(), '[80-80]');
    assert.ok(RangeSet.parse('[]').isEmpty);
    assert.equal(RangeSet.EMPTY.format(), '[]');
  });

  test('parse rejects malformed ranges with RESOURCE_PARSE', () => {
    for (const bad of ['[5-1]', '[1-2', '1-2]', '[a-b]', '[1.5-2]', '[-1-2]', '[1-2,]', '[1-2-3]', '[[1-2]]', '[1-99999999999999999999]']) {
      assert.throws(
        () => RangeSet.parse(bad),
        (e) => isDroverError(e, 'RESOURCE_PARSE'),
        bad,
      );
    }
    assert.throws(
      () => RangeSet.of([[2, 1]]),
      (e) => isDroverError(e, 'RESOURCE_PARSE'),
    );
    assert.throws(
      () => RangeSet.of([[-1, 1]]),
      (e) => isDroverError(e, 'RESOURCE_PARSE'),
    );
    assert.throws(
      () => RangeSet.of([[0, 0.5]]),
      (e) => isDroverError(e, 'RESOURCE_PARSE'),
    );
  });

  test('contains values and sets', () => {
    const s = RangeSet.parse('[10-20,30-40]');
    assert.ok(s.contains(10) && s.contains(40) && !s.contains(25) && !s.contains(41));
    assert.ok(s.contains(RangeSet.parse('[12-15,30-30]')));
    assert.ok(!s.contains(RangeSet.parse('[18-31]')));
    assert.ok(s.contains(RangeSet.EMPTY));
  });

  test('handles values up to 2^53 - 1', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const s = RangeSet.of([[max - 1, max]]);
    assert.equal(s.size, 2);
    assert.ok(s.subtract(RangeSet.single(max)).equals(RangeSet.single(max - 1)));
  });

  test('allocate takes the lowest values without splitting ranges', () => {
    const s = RangeSet.parse('[10-12,20-29]');
    const { allocated, rest } = s.allocate(5);
    // 10,11,12 from the first range and 20,21 from the second.
    assert.equal(allocated.format(), '[10-12,20-21]');
    assert.equal(rest.format(), '[22-29]');
    assert.ok(s.allocate(0).allocated.isEmpty);
    assert.throws(
      () => s.allocate(14),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
    assert.throws(
      () => s.allocate(-1),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
  });

  test('allocateSpecific takes exactly the given values or throws RESOURCE_MATH', () => {
    const s = RangeSet.parse('[31000-32000]');
    const { allocated, rest } = s.allocateSpecific(RangeSet.parse('[31500-31500]'));
    assert.equal(allocated.format(), '[31500-31500]');
    assert.equal(rest.format(), '[31000-31499,31501-32000]');
    assert.throws(
      () => rest.allocateSpecific(RangeSet.single(31500)),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
  });

  test('property: add/subtract/contains/size agree with a Set<number> model', () => {
    fc.assert(
      fc.property(rangeSet, rangeSet, (a, b) => {
        const ma = model(a);
        const mb = model(b);
        const union = new Set([...ma, ...mb]);
        const diff = new Set([...ma].filter((v) => !mb.has(v)));
        const inter = new Set([...ma].filter((v) => mb.has(v)));
        assert.ok(a.add(b).equals(fromModel(union)));
        assert.ok(a.subtract(b).equals(fromModel(diff)));
        assert.ok(a.intersect(b).equals(fromModel(inter)));
        assert.equal(
          a.contains(b),
          [...mb].every((v) => ma.has(v)),
        );
        assert.equal(a.size, ma.size);
        for (let v = 0; v < UNIVERSE; v++) assert.equal(a.contains(v), ma.has(v));
      }),
    );
  });

  test('property: stays canonical after any sequence of operations', () => {
    const op = fc.tuple(fc.constantFrom('add', 'subtract', 'allocate', 'specific'), rangeSet, fc.nat(20));
    fc.assert(
      fc.property(rangeSet, fc.array(op, { maxLength: 20 }), (start, ops) => {
        let s = start;
        assertCanonical(s);
        for (const [kind, other, n] of ops) {
          if (kind === 'add') s = s.add(other);
          else if (kind === 'subtract') s = s.subtract(other);
          else if (kind === 'allocate') s = s.allocate(Math.min(n, s.size)).rest;
          else s = s.allocateSpecific(s.intersect(other)).rest;
          assertCanonical(s);
        }
      }),
    );
  });

  test('property: (a + b) - b == a - b, a + b contains both, parse(format(x)) == x', () => {
    fc.assert(
      fc.property(rangeSet, rangeSet, (a, b) => {
        const sum = a.add(b);
        assert.ok(sum.contains(a) && sum.contains(b));
        assert.ok(sum.subtract(b).equals(a.subtract(b)));
        assert.ok(RangeSet.parse(sum.format()).equals(sum));
        assert.ok(RangeSet.of(sum.toArray()).equals(sum));
      }),
    );
  });

  test('property: allocate(n) returns n values and partitions the set', () => {
    fc.assert(
      fc.property(rangeSet, fc.nat(200), (s, raw) => {
        const n = raw % (s.size + 1);
        const { allocated, rest } = s.allocate(n);
        assert.equal(allocated.size, n);
        assert.ok(allocated.add(rest).equals(s));
        assert.ok(allocated.intersect(rest).isEmpty);
        assert.ok(rest.rangeCount <= s.rangeCount);
      }),
    );
  });
});
