import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDroverError } from '../errors/errors.ts';
import { PortPool } from './port-pool.ts';
import { RangeSet } from './range-set.ts';

describe('PortPool', () => {
  test('allocateAny takes the lowest free port and never fragments', () => {
    const pool = PortPool.parse('[31000-32000]');
    assert.equal(pool.capacity, 1001);
    for (let i = 0; i < 10; i++) assert.equal(pool.allocateAny(), 31000 + i);
    assert.equal(pool.freeRangeCount, 1);
    assert.equal(pool.freeRanges().format(), '[31010-32000]');
    assert.equal(pool.allocatedPorts().format(), '[31000-31009]');
  });

  test('specific allocations split ranges and frees coalesce them', () => {
    const pool = PortPool.parse('[31000-32000]');
    assert.ok(pool.allocate(31500));
    assert.ok(!pool.allocate(31500), 'already taken');
    assert.ok(!pool.allocate(30999), 'outside the pool');
    assert.equal(pool.freeRangeCount, 2); // [31000-31499] and [31501-32000]
    assert.ok(pool.allocate(32000));
    assert.equal(pool.freeRangeCount, 2); // taken from the end of a run: no split
    pool.free(31500);
    assert.equal(pool.freeRangeCount, 1);
    assert.equal(pool.freeRanges().format(), '[31000-31999]');
    assert.ok(pool.isFree(31500) && !pool.isFree(32000) && !pool.isFree(1.5) && !pool.isFree(NaN));
  });

  test('gaps between the initial ranges are never free', () => {
    const pool = PortPool.parse('[10-10,12-12]');
    assert.equal(pool.freeRangeCount, 2);
    assert.ok(!pool.allocate(11));
    assert.throws(
      () => pool.free(11),
      (e) => isDroverError(e, 'RESOURCE_MATH'),
    );
    assert.equal(pool.allocateAny(), 10);
    assert.equal(pool.allocateAny(), 12);
    assert.equal(pool.allocateAny(), undefined);
    assert.equal(pool.freeRangeCount, 0);
  });

  test('freeing a port that is not allocated throws RESOURCE_MATH', () => {
    const pool = PortPool.parse('[80-90]');
    for (const port of [85, 79, 91, -1, 1.5, NaN]) {
      assert.throws(
        () => pool.free(port),
        (e) => isDroverError(e, 'RESOURCE_MATH'),
        String(port),
      );
    }
  });

  test('rejects ports above 65535; accepts the whole port space and an empty pool', () => {
    assert.throws(
      () => PortPool.parse('[65000-70000]'),
      (e) => isDroverError(e, 'RESOURCE_PARSE'),
    );
    const all = PortPool.parse('[0-65535]');
    assert.equal(all.capacity, 65536);
    assert.ok(all.allocate(65535));
    assert.equal(all.allocateAny(), 0);
    const empty = new PortPool(RangeSet.EMPTY);
    assert.equal(empty.allocateAny(), undefined);
    assert.ok(!empty.isFree(0));
  });

  test('property: random allocate/free sequences agree with a naive model', () => {
    const pools = fc.constantFrom('[31000-32000]', '[0-40]', '[5-40,70-200,1000-1100]', '[31-33,63-65,95-97]');
    const op = fc.tuple(fc.constantFrom('any', 'specific', 'free'), fc.nat(100_000));
    fc.assert(
      fc.property(pools, fc.array(op, { maxLength: 300 }), (text, ops) => {
        const initial = RangeSet.parse(text);
        const pool = new PortPool(initial);
        const universe = [...initial.values()];
        // Specific requests range over the pool's span plus two ports either side.
        const low = universe[0]! - 2;
        const width = universe[universe.length - 1]! + 2 - low + 1;
        const free = new Set(universe);
        const allocated: number[] = [];
        for (const [kind, n] of ops) {
          if (kind === 'any') {
            const port = pool.allocateAny();
            const lowest = free.size === 0 ? undefined : Math.min(...free);
            assert.equal(port, lowest);
            if (port !== undefined) {
              free.delete(port);
              allocated.push(port);
            }
          } else if (kind === 'specific') {
            const port = low + (n % width);
            const expected = free.has(port);
            assert.equal(pool.allocate(port), expected);
            if (expected) {
              free.delete(port);
              allocated.push(port);
            }
          } else if (allocated.length > 0) {
            const [port] = allocated.splice(n % allocated.length, 1);
            pool.free(port!);
            free.add(port!);
          }
          const freeSet = RangeSet.of([...free].map((v): [number, number] => [v, v]));
          assert.ok(pool.freeRanges().equals(freeSet));
          assert.equal(pool.freeRangeCount, freeSet.rangeCount);
          assert.equal(pool.freeCount, free.size);
          assert.equal(pool.allocatedCount, allocated.length);
          assert.ok(pool.freeRangeCount <= allocated.length + initial.rangeCount);
        }
      }),
    );
  });
});
