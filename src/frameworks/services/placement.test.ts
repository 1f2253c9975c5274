/**
 * The services adapter to src/placement: an App as a PlacementSpec (ports, requirePorts,
 * constraints), built once per app version, and the app schema's check of constraint patterns.
 * What each checker does is tested once, in src/placement/placement.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DroverError } from '../../errors/errors.ts';
import { Resources } from '../../resources/index.ts';
import { parseApp } from './app.ts';
import { place, specOf, type OfferView, type Spot } from './placement.ts';

const NOW = new Date('2026-11-22T00:00:00Z');
const app = (extra: Record<string, unknown>) => parseApp({ id: '/svc', cmd: 'serve', cpus: 1, mem: 128, ...extra }, NOW);
const offer = (hostname: string, attributes: Record<string, string> = {}, resources = 'cpus:4;mem:1024;ports:[31000-31009]'): OfferView => ({
  agentId: `id-${hostname}`,
  hostname,
  attributes,
  resources: Resources.parse(resources),
});
const spot = (hostname: string): Spot => ({ agentId: `id-${hostname}`, hostname, attributes: {} });

test('an app’s scalars, ports and constraints become its spec, built once per App object', () => {
  const a = app({
    disk: 10,
    portDefinitions: [{ port: 0 }, { port: 0 }],
    constraints: [
      ['hostname', 'UNIQUE'],
      ['rack', 'LIKE', 'r[12]'],
    ],
  });
  const spec = specOf(a);
  assert.equal(spec.scalars.format(), 'cpus:1;mem:128;disk:10');
  assert.deepEqual(spec.ports, { kind: 'any', count: 2 });
  assert.deepEqual(
    spec.constraints.map((c) => c.label),
    ['constraint hostname UNIQUE', 'constraint rack LIKE r[12]'],
  );
  assert.equal(specOf(a), spec, 'the same App gets the same spec: patterns compiled once');
  assert.notEqual(specOf(app({ disk: 10 })), spec, 'a new version gets its own');
  assert.deepEqual(specOf(app({ portDefinitions: [{ port: 8080 }], requirePorts: true })).ports, { kind: 'fixed', ports: [8080] });
  assert.deepEqual(specOf(app({ requirePorts: true, portDefinitions: [] })).ports, { kind: 'any', count: 0 });
});

test('place: the pipeline on an App, reasons as /v2/queue shows them', () => {
  const a = app({ portDefinitions: [{ port: 0 }], constraints: [['hostname', 'UNIQUE']] });
  const result = place(a, offer('h1'), [], 3);
  assert.deepEqual(
    result.launches.map((l) => l.ports),
    [[31000]],
  );
  assert.equal(result.reason, 'constraint hostname UNIQUE: hostname h1 already runs an instance');
  assert.equal(place(a, offer('h1'), [spot('h1')], 1).launches.length, 0);
  assert.equal(place(app({ portDefinitions: [{ port: 8080 }], requirePorts: true }), offer('h1'), [], 1).reason, 'required ports unavailable: 8080');
});

test('the app schema refuses a LIKE/UNLIKE pattern the linear-time engine does not take, naming the constraint', () => {
  const refusal = (constraints: unknown): Record<string, string[]> => {
    try {
      app({ constraints });
    } catch (e) {
      assert.ok(e instanceof DroverError && e.status === 422, String(e));
      return Object.fromEntries(e.details.map((d) => [d.path, d.errors]));
    }
    return assert.fail('expected a 422');
  };
  assert.match(
    refusal([
      ['hostname', 'UNIQUE'],
      ['rack', 'LIKE', '(a)\\1'],
    ])['/constraints/1']?.[0] ?? '',
    /is not a valid regular expression: invalid escape sequence/,
  );
  assert.match(refusal([['rack', 'UNLIKE', '(?!r1)']])['/constraints/0']?.[0] ?? '', /unsupported Perl syntax/);
  assert.match(refusal([['rack', 'LIKE', '.{0,1000}']])['/constraints/0']?.[0] ?? '', /too large once its repetitions are expanded/);
  // Catastrophic for a backtracking engine, linear for this one: accepted.
  assert.deepEqual(app({ constraints: [['hostname', 'LIKE', '(.*.*)*z']] }).constraints, [['hostname', 'LIKE', '(.*.*)*z']]);
});
