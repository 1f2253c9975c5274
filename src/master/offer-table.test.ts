import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { OfferTable } from './offer-table.ts';
import type { OfferRecord } from './model.ts';

const offer = (n: number, agentId: string, frameworkId: string, role: string): OfferRecord => ({
  id: `o${n}`, frameworkId, agentId, role, createdAt: 0,
  resources: Resources.parse(`cpus:0.${(n % 9) + 1};mem:${32 * (n + 1)};ports:[${31000 + n}-${31000 + n}]`),
});

test('the running sums always equal a scan of every offer, through any sequence of offers made and removed', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 11 }), fc.constantFrom('A', 'B'), fc.constantFrom('F1', 'F2'), fc.constantFrom('*', 'web')), { maxLength: 60 }),
      (ops) => {
        const table = new OfferTable();
        for (const [put, n, agent, framework, role] of ops) {
          if (put) table.set(`o${n}`, offer(n, agent, framework, role));
          else table.delete(`o${n}`);
        }
        for (const framework of ['F1', 'F2']) {
          for (const role of ['*', 'web']) {
            const expected = [...table.values()].filter((o) => o.frameworkId === framework && o.role === role).reduce((s, o) => s.add(o.resources), Resources.EMPTY);
            const got = table.allocated().get(framework)?.get(role) ?? Resources.EMPTY;
            // Scalars only (ports are not summed: see allocation-sums.ts).
            assert.equal(got.cpus(), expected.cpus());
            assert.equal(got.mem(), expected.mem());
          }
        }
        table.clear();
        assert.equal(table.allocated().size, 0);
      },
    ),
  );
});
