/**
 * The placement pipeline, shared by services and jobs: every checker, its reason text (what
 * /v2/queue and /v1/queue show, and what test/services*.test.ts and test/jobs.test.ts match), and
 * the claim in the offer's roles. The frameworks' adapters have their own small tests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../resources/index.ts';
import { PIPELINE, placeOn, placementSpec, type OfferView, type PortRequest, type Spot } from './index.ts';

const spec = (constraints: string[][] = [], ports: PortRequest = { kind: 'any', count: 0 }, scalars = { cpus: 1, mem: 128, disk: 0 }) => placementSpec({ ...scalars, ports, constraints });
const offer = (hostname: string, attributes: Record<string, string> = {}, resources = 'cpus:4;mem:1024;ports:[31000-31009]'): OfferView => ({
  agentId: `id-${hostname}`,
  hostname,
  attributes,
  resources: Resources.parse(resources),
});
const spot = (hostname: string, attributes: Record<string, string> = {}): Spot => ({ agentId: `id-${hostname}`, hostname, attributes });
const reason = (constraints: string[][], on: OfferView, existing: Spot[] = [], wanted = 1) => placeOn(spec(constraints), on, existing, wanted).reason;
const placed = (constraints: string[][], on: OfferView, existing: Spot[] = [], wanted = 1) => placeOn(spec(constraints), on, existing, wanted).launches.length;

test('the pipeline is one visible list: constraints, then resources, then ports', () => {
  assert.deepEqual(
    PIPELINE.map(([name]) => name),
    ['constraints', 'resources', 'ports'],
  );
});

describe('resources and ports', () => {
  test('places as many as fit, each with its own ports, and says what ran out', () => {
    const result = placeOn(spec([], { kind: 'any', count: 2 }), offer('h1'), [], 10);
    // 4 cpus → 4 instances; 10 ports → 5 instances: cpus run out first.
    assert.equal(result.launches.length, 4);
    assert.deepEqual(
      result.launches.map((l) => l.ports),
      [
        [31000, 31001],
        [31002, 31003],
        [31004, 31005],
        [31006, 31007],
      ],
    );
    assert.equal(result.reason, 'insufficient cpus: 0 < 1');
    assert.deepEqual(result.refusal, { checker: 'resources', resource: 'cpus', have: 0, need: 1, message: 'insufficient cpus: 0 < 1' });
    assert.ok(result.launches[0]!.resources.equals(Resources.parse('cpus:1;mem:128;ports:[31000-31001]')));
    // What is left: 0 cpus, 1024 - 4 × 128 mem, ports 31008-31009.
    assert.equal(result.remaining.format(), Resources.parse('mem:512;ports:[31008-31009]').format());
  });

  test('mem and disk shortfalls name the resource', () => {
    assert.equal(placeOn(spec([], undefined, { cpus: 0.5, mem: 4096, disk: 0 }), offer('h1'), [], 1).reason, 'insufficient mem: 1024 < 4096');
    assert.equal(placeOn(spec([], undefined, { cpus: 0.5, mem: 64, disk: 10 }), offer('h1'), [], 1).reason, 'insufficient disk: 0 < 10');
  });

  test('ports: too few free, or fixed ports taken (port 0 is never free)', () => {
    const few = placeOn(spec([], { kind: 'any', count: 11 }), offer('h1'), [], 1);
    assert.deepEqual(few.refusal, { checker: 'ports', wanted: 11, free: 10, unavailable: [], message: 'insufficient ports: need 11, 10 free' });
    assert.deepEqual(placeOn(spec([], { kind: 'fixed', ports: [31005] }), offer('h1'), [], 1).launches[0]?.ports, [31005]);
    assert.match(placeOn(spec([], { kind: 'fixed', ports: [8080, 0] }), offer('h1'), [], 1).reason ?? '', /^required ports unavailable: 8080, 0$/);
    // A fixed port is taken by the first instance: the second is refused on the same offer.
    const twice = placeOn(spec([], { kind: 'fixed', ports: [31005] }), offer('h1'), [], 2);
    assert.equal(twice.launches.length, 1);
    assert.equal(twice.reason, 'required ports unavailable: 31005');
  });

  test('from an offer with reserved resources, a launch takes them in the offer’s roles', () => {
    const reserved = placeOn(spec([], { kind: 'any', count: 1 }), offer('h1', {}, 'cpus(web):0.5;cpus:4;mem:1024;ports:[31000-31009]'), [], 1);
    assert.equal(reserved.launches.length, 1);
    // 1 cpu needed: the 0.5 reserved for web and 0.5 unreserved (the offer's own roles, so the master accepts it).
    assert.equal(reserved.launches[0]!.resources.format(), Resources.parse('cpus(web):0.5;cpus:0.5;mem:128;ports:[31000-31000]').format());
    const plain = placeOn(spec([], { kind: 'any', count: 1 }), offer('h1'), [], 1);
    assert.equal(plain.launches[0]!.resources.format(), Resources.parse('cpus:1;mem:128;ports:[31000-31000]').format());
  });

  test('nothing wanted, nothing placed and no reason', () => {
    assert.deepEqual(placeOn(spec(), offer('h1'), [], 0).launches, []);
    assert.equal(placeOn(spec(), offer('h1'), [], 0).reason, undefined);
  });
});

describe('constraints (Marathon semantics)', () => {
  test('UNIQUE hostname: one per host, counting what this offer just took', () => {
    assert.equal(placed([['hostname', 'UNIQUE']], offer('h1'), [], 3), 1);
    assert.equal(reason([['hostname', 'UNIQUE']], offer('h1'), [spot('h1')]), 'constraint hostname UNIQUE: hostname h1 already runs an instance');
    assert.equal(placed([['hostname', 'UNIQUE']], offer('h2'), [spot('h1')]), 1);
  });

  test('MAX_PER: at most n per value', () => {
    assert.equal(placed([['rack', 'MAX_PER', '2']], offer('h1', { rack: 'r1' }), [spot('h0', { rack: 'r1' })], 5), 1);
    assert.equal(reason([['rack', 'MAX_PER', '2']], offer('h1', { rack: 'r1' }), [spot('h0', { rack: 'r1' })], 5), 'constraint rack MAX_PER 2: rack r1 already runs 2');
  });

  test('GROUP_BY: evenly over the values', () => {
    const groupBy = [['zone', 'GROUP_BY', '2']];
    // Zone a has one instance, b none: b may take one; a must wait until b has as many.
    assert.equal(reason(groupBy, offer('h1', { zone: 'a' }), [spot('h0', { zone: 'a' })]), 'constraint zone GROUP_BY 2: waiting for other zone values (1 of 2 used)');
    assert.equal(placed(groupBy, offer('h2', { zone: 'b' }), [spot('h0', { zone: 'a' })]), 1);
    // b may go to 2 (one ahead of a), never 3.
    const b = placeOn(spec(groupBy), offer('h2', { zone: 'b' }), [spot('h0', { zone: 'a' })], 3);
    assert.equal(b.launches.length, 2);
    assert.equal(b.reason, 'constraint zone GROUP_BY 2: zone b has 2, others have 1');
    // Without a count, only evenness among the values in use (an agent's value counts once it runs one).
    assert.equal(placed([['zone', 'GROUP_BY']], offer('h1', { zone: 'a' }), [spot('h0', { zone: 'a' })], 3), 3);
    assert.equal(placed([['zone', 'GROUP_BY']], offer('h1', { zone: 'a' }), [spot('h0', { zone: 'a' }), spot('h2', { zone: 'b' })], 3), 1);
  });

  test('CLUSTER: on the named value, or without one where the first instance went', () => {
    assert.equal(reason([['hostname', 'CLUSTER']], offer('h2'), [spot('h1')]), 'constraint hostname CLUSTER: hostname is h2, not h1');
    assert.equal(placed([['hostname', 'CLUSTER']], offer('h2'), [], 3), 3);
    assert.equal(placed([['rack', 'CLUSTER', 'r1']], offer('h', { rack: 'r1' }), [], 2), 2);
    assert.equal(reason([['rack', 'CLUSTER', 'r1']], offer('h', { rack: 'r2' })), 'constraint rack CLUSTER r1: rack is r2, not r1');
  });

  test('LIKE and UNLIKE match the whole value', () => {
    assert.equal(placed([['rack', 'LIKE', 'r[12]']], offer('h', { rack: 'r2' })), 1);
    assert.equal(reason([['rack', 'LIKE', 'r[12]']], offer('h', { rack: 'r3' })), 'constraint rack LIKE r[12]: rack is r3');
    assert.equal(reason([['hostname', 'LIKE', 'node']], offer('node-1')), 'constraint hostname LIKE node: hostname is node-1', 'not a substring match');
    assert.equal(reason([['hostname', 'LIKE', 'a|b']], offer('ab')), 'constraint hostname LIKE a|b: hostname is ab', 'alternation inside the full match');
    assert.equal(placed([['hostname', 'LIKE', 'node-[0-9]+']], offer('node-1')), 1);
    assert.equal(reason([['hostname', 'UNLIKE', 'node-1']], offer('node-1')), 'constraint hostname UNLIKE node-1: hostname is node-1');
    assert.equal(placed([['hostname', 'UNLIKE', 'node']], offer('node-1')), 1);
  });

  test('IS: exactly the value', () => {
    assert.equal(placed([['zone', 'IS', 'a']], offer('h', { zone: 'a' })), 1);
    assert.equal(reason([['rack', 'IS', 'r1']], offer('h', { rack: 'r2' })), 'constraint rack IS r1: rack is r2');
  });

  test('an agent without the field fails every operator but UNLIKE', () => {
    for (const c of [
      ['rack', 'UNIQUE'],
      ['rack', 'CLUSTER'],
      ['rack', 'GROUP_BY'],
      ['rack', 'LIKE', 'r1'],
      ['rack', 'MAX_PER', '1'],
      ['rack', 'IS', 'r1'],
    ]) {
      assert.equal(reason([c], offer('h')), `constraint ${c.join(' ')}: agent has no rack`);
    }
    assert.equal(placed([['rack', 'UNLIKE', 'r1']], offer('h')), 1);
  });

  test('fields: hostname and @hostname, @zone and @region read the zone and region attributes', () => {
    assert.equal(reason([['@hostname', 'IS', 'x']], offer('h')), 'constraint @hostname IS x: @hostname is h');
    assert.equal(
      placed(
        [
          ['@zone', 'IS', 'a'],
          ['@region', 'IS', 'eu'],
        ],
        offer('h', { zone: 'a', region: 'eu' }),
      ),
      1,
    );
  });

  test('the first constraint that refuses, in the order given, is the reason', () => {
    const both = [
      ['hostname', 'UNIQUE'],
      ['rack', 'LIKE', 'r1'],
    ];
    assert.match(reason(both, offer('h1', { rack: 'r2' }), [spot('h1')]) ?? '', /^constraint hostname UNIQUE/);
    assert.match(reason([...both].reverse(), offer('h1', { rack: 'r2' }), [spot('h1')]) ?? '', /^constraint rack LIKE r1/);
    const refusal = placeOn(spec(both), offer('h1', { rack: 'r2' }), [spot('h1')], 1).refusal;
    assert.deepEqual(refusal, { checker: 'constraint', field: 'hostname', operator: 'UNIQUE', value: undefined, message: 'constraint hostname UNIQUE: hostname h1 already runs an instance' });
  });

  test('a constraint refusal comes before a resource one', () => {
    assert.match(placeOn(spec([['rack', 'IS', 'r1']], undefined, { cpus: 64, mem: 1, disk: 0 }), offer('h', { rack: 'r2' }), [], 1).reason ?? '', /^constraint rack IS r1/);
  });

  test('existing spots are read, never changed', () => {
    const existing = [spot('h0', { rack: 'r1' })];
    placeOn(spec([['rack', 'MAX_PER', '5']]), offer('h1', { rack: 'r1' }), existing, 3);
    assert.equal(existing.length, 1);
  });

  test('a pattern refused after it was stored refuses every offer, saying why', () => {
    // A lookahead passed the old validation (JavaScript's RegExp) and may sit in the store.
    const stored = spec([['hostname', 'LIKE', '(?=h)h1']]);
    assert.match(placeOn(stored, offer('h1'), [], 1).reason ?? '', /^constraint hostname LIKE \(\?=h\)h1: '\(\?=h\)h1' is not a valid regular expression: .*unsupported Perl syntax/);
    assert.match(placeOn(spec([['hostname', 'UNLIKE', '(?!x)']]), offer('h1'), [], 1).reason ?? '', /not a valid regular expression/);
  });
});
