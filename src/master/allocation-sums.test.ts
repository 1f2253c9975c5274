import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { AllocationSums } from './allocation-sums.ts';

const piece = (n: number): Resources => Resources.parse(`cpus:0.${(n % 9) + 1};mem:${32 * (n + 1)};ports:[${31000 + n}-${31000 + n}]${n % 4 === 0 ? ';cpus(db):1' : ''}`);

test('the sums always equal a recomputation over what was added and not subtracted', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 11 }), fc.constantFrom('F1', 'F2'), fc.constantFrom('*', 'web')), { maxLength: 60 }), (ops) => {
      const sums = new AllocationSums();
      const present = new Map<string, [string, string, Resources]>(); // what is in, by n
      for (const [add, n, framework, role] of ops) {
        const key = String(n);
        if (add && !present.has(key)) {
          present.set(key, [framework, role, piece(n)]);
          sums.add(framework, role, piece(n));
        } else if (!add && present.has(key)) {
          const [f, r, resources] = present.get(key)!;
          present.delete(key);
          sums.subtract(f, r, resources);
        }
        for (const f of ['F1', 'F2']) {
          for (const r of ['*', 'web']) {
            const expected = [...present.values()].filter(([pf, pr]) => pf === f && pr === r).reduce((s, [, , x]) => s.add(x), Resources.EMPTY);
            const got = sums.view().get(f)?.get(r);
            // Scalars only, reservations summed by name (ports are never summed).
            assert.equal(got?.cpus() ?? 0, expected.cpus());
            assert.equal(got?.mem() ?? 0, expected.mem());
            if (expected.cpus() === 0 && expected.mem() === 0) assert.equal(got, undefined, 'emptied entries are dropped');
          }
        }
      }
    }),
  );
});

test('subtracting what was never added is an error, not a negative sum', () => {
  const sums = new AllocationSums();
  sums.add('F1', '*', Resources.parse('cpus:1'));
  assert.throws(() => sums.subtract('F1', '*', Resources.parse('cpus:2')), /below zero/);
  assert.throws(() => sums.subtract('F2', '*', Resources.parse('cpus:1')), /no allocation/);
});
