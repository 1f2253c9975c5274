import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Resources } from '../../resources/index.ts';
import { allocate, type AllocatorAgent, type AllocatorFramework, type OfferDecision, type RoleQuota } from './drf.ts';

const R = (text: string): Resources => Resources.parse(text);

function agents(n: number, text: string): AllocatorAgent[] {
  return Array.from({ length: n }, (_, i) => ({ id: `a${i}`, free: R(text) }));
}

function framework(id: string, role: string, options: Partial<AllocatorFramework> = {}): AllocatorFramework {
  return { id, roles: [role], suppressedRoles: options.suppressedRoles ?? new Set(), refusals: options.refusals ?? new Map(), allocated: options.allocated ?? new Map() };
}

function total(list: AllocatorAgent[], extra: Resources = Resources.EMPTY): Resources {
  return list.reduce((sum, a) => sum.add(a.free), extra);
}

/** `cpus:8;mem:1024` → {cpus: 8, mem: 1024}; zeros are kept (a limit of 0 is a limit). */
const amounts = (text: string): Map<string, number> => new Map(text === '' ? [] : text.split(';').map((kv) => [kv.split(':')[0]!, Number(kv.split(':')[1])] as [string, number]));
const quota = (guarantees: string, limits: string): RoleQuota => ({ guarantees: amounts(guarantees), limits: amounts(limits) });

function sumFor(offers: OfferDecision[], role: string): Resources {
  return offers.filter((o) => o.role === role).reduce((sum, o) => sum.add(o.resources), Resources.EMPTY);
}

describe('quota limits', () => {
  test('a role at its limit is offered nothing; another role takes every agent', () => {
    // dev already uses cpus:4;mem:4096 = its limit: both limited scalars have no headroom, so
    // nothing of an agent passes min_allocatable (cpus:0.01 or mem:32) for dev.
    const list = agents(4, 'cpus:4;mem:4096;ports:[31000-32000]');
    const used = R('cpus:4;mem:4096');
    const dev = framework('f-dev', 'dev', { allocated: new Map([['dev', used]]) });
    const { offers } = allocate({ now: 0, seed: 1, total: total(list, used), agents: list, frameworks: [dev, framework('f-prod', 'prod')], quotas: new Map([['dev', quota('', 'cpus:4;mem:4096')]]) });
    assert.equal(offers.filter((o) => o.role === 'dev').length, 0);
    assert.equal(offers.filter((o) => o.role === 'prod').length, 4);
  });

  test('without the limit, the same role gets its fair half', () => {
    const list = agents(4, 'cpus:4;mem:4096');
    const used = R('cpus:4;mem:4096');
    const dev = framework('f-dev', 'dev', { allocated: new Map([['dev', used]]) });
    const { offers } = allocate({ now: 0, seed: 1, total: total(list, used), agents: list, frameworks: [dev, framework('f-prod', 'prod')] });
    assert.ok(offers.some((o) => o.role === 'dev'));
  });

  test('offers made in the cycle count: a role with limit cpus:6 is offered 6 cpus in all, the rest of the agent goes on', () => {
    // 4 agents × 4 cpus. dev (alone below prod by name on ties) takes a whole agent (4), then
    // at most 2 more cpus: its second offer is cut to cpus:2, and that agent's other 2 cpus go to prod.
    const list = agents(4, 'cpus:4;mem:4096');
    const { offers } = allocate({
      now: 0,
      seed: 3,
      total: total(list),
      agents: list,
      frameworks: [framework('f-dev', 'dev'), framework('f-prod', 'prod')],
      quotas: new Map([['dev', quota('', 'cpus:6')]]),
    });
    assert.equal(sumFor(offers, 'dev').cpus(), 6);
    assert.equal(sumFor(offers, 'prod').cpus(), 10);
    // Memory has no limit: dev keeps taking it with cpus cut away.
    assert.ok(sumFor(offers, 'dev').mem() >= 8192);
  });

  test('reservations of the role count toward its limit, used or not', () => {
    // a0 has cpus(dev):4 reserved and free: dev has consumed 4 of its limit cpus:4 already, so
    // it is offered its reservation but none of the unreserved cpus elsewhere.
    const list: AllocatorAgent[] = [{ id: 'a0', free: R('cpus(dev):4;mem(dev):1024') }, ...agents(3, 'cpus:4;mem:4096').map((a, i) => ({ ...a, id: `b${i}` }))];
    const { offers } = allocate({
      now: 0,
      seed: 5,
      total: total(list),
      agents: list,
      frameworks: [framework('f-dev', 'dev'), framework('f-prod', 'prod')],
      quotas: new Map([['dev', quota('', 'cpus:4;mem:1024')]]),
    });
    const dev = offers.filter((o) => o.role === 'dev');
    assert.deepEqual(
      dev.map((o) => o.agentId),
      ['a0'],
    );
    assert.ok(dev[0]!.resources.equals(R('cpus(dev):4;mem(dev):1024')));
    assert.equal(sumFor(offers, 'prod').cpus(), 12);
  });
});

describe('quota guarantees', () => {
  test('a role below its guarantee is served first, up to what it misses', () => {
    // z already uses cpus:2;mem:2048 (elsewhere) and is guaranteed cpus:8: it misses 6 cpus.
    // Stage 1 offers z one whole agent (4) and 2 cpus of another; stage 2 shares the rest by DRF.
    const list = agents(4, 'cpus:4;mem:4096');
    const used = R('cpus:2;mem:2048');
    const z = framework('f-z', 'z', { allocated: new Map([['z', used]]) });
    const { offers } = allocate({ now: 0, seed: 9, total: total(list, used), agents: list, frameworks: [framework('f-a', 'a'), z], quotas: new Map([['z', quota('cpus:8', '')]]) });
    // The first two offers are z's (stage 1), and they add up to the 6 cpus it missed.
    assert.deepEqual(
      offers.slice(0, 2).map((o) => o.role),
      ['z', 'z'],
    );
    assert.equal(offers[0]!.resources.cpus() + offers[1]!.resources.cpus(), 6);
    assert.ok(sumFor(offers, 'z').cpus() >= 6);
    assert.equal(sumFor(offers, 'z').cpus() + sumFor(offers, 'a').cpus(), 16);
  });

  test('an unmet guarantee holds resources back even when its role takes no offers', () => {
    // z is guaranteed cpus:8 but its only framework suppressed the role: 8 of the 16 unreserved
    // cpus stay unoffered for it. a gets 8 cpus, plus memory (not guaranteed) from every agent.
    const list = agents(4, 'cpus:4;mem:4096');
    const z = framework('f-z', 'z', { suppressedRoles: new Set(['z']) });
    const { offers } = allocate({ now: 0, seed: 2, total: total(list), agents: list, frameworks: [framework('f-a', 'a'), z], quotas: new Map([['z', quota('cpus:8', '')]]) });
    assert.equal(sumFor(offers, 'a').cpus(), 8);
    assert.equal(sumFor(offers, 'a').mem(), 16384);
    assert.equal(sumFor(offers, 'z').cpus(), 0);
  });

  test('a met guarantee holds nothing back', () => {
    const list = agents(4, 'cpus:4;mem:4096');
    const used = R('cpus:8;mem:1024');
    const z = framework('f-z', 'z', { suppressedRoles: new Set(['z']), allocated: new Map([['z', used]]) });
    const { offers } = allocate({ now: 0, seed: 2, total: total(list, used), agents: list, frameworks: [framework('f-a', 'a'), z], quotas: new Map([['z', quota('cpus:8', '')]]) });
    assert.equal(sumFor(offers, 'a').cpus(), 16);
  });
});

describe('weights with quota', () => {
  test('weights still set fair shares among roles within their limits', () => {
    // 12 agents; gold weighs 3, silver 1: gold ends with 9 agents, silver 3. A generous limit changes nothing.
    const list = agents(12, 'cpus:4;mem:4096');
    const { offers } = allocate({
      now: 0,
      seed: 4,
      total: total(list),
      agents: list,
      frameworks: [framework('f-gold', 'gold'), framework('f-silver', 'silver')],
      weights: new Map([['gold', 3]]),
      quotas: new Map([['gold', quota('', 'cpus:1000')]]),
    });
    assert.equal(offers.filter((o) => o.role === 'gold').length, 9);
    assert.equal(offers.filter((o) => o.role === 'silver').length, 3);
  });
});

test('property: no limit is passed, nothing is offered twice, unmet guarantees stay covered', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 20 }),
      fc.boolean(),
      fc.integer(),
      (n, limitCpus, guaranteeCpus, usedCpus, suppressG, seed) => {
        const list = agents(n, 'cpus:4;mem:4096');
        const used = R(`cpus:${usedCpus};mem:0`);
        const frameworks = [
          framework('f-l', 'limited', { allocated: new Map([['limited', used]]) }),
          framework('f-g', 'guaranteed', suppressG ? { suppressedRoles: new Set(['guaranteed']) } : {}),
          framework('f-o', 'other'),
        ];
        const quotas = new Map([
          ['limited', quota('', `cpus:${limitCpus}`)],
          ['guaranteed', quota(`cpus:${guaranteeCpus}`, '')],
        ]);
        const { offers } = allocate({ now: 0, seed, total: total(list, used), agents: list, frameworks, quotas });
        const limited = sumFor(offers, 'limited').cpus();
        // Offers never push a role past its limit (it may already be over it).
        assert.ok(limited <= Math.max(0, limitCpus - usedCpus) + 1e-9, `limited offered ${limited}`);
        // Per agent, offers add up to at most what it had.
        for (const a of list) {
          const sum = offers.filter((o) => o.agentId === a.id).reduce((s, o) => s.add(o.resources), Resources.EMPTY);
          assert.ok(a.free.contains(sum));
        }
        // Cpus offered to others leave the guaranteed role's unmet part free.
        const others = sumFor(offers, 'limited').cpus() + sumFor(offers, 'other').cpus();
        const g = sumFor(offers, 'guaranteed').cpus();
        const missing = Math.max(0, guaranteeCpus - g);
        assert.ok(others <= Math.max(0, n * 4 - Math.min(missing, n * 4)) + 1e-9, `others ${others}, missing ${missing}`);
      },
    ),
    { numRuns: 200 },
  );
});
