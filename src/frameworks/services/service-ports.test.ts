/**
 * Service ports (Marathon's cluster-unique `portDefinitions[].port` / `servicePort`): the pure
 * assignment over an index of held ports. The API and restart behaviour: test/service-ports.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DroverError } from '../../errors/errors.ts';
import { type App, parseApp } from './app.ts';
import { assignServicePorts, assignServicePortsAll, ServicePortIndex, servicePortsOf } from './service-ports.ts';

const NOW = new Date('2026-12-07T00:00:00Z');
const app = (id: string, ports: number[], extra: Record<string, unknown> = {}): App => parseApp({ id, cmd: 'serve', portDefinitions: ports.map((port) => ({ port })), ...extra }, NOW);

function held(index: ServicePortIndex, a: App): App {
  const assigned = assignServicePorts(a, undefined, index);
  index.hold(assigned);
  return assigned;
}

function refusal(f: () => unknown): DroverError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DroverError);
    return e;
  }
  assert.fail('expected a refusal');
}

test('port 0 gets the lowest free port of the range, distinct per definition and per app', () => {
  const index = new ServicePortIndex();
  const a = held(index, app('/a', [0, 0]));
  assert.deepEqual(servicePortsOf(a), [10000, 10001]);
  assert.deepEqual(
    a.portDefinitions.map((p) => p.port),
    [10000, 10001],
  );
  const b = held(index, app('/b', [0]));
  assert.deepEqual(servicePortsOf(b), [10002]);
  assert.equal(index.owner(10001), '/a');
  // The default definition (no portDefinitions) gets one too.
  assert.deepEqual(servicePortsOf(held(index, parseApp({ id: '/c', cmd: 'x' }, NOW))), [10003]);
});

test('explicit ports are kept, inside or outside the range, and skipped by dynamic ones', () => {
  const index = new ServicePortIndex();
  const a = held(index, app('/a', [10000, 80, 0]));
  assert.deepEqual(servicePortsOf(a), [10000, 80, 10001]);
});

test('a port another app holds is refused with 409, naming the field and the app', () => {
  const index = new ServicePortIndex();
  held(index, app('/prod/web', [0, 12000]));
  const e = refusal(() => assignServicePorts(app('/other', [0, 12000]), undefined, index));
  assert.equal(e.status, 409);
  assert.match(e.message, /Requested service port 12000 conflicts with a service port in app \/prod\/web/);
  assert.deepEqual(e.details[0]?.path, '/portDefinitions/1/port');
  assert.equal(index.owner(12000), '/prod/web', 'the index is unchanged');
  // Its own ports are not a conflict for the app itself.
  assert.deepEqual(servicePortsOf(assignServicePorts(app('/prod/web', [10000, 12000]), undefined, index)), [10000, 12000]);
});

test('an update asking for 0 again keeps the ports its previous version held', () => {
  const index = new ServicePortIndex();
  held(index, app('/x', [0]));
  const v1 = held(index, app('/a', [0, 0]));
  assert.deepEqual(servicePortsOf(v1), [10001, 10002]);
  held(index, app('/y', [0]));
  const v2 = assignServicePorts(app('/a', [0, 0, 0]), v1, index);
  assert.deepEqual(servicePortsOf(v2), [10001, 10002, 10004]);
  // A port now named explicitly is not handed out again for a 0.
  const v3 = assignServicePorts(app('/a', [0, 10001]), v1, index);
  assert.deepEqual(servicePortsOf(v3), [10002, 10001]);
});

test('release frees an app’s ports (app deleted)', () => {
  const index = new ServicePortIndex();
  held(index, app('/a', [0]));
  index.release('/a');
  assert.equal(index.owner(10000), undefined);
  assert.deepEqual(servicePortsOf(held(index, app('/b', [0]))), [10000]);
});

test('a configured range is used, and an exhausted one refused with 409', () => {
  const index = new ServicePortIndex({ min: 15000, max: 15001 });
  assert.deepEqual(servicePortsOf(held(index, app('/a', [0, 0]))), [15000, 15001]);
  const e = refusal(() => assignServicePorts(app('/b', [0]), undefined, index));
  assert.equal(e.status, 409);
  assert.match(e.message, /All service ports in \[15000, 15001\] are in use/);
  assert.throws(() => new ServicePortIndex({ min: 20, max: 10 }), /Invalid service port range/);
});

test('a container app’s service ports are its port mappings’ servicePort', () => {
  const index = new ServicePortIndex();
  const base = app('/c', []);
  const withMappings = {
    ...base,
    container: {
      type: 'MESOS',
      portMappings: [
        { containerPort: 80, servicePort: 0 },
        { containerPort: 443, servicePort: 11000 },
      ],
    },
  } as unknown as App;
  const assigned = assignServicePorts(withMappings, undefined, index);
  assert.deepEqual(servicePortsOf(assigned), [10000, 11000]);
  assert.deepEqual((assigned.container as unknown as { portMappings: unknown[] }).portMappings, [
    { containerPort: 80, servicePort: 10000 },
    { containerPort: 443, servicePort: 11000 },
  ]);
  index.hold(assigned);
  const e = refusal(() => assignServicePorts(app('/d', [11000]), undefined, index));
  assert.equal(e.status, 409);
});

test('several apps of one request: distinct ports, all or none', () => {
  const index = new ServicePortIndex();
  held(index, app('/held', [10001]));
  const out = assignServicePortsAll([app('/g/a', [0, 0]), app('/g/b', [10000, 0])], () => undefined, index);
  assert.deepEqual(out.map(servicePortsOf), [
    [10002, 10003],
    [10000, 10004],
  ]);
  const e = refusal(() => assignServicePortsAll([app('/g/a', [0]), app('/g/b', [10001])], () => undefined, index));
  assert.equal(e.status, 409);
  const dup = refusal(() => assignServicePortsAll([app('/g/a', [12345]), app('/g/b', [12345])], () => undefined, index));
  assert.equal(dup.status, 409);
  assert.equal(index.size, 1, 'nothing held by a refused request');
});

test('the same port twice in one app is refused by validation (Marathon: "Ports must be unique.")', () => {
  const e = refusal(() => app('/a', [12000, 12000]));
  assert.equal(e.status, 422);
  assert.deepEqual(e.details, [{ path: '/portDefinitions', errors: ['Ports must be unique.'] }]);
  assert.doesNotThrow(() => app('/a', [0, 0]));
});
