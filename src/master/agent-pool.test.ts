import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { AgentPool } from './agent-pool.ts';
import type { AgentRecord } from './model.ts';

const R = (text: string): Resources => Resources.parse(text);

function agent(id: string, total: Resources): AgentRecord {
  return {
    id,
    info: { hostname: id, port: 5051, resources: total.toJSON() },
    hostname: id,
    port: 5051,
    total,
    attributes: [],
    used: Resources.EMPTY,
    offered: Resources.EMPTY,
    status: 'active',
    registeredAt: 0,
    lastSeen: 0,
  };
}

test('free is always total − used − offered, through any launches, task ends, offers, declines and re-registrations', () => {
  // The master replaces `used` / `offered` / `total` with new immutable bags on every change,
  // exactly as these operations do; the pool must never return a stale free.
  const piece = (n: number): Resources => R(`cpus:0.${(n % 4) + 1};mem:${32 * ((n % 3) + 1)};ports:[${31000 + n}-${31000 + n}]`);
  const op = fc.oneof(
    fc.record({ kind: fc.constant('launch' as const), agent: fc.nat(2), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('end' as const), agent: fc.nat(2), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('offer' as const), agent: fc.nat(2), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('decline' as const), agent: fc.nat(2), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('reregister' as const), agent: fc.nat(2), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('cycle' as const), agent: fc.nat(2), n: fc.nat(20) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const pool = new AgentPool();
      const agents = [0, 1, 2].map((i) => agent(`a${i}`, R('cpus:8;mem:4096;ports:[31000-31100]')));
      const launched = agents.map(() => new Set<number>());
      const offered = agents.map(() => new Set<number>());
      for (const { kind, agent: i, n } of ops) {
        const a = agents[i]!;
        if (kind === 'launch' && !launched[i]!.has(n) && !offered[i]!.has(n)) {
          launched[i]!.add(n);
          a.used = a.used.add(piece(n));
        } else if (kind === 'end' && launched[i]!.delete(n)) {
          a.used = a.used.subtract(piece(n));
        } else if (kind === 'offer' && !launched[i]!.has(n) && !offered[i]!.has(n)) {
          offered[i]!.add(n);
          a.offered = a.offered.add(piece(n));
        } else if (kind === 'decline' && offered[i]!.delete(n)) {
          a.offered = a.offered.subtract(piece(n));
        } else if (kind === 'reregister') {
          a.total = R(`cpus:${8 + (n % 3)};mem:4096;ports:[31000-31100]`);
        } else if (kind === 'cycle') {
          const view = pool.allocatorAgent(a);
          assert.equal(pool.allocatorAgent(a), view, 'nothing changed: the same object, nothing recomputed');
          assert.equal(view.id, a.id);
        }
        for (const b of agents) assert.ok(pool.freeOf(b).equals(b.total.subtract(b.used).subtract(b.offered)));
      }
    }),
  );
});

test('the cluster total sums scalars over agents and roles, and leaves ranges out', () => {
  const pool = new AgentPool();
  const agents = [agent('a0', R('cpus:2;mem:1024;ports:[31000-32000]')), agent('a1', R('cpus:1.5;cpus(db):0.5;mem:512;disk:100'))];
  // cpus 2 + 1.5 + 0.5 = 4; mem 1024 + 512 = 1536; disk 100; no ports.
  assert.ok(pool.scalarTotal(agents).equals(R('cpus:4;mem:1536;disk:100')));
  agents[1]!.total = R('cpus:1;mem:512');
  assert.ok(pool.scalarTotal(agents).equals(R('cpus:3;mem:1536')));
});
