import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Resources } from '../../resources/index.ts';
import { parseApp } from './app.ts';
import { place, type OfferView, type Spot } from './placement.ts';

const NOW = new Date('2026-11-22T00:00:00Z');
const app = (extra: Record<string, unknown>) => parseApp({ id: '/svc', cmd: 'serve', cpus: 1, mem: 128, ...extra }, NOW);
const offer = (hostname: string, attributes: Record<string, string> = {}, resources = 'cpus:4;mem:1024;ports:[31000-31009]'): OfferView => ({
  agentId: `id-${hostname}`, hostname, attributes, resources: Resources.parse(resources),
});
const spot = (hostname: string, attributes: Record<string, string> = {}): Spot => ({ agentId: `id-${hostname}`, hostname, attributes });

describe('placement', () => {
  test('places as many as fit, each with its own ports, and says what ran out', () => {
    const result = place(app({ portDefinitions: [{ port: 0 }, { port: 0 }] }), offer('h1'), [], 10);
    // 4 cpus → 4 instances; 10 ports → 5 instances: cpus run out first.
    assert.equal(result.launches.length, 4);
    assert.deepEqual(result.launches.map((l) => l.ports), [[31000, 31001], [31002, 31003], [31004, 31005], [31006, 31007]]);
    assert.equal(result.reason, 'insufficient cpus: 0 < 1');
    assert.ok(result.launches[0]!.resources.equals(Resources.parse('cpus:1;mem:128;ports:[31000-31001]')));
  });

  test('requirePorts needs exactly the app ports', () => {
    assert.deepEqual(place(app({ portDefinitions: [{ port: 31005 }], requirePorts: true }), offer('h1'), [], 1).launches[0]?.ports, [31005]);
    assert.match(place(app({ portDefinitions: [{ port: 8080 }], requirePorts: true }), offer('h1'), [], 1).reason ?? '', /required ports unavailable: 8080/);
  });

  test('UNIQUE hostname: one per host', () => {
    const a = app({ constraints: [['hostname', 'UNIQUE']] });
    assert.equal(place(a, offer('h1'), [], 3).launches.length, 1);
    assert.match(place(a, offer('h1'), [spot('h1')], 1).reason ?? '', /constraint hostname UNIQUE: hostname h1 already runs an instance/);
    assert.equal(place(a, offer('h2'), [spot('h1')], 1).launches.length, 1);
  });

  test('MAX_PER and GROUP_BY on an attribute', () => {
    const maxPer = app({ constraints: [['rack', 'MAX_PER', '2']] });
    assert.equal(place(maxPer, offer('h1', { rack: 'r1' }), [spot('h0', { rack: 'r1' })], 5).launches.length, 1);
    const groupBy = app({ constraints: [['zone', 'GROUP_BY', '2']] });
    // Zone a has one instance, b none: b may take one; a must wait until b has as many.
    assert.match(place(groupBy, offer('h1', { zone: 'a' }), [spot('h0', { zone: 'a' })], 1).reason ?? '', /waiting for other zone values/);
    assert.equal(place(groupBy, offer('h2', { zone: 'b' }), [spot('h0', { zone: 'a' })], 1).launches.length, 1);
    // b may go to 2 (one ahead of a), never 3.
    assert.equal(place(groupBy, offer('h2', { zone: 'b' }), [spot('h0', { zone: 'a' })], 3).launches.length, 2);
  });

  test('LIKE, UNLIKE, IS, CLUSTER, and agents without the attribute', () => {
    assert.equal(place(app({ constraints: [['rack', 'LIKE', 'r[12]']] }), offer('h', { rack: 'r2' }), [], 1).launches.length, 1);
    assert.match(place(app({ constraints: [['rack', 'LIKE', 'r[12]']] }), offer('h', { rack: 'r3' }), [], 1).reason ?? '', /rack is r3/);
    assert.match(place(app({ constraints: [['rack', 'LIKE', 'r1']] }), offer('h'), [], 1).reason ?? '', /agent has no rack/);
    assert.equal(place(app({ constraints: [['rack', 'UNLIKE', 'r1']] }), offer('h'), [], 1).launches.length, 1, 'UNLIKE accepts agents without it');
    assert.match(place(app({ constraints: [['rack', 'UNLIKE', 'r1']] }), offer('h', { rack: 'r1' }), [], 1).reason ?? '', /UNLIKE/);
    assert.equal(place(app({ constraints: [['zone', 'IS', 'a']] }), offer('h', { zone: 'a' }), [], 1).launches.length, 1);
    assert.match(place(app({ constraints: [['hostname', 'CLUSTER']] }), offer('h2'), [spot('h1')], 1).reason ?? '', /not h1/);
  });
});

test('from an offer with reserved resources, a launch takes them in the offer’s roles', () => {
  const reserved = place(app({}), offer('h1', {}, 'cpus(web):0.5;cpus:4;mem:1024;ports:[31000-31009]'), [], 1);
  assert.equal(reserved.launches.length, 1);
  // 1 cpu needed: the 0.5 reserved for web and 0.5 unreserved (the offer's own roles, so the master accepts it).
  assert.equal(reserved.launches[0]!.resources.format(), Resources.parse('cpus(web):0.5;cpus:0.5;mem:128;ports:[31000-31000]').format());
  const plain = place(app({}), offer('h1'), [], 1);
  assert.equal(plain.launches[0]!.resources.format(), Resources.parse('cpus:1;mem:128;ports:[31000-31000]').format());
});
