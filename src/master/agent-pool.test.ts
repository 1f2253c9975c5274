import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../resources/index.ts';
import { AgentPool } from './agent-pool.ts';
import { sumFree } from './allocator/drf.ts';
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

test('the free sums of a round equal a full recount, through launches, task ends, offers, declines, re-registrations and agents leaving and coming back', () => {
  // Kept as entries change (allocatorAgent replaces them) and as agents join or leave a round;
  // after every round they must be what summing every included agent's free gives.
  const piece = (n: number): Resources => R(`cpus:0.${(n % 4) + 1};mem:${32 * ((n % 3) + 1)};ports:[${31000 + n}-${31000 + n}]`);
  const op = fc.oneof(
    fc.record({ kind: fc.constant('launch' as const), agent: fc.nat(3), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('end' as const), agent: fc.nat(3), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('offer' as const), agent: fc.nat(3), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('decline' as const), agent: fc.nat(3), n: fc.nat(20) }),
    fc.record({ kind: fc.constant('reregister' as const), agent: fc.nat(3), n: fc.nat(20) }),
    // freeOf between rounds (an ACCEPT being checked) replaces an entry outside a round.
    fc.record({ kind: fc.constant('read' as const), agent: fc.nat(3), n: fc.nat(20) }),
    // A round over the agents whose bit is set in n: the others are removed or deactivated.
    fc.record({ kind: fc.constant('round' as const), agent: fc.nat(3), n: fc.nat(15) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const pool = new AgentPool();
      // a3 has reservations for two roles, so the sums are per role too.
      const totals = ['cpus:8;mem:4096;ports:[31000-31100]', 'cpus:4;mem:2048;ports:[31000-31100]', 'cpus:2;mem:1024;disk:100', 'cpus:2;cpus(db):2;mem(web):512;ports:[31000-31100]'];
      const agents = totals.map((t, i) => agent(`a${i}`, R(t)));
      const launched = agents.map(() => new Set<number>());
      const offered = agents.map(() => new Set<number>());
      let rounds = 0;
      for (const { kind, agent: i, n } of ops) {
        const a = agents[i]!;
        if (kind === 'launch' && !launched[i]!.has(n) && !offered[i]!.has(n) && a.total.subtract(a.used).subtract(a.offered).contains(piece(n))) {
          launched[i]!.add(n);
          a.used = a.used.add(piece(n));
        } else if (kind === 'end' && launched[i]!.delete(n)) {
          a.used = a.used.subtract(piece(n));
        } else if (kind === 'offer' && !launched[i]!.has(n) && !offered[i]!.has(n) && a.total.subtract(a.used).subtract(a.offered).contains(piece(n))) {
          offered[i]!.add(n);
          a.offered = a.offered.add(piece(n));
        } else if (kind === 'decline' && offered[i]!.delete(n)) {
          a.offered = a.offered.subtract(piece(n));
        } else if (kind === 'reregister' && launched[i]!.size === 0 && offered[i]!.size === 0) {
          a.total = R(totals[i]!.replace(/^cpus:\d+/, `cpus:${2 + (n % 5)}`));
        } else if (kind === 'read') {
          pool.freeOf(a);
        } else if (kind === 'round') {
          rounds++;
          pool.beginRound();
          const entries = agents.filter((_, k) => (n & (1 << k)) !== 0).map((b) => pool.include(b));
          const sums = pool.finishRound();
          const expected = sumFree(entries);
          assert.deepEqual(normal(sums), normal(expected), `round ${rounds}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

/** Sums as sorted `role name milli` lines, zeros left out. */
function normal(sums: ReadonlyMap<string, ReadonlyMap<string, number>>): string[] {
  const out: string[] = [];
  for (const [role, byName] of sums) for (const [name, milli] of byName) if (milli !== 0) out.push(`${role} ${name} ${milli}`);
  return out.sort();
}
