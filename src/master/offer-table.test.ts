import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { type MadeOffer, OfferTable } from './offer-table.ts';

const R = Resources.parse('cpus:1;mem:64');

test('offer ids are the prefix and a new number each; get parses only canonical ids of this table', () => {
  const table = new OfferTable('m-1-O');
  const a = table.make('fw', 'agent-1', '*', R, 0);
  const b = table.make('fw', 'agent-2', 'web', R, 5);
  assert.equal(a.id, 'm-1-O0');
  assert.equal(b.id, 'm-1-O1');
  assert.equal(table.get('m-1-O1'), b);
  assert.equal(table.size, 2);
  for (const id of ['m-1-O01', 'm-1-O', 'm-1-O1 ', 'm-1-O+1', 'm-1-O-1', 'm-1-O1e0', 'x-1-O1', 'm-1-o1', '', 'm-1-O1234567890123456', `m-1-O${'9'.repeat(400)}`]) {
    assert.equal(table.get(id), undefined, id);
  }
  // Another table's offer with the same number is not this table's.
  const other = new OfferTable('m-2-O').make('fw', 'agent-1', '*', R, 0);
  assert.equal(table.delete(other), false);
  assert.equal(table.delete({ id: 'm-1-O0', frameworkId: 'fw', agentId: 'agent-1', role: '*', resources: R, createdAt: 0 }), false);
  assert.equal(table.delete(a), true);
  assert.equal(table.delete(a), false);
  assert.equal(table.get('m-1-O0'), undefined);
  assert.deepEqual([...table.values()], [b]);
});

test('the table answers like a map of id → offer through any makes and deletes (blocks filled, thinned and dropped)', () => {
  // Operations: make n offers, or delete the live offer at a position (mod the live count).
  const op = fc.oneof(fc.record({ make: fc.integer({ min: 1, max: 700 }) }), fc.record({ del: fc.nat(), n: fc.integer({ min: 1, max: 400 }) }));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const table = new OfferTable('p-O');
      const model = new Map<string, MadeOffer>();
      const gone: MadeOffer[] = [];
      for (const o of ops) {
        if ('make' in o) {
          for (let i = 0; i < o.make; i++) {
            const offer = table.make('fw', `a${i}`, '*', R, 0);
            model.set(offer.id, offer);
          }
        } else {
          const live = [...model.values()];
          for (let i = 0; i < o.n && live.length > 0; i++) {
            const victim: MadeOffer = live.splice((o.del + i * 7919) % live.length, 1)[0]!;
            assert.equal(table.delete(victim), true);
            model.delete(victim.id);
            gone.push(victim);
          }
        }
        assert.equal(table.size, model.size);
      }
      for (const [id, offer] of model) assert.equal(table.get(id), offer);
      for (const offer of gone) assert.equal(table.get(offer.id), undefined);
      for (const offer of gone.slice(0, 20)) assert.equal(table.delete(offer), false);
      const listed = [...table.values()];
      assert.equal(listed.length, model.size);
      assert.deepEqual(new Set(listed), new Set(model.values()));
    }),
    { numRuns: 200 },
  );
});
