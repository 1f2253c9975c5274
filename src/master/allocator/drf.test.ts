import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../../resources/index.ts';
import { allocate, DEFAULT_MIN_ALLOCATABLE, offerable, shuffled, type AllocationInput, type AllocatorAgent, type AllocatorFramework, type OfferDecision } from './drf.ts';

const R = (text: string): Resources => Resources.parse(text);

function agents(n: number, text: string): AllocatorAgent[] {
  return Array.from({ length: n }, (_, i) => ({ id: `a${i}`, free: R(text) }));
}

function framework(id: string, options: Partial<AllocatorFramework> & { role?: string } = {}): AllocatorFramework {
  return {
    id,
    roles: options.roles ?? [options.role ?? '*'],
    suppressedRoles: options.suppressedRoles ?? new Set(),
    refusals: options.refusals ?? new Map(),
    allocated: options.allocated ?? new Map(),
  };
}

function total(list: AllocatorAgent[], extra: Resources = Resources.EMPTY): Resources {
  return list.reduce((sum, a) => sum.add(a.free), extra);
}

function countBy(offers: Array<{ frameworkId: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of offers) out[o.frameworkId] = (out[o.frameworkId] ?? 0) + 1;
  return out;
}

describe('DRF offer cycle', () => {
  test('two equal frameworks split identical agents evenly, one framework per agent', () => {
    // 4 agents of cpus:4;mem:4096. Each offer raises the taker's share by 1/4, so the choice
    // alternates: f1 (0 → .25), f2 (0 → .25), f1 (.25 → .5), f2 (.25 → .5).
    const list = agents(4, 'cpus:4;mem:4096;ports:[31000-32000]');
    const { offers } = allocate({ now: 0, seed: 1, total: total(list), agents: list, frameworks: [framework('f1'), framework('f2')] });
    assert.deepEqual(countBy(offers), { f1: 2, f2: 2 });
    assert.equal(new Set(offers.map((o) => o.agentId)).size, 4, 'no agent offered twice');
    for (const o of offers) assert.ok(o.resources.equals(R('cpus:4;mem:4096;ports:[31000-32000]')), 'whole agent offered');
  });

  test('the framework furthest below its fair share is offered first', () => {
    // Cluster: 4 agents of cpus:4;mem:4096 free + 8 cpus/8192 mem in use by f1 → total 24 cpus.
    // f1's dominant share is 8/24 = 1/3; f2's is 0. Each agent is 4/24 = 1/6 of the cluster.
    // Offers: f2 (0 → 1/6), f2 (1/6 → 1/3), then tied at 1/3 → f1 by id, then f2.
    const list = agents(4, 'cpus:4;mem:4096');
    const used = R('cpus:8;mem:8192');
    const f1 = framework('f1', { allocated: new Map([['*', used]]) });
    const { offers } = allocate({ now: 0, seed: 7, total: total(list, used), agents: list, frameworks: [f1, framework('f2')] });
    assert.deepEqual(
      offers.map((o) => o.frameworkId),
      ['f2', 'f2', 'f1', 'f2'],
    );
  });

  test('dominant share, not cpus alone, decides', () => {
    // Total cpus:8;mem:8192 (+ what is in use). f1 uses mem:4096 (dominant mem share .5 of
    // 8192+4096+...); f2 uses cpus:2. With total cpus:10;mem:12288: f1 = 4096/12288 = .33,
    // f2 = 2/10 = .2 → f2 goes first although it holds more cpus.
    const list = agents(2, 'cpus:4;mem:4096');
    const f1 = framework('f1', { allocated: new Map([['*', R('mem:4096')]]) });
    const f2 = framework('f2', { allocated: new Map([['*', R('cpus:2')]]) });
    const { offers } = allocate({ now: 0, seed: 3, total: total(list, R('cpus:2;mem:4096')), agents: list, frameworks: [f1, f2] });
    assert.equal(offers[0]?.frameworkId, 'f2');
  });

  test('roles come first, weighted; then frameworks within a role', () => {
    // 30 agents; role "gold" weighs 2, "silver" 1. Shares are divided by weight, so gold ends
    // with twice silver's agents: 20 vs 10. Within gold, f1 and f2 split evenly.
    const list = agents(30, 'cpus:1;mem:1024');
    const frameworks = [framework('f1', { role: 'gold' }), framework('f2', { role: 'gold' }), framework('f3', { role: 'silver' })];
    const { offers } = allocate({ now: 0, seed: 11, total: total(list), agents: list, frameworks, weights: new Map([['gold', 2]]) });
    assert.deepEqual(countBy(offers), { f1: 10, f2: 10, f3: 10 });
    const byRole: Record<string, number> = {};
    for (const o of offers) byRole[o.role] = (byRole[o.role] ?? 0) + 1;
    assert.deepEqual(byRole, { gold: 20, silver: 10 });
  });

  test('a refusal filter skips the agent until it expires', () => {
    const list = agents(1, 'cpus:1;mem:1024');
    const f1 = framework('f1', { refusals: new Map([['a0', 5_000]]) });
    const during = allocate({ now: 4_999, seed: 1, total: total(list), agents: list, frameworks: [f1, framework('f2')] });
    assert.deepEqual(
      during.offers.map((o) => o.frameworkId),
      ['f2'],
    );
    const alone = allocate({ now: 4_999, seed: 1, total: total(list), agents: list, frameworks: [f1] });
    assert.deepEqual(alone.offers, [], 'a refused agent is not offered to the refuser');
    const after = allocate({ now: 5_000, seed: 1, total: total(list), agents: list, frameworks: [f1] });
    assert.deepEqual(
      after.offers.map((o) => o.frameworkId),
      ['f1'],
    );
  });

  test('a suppressed role gets no offers', () => {
    const list = agents(3, 'cpus:1;mem:1024');
    const f1 = framework('f1', { suppressedRoles: new Set(['*']) });
    const { offers } = allocate({ now: 0, seed: 1, total: total(list), agents: list, frameworks: [f1, framework('f2')] });
    assert.deepEqual(countBy(offers), { f2: 3 });
  });

  test('reservations go only to their role; unreserved resources go with them', () => {
    // a0 has cpus(db):2 reserved plus cpus:1;mem:512 unreserved. The "db" framework's offer
    // carries both; the "*" framework may only ever get the unreserved part.
    const list: AllocatorAgent[] = [{ id: 'a0', free: R('cpus(db):2;mem(db):1024;cpus:1;mem:512') }];
    const db = framework('fdb', { role: 'db' });
    const web = framework('fweb', { allocated: new Map([['*', R('cpus:1')]]) });
    const { offers } = allocate({ now: 0, seed: 1, total: total(list, R('cpus:1')), agents: list, frameworks: [db, web] });
    assert.equal(offers.length, 1);
    assert.equal(offers[0]?.frameworkId, 'fdb');
    assert.ok(offers[0]?.resources.equals(R('cpus(db):2;mem(db):1024;cpus:1;mem:512')));
    const webOnly = allocate({ now: 0, seed: 1, total: total(list), agents: list, frameworks: [web] });
    assert.ok(webOnly.offers[0]?.resources.equals(R('cpus:1;mem:512')));
  });

  test('an agent with less than the minimum allocatable is not offered', () => {
    const list: AllocatorAgent[] = [{ id: 'a0', free: R('cpus:0.005;mem:16;ports:[31000-32000]') }];
    assert.deepEqual(allocate({ now: 0, seed: 1, total: R('cpus:4;mem:4096'), agents: list, frameworks: [framework('f1')] }).offers, []);
  });

  test('the same seed replays the same cycle; the agent order is a permutation', () => {
    const list = agents(50, 'cpus:1;mem:1024');
    const input = { now: 0, total: total(list), agents: list, frameworks: [framework('f1'), framework('f2'), framework('f3')] };
    assert.deepEqual(allocate({ ...input, seed: 42 }), allocate({ ...input, seed: 42 }));
    const order = shuffled(list, 42).map((a) => a.id);
    assert.deepEqual([...order].sort(), list.map((a) => a.id).sort());
    assert.notDeepEqual(
      order,
      shuffled(list, 43).map((a) => a.id),
    );
  });
});

/**
 * DRF by its definition, the slow way: for every agent, look at every (framework, role) and take
 * the lowest (role share / weight, framework share, role, framework id) that may be offered the
 * agent; shares recomputed from `Resources` sums every time. allocate() must choose the same.
 */
function allocateByDefinition(input: AllocationInput): OfferDecision[] {
  const names = [
    ...new Set(
      input.total
        .toArray()
        .filter((r) => r.value.type === 'SCALAR')
        .map((r) => r.name),
    ),
  ];
  const share = (r: Resources): number => Math.max(0, ...names.map((n) => r.scalar(n).toNumber() / input.total.scalar(n).toNumber()));
  const allocated = new Map<string, Resources>(); // role \0 framework id
  for (const f of input.frameworks) for (const [role, r] of f.allocated) allocated.set(`${role}\0${f.id}`, r);
  const roleShare = (role: string): number => {
    let sum = Resources.EMPTY;
    for (const [key, r] of allocated) if (key.split('\0')[0] === role) sum = sum.add(r);
    return share(sum) / (input.weights?.get(role) ?? 1);
  };
  const offers: OfferDecision[] = [];
  for (const agent of shuffled(input.agents, input.seed)) {
    let free = agent.free;
    for (;;) {
      let best: { key: [number, number, string, string]; framework: AllocatorFramework; role: string } | undefined;
      for (const f of input.frameworks) {
        if ((f.refusals.get(agent.id) ?? -Infinity) > input.now) continue;
        for (const role of f.roles) {
          if (f.suppressedRoles.has(role)) continue;
          const r = offerable(free, role);
          if (!(input.minAllocatable ?? DEFAULT_MIN_ALLOCATABLE).some((m) => r.flatten().contains(m))) continue;
          const key: [number, number, string, string] = [roleShare(role), share(allocated.get(`${role}\0${f.id}`) ?? Resources.EMPTY), role, f.id];
          if (best === undefined || lexLower(key, best.key)) best = { key, framework: f, role };
        }
      }
      if (best === undefined) break;
      const offered = offerable(free, best.role);
      offers.push({ frameworkId: best.framework.id, role: best.role, agentId: agent.id, agent, resources: offered });
      free = free.subtract(offered);
      const key = `${best.role}\0${best.framework.id}`;
      allocated.set(key, (allocated.get(key) ?? Resources.EMPTY).add(offered));
    }
  }
  return offers;
}

function lexLower(a: [number, number, string, string], b: [number, number, string, string]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

test('allocate() chooses what DRF by its definition chooses: roles, weights, refusals, suppression, reservations', () => {
  const roles = ['*', 'db', 'web'];
  const agentArb = fc.record({
    cpus: fc.integer({ min: 0, max: 8 }),
    mem: fc.integer({ min: 0, max: 8 }),
    reservedFor: fc.constantFrom(undefined, 'db', 'web'),
    reservedCpus: fc.integer({ min: 1, max: 4 }),
  });
  const frameworkArb = fc.record({
    roles: fc.subarray(roles, { minLength: 1 }),
    suppressed: fc.subarray(roles),
    refused: fc.subarray([0, 1, 2, 3, 4, 5]),
    refusedUntil: fc.constantFrom(50, 100, 150),
    usedCpus: fc.integer({ min: 0, max: 6 }),
    usedMem: fc.integer({ min: 0, max: 6 }),
  });
  fc.assert(
    fc.property(
      fc.array(agentArb, { minLength: 1, maxLength: 6 }),
      fc.array(frameworkArb, { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 0, max: 1000 }),
      fc.constantFrom(
        undefined,
        new Map([['db', 2]]),
        new Map([
          ['web', 3],
          ['*', 0.5],
        ]),
      ),
      (agentSpecs, frameworkSpecs, seed, weights) => {
        const list: AllocatorAgent[] = agentSpecs.map((a, i) => {
          const parts = [`cpus:${a.cpus}`, `mem:${a.mem * 256}`, 'ports:[31000-31009]'];
          if (a.reservedFor !== undefined) parts.push(`cpus(${a.reservedFor}):${a.reservedCpus}`);
          return { id: `a${i}`, free: R(parts.join(';')) };
        });
        let used = Resources.EMPTY;
        const frameworks = frameworkSpecs.map((f, i) => {
          // The first listed role holds what the framework uses (multiples of 1 cpu / 256 mem,
          // so ties between shares are frequent and the tie-breaks are exercised).
          const r = R(`cpus:${f.usedCpus};mem:${f.usedMem * 256}`);
          used = used.add(r);
          return framework(`f${i}`, {
            roles: f.roles,
            suppressedRoles: new Set(f.suppressed),
            refusals: new Map(f.refused.map((a) => [`a${a}`, f.refusedUntil])),
            allocated: r.isEmpty ? new Map() : new Map([[f.roles[0]!, r]]),
          });
        });
        const input: AllocationInput = { now: 100, seed, total: total(list, used), agents: list, frameworks, ...(weights ? { weights } : {}) };
        const expected = allocateByDefinition(input);
        const got = allocate(input).offers;
        assert.deepEqual(
          got.map((o) => [o.agentId, o.frameworkId, o.role, o.resources.format()]),
          expected.map((o) => [o.agentId, o.frameworkId, o.role, o.resources.format()]),
        );
      },
    ),
    { numRuns: 300 },
  );
});
